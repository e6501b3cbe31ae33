package worker

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/okta"
)

// RetryPolicy maps the executor's error classes onto asynq's hooks.
type RetryPolicy struct {
	// Base and Cap bound the exponential backoff of transient failures:
	// attempt n waits a uniformly random time in [0, min(Cap, Base*2^n)]
	// ("full jitter"), so retries of many tasks spread out.
	Base, Cap time.Duration
	// Unauthorized is the wait after Okta refused the credentials: slow, so
	// a dead credential is not hammered while an operator fixes it.
	Unauthorized time.Duration
	// Jitter is added to a rate-limit reschedule, so the tasks that waited
	// for one reset do not all wake in the same second. The shared limiter
	// already spreads its own Until; this covers 429s seen without it.
	Jitter time.Duration
	// Now is the clock.
	Now func() time.Time
}

// DefaultRetryPolicy: with 12 attempts the transient backoff spans about
// an hour (expected 50 minutes, at most 100).
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: 10 * time.Second, Cap: 20 * time.Minute, Unauthorized: 5 * time.Minute,
		Jitter: 500 * time.Millisecond, Now: time.Now}
}

// Delay is asynq's RetryDelayFunc.
func (p RetryPolicy) Delay(n int, err error, _ *asynq.Task) time.Duration {
	var rl *okta.RateLimitedError
	var ua *okta.UnauthorizedError
	var down *okta.ConnectionDownError
	switch {
	case errors.As(err, &rl):
		d := rl.Until.Sub(p.Now())
		if d < 0 {
			d = 0
		}
		return d + rand.N(p.Jitter+1)
	case errors.As(err, &down):
		// Wait for the connection's next probe, not an attempt's backoff:
		// the task runs within seconds of the credentials being fixed.
		d := down.Until.Sub(p.Now())
		if d < 0 {
			d = 0
		}
		return d + rand.N(p.Jitter+1)
	case errors.As(err, &ua):
		return p.Unauthorized + rand.N(p.Unauthorized/10+1)
	}
	ceil := p.Cap
	if n < 30 && p.Base<<n < p.Cap {
		ceil = p.Base << n
	}
	return rand.N(ceil + 1)
}

// IsFailure is asynq's IsFailure: a rate-limit reschedule, and a wait for
// a connection that is down (the token endpoint refuses or fails), are not
// failed attempts and do not spend one; the task's deadline still bounds
// them.
func IsFailure(err error) bool {
	var rl *okta.RateLimitedError
	var down *okta.ConnectionDownError
	return !errors.As(err, &rl) && !errors.As(err, &down)
}

// retryDelay is asynq's RetryDelayFunc for every task type: the
// RetryPolicy's delay for actions, PlaybookPoll for a playbook coordinator
// waiting for its step, the confirmation recheck for an Okta event, and
// the callback schedule for deliveries.
func (w *Worker) retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.As(err, new(*stepPending)) {
		return w.opts.PlaybookPoll
	}
	var recheck *errRecheck
	if errors.As(err, &recheck) && w.opts.Confirm != nil {
		return w.opts.Confirm.Recheck
	}
	if t.Type() == TypeCallback && w.opts.Callbacks != nil {
		var ct callbackTask
		_ = json.Unmarshal(t.Payload(), &ct)
		return w.opts.Callbacks.retryDelay(n, err, w.now().Sub(ct.CreatedAt))
	}
	return w.opts.Retry.Delay(n, err, t)
}

// isFailure is asynq's IsFailure: neither a coordinator waiting for its
// step nor a delivery waiting its turn (ordering) has failed (an event's
// recheck has: it counts the one look again).
func isFailure(err error) bool {
	return !errors.As(err, new(*stepPending)) && !errors.As(err, new(*errCallbackWait)) && IsFailure(err)
}
