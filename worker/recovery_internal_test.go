package worker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/okta"
)

// A task whose lease ran out (its worker crashed or lost Redis) runs again
// with no backoff and without spending an attempt; other errors keep the
// retry policy.
func TestRecoveredTaskRunsAtOnceWithoutSpendingAnAttempt(t *testing.T) {
	policy := DefaultRetryPolicy()
	delay := recoveringDelay(policy.Delay)
	leaseLost := fmt.Errorf("recoverer: %w", asynq.ErrLeaseExpired)
	for n := range 12 {
		if d := delay(n, leaseLost, nil); d != 0 {
			t.Errorf("attempt %d: a recovered task waits %s, want 0", n, d)
		}
	}
	if isFailure(leaseLost) {
		t.Error("a lost lease spends an attempt")
	}
	transient := &okta.TransientError{Status: 503}
	if !isFailure(transient) {
		t.Error("a transient Okta error no longer spends an attempt")
	}
	// The policy still applies to everything else: over 100 draws at
	// attempt 5 (ceiling 320 s) some wait is not zero.
	waited := 0
	for range 100 {
		if delay(5, transient, nil) > time.Duration(0) {
			waited++
		}
	}
	if waited == 0 {
		t.Error("a transient error no longer backs off")
	}
	if errors.Is(transient, asynq.ErrLeaseExpired) {
		t.Fatal("test error wraps ErrLeaseExpired")
	}
}
