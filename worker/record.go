package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// record wraps the chain: it runs the links, then classifies what
// happened, writes the result of a final outcome, counts it and logs one
// audit line. It is the last link to act on an attempt.
func (w *Worker) record(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		action, _ := tasks.ActionFromType(t.Type())
		id, _ := asynq.GetTaskID(ctx)
		at := &attempt{taskID: id, action: action, started: w.now()}
		err := next.ProcessTask(context.WithValue(ctx, attemptKey{}, at), t)
		kind, final := w.classify(ctx, err)
		if !final {
			w.endAttempt(ctx, at)
		}
		// A final attempt that is not a probe reports to the breaker in
		// the result write's round trip (issue 19): its answer only
		// feeds a log line.
		reportLater := final && at.admitted && at.probe == ""
		if at.admitted && !reportLater && w.reportToBreaker(ctx, at, kind, err) {
			// A failed probe: the connection is down, not this task's
			// action; it waits with the others, without spending an
			// attempt.
			err = &HeldError{Until: at.heldUntil, Reason: "probe of a failing connection: " + err.Error()}
			kind, final = w.classify(ctx, err)
		}
		res := at.result
		if res == nil {
			res = w.baseResult(at)
		}
		res.Attempts = attemptNumber(ctx)
		if res.Approval == nil {
			res.Approval = at.approval
		}
		if res.Verification == nil {
			res.Verification = at.verification
		}
		res.StartedAt, res.FinishedAt = at.started, w.now()
		if final {
			res.Outcome = outcomeOf(kind, res)
			if res.Error == nil && err != nil && kind != "ok" {
				res.Error = errorInfo(at, err)
			}
			w.confirmationOf(at, res) // confirm.go
			var report *queuedReport
			var ended func()
			first, werr := w.writeResult(ctx, t, res, func(pipe redis.Pipeliner) {
				if reportLater {
					report = w.breaker.queueReport(context.WithoutCancel(ctx), pipe, at.conn.Conn.Name, "", breakerOutcome(kind), w.now())
				}
				// A final attempt keeps its started mark: the action ended.
				at.executed = true
				ended = w.queueEnd(context.WithoutCancel(ctx), pipe, at)
			})
			if ended != nil {
				ended()
			} else { // the result write gave up before its round trip
				at.executed = true
				w.endAttempt(ctx, at)
			}
			if werr != nil {
				w.opts.Logger.Error("result not written", "task_id", id, "error", werr)
			}
			switch {
			case report != nil:
				until, rerr := w.breaker.answer(context.WithoutCancel(ctx), report)
				w.breakerAnswered(at, breakerOutcome(kind), until, rerr, err)
			case reportLater: // the result write gave up before its round trip
				w.reportToBreaker(ctx, at, kind, err)
			}
			if first {
				w.metrics.actions.WithLabelValues(string(action), res.Connection, string(res.Outcome)).Inc()
			}
			w.finished(ctx, t, at, res, err) // callbacks_emit.go
		}
		w.metrics.attempts.WithLabelValues(string(action), res.Connection, kind).Inc()
		w.metrics.duration.WithLabelValues(string(action)).Observe(res.FinishedAt.Sub(at.started).Seconds())
		if res.Okta.Calls > 0 || err != nil {
			// An attempt ended without a call (cancelled, denied,
			// expired) says nothing about the connection.
			w.health.observe(res.Connection, err)
		}
		w.audit(at, res, kind, final, err)
		return err
	})
}

// classify names what an attempt's error means and whether the task ends
// with it.
func (w *Worker) classify(ctx context.Context, err error) (kind string, final bool) {
	var (
		perm *okta.PermanentError
		rl   *okta.RateLimitedError
		ua   *okta.UnauthorizedError
	)
	lastAttempt := retried(ctx) >= maxRetry(ctx)
	switch {
	case err == nil:
		return "ok", true
	case errors.As(err, new(*waitError)):
		return "waiting", false
	case errors.As(err, &perm):
		return "permanent", true
	case errors.Is(err, asynq.SkipRetry):
		return "rejected", true
	// A reschedule spends no attempt, but on the last one asynq archives
	// the task whatever the error: then it is final, with a result.
	case errors.As(err, &rl):
		return "rate_limited", lastAttempt
	case errors.As(err, new(*okta.ConnectionDownError)):
		return "connection_down", lastAttempt
	case errors.As(err, new(*HeldError)):
		return "held", lastAttempt
	case errors.As(err, &ua):
		return "unauthorized", lastAttempt
	default:
		return "transient", lastAttempt
	}
}

// reportToBreaker tells the connection's breaker what an attempt that
// passed the gate met: an answer (success or a refusal: Okta is up) or a
// transient failure. It reports whether the attempt was a probe that
// failed.
func (w *Worker) reportToBreaker(ctx context.Context, at *attempt, kind string, err error) (failedProbe bool) {
	o := breakerOutcome(kind)
	until, rerr := w.breaker.report(context.WithoutCancel(ctx), at.conn.Conn.Name, at.probe, o, w.now())
	if !w.breakerAnswered(at, o, until, rerr, err) {
		return false
	}
	return at.probe != "" && o == failed && !until.IsZero()
}

// breakerOutcome is what an attempt's kind says of Okta's health.
func breakerOutcome(kind string) outcome {
	switch kind {
	case "ok", "permanent":
		return succeeded
	case "transient":
		return failed
	}
	return neutral
}

// breakerAnswered logs the breaker's answer to a report and keeps the
// connection's hold; false when the breaker could not be updated.
func (w *Worker) breakerAnswered(at *attempt, o outcome, until time.Time, rerr, err error) bool {
	if rerr != nil {
		w.opts.Logger.Warn("connection breaker not updated", "error", rerr)
		return false
	}
	if !until.IsZero() && o == failed {
		w.opts.Logger.Warn("connection held: most calls to Okta fail", "connection", at.conn.Conn.Name, "until", until,
			"probe", at.probe != "", "error", err)
	}
	at.heldUntil = until
	return true
}

func outcomeOf(kind string, res *tasks.Result) tasks.Outcome {
	switch kind {
	case "ok":
		switch res.Outcome {
		case tasks.OutcomeNoOp, tasks.OutcomePartial, tasks.OutcomeCancelled, tasks.OutcomeDenied, tasks.OutcomeExpired:
			return res.Outcome
		}
		return tasks.OutcomeSucceeded
	case "rejected":
		if res.Error != nil && res.Error.Code == tasks.CodeDeadlineExceeded {
			return tasks.OutcomeFailed
		}
		return tasks.OutcomeRejected
	default:
		return tasks.OutcomeFailed
	}
}

func errorInfo(at *attempt, err error) *tasks.ErrorInfo {
	if at.rejected != nil {
		return at.rejected
	}
	return okta.ErrorInfo(err)
}

func (w *Worker) baseResult(at *attempt) *tasks.Result {
	res := &tasks.Result{Action: at.action, Connection: tasks.DefaultConnection}
	if at.args != nil {
		res.Connection = at.args.Base().ConnectionName()
	}
	if at.rejected != nil {
		res.Error = at.rejected
	}
	return res
}

// writeResult stores the result with the task and reports whether this
// is the task's first final outcome, in one round trip (a pipeline of the
// write and the marker). An action whose acknowledgement to asynq was
// lost runs again (and confirms its end state), and must not be counted
// twice; the marker lives as long as a task may run. When Redis cannot
// say, the outcome is counted (a metric may then count twice; it never
// drops one).
//
// asynq's ResultWriter sets the field on whatever hash is there: after
// Redis rolled back (the task gone, its message with it) it would leave a
// result-only hash with no expiry; the script writes only next to a
// message.
//
// with, when not nil, adds commands of the caller to the same pipeline,
// ahead of the write.
func (w *Worker) writeResult(ctx context.Context, t *asynq.Task, res *tasks.Result, with func(redis.Pipeliner)) (first bool, err error) {
	b, err := json.Marshal(res)
	if err != nil {
		return true, err
	}
	rw := t.ResultWriter()
	q, ok := asynq.GetQueueName(ctx)
	if rw == nil || !ok {
		return true, errors.New("task has no result writer")
	}
	if err := ctx.Err(); err != nil {
		return true, fmt.Errorf("failed to write task result: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	key := "asynq:{" + q + "}:t:" + rw.TaskID()
	pipe := w.rdb.Pipeline()
	if with != nil {
		// First: whoever sees the result sees the caller's commands done
		// (a released user lease).
		with(pipe)
	}
	write := writeResultScript.EvalSha(ctx, pipe, []string{key}, b)
	marker := pipe.SetNX(ctx, "oktaq:counted:"+rw.TaskID(), 1, w.opts.TaskDeadline+time.Hour)
	_, _ = pipe.Exec(ctx)
	first = marker.Val() || marker.Err() != nil
	n, err := write.Int()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		n, err = writeResultScript.Run(ctx, w.rdb, []string{key}, b).Int()
	}
	switch {
	case err != nil:
		return first, err
	case n < 0:
		return first, errors.New("the task vanished while it ran (Redis lost data?): its result was dropped")
	}
	return first, nil
}

// writeResultScript: -1 when the task hash has no message (nothing is
// written, a remnant is dropped); else 0 and the result is set.
var writeResultScript = redis.NewScript(`
if redis.call("HEXISTS", KEYS[1], "msg") == 0 then
	redis.call("DEL", KEYS[1])
	return -1
end
redis.call("HSET", KEYS[1], "result", ARGV[1])
return 0`)

// audit logs one line per attempt, naming its decision: performed
// (succeeded or no-op), failed, refused (rejected before any Okta call,
// with the code), or retrying. It names who asked (producer, requester),
// for which ticket, what was done to whom (the requested user and the
// login Okta resolved) and what Okta said (request ids); it never holds a
// secret (results carry them only sealed, and Sealed is not logged).
func (w *Worker) audit(at *attempt, res *tasks.Result, kind string, final bool, err error) {
	level := slog.LevelInfo
	if err != nil && final && kind != "ok" {
		level = slog.LevelWarn
	}
	if !w.opts.Logger.Enabled(context.Background(), level) {
		return // about 25 attributes, 2 KB, for nobody
	}
	attrs := []any{
		slog.String("decision", decisionOf(kind, final, res)),
		slog.String("task_id", at.taskID), slog.String("action", string(at.action)),
		slog.String("connection", res.Connection), slog.String("result", kind),
		slog.Bool("final", final), slog.Int("attempt", res.Attempts),
		slog.Duration("duration", res.FinishedAt.Sub(at.started)),
	}
	if final {
		attrs = append(attrs, slog.String("outcome", string(res.Outcome)))
	}
	if at.args != nil {
		r := at.args.Base()
		attrs = append(attrs, slog.String("user", r.User),
			slog.Group("requester", "id", r.Requester.ID, "role", r.Requester.Role),
			slog.String("producer", r.Producer),
			slog.Group("ticket", "system", r.Ticket.System, "id", r.Ticket.ID))
	}
	attrs = append(attrs, slog.String("user_id", res.UserID), slog.String("login", res.Login),
		slog.String("status_before", res.Okta.StatusBefore), slog.String("status_after", res.Okta.StatusAfter),
		slog.Any("okta_request_ids", res.Okta.RequestIDs), slog.Int("okta_calls", res.Okta.Calls))
	var we *waitError
	switch {
	case res.Error != nil:
		attrs = append(attrs, slog.String("code", string(res.Error.Code)))
	case errors.As(err, &we):
		attrs = append(attrs, slog.String("code", string(we.Code)), slog.Time("wait_until", we.Until))
	}
	if res.Approval != nil {
		attrs = append(attrs, slog.Group("approver", "id", res.Approval.By.ID, "role", res.Approval.By.Role, "verdict", res.Approval.Verdict))
	}
	if res.FollowUp != "" {
		attrs = append(attrs, slog.String("follow_up", res.FollowUp))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	w.opts.Logger.Log(context.Background(), level, "audit", attrs...)
}

// decisionOf names what an attempt decided.
func decisionOf(kind string, final bool, res *tasks.Result) string {
	switch {
	case kind == "waiting":
		return "waiting"
	case !final:
		return "retrying"
	case res.Outcome == tasks.OutcomeSucceeded, res.Outcome == tasks.OutcomeNoOp:
		return "performed"
	case res.Outcome == tasks.OutcomeRejected:
		return "refused"
	case res.Outcome == tasks.OutcomePartial:
		return "partial"
	case res.Outcome == tasks.OutcomeCancelled, res.Outcome == tasks.OutcomeDenied, res.Outcome == tasks.OutcomeExpired:
		return string(res.Outcome)
	default:
		return "failed"
	}
}

func attemptNumber(ctx context.Context) int { return retried(ctx) + 1 }

func retried(ctx context.Context) int {
	n, _ := asynq.GetRetryCount(ctx)
	return n
}

func maxRetry(ctx context.Context) int {
	n, _ := asynq.GetMaxRetry(ctx)
	return n
}

// now is the worker's clock.
func (w *Worker) now() time.Time { return w.opts.Clock() }
