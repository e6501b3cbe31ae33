package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// A verified caller (tasks.VerifyPush): before the action, the target
// user confirms with an Okta Verify push. The worker sends the push, then
// gives its slot back: the task waits in asynq's retry set (waitError,
// no attempt spent) and each wake-up polls the transaction once, with a
// doubling wait, through the rate-limit gate like any call. What was
// sent and what the user answered is kept in the task's hold, so a
// restarted worker polls the same transaction and a retry after success
// does not push again.

// Pusher is the part of an executor that talks to the factor verify API;
// *okta.Executor is one.
type Pusher interface {
	SendPush(ctx context.Context, userRef string) (okta.PushTransaction, error)
	PushStatus(ctx context.Context, tx okta.PushTransaction) (okta.PushTransaction, error)
}

// Verify states in the hold.
const (
	verifyWaiting  = "waiting"
	verifyVerified = "verified"
	verifyRefused  = "refused"
	verifyNoFactor = "no_factor"
)

// verifyCaller runs after the gate: a push and its polls are Okta calls.
func (w *Worker) verifyCaller(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		at := attemptFrom(ctx)
		policy := &at.conn.Conn.Policy
		mode := policy.VerifyModeFor(at.args)
		hs := at.hold
		if mode == tasks.VerifyNone || hs == nil {
			return next.ProcessTask(ctx, t)
		}
		switch {
		case hs.verify == verifyVerified:
			at.verification = &tasks.Verification{Method: "push", FactorID: factorOf(hs.verifyFactor), Result: okta.PushSuccess, Polls: hs.polls}
			return next.ProcessTask(ctx, t)
		case hs.verify == verifyNoFactor && hs.approval == tasks.ApprovalApproved:
			// No push factor, and a second person approved instead.
			return next.ProcessTask(ctx, t)
		case hs.verify == verifyNoFactor:
			return reject(at, tasks.CodeNoPushFactor, "the user has no Okta Verify push factor to confirm the caller with", nil)
		case hs.verify == verifyRefused:
			return reject(at, tasks.CodeCallerNotVerified, "the user did not confirm the caller", nil)
		}
		p, ok := at.conn.Exec.(Pusher)
		if !ok {
			return reject(at, tasks.CodeClient, "this connection's executor cannot send an Okta Verify push", nil)
		}
		if hs.verify == verifyWaiting {
			return w.pollPush(ctx, at, p, next, t)
		}
		return w.sendPush(ctx, at, p, mode)
	})
}

func (w *Worker) sendPush(ctx context.Context, at *attempt, p Pusher, mode tasks.VerifyMode) error {
	key := tasks.HoldKey(at.taskID)
	tx, err := p.SendPush(ctx, at.args.Base().User)
	var nf *okta.NoPushFactorError
	switch {
	case errors.As(err, &nf) && mode == tasks.VerifyPushOrApproval:
		expires := w.now().Add(w.opts.ApprovalTTL)
		if err := w.setHold(ctx, key, tasks.HoldVerify, verifyNoFactor, tasks.HoldApproval, tasks.ApprovalAwaiting,
			tasks.HoldExpiresAt, expires.UnixMilli()); err != nil {
			return err
		}
		_ = w.emit(ctx, Event{Type: EventAwaitingApproval, TaskID: at.taskID, Args: at.args, At: expires,
			Detail: &tasks.Detail{Code: tasks.CodeNoPushFactor, Reason: nf.Error() + "; a second person must approve instead"}})
		return &waitError{Until: expires, Code: tasks.CodeAwaitingApproval}
	case errors.As(err, &nf):
		if err := w.setHold(ctx, key, tasks.HoldVerify, verifyNoFactor); err != nil {
			return err
		}
		return reject(at, tasks.CodeNoPushFactor, nf.Error()+"; nothing was done (OKTAQ_VERIFY_USER push_or_approval would ask a second person instead)", nil)
	case err != nil:
		return okErr(err)
	}
	if err := w.setHold(ctx, key, tasks.HoldVerify, verifyWaiting, tasks.HoldVerifyFactor, tx.UserID+"/"+tx.FactorID,
		tasks.HoldVerifyTxn, tx.ID, tasks.HoldVerifyPolls, 0); err != nil {
		return err
	}
	_ = w.emit(ctx, Event{Type: EventAwaitingVerification, TaskID: at.taskID, Args: at.args, At: w.now(),
		Detail: &tasks.Detail{Code: tasks.CodeAwaitingVerification, Reason: "an Okta Verify push was sent to the user"}})
	return &waitError{Until: w.now().Add(w.pushBackoff(0)), Code: tasks.CodeAwaitingVerification}
}

func (w *Worker) pollPush(ctx context.Context, at *attempt, p Pusher, next asynq.Handler, t *asynq.Task) error {
	hs := at.hold
	uid, fid, _ := strings.Cut(hs.verifyFactor, "/")
	tx, err := p.PushStatus(ctx, okta.PushTransaction{UserID: uid, FactorID: fid, ID: hs.verifyTxn})
	if err != nil {
		return okErr(err)
	}
	polls := hs.polls + 1
	key := tasks.HoldKey(at.taskID)
	at.verification = &tasks.Verification{Method: "push", FactorID: fid, Result: tx.Result, Polls: polls}
	switch tx.Result {
	case okta.PushWaiting:
		if err := w.setHold(ctx, key, tasks.HoldVerifyPolls, polls); err != nil {
			return err
		}
		return &waitError{Until: w.now().Add(w.pushBackoff(polls)), Code: tasks.CodeAwaitingVerification}
	case okta.PushSuccess:
		if err := w.setHold(ctx, key, tasks.HoldVerify, verifyVerified, tasks.HoldVerifyPolls, polls); err != nil {
			return err
		}
		return next.ProcessTask(ctx, t)
	default: // REJECTED, TIMEOUT, or anything Okta adds: not a yes
		if err := w.setHold(ctx, key, tasks.HoldVerify, verifyRefused, tasks.HoldVerifyPolls, polls); err != nil {
			return err
		}
		return reject(at, tasks.CodeCallerNotVerified, fmt.Sprintf("the user answered the Okta Verify push with %s; nothing was done", tx.Result), nil)
	}
}

// pushBackoff is the wait before poll n+1: PushPoll doubled per poll, at
// most 8 times PushPoll.
func (w *Worker) pushBackoff(polls int) time.Duration {
	return w.opts.PushPoll << min(polls, 3)
}

func (w *Worker) setHold(ctx context.Context, key string, fields ...any) error {
	pipe := w.rdb.TxPipeline()
	pipe.HSet(ctx, key, fields...)
	pipe.PExpire(ctx, key, w.holdTTL())
	if _, err := pipe.Exec(ctx); err != nil {
		return &okta.TransientError{Err: fmt.Errorf("record the push in the task's hold: %w", err)}
	}
	return nil
}

// okErr ends the task on a permanent Okta error, as execute does.
func okErr(err error) error {
	var perm *okta.PermanentError
	if errors.As(err, &perm) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

func factorOf(uidFid string) string { _, f, _ := strings.Cut(uidFid, "/"); return f }
