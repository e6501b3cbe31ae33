package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// startLimited runs one more worker on the harness's Redis, with a rate
// limiter of its own (as a separate process would have), until the test
// ends. It returns its metrics registry.
func (h *harness) startLimited() *prometheus.Registry {
	h.t.Helper()
	reg := prometheus.NewRegistry()
	metrics := worker.NewMetrics(reg)
	log := slog.New(slog.NewJSONHandler(h.logs, nil))
	o := ratelimit.DefaultConfig()
	o.OnEvent, o.Jitter = metrics.OnLimit, 100*time.Millisecond
	lim, err := ratelimit.New(h.redis.Client, o)
	if err != nil {
		h.t.Fatal(err)
	}
	exec, err := okta.NewExecutor(h.conn, okta.ExecutorOptions{Redis: h.redis.Client, Logger: log,
		OnCall: metrics.OnCall, Limiter: lim})
	if err != nil {
		h.t.Fatal(err)
	}
	retry := worker.DefaultRetryPolicy()
	retry.Jitter = 100 * time.Millisecond
	w, err := worker.New(worker.Options{
		Redis: h.redis.Opt, Keyring: h.keyring, Producers: testProducers,
		Connections: map[string]*worker.Connection{"default": {Conn: h.conn, Exec: exec}},
		Concurrency: 4, StrictPriority: true, PollInterval: 50 * time.Millisecond,
		Retry: retry, Metrics: metrics, Logger: log, ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done })
	return reg
}

// TestWorkersShareTheRateLimit: two workers with a limiter each work
// through a bulk job larger than a window's budget. Together they never
// meet a 429, and a critical suspend enqueued while the bulk job runs is
// done within a window while bulk work still waits.
func TestWorkersShareTheRateLimit(t *testing.T) {
	const window, bulk = 3 * time.Second, 30
	var users []oktasim.SeedUser
	for i := range bulk {
		users = append(users, seedUser(fmt.Sprintf("bulk%d@example.com", i), "ACTIVE"))
	}
	users = append(users, seedUser("urgent@example.com", "ACTIVE"))
	h := newHarness(t, withUsers(users...), withRates(oktasim.RateLimits{Window: window, PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: "user-get", Limit: 20}, {Name: oktasim.ActionBucket, Limit: 20}}}))
	h.stopWorker()
	regs := []*prometheus.Registry{h.startLimited(), h.startLimited()}

	var ids []string
	for i := range bulk {
		a := &tasks.UpdateGroups{Request: request(fmt.Sprintf("bulk%d@example.com", i))}
		a.Bulk, a.Groups.Add = true, []string{"Engineering"}
		ids = append(ids, h.enqueue(a))
	}
	// Enqueue the suspend once Okta has answered the bulk job's first call
	// (an event, not a guess at how long the start takes): nearly all the
	// bulk job, more than a window's budget, is then still ahead.
	until(t, "the bulk job's first membership call", func() bool { return bulkCalls(h, time.Time{}, time.Now()) > 0 })
	urgent := time.Now()
	info := h.wait(h.enqueue(&tasks.Suspend{Request: request("urgent@example.com")}))
	if info.State != asynq.TaskStateCompleted {
		t.Fatalf("critical suspend: %s", info.State)
	}
	waiting := 0
	for _, id := range ids {
		if bi, err := h.inspect.GetTaskInfo(tasks.QueueLow, id); err == nil && bi.State != asynq.TaskStateCompleted {
			waiting++
		}
	}
	// Order, not duration: count the bulk membership calls Okta answered
	// between the suspend's enqueue and the suspend itself. Served first,
	// the suspend waits for less than one window's budget (20) of them.
	var suspended time.Time
	for _, r := range h.sim.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/lifecycle/suspend") && r.Status == 200 {
			suspended = r.Time
		}
	}
	if suspended.IsZero() {
		t.Fatal("the simulator saw no successful suspend")
	}
	ahead := bulkCalls(h, urgent, suspended)
	t.Logf("critical suspend: %d bulk calls ahead of it, %d of %d bulk calls before it, %d bulk tasks waiting", ahead, bulkCalls(h, time.Time{}, urgent), bulk, waiting)
	if ahead >= 20 {
		t.Errorf("critical suspend waited behind %d bulk calls (a window allows 20)", ahead)
	}
	for _, id := range ids {
		if bi := h.wait(id); bi.State != asynq.TaskStateCompleted {
			t.Fatalf("bulk task %s: %s", id, bi.State)
		}
	}
	limited := 0
	for _, r := range h.sim.Requests() {
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 0 {
		t.Errorf("%d 429s", limited)
	}
	granted := sum(t, regs, "oktaq_rate_limit_granted_total", ratelimit.BucketGroups)
	delayed := sum(t, regs, "oktaq_rate_limit_delayed_total", "")
	// Okta counts the group name search and the membership PUT against
	// /api/v1/groups: two calls per task.
	if granted != 2*bulk || delayed == 0 {
		t.Errorf("metrics: %v /api/v1/groups calls granted (want %d), %v delayed at the gate or limiter", granted, 2*bulk, delayed)
	}
}

// sum adds up a counter over registries, for one bucket or all ("").
func sum(t *testing.T, regs []*prometheus.Registry, name, bucket string) float64 {
	t.Helper()
	total := 0.0
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if l.GetName() == "bucket" && (bucket == "" || l.GetValue() == bucket) {
						total += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return total
}

// bulkCalls counts the group membership calls Okta answered in (from, to).
func bulkCalls(h *harness, from, to time.Time) int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Method == "PUT" && strings.HasPrefix(r.Path, "/api/v1/groups/") && r.Time.After(from) && r.Time.Before(to) {
			n++
		}
	}
	return n
}
