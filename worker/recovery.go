package worker

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// Recovery of a task cut off by a worker crash or a Redis outage.
//
// asynq v0.26 keeps an active task under a lease of 30 s that the owning
// server's heartbeat extends every 5 s (rdb.LeaseDuration, heartbeater:
// both fixed). When the worker dies, the lease runs out; every server's
// recoverer looks once a minute (fixed) for leases expired more than 30 s
// ago (fixed, for clock skew) and hands those tasks to RetryDelayFunc and
// IsFailure with asynq.ErrLeaseExpired. A task whose end could not be
// written while Redis was away goes the same way (redisgate.go holds the
// end of an attempt through a short outage to avoid that). So a crash
// would cost 60-120 s before the task is picked up again; none of it is
// configurable, and orphans.go puts such tasks back within seconds
// instead (they reach this delay function only if asynq's recoverer finds
// them first). What is configurable:
//
//   - the delay after recovery: 0 here (the task did nothing wrong; the
//     default backoff added up to 10 s more),
//   - whether it spends an attempt: it does not (a crash is not a failed
//     attempt; the task's deadline still bounds a task that kills every
//     worker it meets),
//   - how often the forwarder moves due retry tasks to pending
//     (DelayedTaskCheckInterval = Options.PollInterval, 1 s).
//
// The README's reliability section says what is left.

// recoveringDelay is asynq's RetryDelayFunc: a recovered task runs again
// at once, any other error as the retry policy says.
func recoveringDelay(policy asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		if errors.Is(err, asynq.ErrLeaseExpired) {
			return 0
		}
		return policy(n, err, t)
	}
}
