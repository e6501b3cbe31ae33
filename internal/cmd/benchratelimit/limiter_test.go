package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// The oktaq modes' limiter, as the bench's worker processes set it up,
// keeps the bench org's concurrency limit: 3 processes x 10 actions
// (bulk group adds, four calls each) against an org of 10 calls in
// flight meet no 429. With the product's default cap (20, for Okta's
// usual 75 in flight) they met concurrency 429s, and each blocked the
// connection for a second: make bench-ratelimit's oktaq row fell to 0.70
// of its budget with ~120 429s.
func TestBenchLimiterKeepsTheOrgConcurrency(t *testing.T) {
	const workers, conc, perGoroutine = 3, 10, 3
	spec := benchWorkerSpec{Workers: workers, Concurrency: conc, OrgConcurrency: 10, Reserve: 0.1}
	// Buckets large enough that only calls in flight can be refused.
	sim := oktasim.New(oktasim.Options{RateLimits: oktasim.RateLimits{Window: time.Minute, PrincipalShare: 0.5,
		Concurrency: spec.OrgConcurrency, Buckets: []oktasim.Bucket{{Name: "user-get", Limit: 10000},
			{Name: oktasim.UsersBucket, Limit: 10000}, {Name: "groups", Limit: 10000}, {Name: "group", Limit: 10000}}}})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	const token = "00SSWS-bench-test-token-0123456789"
	seed := oktasim.Seed{Groups: []oktasim.SeedGroup{{Name: "Bulk"}}, APITokens: []string{token}}
	n := workers * conc * perGoroutine
	for i := range n {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: fmt.Sprintf("bulk%d@example.com", i), Status: oktasim.StatusActive})
	}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(oktasim.Faults{Latency: 20 * time.Millisecond, LatencyJitter: 40 * time.Millisecond, Match: "/api/"})
	group := sim.GroupID("Bulk")

	r := redistest.New(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range workers {
		// One limiter and executor per worker process, sharing Redis.
		lim, err := ratelimit.New(r.Client, spec.limiterConfig())
		if err != nil {
			t.Fatal(err)
		}
		conn := &okta.Connection{Policy: tasks.Policy{Name: "bench", Scopes: []string{tasks.ScopeUsersRead, tasks.ScopeGroupsManage}},
			BaseURL: sim.URL(), Credentials: okta.Credentials{APIToken: token}}
		e, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: r.Client, Limiter: lim, RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Close)
		for g := range conc {
			wg.Go(func() {
				for k := range perGoroutine {
					i := (w*conc+g)*perGoroutine + k
					a := &tasks.UpdateGroups{Request: tasks.Request{Connection: "bench", User: fmt.Sprintf("bulk%d@example.com", i),
						Requester: tasks.Requester{ID: "bench", Role: "it-admin"}}}
					a.Bulk, a.Groups.Add = true, []string{group}
					errs <- execute(ctx, e, a)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	added, limited := 0, 0
	for _, req := range sim.Requests() {
		switch {
		case req.Status == http.StatusTooManyRequests:
			limited++
		case req.Method == http.MethodPut && req.Status == http.StatusNoContent:
			added++
		}
	}
	if added != n || limited != 0 {
		t.Fatalf("%d group adds made, %d 429s; want %d and 0 (in-flight cap %d, org limit %d)",
			added, limited, n, spec.limiterConfig().MaxInFlight, spec.OrgConcurrency)
	}
}

// execute runs a until it is done, waiting out the limiter's refusals
// as the worker would reschedule the task.
func execute(ctx context.Context, e *okta.Executor, a tasks.Args) error {
	for range 1000 {
		_, err := e.Execute(ctx, a)
		var rl *okta.RateLimitedError
		if !errors.As(err, &rl) {
			return err
		}
		time.Sleep(time.Until(rl.Until))
	}
	return fmt.Errorf("%s: still rate limited after 1000 tries", a.Base().User)
}
