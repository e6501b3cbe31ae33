package enqueue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
)

// benchRound is how many actions each side accepts per round.
const benchRound = 4000

// BenchmarkPostActions measures, in the same run on the same Redis,
// accepted actions per second through POST /v1/actions (32 concurrent
// keep-alive clients; each request has its own idempotency key) and bare
// asynq enqueues per second from 32 goroutines, and their ratio (goal
// >= 0.5). The API is served as Serve serves it (ServeListener's
// http.Server) and called by a lean client (loadgen_test.go: 32
// persistent connections, requests built before the clock starts, each
// answer read whole), as wrk would call it: the producers that call the
// API run on their own machines, so their client's CPU is not the API's,
// and the bare asynq side pays for no client either. net/http's Client
// in this process costs about as much CPU a request as the server does;
// the same sides called through it are printed beside (http.Client), so
// that nothing is hidden. Also: Redis round trips, this process's CPU
// and the Redis server's CPU per action, each side; and the HTTP floor,
// a handler that only enqueues, served and called as the API is: the
// most the API could reach with net/http serving it. Run with
// -cpuprofile to see where the API's time goes (OKTAQ_BENCH_ONLY_API=1
// leaves every other side out of it).
func BenchmarkPostActions(b *testing.B) {
	c, db := newTestClient(b)
	apiTrips := &tripCounter{}
	c.rc.AddHook(apiTrips)
	producers := []Producer{NewProducer("helpdesk-a", tokenA), NewProducer("helpdesk-b", tokenB)}
	apiAddr := serveBench(b, NewAPI(c, producers, APIOptions{}))
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	bareRC := redis.NewClient(&redis.Options{Addr: db.Opt.Addr, DB: db.Opt.DB})
	defer bareRC.Close()
	bareTrips := &tripCounter{}
	bareRC.AddHook(bareTrips)
	bare := asynq.NewClientFromRedisClient(bareRC)
	enqueue := func(ctx context.Context, payload []byte) error {
		_, err := bare.EnqueueContext(ctx, asynq.NewTask("user.suspend", payload),
			asynq.Queue("critical"), asynq.TaskID(uuid.NewString()), asynq.Retention(time.Hour))
		return err
	}
	floorAddr := serveBench(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload, err := io.ReadAll(r.Body)
		if err == nil {
			err = enqueue(r.Context(), payload)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"state":"pending"}` + "\n"))
	}))
	const body = `{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},` +
		`"ticket":{"system":"helpdesk","id":"REQ-%d"},"idempotency_key":"bench-%d"}`
	var seq atomic.Int64
	post := func(url string) func(int, int) error {
		return func(int, int) error {
			n := seq.Add(1)
			req, _ := http.NewRequest("POST", url, bytes.NewReader(fmt.Appendf(nil, body, n, n)))
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
		}
	}
	// lean posts a round's requests, built before its clock starts.
	lean := func(addr string, conns []*leanConn) func(int, int) error {
		reqs := make([][]byte, benchRound)
		for i := range reqs {
			n := seq.Add(1)
			reqs[i] = leanRequest(addr, "/v1/actions", tokenA, fmt.Appendf(nil, body, n, n))
		}
		return func(g, i int) error {
			status, err := conns[g].roundTrip(reqs[i])
			if err == nil && status != http.StatusAccepted {
				err = fmt.Errorf("status %d: %s", status, conns[g].body)
			}
			return err
		}
	}
	apiConns, floorConns := dialLean(b, apiAddr, 32), dialLean(b, floorAddr, 32)
	var api, apiHTTP, enq, flo, floHTTP benchSide
	// For a profile of the API alone (-cpuprofile); the ratios are then void.
	apiOnly := os.Getenv("OKTAQ_BENCH_ONLY_API") != ""
	for range b.N {
		api.add(b, db.Client, apiTrips, lean(apiAddr, apiConns))
		if apiOnly {
			continue
		}
		enq.add(b, db.Client, bareTrips, func(int, int) error {
			n := seq.Add(1)
			return enqueue(context.Background(), fmt.Appendf(nil, body, n, n))
		})
		flo.add(b, db.Client, bareTrips, lean(floorAddr, floorConns))
		apiHTTP.add(b, db.Client, apiTrips, post("http://"+apiAddr+"/v1/actions"))
		floHTTP.add(b, db.Client, bareTrips, post("http://"+floorAddr))
	}
	apiRate, enqRate, floRate := api.rate(b.N), enq.rate(b.N), flo.rate(b.N)
	apiHTTPRate, floHTTPRate := apiHTTP.rate(b.N), floHTTP.rate(b.N)
	b.ReportMetric(apiRate, "actions/s")
	b.ReportMetric(enqRate, "asynq_enqueues/s")
	b.ReportMetric(apiRate/enqRate, "api/asynq")
	b.ReportMetric(floRate/enqRate, "floor/asynq")
	b.ReportMetric(apiHTTPRate/enqRate, "api_http_client/asynq")
	b.ReportMetric(floHTTPRate/enqRate, "floor_http_client/asynq")
	b.ReportMetric(api.per(b.N, api.selfCPU*1e6), "api_cpu_us/action")
	b.ReportMetric(api.per(b.N, api.redisCPU*1e6), "api_redis_cpu_us/action")
	b.ReportMetric(api.per(b.N, api.trips), "api_trips/action")
	b.ReportMetric(enq.per(b.N, enq.trips), "asynq_trips/enqueue")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("API accept: %.0f actions/s, bare asynq enqueue %.0f/s, ratio %.2f (goal >= 0.5)\n", apiRate, enqRate, apiRate/enqRate)
	fmt.Printf("  HTTP floor (a handler that only enqueues): %.0f/s, ratio %.2f\n", floRate, floRate/enqRate)
	fmt.Printf("  called with net/http's Client in this process: API %.0f/s, ratio %.2f; floor %.0f/s, ratio %.2f\n",
		apiHTTPRate, apiHTTPRate/enqRate, floHTTPRate, floHTTPRate/enqRate)
	fmt.Printf("  per action: Redis round trips %.2f (bare %.2f), Redis CPU %.0f µs (floor %.0f, bare %.0f)\n",
		api.per(b.N, api.trips), enq.per(b.N, enq.trips), api.per(b.N, api.redisCPU*1e6), flo.per(b.N, flo.redisCPU*1e6),
		enq.per(b.N, enq.redisCPU*1e6))
	fmt.Printf("  per action, this process's CPU: API %.0f µs (floor %.0f, bare %.0f); with http.Client: API %.0f µs (floor %.0f)\n",
		api.per(b.N, api.selfCPU*1e6), flo.per(b.N, flo.selfCPU*1e6), enq.per(b.N, enq.selfCPU*1e6),
		apiHTTP.per(b.N, apiHTTP.selfCPU*1e6), floHTTP.per(b.N, floHTTP.selfCPU*1e6))
	if !db.Real {
		b.Log("ran against miniredis, not a real Redis")
	}
}

// serveBench serves h as ServeListener does, on a free port, until the
// benchmark ends, and returns its address.
func serveBench(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, h, time.Second) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return ln.Addr().String()
}

// benchSide sums one side's rounds: wall time, Redis round trips, this
// process's CPU and the Redis server's CPU (seconds).
type benchSide struct {
	wall                     time.Duration
	trips, selfCPU, redisCPU float64
}

func (s *benchSide) add(b *testing.B, rc *redis.Client, trips *tripCounter, do func(g, i int) error) {
	// Every side starts from an empty database (this benchmark's own
	// Redis): the sides enqueue 20,000 tasks a round, and a side measured
	// later would otherwise pay for a larger keyspace (bare asynq's Redis
	// CPU rose from 9 to 11 µs an enqueue that way).
	if err := rc.FlushDB(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
	trips.n.Store(0)
	self0, redis0 := redistest.ProcessCPU(), redistest.ServerCPU(b, rc)
	s.wall += run32(b, do)
	s.selfCPU += redistest.ProcessCPU() - self0
	s.redisCPU += redistest.ServerCPU(b, rc) - redis0
	s.trips += float64(trips.n.Load())
}

func (s *benchSide) rate(rounds int) float64 { return float64(rounds*benchRound) / s.wall.Seconds() }

func (s *benchSide) per(rounds int, v float64) float64 { return v / float64(rounds*benchRound) }

// run32 runs do for each i of a round (benchRound calls) from 32
// goroutines (g: 0-31) and times them.
func run32(b *testing.B, do func(g, i int) error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < benchRound; i = next.Add(1) - 1 {
				if err := do(g, int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

// tripCounter is a go-redis hook counting round trips: a command or a
// pipeline is one.
type tripCounter struct{ n atomic.Int64 }

func (t *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (t *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t.n.Add(1)
		return next(ctx, cmd)
	}
}

func (t *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t.n.Add(1)
		return next(ctx, cmds)
	}
}

// BenchmarkDecodeActionBody: the envelope read by the byte scan against
// json.Unmarshal, the rest of the decode (tasks.DecodeBody) the same.
func BenchmarkDecodeActionBody(b *testing.B) {
	body := []byte(`{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},` +
		`"ticket":{"system":"helpdesk","id":"REQ-1"},"idempotency_key":"bench-1","run_at":"2030-01-02T15:04:05Z"}`)
	for _, bc := range []struct {
		name   string
		decode func([]byte) (actionBody, error)
	}{{"scan", decodeActionBody}, {"unmarshal", decodeActionBodyUnmarshal}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnswerAccepted: the accepted action's answer written by hand
// against writeJSON.
func BenchmarkAnswerAccepted(b *testing.B) {
	ref := refOf(&Info{ID: TaskID("helpdesk-a", "bench-1"), Action: "user.suspend", State: StatePending})
	w := &discardWriter{h: http.Header{}}
	for _, bc := range []struct {
		name  string
		write func()
	}{
		{"by_hand", func() { writeActionRef(w, http.StatusAccepted, ref) }},
		{"writeJSON", func() { w.Header().Set("Location", ref.Links.Self); writeJSON(w, http.StatusAccepted, ref) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.write()
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing but its header.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
