package ratelimit_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
)

// Issue 14 item 7: with Redis down the limiter cannot account for a call,
// so it refuses it (fail closed): the action is rescheduled like a rate
// limit and Okta is not called.
func TestLimiterFailsClosedWithoutRedis(t *testing.T) {
	sim := limitedSim(t, oktasim.RateLimits{}, 1, "ACTIVE")
	// An address nothing listens on: every Redis command fails at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	dead := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	e := limitedExec(t, sim, dead, testLimits(), nil, nil)
	_, err = e.Execute(context.Background(), clearSessions(0))
	var rl *okta.RateLimitedError
	if !errors.As(err, &rl) {
		t.Errorf("with Redis down: %T %v, want a *okta.RateLimitedError (rescheduled)", err, err)
	}
	if n := len(sim.Requests()); n != 0 {
		t.Errorf("Okta got %d calls the limiter could not account for", n)
	}
}

// Issue 14 item 7: with the defaults, a worker running DefaultConcurrency
// actions at once finds a slot for each first call: the in-flight cap is
// derived from the concurrency (MaxInFlightFor), not set under it (8
// under 10 rescheduled 289 of 300 actions).
func TestDefaultInFlightCapFitsDefaultConcurrency(t *testing.T) {
	const concurrency = 10 // worker.DefaultConcurrency; the config test ties the two
	if ratelimit.DefaultMaxInFlight != ratelimit.MaxInFlightFor(concurrency) {
		t.Fatalf("DefaultMaxInFlight %d, MaxInFlightFor(%d) %d", ratelimit.DefaultMaxInFlight, concurrency, ratelimit.MaxInFlightFor(concurrency))
	}
	o := testLimits()
	o.MaxWait = 0
	lim, err := ratelimit.New(redistest.New(t).Client, o)
	if err != nil {
		t.Fatal(err)
	}
	first := ratelimit.Call{Connection: "default", Bucket: ratelimit.BucketUsersGetOne, Method: "GET"}
	// One answered call teaches the bucket's budget (a large one), so that
	// only the in-flight cap can stand in the way.
	done, err := lim.Acquire(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	done(ratelimit.Observation{Status: 200, HasLimit: true, Limit: 10000, Remaining: 9999, Reset: now.Add(time.Minute), Date: now})
	refused := 0
	for range concurrency {
		// Each holds its slot: its call is still in flight.
		_, err := lim.Acquire(context.Background(), ratelimit.Call{Connection: "default",
			Bucket: ratelimit.BucketUsersGetOne, Method: "GET", Priority: ratelimit.PriorityDefault})
		if err != nil {
			refused++
		}
	}
	if refused != 0 {
		t.Errorf("%d of %d first calls refused a slot under the default in-flight cap %d", refused, concurrency, o.MaxInFlight)
	}
}
