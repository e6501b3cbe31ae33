package enqueue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// Cancel and reschedule. asynq cannot move a task's time or take one
// back once a worker may hold it, and deleting and re-enqueuing leaves a
// moment with no task (a crash there loses the action) or, done the other
// way round, two. So the task stays where it is, under its id, and what
// changes is its hold (tasks/hold.go), one Redis hash that the worker
// reads on every attempt and marks started in the same script, just
// before the action's Okta calls (an attempt that then waits without
// calling Okta takes its mark back, worker/hold.go):
//
//   - cancel sets "cancelled" unless "started" is set (one script), then
//     wakes the task, which ends with outcome cancelled and no Okta call;
//   - reschedule sets "run_at" unless "started" is set and wakes the
//     task, which goes back to sleep until run_at (or its reminder)
//     without spending an attempt.
//
// Each script and the worker's check touch the one key, so either
// the cancel (or reschedule) wins and the action does not run (or runs
// later), or the action had started and the API answers 409
// already_started: there is always exactly one task, and the answer is
// never wrong about what happens.

// States of a held action, besides asynq's.
const (
	// StateAwaitingApproval: the action waits for a second person.
	StateAwaitingApproval = "awaiting_approval"
	// StateAwaitingVerification: a push went to the user; the action
	// waits for the answer.
	StateAwaitingVerification = "awaiting_verification"
)

// cancelScript: KEYS[1] the hold; ARGV[1] the signed decision, ARGV[2]
// the TTL (ms) for a hold that has none. Answers ok, started, cancelled
// (already), denied or expired.
var cancelScript = redis.NewScript(`
local k = KEYS[1]
if redis.call('HGET', k, 'started') then return 'started' end
if redis.call('HGET', k, 'cancelled') then return 'cancelled' end
local a = redis.call('HGET', k, 'approval')
if a == 'denied' or a == 'expired' then return a end
redis.call('HSET', k, 'cancelled', ARGV[1])
if redis.call('PTTL', k) < 0 then redis.call('PEXPIRE', k, ARGV[2]) end
return 'ok'
`)

// rescheduleScript: KEYS[1] the hold; ARGV[1] run_at (unix ms), ARGV[2]
// the TTL (ms) the hold needs at least. Answers ok, started, cancelled,
// denied or expired.
var rescheduleScript = redis.NewScript(`
local k = KEYS[1]
if redis.call('HGET', k, 'started') then return 'started' end
if redis.call('HGET', k, 'cancelled') then return 'cancelled' end
local a = redis.call('HGET', k, 'approval')
if a == 'denied' or a == 'expired' then return a end
redis.call('HSET', k, 'run_at', ARGV[1])
redis.call('HDEL', k, 'reminded')
if redis.call('PTTL', k) < tonumber(ARGV[2]) then redis.call('PEXPIRE', k, ARGV[2]) end
return 'ok'
`)

// HoldError says why a cancel, reschedule, approval or denial is refused.
type HoldError struct {
	Code   tasks.Code
	Reason string
}

func (e *HoldError) Error() string { return e.Reason }

func holdRefusal(answer, verb string) error {
	switch answer {
	case "started":
		return &HoldError{Code: tasks.CodeAlreadyStarted, Reason: "the action has already started; it can no longer be " + verb}
	case "cancelled":
		return &HoldError{Code: tasks.CodeCancelled, Reason: "the action was cancelled"}
	case "denied":
		return &HoldError{Code: tasks.CodeDenied, Reason: "the action was denied"}
	case "expired":
		return &HoldError{Code: tasks.CodeApprovalExpired, Reason: "the action's approval expired"}
	}
	return fmt.Errorf("%w: unexpected answer %q", ErrUnavailable, answer)
}

// Cancel cancels producer's action id, if it has not started: it ends
// with outcome cancelled and no Okta call. by is who cancels (recorded).
// Errors: ErrNotFound, *HoldError (already started or ended).
func (c *Client) Cancel(ctx context.Context, producer, id string, by tasks.Requester) (*Info, error) {
	info, err := c.StatusFor(ctx, producer, id)
	if err != nil {
		return nil, err
	}
	if info.Final() {
		return nil, holdRefusal("started", "cancelled")
	}
	d := tasks.Decision{TaskID: id, Verdict: tasks.VerdictCancel, By: by, Producer: producer, At: c.opts.Clock().UTC()}
	if err := c.signedBy(&d); err != nil {
		return nil, err
	}
	b, _ := jsonString(d)
	ans, err := cancelScript.Run(ctx, c.rc, []string{tasks.HoldKey(id)}, b, c.holdTTL(time.Time{}).Milliseconds()).Text()
	if err != nil {
		return nil, fmt.Errorf("%w: cancel %q: %w", ErrUnavailable, id, err)
	}
	if ans != "ok" {
		return nil, holdRefusal(ans, "cancelled")
	}
	c.wake(info)
	return c.StatusFor(ctx, producer, id)
}

// Reschedule moves producer's action id to run at runAt, if it has not
// started. Errors: ErrNotFound, *tasks.ValidationError (run_at),
// *HoldError.
func (c *Client) Reschedule(ctx context.Context, producer, id string, runAt time.Time) (*Info, error) {
	now := c.opts.Clock()
	if !runAt.After(now) {
		return nil, &tasks.ValidationError{Fields: []tasks.FieldError{{Field: "run_at", Reason: "must be in the future"}}}
	}
	info, err := c.StatusFor(ctx, producer, id)
	if err != nil {
		return nil, err
	}
	if info.Final() {
		return nil, holdRefusal("started", "rescheduled")
	}
	ans, err := rescheduleScript.Run(ctx, c.rc, []string{tasks.HoldKey(id)}, runAt.UnixMilli(), c.holdTTL(runAt).Milliseconds()).Text()
	if err != nil {
		return nil, fmt.Errorf("%w: reschedule %q: %w", ErrUnavailable, id, err)
	}
	if ans != "ok" {
		return nil, holdRefusal(ans, "rescheduled")
	}
	// The task is woken now whatever its time: the worker reads the new
	// run_at (and the reminder it implies) and puts it back to sleep
	// until then. Comparing times here instead would need asynq's own
	// next time, which the hold's run_at hides.
	if info.State != StateAwaitingApproval {
		c.wake(info)
	}
	return c.StatusFor(ctx, producer, id)
}

// wake moves a scheduled or retrying task to pending so a worker sees
// its hold now. Only those states: RunTask would also revive an archived
// (ended) task.
func (c *Client) wake(info *Info) {
	ti, err := c.inspector.GetTaskInfo(info.Queue, info.ID)
	if err != nil || (ti.State != asynq.TaskStateScheduled && ti.State != asynq.TaskStateRetry) {
		return
	}
	_ = c.inspector.RunTask(info.Queue, info.ID) // already pending or active: the worker reads the hold anyway
}

// holdTTL keeps a hold as long as its task: until the later of now and
// due, plus the deadline, the retention and an hour.
func (c *Client) holdTTL(due time.Time) time.Duration {
	return later(due, c.opts.Clock()).Sub(c.opts.Clock()) + c.opts.Deadline + c.opts.Retention + time.Hour
}

// overlay shows a task's hold in its state: awaiting approval or
// verification, or scheduled at its run_at.
func (c *Client) overlay(ctx context.Context, info *Info) error {
	if info.Final() {
		return nil
	}
	h, err := c.rc.HGetAll(ctx, tasks.HoldKey(info.ID)).Result()
	if err != nil {
		return fmt.Errorf("%w: read the hold of %q: %w", ErrUnavailable, info.ID, err)
	}
	if h[tasks.HoldCancelled] != "" || h[tasks.HoldStarted] != "" {
		return nil
	}
	switch {
	case h[tasks.HoldApproval] == tasks.ApprovalAwaiting:
		info.State = StateAwaitingApproval
		info.ApprovalExpiresAt = msTime(h[tasks.HoldExpiresAt])
	case h[tasks.HoldVerify] == "waiting":
		info.State = StateAwaitingVerification
	}
	if r := msTime(h[tasks.HoldRunAt]); !r.IsZero() {
		info.RunAt = r
		if r.After(c.opts.Clock()) && info.State != StateAwaitingApproval {
			info.State, info.NextProcessAt = StateScheduled, r
		}
	}
	return nil
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// holdProblem maps a *HoldError onto its HTTP answer.
func holdProblem(e *HoldError) *Problem {
	status := http.StatusConflict
	switch e.Code {
	case tasks.CodeSelfApproval, tasks.CodeApproverRole:
		status = http.StatusForbidden
	}
	return newProblem(status, string(e.Code), e.Reason)
}

// postCancel: POST /v1/actions/{id}:cancel, optional body
// {"requester": {"id", "role"}} naming who cancels.
func (a *api) postCancel(w http.ResponseWriter, r *http.Request, producer, id string) {
	var body struct {
		Requester tasks.Requester `json:"requester"`
	}
	if p := a.readHoldBody(w, r, &body, true); p != nil {
		writeProblem(w, p)
		return
	}
	if body.Requester.Role != "" {
		if err := a.c.opts.Producers.Authorize(producer, "", body.Requester.Role); err != nil {
			a.holdAudit(r, "cancel", producer, id, body.Requester, err)
			writeProblem(w, problemFor(err))
			return
		}
	}
	info, err := a.c.Cancel(r.Context(), producer, id, body.Requester)
	a.holdAudit(r, "cancel", producer, id, body.Requester, err)
	a.answerHold(w, info, err)
}

// postReschedule: POST /v1/actions/{id}:reschedule with {"run_at"}.
func (a *api) postReschedule(w http.ResponseWriter, r *http.Request, producer, id string) {
	var body struct {
		RunAt     *time.Time      `json:"run_at"`
		Requester tasks.Requester `json:"requester"`
	}
	if p := a.readHoldBody(w, r, &body, false); p != nil {
		writeProblem(w, p)
		return
	}
	if body.RunAt == nil {
		writeProblem(w, fieldProblem("run_at", "is required: the RFC 3339 time the action runs at"))
		return
	}
	info, err := a.c.Reschedule(r.Context(), producer, id, *body.RunAt)
	a.holdAudit(r, "reschedule", producer, id, body.Requester, err)
	a.answerHold(w, info, err)
}

func (a *api) answerHold(w http.ResponseWriter, info *Info, err error) {
	var he *HoldError
	switch {
	case errors.As(err, &he):
		writeProblem(w, holdProblem(he))
	case err != nil:
		writeProblem(w, problemFor(err))
	default:
		writeJSON(w, http.StatusOK, info.View())
	}
}
