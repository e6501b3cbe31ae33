package enqueue

import "time"

// EnqueueOption changes how one action is enqueued.
type EnqueueOption func(*enqueueOptions)

type enqueueOptions struct {
	runAt    time.Time
	after    time.Duration
	bulk     bool
	deadline time.Time
}

// RunAt schedules the action for t instead of now.
func RunAt(t time.Time) EnqueueOption { return func(o *enqueueOptions) { o.runAt = t } }

// After schedules the action d from now.
func After(d time.Duration) EnqueueOption { return func(o *enqueueOptions) { o.after = d } }

// Bulk marks the action as bulk work: it goes to the low queue (security
// actions stay critical) and waits behind interactive requests.
func Bulk() EnqueueOption { return func(o *enqueueOptions) { o.bulk = true } }

// Deadline gives the action up at t instead of Options.Deadline after it
// becomes due.
func Deadline(t time.Time) EnqueueOption { return func(o *enqueueOptions) { o.deadline = t } }
