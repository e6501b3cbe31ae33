package ratelimit_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
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
