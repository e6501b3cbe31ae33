package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// benchFlags describe the load. Each mode gets an org of its own (a
// simulator with the same limits), its own worker processes and queues
// on the same Redis, and the same load.
type benchFlags struct {
	window, latency, poll, every, timeout time.Duration
	limit, oktaConcurrency, workers, conc int
	criticalMax                           int
	share, overload, loadWindows, reserve float64
	modes, playbooks                      []string
	sequential, verbose                   bool
}

// plimit is what one API token may call per window (the share allowed).
func (f benchFlags) plimit() int { return max(1, int(math.Floor(f.share*float64(f.limit)))) }

func runBenchRateLimit(ctx context.Context, env *cmdEnv, args []string) error {
	if spec := os.Getenv(benchWorkerEnv); spec != "" {
		return runBenchWorker(ctx, env, spec)
	}
	var f benchFlags
	var modes, playbooks string
	fs := newFlags(env, "bench-ratelimit", "[flags]")
	fs.DurationVar(&f.window, "window", 10*time.Second, "rate-limit window of the simulated org")
	fs.IntVar(&f.limit, "limit", 120, "org-wide limit per window of the user read (GET /api/v1/users/{id}) and users (a user's groups, lifecycle) buckets")
	fs.Float64Var(&f.share, "share", 0.5, "share of a bucket one API token may use (Okta's per-principal limit)")
	fs.IntVar(&f.oktaConcurrency, "okta-concurrency", 10, "the org's limit of calls in flight")
	fs.IntVar(&f.workers, "workers", 3, "worker processes per mode")
	fs.IntVar(&f.conc, "concurrency", 10, "actions each worker process runs at once")
	fs.Float64Var(&f.overload, "overload", 3, "bulk work enqueued per window, as a multiple of the share")
	fs.Float64Var(&f.loadWindows, "load-windows", 3, "windows over which the bulk work is enqueued")
	fs.DurationVar(&f.every, "critical-every", 2*time.Second, "one critical suspend this often while bulk work remains")
	fs.DurationVar(&f.latency, "latency", 100*time.Millisecond, "mean latency of an Okta call (uniform over ±50%)")
	fs.DurationVar(&f.poll, "poll", 200*time.Millisecond, "how often the workers' asynq looks for due tasks")
	fs.Float64Var(&f.reserve, "reserve", 0.1, "oktaq's reserve (OKTAQ_RATE_RESERVE)")
	fs.StringVar(&modes, "modes", "oktaq,oktaq-noreserve,sdk,asynq", "modes to run: oktaq (the shared limiter), oktaq-noreserve (with --reserve 0), "+
		"sdk (429 then sleep in the handler), asynq (a local rate limiter per process)")
	fs.BoolVar(&f.sequential, "sequential", false, "run the modes one after another instead of side by side")
	fs.DurationVar(&f.timeout, "timeout", 200*time.Second, "give up on a mode after this long")
	fs.BoolVar(&f.verbose, "v", false, "also print the calls answered in each window")
	fs.IntVar(&f.criticalMax, "critical-max", 0, "at most this many critical suspends (or runs); 0: no cap (--playbooks: 40)")
	fs.StringVar(&playbooks, "playbooks", "", "containment experiment: the critical work is runs of these playbooks (contain,offboard), "+
		"taking turns; measures request to suspended and to sessions cleared; one mode (default oktaq), on a private redis-server")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f.modes = strings.Split(modes, ",")
	if playbooks != "" {
		f.playbooks = strings.Split(playbooks, ",")
		for _, p := range f.playbooks {
			if p != tasks.PlaybookContain && p != tasks.PlaybookOffboard {
				return usagef("--playbooks: %q is not a built-in playbook (contain, offboard)", p)
			}
		}
		set := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if !set["modes"] {
			f.modes = []string{modeOktaq}
		}
		if !set["critical-max"] {
			// 20 runs of each of two playbooks, every 2 s: 80 s, all of it
			// while the bulk backlog lasts. Uncapped, runs (5 calls each
			// for offboard) would keep coming as long as they delay the
			// bulk work, and neither would end.
			f.criticalMax = 40
		}
		if len(f.modes) != 1 {
			return usagef("--playbooks runs one mode (runs use the product's queue names): give one --modes")
		}
	}
	for _, m := range f.modes {
		if m != modeOktaq && m != modeOktaqNoReserve && m != modeSDK && m != modeAsynq {
			return usagef("--modes: unknown mode %q", m)
		}
	}
	switch {
	case fs.NArg() > 0:
		return usagef("takes no arguments")
	case f.window < time.Second || f.limit < 2 || f.share <= 0 || f.share > 1 || f.workers < 1 || f.conc < 1 || f.oktaConcurrency < 1 ||
		f.overload <= 0 || f.loadWindows <= 0 || f.every <= 0 || f.reserve < 0 || f.reserve >= 0.7:
		return usagef("out of range: want --window >= 1s, --limit >= 2, 0 < --share <= 1, positive counts, 0 <= --reserve < 0.7")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	redisURL, where, stop, err := benchRedis(ctx)
	if len(f.playbooks) > 0 {
		redisURL, where, stop, err = playbookRedis()
	}
	if err != nil {
		return err
	}
	defer stop()
	bulk := int(math.Ceil(f.overload * float64(f.plimit()) * f.loadWindows))
	fmt.Fprintf(env.stderr, "bench-ratelimit: Redis %s; per mode: simulated org with user read and users buckets of %d calls per %s, "+
		"%.0f%% per API token (%d), %d calls in flight (oktaq: at most %d); %d worker processes x %d; %d bulk group adds over %s "+
		"and a critical suspend every %s while they last\n",
		where, f.limit, f.window, f.share*100, f.plimit(), f.oktaConcurrency,
		benchWorkerSpec{Workers: f.workers, Concurrency: f.conc, OrgConcurrency: f.oktaConcurrency}.limiterConfig().MaxInFlight, f.workers, f.conc, bulk,
		time.Duration(f.loadWindows*float64(f.window)), f.every)

	results := make([]benchResult, len(f.modes))
	var wg sync.WaitGroup
	for i, m := range f.modes {
		run := func() {
			results[i] = runBenchMode(ctx, f, m, redisURL, exe, env.stderr)
			fmt.Fprintf(env.stderr, "bench-ratelimit: %s finished in %s\n", m, results[i].elapsed.Round(time.Second))
		}
		if f.sequential {
			run()
		} else {
			wg.Go(run)
		}
	}
	wg.Wait()
	printBenchTable(env.stdout, f, results)
	printPlaybookStats(env.stdout, results)
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("mode %s: %w", r.mode, r.err)
		}
	}
	return nil
}

// benchRedis is the Redis at OKTAQ_REDIS_URL when that is set (on
// purpose: the benchmark writes its queues there), else a private
// redis-server of its own, as the tests use: never a Redis that merely
// happens to run on 127.0.0.1:6379.
func benchRedis(ctx context.Context) (url, where string, stop func(), err error) {
	url = os.Getenv("OKTAQ_REDIS_URL")
	if url == "" {
		return playbookRedis()
	}
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return "", "", nil, fmt.Errorf("OKTAQ_REDIS_URL: %w", err)
	}
	c := opt.MakeRedisClient().(redis.UniversalClient)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	perr := c.Ping(pctx).Err()
	cancel()
	c.Close()
	if perr != nil {
		return "", "", nil, fmt.Errorf("OKTAQ_REDIS_URL does not answer: %w", perr)
	}
	return url, "server at OKTAQ_REDIS_URL", func() {}, nil
}

// benchMode is one mode's run: its org, workers and load.
type benchMode struct {
	f        benchFlags
	mode, id string
	sim      *oktasim.Sim
	redisOpt asynq.RedisConnOpt
	queues   []string // critical, default, low
	keyring  *tasks.Keyring
	client   *asynq.Client
	inspect  *asynq.Inspector
	groupID  string
	critAt   map[string]time.Time // user id -> when its suspend (or run) was enqueued
	// critPlaybook: user id -> the playbook run for it (--playbooks).
	critPlaybook map[string]string
	runs         []string
	rdb          redis.UniversalClient
	bulk         int
	crit         int
}

func runBenchMode(ctx context.Context, f benchFlags, mode, redisURL, exe string, log io.Writer) (res benchResult) {
	res.mode = mode
	b := &benchMode{f: f, mode: mode, id: mode + "-" + randomHex(4), critAt: map[string]time.Time{}, critPlaybook: map[string]string{}}
	b.bulk = int(math.Ceil(f.overload * float64(f.plimit()) * f.loadWindows))
	maxCrit := int(f.timeout/f.every) + 1
	if f.criticalMax > 0 {
		maxCrit = min(maxCrit, f.criticalMax)
	}
	b.queues = []string{"bench-" + b.id + "-" + tasks.QueueCritical, "bench-" + b.id + "-" + tasks.QueueDefault, "bench-" + b.id + "-" + tasks.QueueLow}
	if len(f.playbooks) > 0 {
		b.queues = []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow}
	}

	token := "bench-" + randomHex(16)
	b.sim = oktasim.New(oktasim.Options{RateLimits: oktasim.RateLimits{Window: f.window, PrincipalShare: f.share,
		Concurrency: f.oktaConcurrency,
		Buckets:     []oktasim.Bucket{{Name: "user-get", Limit: f.limit}, {Name: oktasim.ActionBucket, Limit: f.limit}}}})
	seed := oktasim.Seed{Groups: []oktasim.SeedGroup{{Name: "Bulk"}}, APITokens: []string{token}}
	for i := range b.bulk {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: fmt.Sprintf("bulk%d@example.com", i), Status: oktasim.StatusActive})
	}
	for i := range maxCrit {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: fmt.Sprintf("crit%d@example.com", i), Status: oktasim.StatusActive,
			Sessions: 1, Factors: []string{"sms"}, Groups: []string{"Bulk"}})
	}
	if err := b.sim.Load(seed); err != nil {
		res.err = err
		return res
	}
	if f.latency > 0 {
		b.sim.SetFaults(oktasim.Faults{Latency: f.latency / 2, LatencyJitter: f.latency, Match: "/api/"})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		res.err = err
		return res
	}
	srv := &http.Server{Handler: b.sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	b.sim.SetBaseURL("http://" + ln.Addr().String())
	b.groupID = b.sim.GroupID("Bulk")

	keys := "k1=" + randomHex(24)
	b.keyring, _ = tasks.ParseKeyring(keys)
	b.redisOpt, _ = asynq.ParseRedisURI(redisURL)
	b.client = asynq.NewClient(b.redisOpt)
	defer b.client.Close()
	b.inspect = asynq.NewInspector(b.redisOpt)
	defer b.inspect.Close()
	defer b.cleanup(redisURL)
	if b.rdb, err = newRunsClient(redisURL); err != nil {
		res.err = err
		return res
	}
	defer b.rdb.Close()

	spec := benchWorkerSpec{Mode: mode, RedisURL: redisURL, OktaURL: b.sim.URL(), APIToken: token,
		Connection: "bench-" + b.id, SigningKeys: keys, Queues: b.queues, Concurrency: f.conc, Poll: f.poll,
		Window: f.window, Share: f.plimit(), Workers: f.workers, OrgConcurrency: f.oktaConcurrency}
	switch mode {
	case modeOktaq:
		spec.Reserve, res.reserve = f.reserve, f.reserve
	case modeOktaqNoReserve:
		spec.Mode = modeOktaq
	}
	raw, _ := json.Marshal(spec)
	procs, err := startBenchWorkers(ctx, exe, string(raw), f.workers)
	defer stopBenchWorkers(procs, log, mode)
	if err != nil {
		res.err = err
		return res
	}

	start := time.Now()
	if err := b.drive(ctx, start, maxCrit); err != nil {
		res.err = err
	}
	res.benchStats = measure(b.sim, f, start, b.critAt, b.bulk)
	if len(f.playbooks) > 0 {
		res.playbooks = measurePlaybooks(b.sim, f.playbooks, b.critAt, b.critPlaybook)
	}
	res.elapsed = time.Since(start)
	if res.done > 0 {
		res.elapsed = res.done
	}
	if info, err := b.inspect.GetQueueInfo(b.queues[2]); err == nil {
		res.archived += info.Archived
	}
	if info, err := b.inspect.GetQueueInfo(b.queues[0]); err == nil {
		res.archived += info.Archived
	}
	return res
}

// drive enqueues the bulk work at overload times the share's rate and a
// critical suspend every f.every while bulk work remains, until every
// task is done.
func (b *benchMode) drive(ctx context.Context, start time.Time, maxCrit int) error {
	gap := time.Duration(float64(b.f.window) / (b.f.overload * float64(b.f.plimit())))
	sent, bulkDone, critDone := 0, false, false
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var lastCheck time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		since := time.Since(start)
		for sent < b.bulk && since >= time.Duration(sent)*gap {
			a := &tasks.UpdateGroups{Request: benchRequest(fmt.Sprintf("bulk%d@example.com", sent), b.id)}
			a.Bulk, a.Groups.Add = true, []string{b.groupID}
			if err := b.enqueue(a, b.queues[2]); err != nil {
				return err
			}
			sent++
		}
		if !bulkDone && b.crit < maxCrit && since >= time.Duration(b.crit+1)*b.f.every {
			login := fmt.Sprintf("crit%d@example.com", b.crit)
			u, _ := b.sim.User(login)
			b.critAt[u.ID] = time.Now()
			if len(b.f.playbooks) > 0 {
				pb := b.f.playbooks[b.crit%len(b.f.playbooks)]
				id, err := b.enqueueRun(ctx, pb, login)
				if err != nil {
					return err
				}
				b.critPlaybook[u.ID], b.runs = pb, append(b.runs, id)
			} else if err := b.enqueue(&tasks.Suspend{Request: benchRequest(login, b.id)}, b.queues[0]); err != nil {
				return err
			}
			b.crit++
		}
		if time.Since(lastCheck) < 250*time.Millisecond {
			continue
		}
		lastCheck = time.Now()
		if since > b.f.timeout {
			return fmt.Errorf("not done after %s (bulk done: %v, critical done: %v)", b.f.timeout, bulkDone, critDone)
		}
		low, err1 := b.inspect.GetQueueInfo(b.queues[2])
		crit, err2 := b.inspect.GetQueueInfo(b.queues[0])
		if err1 != nil || err2 != nil {
			continue // a queue not created yet
		}
		bulkDone = sent == b.bulk && low.Completed+low.Archived == b.bulk
		critDone = crit.Completed+crit.Archived == b.crit
		if len(b.f.playbooks) > 0 {
			critDone = b.runsDone(ctx)
		}
		if bulkDone && critDone {
			return nil
		}
	}
}

func benchRequest(user, id string) tasks.Request {
	return tasks.Request{Connection: "bench-" + id, User: user,
		Producer: "bench", Requester: tasks.Requester{ID: "bench", Role: "it-admin"}, Ticket: tasks.Ticket{System: "bench", ID: id}}
}

func (b *benchMode) enqueue(a tasks.Args, queue string) error {
	tasks.Normalize(a, time.Now())
	payload, err := tasks.Marshal(a)
	if err != nil {
		return err
	}
	typ, id := a.Action().TypeName(), uuid.NewString()
	sig := b.keyring.Sign(tasks.Envelope{TaskID: id, Queue: queue, Type: typ, Payload: payload})
	_, err = b.client.Enqueue(asynq.NewTaskWithHeaders(typ, payload, sig),
		asynq.Queue(queue), asynq.TaskID(id), asynq.MaxRetry(25), asynq.Retention(time.Hour))
	return err
}

// cleanup deletes the mode's queues and limiter state: the Redis may be
// a shared one.
func (b *benchMode) cleanup(redisURL string) {
	for _, q := range b.queues {
		_ = b.inspect.DeleteQueue(q, true)
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return
	}
	c := opt.MakeRedisClient().(redis.UniversalClient)
	defer c.Close()
	ctx := context.Background()
	for _, pattern := range []string{ratelimit.KeyPrefix + "{bench-" + b.id + "}*"} {
		iter := c.Scan(ctx, 0, pattern, 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	}
}

// startBenchWorkers starts n worker processes and waits until each says
// it serves.
func startBenchWorkers(ctx context.Context, exe, spec string, n int) ([]*exec.Cmd, error) {
	var procs []*exec.Cmd
	ready := make(chan error, n)
	for range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), benchWorkerEnv+"="+spec)
		cmd.Stderr = &tailBuffer{max: 4096}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return procs, err
		}
		if err := cmd.Start(); err != nil {
			return procs, fmt.Errorf("start worker: %w", err)
		}
		procs = append(procs, cmd)
		go func() {
			sc := bufio.NewScanner(out)
			if sc.Scan() && sc.Text() == "ready" {
				ready <- nil
			} else {
				ready <- errors.New("a worker process exited before serving")
			}
			_, _ = io.Copy(io.Discard, out)
		}()
	}
	timeout := time.After(30 * time.Second)
	for range n {
		select {
		case err := <-ready:
			if err != nil {
				return procs, err
			}
		case <-timeout:
			return procs, errors.New("worker processes not ready after 30 s")
		case <-ctx.Done():
			return procs, ctx.Err()
		}
	}
	return procs, nil
}

// stopBenchWorkers asks each worker to stop (SIGTERM), then kills what
// is left; a worker that failed shows its last log lines.
func stopBenchWorkers(procs []*exec.Cmd, log io.Writer, mode string) {
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(log, "bench-ratelimit: %s worker %d: %v\n%s", mode, p.Process.Pid, err, p.Stderr)
			}
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
