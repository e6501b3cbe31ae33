package worker_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// BenchmarkWorkerMemory runs the full pipeline at concurrency 100 over
// 2,000 actions and reports the process's resident memory (VmRSS, VmHWM
// from /proc/self/status) before the worker started (the simulator and
// the test binary) and after the run, and the Go heap in use after a GC.
func BenchmarkWorkerMemory(b *testing.B) {
	const concurrency = 100
	r := redistest.New(b)
	env := newBenchEnv(b, r, benchBatch)
	runtime.GC()
	rss0 := procStatusKB(b, "VmRSS")
	for i := 0; i < b.N; i++ {
		env.drainCounted(b, benchBatch, func(q *asynq.Client, n int) { env.enqueueActions(b, q, n, i) },
			func() func() { return env.workerOn(b, map[string]*okta.Connection{"default": env.conn}, concurrency) })
	}
	rss, hwm := procStatusKB(b, "VmRSS"), procStatusKB(b, "VmHWM")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("worker memory, concurrency %d: RSS %.1f MB before the worker, %.1f MB after %d actions (peak %.1f MB); Go heap in use %.1f MB\n",
		concurrency, rss0/1024, rss/1024, b.N*benchBatch, hwm/1024, float64(ms.HeapInuse)/(1<<20))
	b.ReportMetric(rss0/1024, "rss_before_MB")
	b.ReportMetric(rss/1024, "rss_MB")
	b.ReportMetric(hwm/1024, "rss_peak_MB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkManyConnections runs one worker serving n connections (one
// simulator serving them as n OAuth clients), two actions each, and
// reports per connection: token fetches (from the simulator's log), the
// Redis keys oktaq keeps and Redis memory; and how many of those keys
// have no expiry (goal 0: state of a connection gone quiet must go).
func BenchmarkManyConnections(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				manyConnections(b, n)
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func manyConnections(b *testing.B, n int) {
	b.StopTimer()
	r := redistest.New(b)
	env := newBenchEnv(b, r, n)
	conns := map[string]*okta.Connection{}
	for i := range n {
		id, secret := fmt.Sprintf("0oascale%012d", i), fmt.Sprintf("secret-%d-%s", i, strings.Repeat("x", 32))
		if err := env.sim.AddClient(oktasim.SeedClient{ClientID: id, ClientSecret: secret, Scopes: allScopes}); err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("org%04d", i)
		c := *env.conn
		c.Policy.Name = name
		c.Credentials = okta.Credentials{ClientID: id, ClientSecret: okta.Secret(secret)}
		conns[name] = &c
	}
	mem0 := redisUsedMemory(b, env)
	q := asynq.NewClient(r.Opt)
	defer q.Close()
	for round := range 2 {
		for i := range n {
			req := request(fmt.Sprintf("bench%05d@example.com", i))
			req.Connection = fmt.Sprintf("org%04d", i)
			var a tasks.Args = &tasks.Suspend{Request: req}
			if round == 1 {
				a = &tasks.Unsuspend{Request: req}
			}
			tasks.Normalize(a, time.Now())
			payload, _ := tasks.Marshal(a)
			typ, id := a.Action().TypeName(), uuid.NewString()
			sig := env.keyring.Sign(tasks.Envelope{TaskID: id, Queue: tasks.QueueDefault, Type: typ, Payload: payload})
			if _, err := q.Enqueue(asynq.NewTaskWithHeaders(typ, payload, sig), asynq.Queue(tasks.QueueDefault), asynq.TaskID(id),
				asynq.Retention(time.Hour), asynq.ProcessIn(time.Duration(round)*2*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
	}
	done.Store(0)
	b.StartTimer()
	stop := env.workerOn(b, conns, benchConcurrency)
	for done.Load() < int64(2*n) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	stop()
	tokens := 0
	for _, rq := range env.sim.Requests() {
		if strings.HasSuffix(rq.Path, "/v1/token") {
			tokens++
		}
	}
	ctx := context.Background()
	byPrefix, noTTL := map[string]int{}, []string{}
	iter := r.Client.Scan(ctx, 0, "oktaq:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		// The kind of key: the connection's hash tag and ids left out.
		parts := strings.Split(connTag.ReplaceAllString(k, "{c}"), ":")
		keep := 2 // oktaq:journal
		switch {
		case len(parts) > 2 && parts[1] == "{c}":
			keep = 3 // oktaq:{c}:alias
		case len(parts) > 2 && parts[2] == "{c}":
			keep = 4 // oktaq:lim:{c}:b
		}
		p := strings.Join(parts[:min(keep, len(parts))], ":")
		byPrefix[p]++
		if ttl, err := r.Client.PTTL(ctx, k).Result(); err == nil && ttl == -1*time.Millisecond {
			noTTL = append(noTTL, k)
		}
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	mem := redisUsedMemory(b, env) - mem0
	keys := 0
	var parts []string
	for p, c := range byPrefix {
		keys += c
		parts = append(parts, fmt.Sprintf("%s %d", p, c))
	}
	fmt.Printf("%d connections, %d actions: %d token fetches (%.2f per connection); %d oktaq keys (%.1f per connection: %s); %d without expiry %v; Redis memory %.0f B per connection (actions' own included)\n",
		n, 2*n, tokens, float64(tokens)/float64(n), keys, float64(keys)/float64(n), strings.Join(parts, ", "), len(noTTL), noTTL, float64(mem)/float64(n))
	b.ReportMetric(float64(tokens)/float64(n), "token_fetches/conn")
	b.ReportMetric(float64(keys)/float64(n), "oktaq_keys/conn")
	b.ReportMetric(float64(len(noTTL)), "keys_without_ttl")
	b.ReportMetric(float64(mem)/float64(n), "redis_B/conn")
	if len(noTTL) > 0 {
		b.Errorf("%d oktaq keys without expiry: %v", len(noTTL), noTTL)
	}
}

// workerOn runs the real worker over conns with one shared limiter.
func (e *benchEnv) workerOn(b *testing.B, conns map[string]*okta.Connection, concurrency int) func() {
	lopts := ratelimit.DefaultConfig()
	lopts.MaxInFlight = 4 * concurrency
	limiter, err := ratelimit.New(e.rdb, lopts)
	if err != nil {
		b.Fatal(err)
	}
	wc := map[string]*worker.Connection{}
	for name, c := range conns {
		exec, err := okta.NewExecutor(c, okta.ExecutorOptions{Redis: e.rdb, Limiter: limiter})
		if err != nil {
			b.Fatal(err)
		}
		wc[name] = &worker.Connection{Conn: c, Exec: countingExec{exec}}
	}
	w, err := worker.New(worker.Options{Redis: hookedOpt{e.rdb}, Keyring: e.keyring, Producers: testProducers, Concurrency: concurrency,
		Queues: map[string]int{tasks.QueueDefault: 1}, Connections: wc, CredentialCheck: time.Hour,
		PollInterval: 10 * time.Millisecond, Metrics: worker.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = w.Run(ctx); close(stopped) }()
	return func() { cancel(); <-stopped }
}

var connTag = regexp.MustCompile(`\{[^}]*\}`)

func redisUsedMemory(b *testing.B, e *benchEnv) int64 {
	info, err := e.r.Client.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if s, ok := strings.CutPrefix(l, "used_memory:"); ok {
			m, _ := strconv.ParseInt(s, 10, 64)
			return m
		}
	}
	return 0
}

// procStatusKB reads a kB field of /proc/self/status (Linux).
func procStatusKB(b *testing.B, field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
