package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// attempt is what the links of the chain learn about one processing of a
// task; record reads it when the chain returns.
type attempt struct {
	taskID   string
	action   tasks.Action
	args     tasks.Args
	conn     *Connection
	result   *tasks.Result
	rejected *tasks.ErrorInfo
	started  time.Time
	// probe is the breaker's probe token when this attempt probes.
	probe string
	// admitted: the attempt passed the gate, so its outcome says
	// something of Okta's health.
	admitted bool
	// heldUntil is the connection's hold after this attempt, if any.
	heldUntil time.Time
	// hold is what the hold check found; approval and verification go
	// into the result.
	hold         *holdState
	approval     *tasks.DecisionInfo
	verification *tasks.Verification
	// journal is the task's journal entry, read with the user lease.
	journal *journalRead
	// breakerClosed: the connection's breaker had no hold when the user
	// lease was taken (read in its round trip), so the gate need not ask.
	breakerClosed bool
	// blocked reads the rate-limit peek sent with the user lease, when
	// the executor could send it there (the gate's Blocked otherwise).
	blocked func() (time.Time, string, error)
	// release is the user lease's release, left by leaseUser for record
	// to send with the result write (lease.go).
	release *leaseRelease
	// flow carries the attempt's Okta calls through the rate limiter:
	// its last answers ride with the result write (ratelimit.Flow).
	flow *ratelimit.Flow
	// startedHere: this attempt's hold check marked the hold started;
	// executed: the action was handed to the executor. An attempt that
	// marked and did not execute takes its mark back (hold.go).
	startedHere, executed bool
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// reject ends the task at once: archived with outcome rejected, no Okta
// call made.
func reject(at *attempt, code tasks.Code, summary string, fields []tasks.FieldError) error {
	at.rejected = &tasks.ErrorInfo{Code: code, Summary: summary, Fields: fields}
	return fmt.Errorf("rejected (%s): %s: %w", code, summary, asynq.SkipRetry)
}

// verify decodes the task and checks its signature: a task not signed by a
// key of ours, or signed for another task id or queue (a payload copied
// and replayed), never goes further.
func (w *Worker) verify(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		env := tasks.Envelope{TaskID: at.taskID, Queue: queue, Type: t.Type(), Payload: t.Payload()}
		if err := w.opts.Keyring.Verify(env, t.Headers()); err != nil {
			return reject(at, tasks.CodeSignature, err.Error(), nil)
		}
		args, err := tasks.DecodeTask(t.Type(), t.Payload())
		if err != nil {
			var ve *tasks.ValidationError
			errors.As(err, &ve)
			return reject(at, tasks.CodeInvalid, err.Error(), fieldsOf(ve))
		}
		at.args = args
		return next.ProcessTask(ctx, t)
	})
}

// validate applies the same rules the producer did.
func (w *Worker) validate(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		if err := tasks.Validate(at.args, w.now()); err != nil {
			var ve *tasks.ValidationError
			errors.As(err, &ve)
			return reject(at, tasks.CodeInvalid, err.Error(), fieldsOf(ve))
		}
		return next.ProcessTask(ctx, t)
	})
}

// authorize checks the producer's bounds, scope and role again: the
// policy may have changed while the task waited, and a task written to
// Redis by other means than the API must meet the same rules.
func (w *Worker) authorize(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		r := at.args.Base()
		if err := w.opts.Producers.Authorize(r.Producer, r.ConnectionName(), r.Requester.Role); err != nil {
			var pn *tasks.ProducerNotAllowedError
			errors.As(err, &pn)
			at.rejected = &tasks.ErrorInfo{Code: pn.Code(), Summary: err.Error()}
			return fmt.Errorf("rejected: %w: %w", err, asynq.SkipRetry)
		}
		conn, ok := w.opts.Connections[r.ConnectionName()]
		if !ok {
			return reject(at, tasks.CodeUnknownConnection, fmt.Sprintf("connection %q is not configured on this worker", r.ConnectionName()), nil)
		}
		at.conn = conn
		if err := conn.Conn.Authorize(at.action, r.Requester.Role); err != nil {
			var na *tasks.NotAllowedError
			errors.As(err, &na)
			at.rejected = &tasks.ErrorInfo{Code: na.Code(), Summary: err.Error(), Scope: na.Scope}
			return fmt.Errorf("rejected: %w: %w", err, asynq.SkipRetry)
		}
		return next.ProcessTask(ctx, t)
	})
}

// gate reschedules without calling Okta when the last known state of a
// bucket the action needs says it is empty, so that a 429 seen by one
// worker stops the others; with the rate limiter, when a bucket's budget
// for the action's priority is spent. It marks the calls that follow with
// the action's priority (critical, default, bulk). It also gives up on a
// task past its deadline.
func (w *Worker) gate(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		ctx = ratelimit.WithPriority(ctx, okta.PriorityOf(at.args))
		giveUp := at.args.Base().Deadline
		if giveUp.IsZero() {
			giveUp = at.args.Base().RequestedAt.Add(w.opts.TaskDeadline)
		}
		if w.now().After(giveUp) {
			return w.expired(at, giveUp)
		}
		blocked := at.blocked
		if blocked == nil {
			blocked = func() (time.Time, string, error) { return at.conn.Exec.Blocked(ctx, at.args) }
		}
		until, bucket, err := blocked()
		if err != nil {
			w.opts.Logger.Warn("rate-limit state unreadable; each call asks the limiter, which refuses while Redis is down", "error", err)
		}
		if until.After(w.now()) {
			if until.After(giveUp) {
				return w.expired(at, giveUp)
			}
			w.metrics.delayed.WithLabelValues(at.conn.Conn.Name, bucket).Inc()
			return &okta.RateLimitedError{Until: until, Bucket: bucket}
		}
		var adm admission
		err = nil
		if !at.breakerClosed {
			adm, err = w.breaker.admit(ctx, at.conn.Conn.Name, w.now())
		}
		if err != nil {
			// Redis is down: the limiter refuses every call anyway.
			w.opts.Logger.Warn("connection breaker unreadable", "error", err)
		}
		if !adm.Until.IsZero() {
			if adm.Until.After(giveUp) {
				return w.expired(at, giveUp)
			}
			return &HeldError{Until: adm.Until, Reason: fmt.Sprintf("connection %q: most calls to Okta failed lately; one probe at a time until one succeeds", at.conn.Conn.Name)}
		}
		at.probe, at.admitted = adm.Probe, true
		return next.ProcessTask(ctx, t)
	})
}

func (w *Worker) expired(at *attempt, giveUp time.Time) error {
	at.result = w.baseResult(at)
	at.result.Error = &tasks.ErrorInfo{Code: tasks.CodeDeadlineExceeded,
		Summary: fmt.Sprintf("not done by its deadline, %s", giveUp.Format(time.RFC3339))}
	return fmt.Errorf("task deadline passed: %w", asynq.SkipRetry)
}

// execute performs the action. A permanent error ends the task at once;
// every other error goes back to asynq's retry hooks.
func (w *Worker) execute(ctx context.Context, t *asynq.Task) error {
	at := attemptFrom(ctx)
	at.executed = true
	ctx = okta.WithJournal(ctx, newJournal(w.rdb, at.taskID, w.opts.TaskDeadline+time.Hour, at.journal))
	res, err := at.conn.Exec.Execute(ctx, at.args)
	at.result = res
	if err == nil {
		return w.followUp(ctx, at)
	}
	var perm *okta.PermanentError
	if errors.As(err, &perm) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	if ctx.Err() != nil && !errors.As(err, new(*okta.TransientError)) {
		return &okta.TransientError{Err: err}
	}
	return err
}

func fieldsOf(ve *tasks.ValidationError) []tasks.FieldError {
	if ve == nil {
		return nil
	}
	return ve.Fields
}
