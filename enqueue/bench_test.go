package enqueue

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkPostActions measures accepted actions per second through POST
// /v1/actions: 32 concurrent keep-alive clients, real Redis when one
// answers (see internal/redistest). Each request has its own key.
func BenchmarkPostActions(b *testing.B) {
	s := startAPI(b)
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	const body = `{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},` +
		`"ticket":{"system":"helpdesk","id":"REQ-%d"},"idempotency_key":"bench-%d"}`
	var seq, accepted atomic.Int64
	b.SetParallelism(parallelismFor32()) // RunParallel starts parallelism*GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			req, _ := http.NewRequest("POST", s.URL+"/v1/actions", bytes.NewReader(fmt.Appendf(nil, body, n, n)))
			req.Header.Set("Authorization", "Bearer "+tokenA)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				accepted.Add(1)
			} else {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(accepted.Load())/b.Elapsed().Seconds(), "actions/s")
	if !s.db.Real {
		b.Log("ran against miniredis, not a real Redis")
	}
}

// parallelismFor32 is the RunParallel parallelism giving 32 goroutines.
func parallelismFor32() int {
	p := runtime.GOMAXPROCS(0)
	return (32 + p - 1) / p
}
