package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

const (
	benchBatch       = 2000
	benchConcurrency = 10
)

// BenchmarkWorkerThroughput runs, in one process on the same Redis with the
// same concurrency, (a) bare asynq with a no-op handler, (b) a fair
// baseline: bare asynq whose handler makes the same two Okta calls to the
// same simulator with net/http and encoding/json (GET the user, POST the
// lifecycle call) and writes a result, and (c) the full oktaq pipeline;
// it reports tasks per second for each, the ratios, and the Redis round
// trips per action of each by purpose (a go-redis hook on every client).
func BenchmarkWorkerThroughput(b *testing.B) {
	r := redistest.New(b)
	env := newBenchEnv(b, r, benchBatch)
	var bare, fair, full time.Duration
	var bareTrips, fairTrips, fullTrips float64
	var fullTable, bareTable string
	var bareCPU, fairCPU, fullCPU, fairSelf, fullSelf int64
	for i := 0; i < b.N; i++ {
		if os.Getenv("OKTAQ_BENCH_ONLY_OKTAQ") != "" {
			// For a profile of the pipeline alone (-cpuprofile).
			// Suspend, then unsuspend, ...: each a real change (2 calls).
			d, _, _ := env.drainCounted(b, benchBatch, func(q *asynq.Client, n int) { env.enqueueActions(b, q, n, i) }, env.oktaqServer)
			full += d
			fullSelf += selfCPUPerTask.Load()
			continue
		}
		d, trips, tab := env.drainCounted(b, benchBatch, func(q *asynq.Client, n int) { enqueueNoop(b, q, n) }, env.bareServer)
		bare, bareTrips, bareTable, bareCPU = bare+d, bareTrips+trips, tab, bareCPU+redisCPUPerTask.Load()
		d, trips, _ = env.drainCounted(b, benchBatch, func(q *asynq.Client, n int) { env.enqueueActions(b, q, n, 2*i) }, env.fairServer)
		fair, fairTrips, fairCPU = fair+d, fairTrips+trips, fairCPU+redisCPUPerTask.Load()
		fairSelf += selfCPUPerTask.Load()
		d, trips, tab = env.drainCounted(b, benchBatch, func(q *asynq.Client, n int) { env.enqueueActions(b, q, n, 2*i+1) }, env.oktaqServer)
		full, fullTrips, fullTable, fullCPU = full+d, fullTrips+trips, tab, fullCPU+redisCPUPerTask.Load()
		fullSelf += selfCPUPerTask.Load()
		b.ReportMetric(float64(queuedBytes.Load()), "redis_B/queued_action")
	}
	n := float64(b.N * benchBatch)
	bareRate, fairRate, fullRate := n/bare.Seconds(), n/fair.Seconds(), n/full.Seconds()
	fmt.Printf("Redis per task, bare asynq no-op (last round):\n%s", bareTable)
	fmt.Printf("Redis per action, oktaq (last round):\n%s", fullTable)
	fmt.Printf("oktaq/fair %.2f (goal >= 0.8); oktaq round trips/action %.2f vs asynq no-op %.2f + 3 = %.2f (goal: at most)\n",
		fullRate/fairRate, fullTrips/float64(b.N), bareTrips/float64(b.N), bareTrips/float64(b.N)+3)
	b.ReportMetric(bareRate, "noop_tasks/s")
	b.ReportMetric(fairRate, "fair_tasks/s")
	b.ReportMetric(fullRate, "oktaq_actions/s")
	b.ReportMetric(fullRate/fairRate, "oktaq/fair")
	b.ReportMetric(fullRate/bareRate, "oktaq/noop")
	b.ReportMetric(bareTrips/float64(b.N), "noop_trips/task")
	b.ReportMetric(fairTrips/float64(b.N), "fair_trips/task")
	b.ReportMetric(fullTrips/float64(b.N), "oktaq_trips/action")
	b.ReportMetric(float64(execNanos.Load())/n/1e6, "exec_ms")
	b.ReportMetric(float64(bareCPU)/float64(b.N), "noop_redis_cpu_us/task")
	b.ReportMetric(float64(fairCPU)/float64(b.N), "fair_redis_cpu_us/task")
	b.ReportMetric(float64(fullCPU)/float64(b.N), "oktaq_redis_cpu_us/action")
	b.ReportMetric(float64(fairSelf)/float64(b.N), "fair_proc_cpu_us/task")
	b.ReportMetric(float64(fullSelf)/float64(b.N), "oktaq_proc_cpu_us/action")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWorkerLatency enqueues at a fixed moderate rate (200/s) through
// the full pipeline and reports end-to-end latency, enqueue to result.
func BenchmarkWorkerLatency(b *testing.B) {
	const rate, count = 200, 1000
	r := redistest.New(b)
	env := newBenchEnv(b, r, count)
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		// Polled every 10 ms: this measures the pipeline, not how long an
		// idle worker sleeps between looks (OKTAQ_POLL_INTERVAL, 1 s).
		stop := env.oktaqServerPolling(10 * time.Millisecond)
		q := asynq.NewClient(r.Opt)
		ids := make([]string, count)
		sent := make([]time.Time, count)
		tick := time.NewTicker(time.Second / rate)
		for j := range ids {
			<-tick.C
			sent[j] = time.Now()
			ids[j] = env.enqueueOne(b, q, j, i)
		}
		tick.Stop()
		insp := asynq.NewInspector(r.Opt)
		for j, id := range ids {
			lat = append(lat, finishedAt(b, insp, id).Sub(sent[j]))
		}
		insp.Close()
		q.Close()
		stop()
		if err := r.Client.FlushDB(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(0, "ns/op")
}

type benchEnv struct {
	r       *redistest.Redis
	count   *redisCounter
	rdb     *redis.Client // counts every command (count)
	token   string        // the fair baseline's access token
	simURL  string
	sim     *oktasim.Sim
	conn    *okta.Connection
	keyring *tasks.Keyring
	users   int
}

func newBenchEnv(b *testing.B, r *redistest.Redis, users int) *benchEnv {
	// Budgets far above the load: this measures the pipeline, not Okta's
	// limits (a bucket the headers show empty would rightly hold tasks).
	var buckets []oktasim.Bucket
	for _, bk := range oktasim.DefaultBuckets() {
		bk.Limit = 1 << 30
		buckets = append(buckets, bk)
	}
	sim := oktasim.New(oktasim.Options{RateLimits: oktasim.RateLimits{Buckets: buckets, Concurrency: 1 << 20}})
	seed := oktasim.Seed{Clients: []oktasim.SeedClient{{ClientID: clientID, ClientSecret: clientSecret, Scopes: allScopes}}}
	for i := range users {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: fmt.Sprintf("bench%05d@example.com", i), Status: "ACTIVE"})
	}
	if err := sim.Load(seed); err != nil {
		b.Fatal(err)
	}
	srv := sim.Start()
	b.Cleanup(srv.Close)
	policy, _ := tasks.ParseRoles("*=it-admin")
	kr, _ := tasks.ParseKeyring(signingKey)
	count := newRedisCounter()
	rdb := redis.NewClient(&redis.Options{Addr: r.Opt.Addr, DB: r.Opt.DB, Password: r.Opt.Password, PoolSize: 4 * benchConcurrency})
	rdb.AddHook(count)
	b.Cleanup(func() { rdb.Close() })
	return &benchEnv{r: r, sim: sim, count: count, rdb: rdb, simURL: srv.URL, token: sim.IssueToken(clientID, allScopes...), keyring: kr, users: users, conn: &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: allScopes, Roles: policy}, BaseURL: srv.URL, Credentials: okta.Credentials{ClientID: clientID, ClientSecret: clientSecret}}}
}

// enqueueActions enqueues n signed actions: round i suspends (even) or
// unsuspends (odd) every user, so each is a real change (2 Okta calls).
func (e *benchEnv) enqueueActions(b *testing.B, q *asynq.Client, n, round int) {
	for j := range n {
		e.enqueueOne(b, q, j, round)
	}
}

func (e *benchEnv) enqueueOne(b *testing.B, q *asynq.Client, j, round int) string {
	req := request(fmt.Sprintf("bench%05d@example.com", j%e.users))
	var a tasks.Args = &tasks.Suspend{Request: req}
	if round%2 == 1 {
		a = &tasks.Unsuspend{Request: req}
	}
	tasks.Normalize(a, time.Now())
	payload, _ := tasks.Marshal(a)
	typ, id := a.Action().TypeName(), uuid.NewString()
	sig := e.keyring.Sign(tasks.Envelope{TaskID: id, Queue: tasks.QueueDefault, Type: typ, Payload: payload})
	info, err := q.Enqueue(asynq.NewTaskWithHeaders(typ, payload, sig),
		asynq.Queue(tasks.QueueDefault), asynq.TaskID(id), asynq.Retention(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	return info.ID
}

func enqueueNoop(b *testing.B, q *asynq.Client, n int) {
	for range n {
		if _, err := q.Enqueue(asynq.NewTask("noop", []byte(`{"v":1}`)), asynq.Queue(tasks.QueueDefault), asynq.Retention(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// bareServer runs asynq with a no-op handler that counts.
func (e *benchEnv) bareServer() func() {
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Concurrency: benchConcurrency, Queues: map[string]int{tasks.QueueDefault: 1},
		TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(ctx context.Context, t *asynq.Task) error {
		done.Add(1)
		_, err := t.ResultWriter().Write([]byte(`{"outcome":"succeeded"}`))
		return err
	})
	if err := srv.Start(mux); err != nil {
		panic(err)
	}
	return srv.Shutdown
}

// oktaqServer runs the real worker, with the shared rate limiter as
// oktaq worker has it.
func (e *benchEnv) oktaqServer() func() { return e.oktaqServerPolling(0) }

// oktaqServerPolling is oktaqServer with asynq's poll interval (0: the
// worker's default, as in production: it also sets how often asynq moves
// due retries, a round trip each time).
func (e *benchEnv) oktaqServerPolling(poll time.Duration) func() {
	// The in-flight cap (default 8) is not what this measures: lift it
	// above the concurrency so the limiter's cost shows, not its throttle.
	lopts := ratelimit.DefaultConfig()
	lopts.MaxInFlight = 4 * benchConcurrency
	limiter, err := ratelimit.New(e.rdb, lopts)
	if err != nil {
		panic(err)
	}
	exec, err := okta.NewExecutor(e.conn, okta.ExecutorOptions{Redis: e.rdb, Limiter: limiter, OnCall: func(c okta.CallInfo) {
		callNanos.Add(int64(c.Duration))
		calls.Add(1)
	}})
	if err != nil {
		panic(err)
	}
	w, err := worker.New(worker.Options{Redis: hookedOpt{e.rdb}, Keyring: e.keyring, Producers: testProducers, Concurrency: benchConcurrency,
		Queues:       map[string]int{tasks.QueueDefault: 1},
		Connections:  map[string]*worker.Connection{"default": {Conn: e.conn, Exec: countingExec{exec}}},
		PollInterval: poll, Metrics: worker.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = w.Run(ctx); close(stopped) }()
	return func() { cancel(); <-stopped }
}

var done atomic.Int64

type countingExec struct{ *okta.Executor }

var execNanos, callNanos, calls atomic.Int64

func (c countingExec) Execute(ctx context.Context, a tasks.Args) (*tasks.Result, error) {
	t0 := time.Now()
	defer func() { execNanos.Add(int64(time.Since(t0))); done.Add(1) }()
	return c.Executor.Execute(ctx, a)
}

func finishedAt(b *testing.B, insp *asynq.Inspector, id string) time.Time {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := insp.GetTaskInfo(tasks.QueueDefault, id); err == nil && info.State == asynq.TaskStateCompleted {
			var res tasks.Result
			if err := json.Unmarshal(info.Result, &res); err != nil {
				b.Fatal(err)
			}
			return res.FinishedAt
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("task %s not completed", id)
	return time.Time{}
}
