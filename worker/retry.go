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
//
// Transient failures (5xx, lost answers) of a flaky Okta pass within
// seconds, so they are retried quickly at first: Base, 2*Base, 4*Base...
// up to FastCap, for FastRetries retries. Only then does the wait grow
// towards Cap, for the failure that outlasts a minute. An Okta that is
// really down is not hammered by these quick retries: the connection's
// breaker (BreakerPolicy) then holds every task of the connection,
// without spending attempts, and lets one probe through at a time.
type RetryPolicy struct {
	// Base is the first transient retry's wait; it doubles each retry, up
	// to FastCap for the first FastRetries retries, then up to Cap.
	Base, FastCap time.Duration
	FastRetries   int
	Cap           time.Duration
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

// DefaultRetryPolicy: transient retries wait about 1, 2, 4 s, then 5 s
// six times (10 attempts within about 40 s: at 25% 5xx an action of 2
// calls fails an attempt 44% of the time, and 8 failures in a row happen
// among a few hundred actions), then 2 and 4 min for the last two. An
// outage is not retried through: the connection's breaker holds its
// tasks without spending attempts.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Base: time.Second, FastCap: 5 * time.Second, FastRetries: 9, Cap: 20 * time.Minute,
		Unauthorized: 5 * time.Minute, Jitter: 500 * time.Millisecond, Now: time.Now}
}

// Delay is asynq's RetryDelayFunc; n is the number of retries so far.
func (p RetryPolicy) Delay(n int, err error, _ *asynq.Task) time.Duration {
	var (
		rl   *okta.RateLimitedError
		ua   *okta.UnauthorizedError
		down *okta.ConnectionDownError
		hd   *HeldError
	)
	switch {
	case errors.As(err, &hd):
		return max(hd.Until.Sub(p.Now()), 0) + rand.N(p.Jitter+1)
	case errors.As(err, &rl):
		return max(rl.Until.Sub(p.Now()), 0) + rand.N(p.Jitter+1)
	case errors.As(err, &down):
		// Wait for the connection's next probe, not an attempt's backoff:
		// the task runs within seconds of the credentials being fixed.
		return max(down.Until.Sub(p.Now()), 0) + rand.N(p.Jitter+1)
	case errors.As(err, &ua):
		return p.Unauthorized + rand.N(p.Unauthorized/10+1)
	}
	ceil := p.TransientCeiling(n)
	// Equal jitter: at least half the ceiling, so the schedule still
	// grows, and spread over the other half.
	return ceil/2 + rand.N(ceil/2+1)
}

// TransientCeiling is the longest wait before retry n+1 of a transient
// failure.
func (p RetryPolicy) TransientCeiling(n int) time.Duration {
	limit, shift := p.Cap, n
	if n < p.FastRetries && p.FastCap > 0 {
		limit = min(p.FastCap, p.Cap)
	} else if p.FastRetries > 0 {
		// The slow phase starts at 128 Base (about 2 minutes) and doubles.
		shift = n - p.FastRetries + 7
	}
	if shift < 30 && p.Base<<shift < limit {
		return p.Base << shift
	}
	return limit
}

// IsFailure is asynq's IsFailure: a rate-limit reschedule, a wait for a
// connection that is down (the token endpoint refuses or fails), or a hold
// (the user busy with another action, the connection's breaker open), is
// not a failed attempt and does not spend one; the task's deadline still
// bounds them.
func IsFailure(err error) bool {
	return !errors.As(err, new(*okta.RateLimitedError)) && !errors.As(err, new(*okta.ConnectionDownError)) &&
		!errors.As(err, new(*HeldError))
}

// HeldError reschedules a task without calling Okta and without spending
// an attempt: Reason says what holds it (another action on the same
// user, the connection's breaker).
type HeldError struct {
	Until  time.Time
	Reason string
}

func (e *HeldError) Error() string {
	return "held until " + e.Until.Format(time.RFC3339Nano) + ": " + e.Reason
}

// retryDelay is asynq's RetryDelayFunc for every task type: the
// RetryPolicy's delay for actions, PlaybookPoll for a playbook coordinator
// waiting for its step, the confirmation recheck for an Okta event, and
// the callback schedule for deliveries.
func (w *Worker) retryDelay(n int, err error, t *asynq.Task) time.Duration {
	var we *waitError
	if errors.As(err, &we) {
		// A held task (approval, schedule, push) wakes at its time.
		return max(we.Until.Sub(w.now()), 0)
	}
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
// step, nor a delivery waiting its turn (ordering), nor a task waiting for
// its hold (approval, schedule, push), nor a lease lost to a crash
// (recovery.go) has failed (an event's recheck has: it counts the
// one look again).
func isFailure(err error) bool {
	return !errors.As(err, new(*stepPending)) && !errors.As(err, new(*errCallbackWait)) &&
		!errors.As(err, new(*waitError)) && !errors.Is(err, asynq.ErrLeaseExpired) && IsFailure(err)
}
