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
	w, err := worker.New(worker.Options{Redis: redisOpt, Keyring: kr, Concurrency: 8, PollInterval: 50 * time.Millisecond,
		Connections: map[string]*worker.Connection{"default": {Conn: conn, Exec: exec}},
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
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
	h := newHarness(t, withUsers(users...))
	h.stopWorker() // this test's workers are separate processes
	h.sim.SetFaults(oktasim.Faults{Latency: 15 * time.Millisecond, Match: "/lifecycle/"})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.enqueue(&tasks.ResetPassword{Request: request(users[i].Login)})
	}
	first := h.child()
	waitCompleted(t, h, n/5, 60*time.Second)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	done := completed(h)
	if done >= n {
		t.Fatalf("all %d tasks finished before the kill: the test did not test", n)
	}
	t.Logf("killed the first worker with %d of %d done", done, n)
	second := h.child()
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
	// Tasks in flight at the kill come back when their lease expires
	// (asynq: 30 s lease, recovered after 30 s more).
	waitCompleted(t, h, n, 4*time.Minute)
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
		r := result(t, h.wait(id, time.Second))
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

func waitCompleted(t *testing.T, h *harness, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if completed(h) >= want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("only %d of %d tasks completed within %s", completed(h), want, within)
}
