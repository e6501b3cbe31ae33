package okta

import (
	"context"
	"time"
)

// CallLimiter decides whether one call to Okta may go now. The executor's
// transport asks it before every call, so an action of several calls is
// covered call by call; done must be called once with what the call saw.
// When the call may not go, Acquire returns a *RateLimitedError and Okta is
// not called: the worker reschedules the task and frees its slot.
type CallLimiter interface {
	Acquire(ctx context.Context, c LimitedCall) (done func(Observation), err error)
}

// budgetPeeker is a limiter that can say, without taking anything, when
// a bucket will take a call (Executor.Blocked uses it for the gate).
type budgetPeeker interface {
	Peek(ctx context.Context, conn string, buckets []string) (until time.Time, bucket string, err error)
}

// LimitedCall is a call about to be made.
type LimitedCall struct {
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

// LimitEventKind says what a LimitEvent reports.
type LimitEventKind int

// Limiter events.
const (
	// LimitGranted: a call may go (InFlight counts it).
	LimitGranted LimitEventKind = iota
	// LimitDelayed: a call may not go; the task is rescheduled.
	LimitDelayed
	// LimitReleased: a call ended (InFlight no longer counts it).
	LimitReleased
)

// LimitEvent is reported to LimiterOptions.OnEvent, for metrics.
type LimitEvent struct {
	Kind       LimitEventKind
	Connection string
	// Bucket is the path bucket (Bucket's names: a small fixed set).
	Bucket string
	// InFlight is the connection's calls in flight across all workers,
	// as Redis counted them at the event; -1 when unknown.
	InFlight int
}
