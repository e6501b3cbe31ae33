package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// TestMain lets the test binary run as a worker process (for the crash
// test): it starts one when OKTAQ_TEST_WORKER_CHILD is set.
func TestMain(m *testing.M) {
	if os.Getenv("OKTAQ_TEST_WORKER_CHILD") != "" {
		os.Exit(childWorker())
	}
	os.Exit(m.Run())
}

func childWorker() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	redisOpt, err := asynq.ParseRedisURI(os.Getenv("OKTAQ_TEST_CHILD_REDIS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kr, _ := tasks.ParseKeyring(signingKey)
	policy, _ := tasks.ParseRoles("*=it-admin")
	conn := &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: allScopes, Roles: policy}, BaseURL: os.Getenv("OKTAQ_TEST_CHILD_OKTA"),
		Credentials: okta.Credentials{ClientID: clientID, ClientSecret: clientSecret}}
	rdb := redisOpt.MakeRedisClient().(redis.UniversalClient)
	lim, err := ratelimit.New(rdb, ratelimit.DefaultConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Limiter: lim})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// A recovered task is retried at once: the test is about what the
	// retry does, not how long the backoff waits.
	retry := worker.DefaultRetryPolicy()
	retry.Base, retry.Cap = time.Millisecond, 10*time.Millisecond
	w, err := worker.New(worker.Options{Redis: redisOpt, Keyring: kr, Producers: testProducers, Concurrency: 8, PollInterval: 50 * time.Millisecond, Retry: retry,
		PlaybookPoll: 50 * time.Millisecond,
		Connections:  map[string]*worker.Connection{"default": {Conn: conn, Exec: exec}},
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = w.Run(ctx)
	return 0
}

// TestKillWorkerMidway kills a worker process (SIGKILL) in the middle of
// 500 queued password resets and starts another: all 500 finish, and no
// user gets a second reset email.
func TestKillWorkerMidway(t *testing.T) {
	const n = 500
	users := make([]oktasim.SeedUser, n)
	for i := range users {
		users[i] = seedUser(fmt.Sprintf("crash%03d@example.com", i), "ACTIVE")
	}
	// Okta's rate limits are another test's subject: 500 resets are more
	// than a minute's share of the default buckets, and the second worker
	// would wait for the window to reset.
	h := newHarness(t, withUsers(users...), withRates(oktasim.RateLimits{Buckets: []oktasim.Bucket{
		{Name: oktasim.ActionBucket, Limit: 100 * n}, {Name: "user-get", Limit: 100 * n}}}))
	h.stopWorker() // this test's workers are separate processes
	h.sim.SetFaults(oktasim.Faults{Latency: 15 * time.Millisecond, Match: "/lifecycle/"})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.enqueue(&tasks.ResetPassword{Request: request(users[i].Login)})
	}
	first := h.child()
	waitCompleted(t, h, n/5)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	done := completed(h)
	if done >= n {
		t.Fatalf("all %d tasks finished before the kill: the test did not test", n)
	}
	t.Logf("killed the first worker with %d of %d done", done, n)
	// Tasks in flight at the kill come back when their lease has been
	// expired for 30 s (asynq: a 30 s lease, a recoverer that runs when a
	// worker starts and then each minute). Rather than wait that minute,
	// the test moves the dead worker's leases into the past, as the clock
	// would: the second worker's recoverer then finds them as it starts.
	if expireLeases(t, h) == 0 {
		t.Fatal("no task was in flight at the kill: the test did not test a crash")
	}
	second := h.child()
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
	waitCompleted(t, h, n)
	emails := map[string]int{}
	for _, e := range h.sim.Emails() {
		if e.Kind == "reset_password" {
			emails[e.UserID]++
		}
	}
	for _, u := range users {
		su, _ := h.sim.User(u.Login)
		if su.Status != "RECOVERY" {
			t.Errorf("%s is %s, want RECOVERY", u.Login, su.Status)
		}
		if emails[su.ID] != 1 {
			t.Errorf("%s got %d reset emails, want 1", u.Login, emails[su.ID])
		}
	}
	recovered := 0
	for _, id := range ids {
		r := result(t, h.wait(id))
		if r.Outcome != tasks.OutcomeSucceeded && r.Outcome != tasks.OutcomeNoOp {
			t.Errorf("task %s: %s %+v", id, r.Outcome, r.Error)
		}
		// A task cut off by the kill comes back without spending an
		// attempt (worker/recovery.go): no task here failed on its own.
		info, err := h.inspect.GetTaskInfo(tasks.QueueDefault, id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info.LastErr, asynq.ErrLeaseExpired.Error()) {
			recovered++
		}
		if info.Retried != 0 {
			t.Errorf("task %s spent %d attempts (last error %q); a crash should spend none", id, info.Retried, info.LastErr)
		}
	}
	if recovered == 0 {
		t.Error("no task was in flight at the kill: the test did not test recovery")
	}
	t.Logf("%d tasks were recovered after the kill", recovered)
}

// child starts a worker process on the harness's Redis and simulator.
func (h *harness) child() *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OKTAQ_TEST_WORKER_CHILD=1",
		"OKTAQ_TEST_CHILD_REDIS="+h.redis.URL, "OKTAQ_TEST_CHILD_OKTA="+h.srv.URL)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	return cmd
}

func completed(h *harness) int {
	n := 0
	for _, q := range []string{tasks.QueueDefault} {
		if info, err := h.inspect.GetQueueInfo(q); err == nil {
			n += info.Completed
		}
	}
	return n
}

// waitCompleted waits until want tasks are completed.
func waitCompleted(t *testing.T, h *harness, want int) {
	t.Helper()
	until(t, fmt.Sprintf("%d tasks completed", want), func() bool { return completed(h) >= want })
}

// expireLeases sets the lease of every task in flight on any queue to the
// epoch, as if the dead worker had been gone for long, and returns how
// many there were. The key is asynq's (base.LeaseKey). The dead worker's
// per-user leases (lease.go) have expired by then too: they go. So have
// its calls' rate-limiter slots (35 s): a bucket whose window no answer
// has shown yet lets one call at a time, and would wait for them.
func expireLeases(t *testing.T, h *harness) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, q := range []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} {
		n += expireZSet(t, h, "asynq:{"+q+"}:lease")
	}
	expireZSet(t, h, ratelimit.KeyPrefix+"{default}:inflight")
	users, err := h.redis.Client.Keys(ctx, "oktaq:{default}:user:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(users) > 0 {
		if err := h.redis.Client.Del(ctx, users...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// expireZSet sets every member's score (its lease's end) to the epoch and
// returns how many there were.
func expireZSet(t *testing.T, h *harness, key string) int {
	t.Helper()
	ctx := context.Background()
	ids, err := h.redis.Client.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := h.redis.Client.ZAdd(ctx, key, redis.Z{Score: 0, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return len(ids)
}
