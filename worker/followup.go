package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// Time-bound access: a group add or app assignment with an until time
// schedules its own removal once it succeeded. The removal is an
// ordinary action (signed by the worker's keyring, rate limited,
// recorded) with FollowUpOf set, under an id derived from the first
// action's, so a retry never schedules two. Its hold carries run_at =
// until (and the reminder lead), so it is cancelled (access kept) and
// rescheduled (access extended) like any scheduled action, and the
// reminder follows a reschedule. Only what this action granted is
// removed: a membership the user already had stays.

// grantedField of the first action's hold records the ids it granted,
// before the removal is enqueued: a retry after a failed enqueue (when
// the adds now read as no_op) removes the same ones.
const grantedField = "granted"

// holdCreateScript: KEYS[1] the hold; ARGV pairs of field, value, then
// the TTL (ms) last. Creates the hold only if it does not exist, so a
// repeated enqueue never resets an approval or a reschedule.
var holdCreateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 1, #ARGV - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[#ARGV])
return 1
`)

// FollowUpID is the id of the removal of task id's time-bound access.
func FollowUpID(taskID string) string {
	h := sha256.Sum256([]byte("oktaq-follow-up\x00" + taskID))
	return "f-" + hex.EncodeToString(h[:16])
}

// followUp schedules the removal of what a time-bound action granted.
func (w *Worker) followUp(ctx context.Context, at *attempt) error {
	until := tasks.Until(at.args)
	if until.IsZero() || at.result == nil {
		return nil
	}
	granted, err := w.granted(ctx, at)
	if err != nil || len(granted) == 0 {
		return err
	}
	removal := removalOf(at.args, at.result, granted)
	r := removal.Base()
	r.FollowUpOf, r.RequestedAt, r.Deadline = at.taskID, w.now().UTC(), until.Add(w.opts.TaskDeadline)
	r.Version = tasks.PayloadVersion
	payload, err := tasks.Marshal(removal)
	if err != nil {
		return err
	}
	id := FollowUpID(at.taskID)
	queue, typ := removal.Action().Queue(false), removal.Action().TypeName()
	hold := []any{tasks.HoldRunAt, until.UnixMilli()}
	wake := until
	if lead := w.opts.AccessReminder; lead > 0 {
		hold = append(hold, tasks.HoldRemindLead, lead.Milliseconds())
		wake = until.Add(-lead)
	}
	ttl := until.Sub(w.now()) + w.holdTTL()
	if err := holdCreateScript.Run(ctx, w.rdb, []string{tasks.HoldKey(id)}, append(hold, ttl.Milliseconds())...).Err(); err != nil {
		return &okta.TransientError{Err: fmt.Errorf("schedule the removal of the time-bound access: %w", err)}
	}
	task := asynq.NewTaskWithHeaders(typ, payload, w.opts.Keyring.Sign(tasks.Envelope{TaskID: id, Queue: queue, Type: typ, Payload: payload}))
	_, err = w.enq.EnqueueContext(ctx, task, asynq.TaskID(id), asynq.Queue(queue), asynq.ProcessAt(wake),
		asynq.MaxRetry(tasks.DefaultMaxAttempts-1), asynq.Timeout(10*time.Minute), asynq.Retention(tasks.DefaultResultRetention))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return &okta.TransientError{Err: fmt.Errorf("schedule the removal of the time-bound access: %w", err)}
	}
	at.result.FollowUp = id
	// The removal is accepted for later like a scheduled request (once:
	// the delivery's id is the removal's).
	if w.opts.Callbacks != nil {
		if v, verr := w.currentView(queue, id); verr == nil {
			_ = w.emitCallbackOut(ctx, callbackOut{producer: r.Producer, actionID: id, typ: "action.scheduled", due: until, data: v})
		}
	}
	return nil
}

// granted returns the ids this action added or assigned, recorded once
// in its hold so that every attempt agrees.
func (w *Worker) granted(ctx context.Context, at *attempt) ([]string, error) {
	var ids []string
	for _, it := range at.result.Items {
		if (it.Op == "add" || it.Op == "assign") && it.Outcome == tasks.OutcomeSucceeded && it.ID != "" {
			ids = append(ids, it.ID)
		}
	}
	b, _ := json.Marshal(ids)
	key := tasks.HoldKey(at.taskID)
	if err := w.rdb.HSetNX(ctx, key, grantedField, b).Err(); err != nil {
		return nil, &okta.TransientError{Err: fmt.Errorf("record the granted access: %w", err)}
	}
	s, err := w.rdb.HGet(ctx, key, grantedField).Result()
	if err != nil {
		return nil, &okta.TransientError{Err: fmt.Errorf("read the granted access: %w", err)}
	}
	ids = nil
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, fmt.Errorf("granted access record is unreadable: %w", err)
	}
	return ids, nil
}

// removalOf is the action that takes back granted: same requester,
// producer, ticket and connection; the user by the id Okta resolved.
func removalOf(a tasks.Args, res *tasks.Result, granted []string) tasks.Args {
	base := *a.Base()
	base.IdempotencyKey, base.VerifyUser, base.ResultKey = "", "", ""
	if res.UserID != "" {
		base.User = res.UserID
	}
	if _, ok := a.(*tasks.UpdateApps); ok {
		return &tasks.UpdateApps{Request: base, Apps: tasks.AppChanges{Unassign: granted}}
	}
	return &tasks.UpdateGroups{Request: base, Groups: tasks.GroupChanges{Remove: granted}}
}
