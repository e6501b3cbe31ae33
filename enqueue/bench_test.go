package enqueue

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// benchRound is how many actions each side accepts per round.
const benchRound = 4000

// BenchmarkPostActions measures, in the same run on the same Redis,
// accepted actions per second through POST /v1/actions (32 concurrent
// keep-alive clients; each request has its own idempotency key) and bare
// asynq enqueues per second from 32 goroutines, and their ratio (goal
// >= 0.5). Run with -cpuprofile to see where the API's time goes.
func BenchmarkPostActions(b *testing.B) {
	s := startAPI(b)
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	bare := asynq.NewClient(s.db.Opt)
	defer bare.Close()
	const body = `{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},` +
		`"ticket":{"system":"helpdesk","id":"REQ-%d"},"idempotency_key":"bench-%d"}`
	var seq atomic.Int64
	var api, enq time.Duration
	for range b.N {
		api += run32(b, func() error {
			n := seq.Add(1)
			req, _ := http.NewRequest("POST", s.URL+"/v1/actions", bytes.NewReader(fmt.Appendf(nil, body, n, n)))
			req.Header.Set("Authorization", "Bearer "+tokenA)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		enq += run32(b, func() error {
			n := seq.Add(1)
			_, err := bare.Enqueue(asynq.NewTask("user.suspend", fmt.Appendf(nil, body, n, n)),
				asynq.Queue("critical"), asynq.TaskID(uuid.NewString()), asynq.Retention(time.Hour))
			return err
		})
	}
	apiRate := float64(b.N*benchRound) / api.Seconds()
	enqRate := float64(b.N*benchRound) / enq.Seconds()
	b.ReportMetric(apiRate, "actions/s")
	b.ReportMetric(enqRate, "asynq_enqueues/s")
	b.ReportMetric(apiRate/enqRate, "api/asynq")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("API accept: %.0f actions/s, bare asynq enqueue %.0f/s, ratio %.2f (goal >= 0.5)\n", apiRate, enqRate, apiRate/enqRate)
	if !s.db.Real {
		b.Log("ran against miniredis, not a real Redis")
	}
}

// run32 runs benchRound calls of do from 32 goroutines and times them.
func run32(b *testing.B, do func() error) time.Duration {
	var left atomic.Int64
	left.Store(benchRound)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := do(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0)
}
