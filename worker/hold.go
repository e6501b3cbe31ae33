package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// Holds (tasks/hold.go) keep an action from running when asynq delivers
// it: an approval still awaited, a run_at later than now (a reschedule),
// a cancellation. The hold check runs on every attempt, before the
// rate-limit gate, so a held action costs no Okta call and no budget.
// A check that lets the attempt go marks the hold started in the same
// script (atomically: no cancel or reschedule comes in between), in the
// user lease's round trip; an attempt that then stops before the action
// calls Okta (its user busy, the rate limit or the connection's breaker
// holding it, the requester's verification under way) takes a mark it set
// back with its lease (unstartScript), so the action can still be
// cancelled or moved while it waits. The API changes the same hash with scripts of its own,
// so each change and each worker decision is one atomic step on one key:
// approve against expiry, cancel against start, reschedule against start
// each have exactly one winner.

// holdCheckScript: KEYS[1] the hold, ARGV[1] now (unix ms), ARGV[2] the
// key's time to live (ms) when it has none. Answers {verdict, arg, ...}:
// cancelled (the decision), denied (the decision), expired, wait (until,
// unix ms), remind (run_at: the reminder is due now; the worker marks it
// sent after sending, remindedScript), go (approval state, decision,
// run_at, verify state, verify factor, verify transaction, polls, "1"
// when this check marked the hold started, "0" when an earlier attempt
// had).
var holdCheckScript = redis.NewScript(`
local k = KEYS[1]
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', k, 'cancelled', 'approval', 'expires_at', 'decision', 'run_at', 'remind_lead', 'reminded', 'verify', 'verify_factor', 'verify_txn', 'verify_polls')
if h[1] then return {'cancelled', h[1]} end
if h[2] == 'denied' then return {'denied', h[4] or ''} end
if h[2] == 'expired' then return {'expired', ''} end
if h[2] == 'awaiting' then
  if now >= tonumber(h[3]) then
    redis.call('HSET', k, 'approval', 'expired')
    return {'expired', ''}
  end
  return {'wait', h[3], 'approval'}
end
if h[5] and now < tonumber(h[5]) then
  if h[6] and not h[7] then
    local at = tonumber(h[5]) - tonumber(h[6])
    if now >= at then return {'remind', h[5]} end
    return {'wait', tostring(at), 'run_at'}
  end
  return {'wait', h[5], 'run_at'}
end
local fresh = '0'
if redis.call('HSETNX', k, 'started', '1') == 1 then
  fresh = '1'
  if redis.call('PTTL', k) < 0 then redis.call('PEXPIRE', k, ARGV[2]) end
end
return {'go', h[2] or '', h[4] or '', h[5] or '', h[8] or '', h[9] or '', h[10] or '', h[11] or '0', fresh}
`)

// unstartScript: KEYS[1] the hold. Takes back the started mark of an
// attempt that set it and stopped before the action called Okta.
var unstartScript = redis.NewScript(`
redis.call('HDEL', KEYS[1], 'started')
return 0
`)

// remindedScript: KEYS[1] the hold, ARGV[1] the run_at the reminder was
// sent for. Marks it sent unless a reschedule moved run_at meanwhile (the
// new end time gets its own reminder). Sent first, marked after: a crash
// in between sends it again (at least once; the callback's id, made of
// the run_at, keeps the delivery to one).
var remindedScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'run_at') == ARGV[1] then redis.call('HSET', KEYS[1], 'reminded', '1') end
return 1
`)

// holdState is what the hold check found for an attempt that goes on.
type holdState struct {
	approval, decision string
	runAt              time.Time
	verify             string
	verifyFactor       string
	verifyTxn          string
	polls              int
}

// waitError sends a held task back to asynq until a time, without
// spending an attempt (IsFailure) and without holding a worker slot.
type waitError struct {
	Until time.Time
	Code  tasks.Code
}

func (e *waitError) Error() string {
	return fmt.Sprintf("%s: waiting until %s", e.Code, e.Until.UTC().Format(time.RFC3339Nano))
}

// holdTTL keeps a hold as long as its task may live: the deadline, the
// result's retention, an hour of slack.
func (w *Worker) holdTTL() time.Duration {
	return w.opts.TaskDeadline + tasks.DefaultResultRetention + time.Hour
}

// applyHold applies the task's hold, read by holdCheckScript (raw), before
// anything touches Okta. It answers an error that ends or defers the
// attempt, or nil with at.result set (the action ended held: cancelled,
// denied, expired), or nil with at.hold set: go on. The check runs in the
// per-user lease's round trip (lease.go), so it costs no round trip of
// its own (issue 19).
func (w *Worker) applyHold(ctx context.Context, at *attempt, raw []string, err error) error {
	switch {
	case err != nil:
		return &okta.TransientError{Err: fmt.Errorf("read the task's hold: %w", err)}
	case len(raw) < 2:
		return &okta.TransientError{Err: fmt.Errorf("read the task's hold: unexpected answer %q", raw)}
	}
	switch raw[0] {
	case "cancelled":
		return w.endHeld(at, tasks.OutcomeCancelled, tasks.CodeCancelled, "cancelled before it ran", raw[1])
	case "denied":
		return w.endHeld(at, tasks.OutcomeDenied, tasks.CodeDenied, "a second person denied the action", raw[1])
	case "expired":
		return w.endHeld(at, tasks.OutcomeExpired, tasks.CodeApprovalExpired,
			fmt.Sprintf("nobody approved the action within OKTAQ_APPROVAL_TTL (%s)", w.opts.ApprovalTTL), "")
	case "wait":
		code := tasks.CodeNotYetDue
		if raw[2] == "approval" {
			code = tasks.CodeAwaitingApproval
		}
		return &waitError{Until: msTime(raw[1]), Code: code}
	case "remind":
		runAt := msTime(raw[1])
		// Sent first, marked sent after: a crash in between sends the
		// reminder again (at least once; receivers dedupe).
		err := w.emit(ctx, Event{Type: EventAccessExpiring, TaskID: at.taskID, Args: at.args, At: runAt,
			Detail: &tasks.Detail{Code: tasks.CodeAccessExpiring, Reason: "the access ends at " + runAt.UTC().Format(time.RFC3339) + " unless the removal is cancelled or rescheduled"}})
		if err != nil {
			return &okta.TransientError{Err: fmt.Errorf("send the access reminder: %w", err)}
		}
		if err := remindedScript.Run(ctx, w.rdb, []string{tasks.HoldKey(at.taskID)}, raw[1]).Err(); err != nil {
			return &okta.TransientError{Err: fmt.Errorf("mark the reminder sent: %w", err)}
		}
		return &waitError{Until: runAt, Code: tasks.CodeAccessExpiring}
	}
	if len(raw) < 9 {
		return &okta.TransientError{Err: fmt.Errorf("read the task's hold: unexpected answer %q", raw)}
	}
	hs := holdState{approval: raw[1], decision: raw[2], verify: raw[4], verifyFactor: raw[5], verifyTxn: raw[6]}
	hs.polls, _ = strconv.Atoi(raw[7])
	at.startedHere = raw[8] == "1"
	if raw[3] != "" {
		hs.runAt = msTime(raw[3])
	}
	if err := w.checkApproval(at, hs); err != nil {
		return err
	}
	// A reschedule moves the action's due time past the deadline it
	// was signed with: the deadline moves with it.
	if r := at.args.Base(); !hs.runAt.IsZero() && r.Deadline.Before(hs.runAt.Add(w.opts.TaskDeadline)) {
		r.Deadline = hs.runAt.Add(w.opts.TaskDeadline)
	}
	at.hold = &hs
	return nil
}

// checkApproval lets an approved action on only with a decision signed
// by our keyring, by a person who may approve it now; an action that
// needs approval and has none is refused.
func (w *Worker) checkApproval(at *attempt, hs holdState) error {
	policy := &at.conn.Conn.Policy
	r := at.args.Base()
	if hs.approval != tasks.ApprovalApproved {
		if policy.NeedsApproval(at.args) {
			return reject(at, tasks.CodeApprovalRequired, fmt.Sprintf("%s needs a second person's approval on connection %q (OKTAQ_APPROVALS) and the task has none", at.action, policy.Name), nil)
		}
		return nil
	}
	var d tasks.Decision
	if err := json.Unmarshal([]byte(hs.decision), &d); err != nil {
		return reject(at, tasks.CodeSignature, "the approval is unreadable", nil)
	}
	if err := w.opts.Keyring.VerifyDecision(&d); err != nil {
		return reject(at, tasks.CodeSignature, err.Error(), nil)
	}
	if d.TaskID != at.taskID || d.Verdict != tasks.VerdictApprove || d.Producer != r.Producer {
		return reject(at, tasks.CodeSignature, "the approval was given for another task or producer", nil)
	}
	if err := w.opts.Producers.Authorize(d.Producer, r.ConnectionName(), d.By.Role); err != nil {
		var pn *tasks.ProducerNotAllowedError
		errors.As(err, &pn)
		return reject(at, pn.Code(), "approver: "+err.Error(), nil)
	}
	if err := policy.AuthorizeApprover(at.action, r.Requester, d.By); err != nil {
		var ae *tasks.ApprovalError
		errors.As(err, &ae)
		return reject(at, ae.Code, err.Error(), nil)
	}
	at.approval = &tasks.DecisionInfo{Verdict: d.Verdict, By: d.By, At: d.At}
	return nil
}

// endHeld ends the task without an Okta call: cancelled, denied or
// expired. It completes (not archived): nothing failed.
func (w *Worker) endHeld(at *attempt, outcome tasks.Outcome, code tasks.Code, summary, decision string) error {
	res := w.baseResult(at)
	res.Outcome = outcome
	res.Error = &tasks.ErrorInfo{Code: code, Summary: summary}
	var d tasks.Decision
	if decision != "" && json.Unmarshal([]byte(decision), &d) == nil {
		res.Approval = &tasks.DecisionInfo{Verdict: d.Verdict, By: d.By, At: d.At}
		if d.By.ID != "" {
			res.Error.Summary += " by " + d.By.ID + " (" + d.By.Role + ")"
		}
	}
	at.result = res
	return nil
}

func msTime(s string) time.Time {
	ms, _ := strconv.ParseInt(s, 10, 64)
	return time.UnixMilli(ms)
}
