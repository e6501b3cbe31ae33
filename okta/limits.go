package okta

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// CallLimiter decides whether one call to Okta may go now; production's
// is a *ratelimit.Limiter, shared by every worker through Redis. The
// executor's transport asks it before every call, so an action of several
// calls is covered call by call; done must be called once with what the
// call saw. When the call may not go, Acquire returns a
// *ratelimit.WaitError and Okta is not called: the executor reports a
// *RateLimitedError and the worker reschedules the task.
type CallLimiter interface {
	Acquire(ctx context.Context, c ratelimit.Call) (done func(ratelimit.Observation), err error)
	// Peek says, without taking anything, when calls of ctx's priority
	// could take every bucket named; zero until means now (the gate).
	Peek(ctx context.Context, conn string, buckets []string) (until time.Time, bucket string, err error)
}

// Blocked reports whether a bucket that action a will use has no budget
// for ctx's priority; until is then when it will (the latest of them) and
// bucket names it. Zero until means go ahead. The worker's gate reschedules
// the task for until instead of starting an action that would stop
// halfway.
func (e *Executor) Blocked(ctx context.Context, a tasks.Args) (until time.Time, bucket string, err error) {
	return e.limiter.Peek(ctx, e.conn.Name, Buckets(a.Action()))
}

// PriorityOf is the class of an action: critical for security responses
// (the critical queue), bulk for requests marked bulk (the low queue),
// default otherwise. It follows tasks.Action.Queue.
func PriorityOf(a tasks.Args) ratelimit.Priority {
	switch {
	case a.Action().Critical():
		return ratelimit.PriorityCritical
	case a.Base().Bulk:
		return ratelimit.PriorityBulk
	default:
		return ratelimit.PriorityDefault
	}
}

// Buckets lists the rate-limit buckets an action draws on.
func Buckets(a tasks.Action) []string {
	switch a {
	case tasks.ActionUpdateGroups:
		return []string{ratelimit.BucketUsersGetOne, ratelimit.BucketGroups, ratelimit.BucketGroupsID,
			ratelimit.BucketUsers}
	case tasks.ActionUpdateApps:
		return []string{ratelimit.BucketUsersGetOne, ratelimit.BucketApps}
	default:
		return []string{ratelimit.BucketUsersGetOne, ratelimit.BucketUsers}
	}
}

// refusal turns a limiter's refusal into the executor's error classes:
// a *ratelimit.WaitError is a *RateLimitedError (reschedule, no attempt
// spent), anything else (the context ended while waiting) is transient.
func refusal(err error) error {
	if w, ok := err.(*ratelimit.WaitError); ok {
		return &RateLimitedError{Until: w.Until, Bucket: w.Bucket, Concurrency: w.Concurrency}
	}
	if _, ok := err.(*RateLimitedError); ok {
		return err
	}
	return &TransientError{Err: fmt.Errorf("waiting for the rate limiter: %w", err)}
}

// pipelineGate is a CallLimiter whose gate can ride a caller's pipeline
// (*ratelimit.Limiter).
type pipelineGate interface {
	GateIn(ctx context.Context, pipe redis.Pipeliner, rdb redis.UniversalClient, f *ratelimit.Flow, conn string, buckets []string) (func() (time.Time, string, error), bool)
}

// GateIn is Blocked sent in the caller's pipeline on rdb (the worker's
// gate, read with the user lease in one round trip), and, with a flow,
// the grant of the action's first call's slot in the same script (every
// action reads its user first): that call then costs no round trip of its
// own. answer reads it after the pipeline ran. ok is false when the
// limiter cannot (another limiter, or another Redis): call Blocked then.
func (e *Executor) GateIn(ctx context.Context, pipe redis.Pipeliner, rdb redis.UniversalClient, a tasks.Args, f *ratelimit.Flow) (answer func() (time.Time, string, error), ok bool) {
	g, ok := e.limiter.(pipelineGate)
	if !ok {
		return nil, false
	}
	return g.GateIn(ctx, pipe, rdb, f, e.conn.Name, Buckets(a.Action()))
}
