package ratelimit

import (
	"fmt"
	"time"
)

// Call is a call to Okta about to be made.
type Call struct {
	Connection, Bucket, Method string
	// Priority is the class of the action (from WithPriority).
	Priority Priority
	// Continuation is set for every call of an action after its first: it
	// gets the headroom of the class above, so that an action the budget
	// let start is not stopped halfway (and its first calls wasted).
	Continuation bool
}

// Observation is what one call saw: Okta's rate-limit headers as sent
// (Okta's clock), and local durations only, so that a worker with a wrong
// clock still teaches the limiter the right thing.
type Observation struct {
	// Status is the HTTP status, 0 when no answer came.
	Status           int
	HasLimit         bool
	Limit, Remaining int
	// Reset and Date are X-Rate-Limit-Reset and Date, zero if absent.
	Reset, Date time.Time
	// RTT is from sending the request to the answer; Age from the answer
	// to now.
	RTT, Age time.Duration
}

// WaitError refuses a call: its bucket (or the connection's calls in
// flight) will not allow it before Until. Okta was not called; the worker
// reschedules the task for Until without spending an attempt.
type WaitError struct {
	// Until is on the local clock (Config.Clock), jitter included.
	Until  time.Time
	Bucket string
	// Concurrency is set when calls in flight, not the bucket's budget,
	// stand in the way (the in-flight cap, or a concurrency 429 seen).
	Concurrency bool
}

func (e *WaitError) Error() string {
	kind := "budget"
	if e.Concurrency {
		kind = "calls in flight"
	}
	return fmt.Sprintf("rate limiter: bucket %s: no %s before %s", e.Bucket, kind, e.Until.Format(time.RFC3339))
}

// EventKind says what an Event reports.
type EventKind int

// Limiter events.
const (
	// Granted: a call may go (InFlight counts it).
	Granted EventKind = iota
	// Delayed: a call may not go; the task is rescheduled.
	Delayed
	// Released: a call ended (InFlight no longer counts it).
	Released
)

// Event is reported to Config.OnEvent, for metrics.
type Event struct {
	Kind       EventKind
	Connection string
	// Bucket is the path bucket (BucketFor's names: a small fixed set).
	Bucket string
	// InFlight is the connection's calls in flight across all workers,
	// as Redis counted them at the event; -1 when unknown.
	InFlight int
}
