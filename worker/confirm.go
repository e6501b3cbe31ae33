package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// Confirmation by Okta's own events: every Okta answer carries
// X-Okta-Request-Id, and the System Log event of the change carries the
// same id in debugContext.debugData.requestId. An action that succeeded
// records its request ids; an event hook delivery whose requestId matches
// confirms it. Without the event within Timeout a scheduled check marks it
// unconfirmed (a later event still confirms it).

// TypeConfirmCheck is the task that marks an action unconfirmed.
const TypeConfirmCheck = "oktaq:confirm_check"

// DefaultConfirmTimeout is how long an action waits for its event.
const DefaultConfirmTimeout = 30 * time.Minute

// ConfirmOptions turn confirmation on.
type ConfirmOptions struct {
	// Timeout: an action not confirmed this long after it succeeded is
	// unconfirmed (default DefaultConfirmTimeout).
	Timeout time.Duration
	// Recheck: an event that matches no action is looked at again this
	// much later, in case the action that caused it was still being
	// recorded (default 30s), before it counts as a manual change.
	Recheck time.Duration
	// Keep is how long request ids and user subscriptions are kept for
	// matching late events (default 72h).
	Keep time.Duration
}

func (o *ConfirmOptions) setDefaults() {
	if o.Timeout == 0 {
		o.Timeout = DefaultConfirmTimeout
	}
	if o.Recheck == 0 {
		o.Recheck = 30 * time.Second
	}
	if o.Keep == 0 {
		o.Keep = 72 * time.Hour
	}
}

// Redis keys of the matching.
func reqIDKey(conn, reqID string) string { return "oktaq:reqid:{" + conn + "}:" + reqID }
func confirmMetaKey(id string) string    { return "oktaq:confirm:{" + id + "}:meta" }
func confirmEventsKey(id string) string  { return "oktaq:confirm:{" + id + "}:events" }
func userProducersKey(conn, userID string) string {
	return "oktaq:user:{" + conn + "}:" + userID + ":producers"
}

// confirmMeta is what the matching needs to know of an action.
type confirmMeta struct {
	Action   tasks.Action `json:"action"`
	Queue    string       `json:"queue"`
	Producer string       `json:"producer"`
	Expected int          `json:"expected"`
}

// confirmationOf decides an outcome's initial confirmation, before the
// result is written: pending when Okta will send an event to match.
func (w *Worker) confirmationOf(at *attempt, res *tasks.Result) {
	switch res.Outcome {
	case tasks.OutcomeSucceeded:
		if w.opts.Confirm != nil && len(okta.EventTypes(at.action)) > 0 && expectedEvents(res) > 0 {
			res.Confirmation = &tasks.Confirmation{State: tasks.ConfirmationPending}
			return
		}
	case tasks.OutcomeNoOp:
	default:
		return
	}
	res.Confirmation = &tasks.Confirmation{State: tasks.ConfirmationNotApplicable}
	w.metrics.confirmations.WithLabelValues(string(at.action), tasks.ConfirmationNotApplicable).Inc()
}

// expectedEvents is how many events confirm the result: one per changed
// group or app, one for a lifecycle call.
func expectedEvents(res *tasks.Result) int {
	if len(res.Items) == 0 {
		return 1
	}
	n := 0
	for _, it := range res.Items {
		if it.Outcome == tasks.OutcomeSucceeded {
			n++
		}
	}
	return n
}

// awaitConfirmation indexes a pending action's request ids, remembers who
// acts on the user (user.changed) and schedules the unconfirmed check.
func (w *Worker) awaitConfirmation(ctx context.Context, t *asynq.Task, at *attempt, res *tasks.Result) {
	r := at.args.Base()
	// Only a producer with a callback endpoint hears of manual changes
	// (manualChange): for the others the set is not kept, two round trips
	// saved. SADD and EXPIRE go in one round trip.
	if res.UserID != "" && r.Producer != "" && w.hasCallbacks(r.Producer) {
		key := userProducersKey(res.Connection, res.UserID)
		pipe := w.rdb.Pipeline()
		pipe.SAdd(ctx, key, r.Producer)
		pipe.Expire(ctx, key, w.confirmKeep())
		_, _ = pipe.Exec(ctx)
	}
	if res.Confirmation == nil || res.Confirmation.State != tasks.ConfirmationPending {
		return
	}
	c := w.opts.Confirm
	queue, _ := asynq.GetQueueName(ctx)
	meta, _ := json.Marshal(confirmMeta{Action: at.action, Queue: queue, Producer: r.Producer, Expected: expectedEvents(res)})
	pipe := w.rdb.Pipeline()
	pipe.Set(ctx, confirmMetaKey(at.taskID), meta, c.Keep)
	for _, id := range res.Okta.RequestIDs {
		pipe.Set(ctx, reqIDKey(res.Connection, id), at.taskID, c.Keep)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		w.opts.Logger.Error("request ids not recorded; the action will be unconfirmed", "task_id", at.taskID, "error", err)
	}
	payload := []byte(at.taskID)
	env := tasks.Envelope{TaskID: "cc-" + at.taskID, Queue: tasks.QueueEvents, Type: TypeConfirmCheck, Payload: payload}
	task := asynq.NewTaskWithHeaders(TypeConfirmCheck, payload, w.opts.Keyring.Sign(env))
	_, err := w.cbClient.EnqueueContext(ctx, task, asynq.Queue(env.Queue), asynq.TaskID(env.TaskID),
		asynq.ProcessIn(c.Timeout), asynq.MaxRetry(5), asynq.Retention(24*time.Hour))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		w.opts.Logger.Error("confirmation check not scheduled", "task_id", at.taskID, "error", err)
	}
}

func (w *Worker) confirmKeep() time.Duration {
	if w.opts.Confirm != nil {
		return w.opts.Confirm.Keep
	}
	return 72 * time.Hour
}

// settleScript writes a confirmation unless the action is already
// confirmed or already in that state: a late event upgrades unconfirmed
// to confirmed, never the other way.
var settleScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local st = cjson.decode(cur)['state']
  if st == 'confirmed' or st == ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`)

// settle records the confirmation of an action and tells its producer.
func (w *Worker) settle(ctx context.Context, actionID string, meta confirmMeta, conf tasks.Confirmation) error {
	b, _ := json.Marshal(conf)
	n, err := settleScript.Run(ctx, w.rdb, []string{tasks.ConfirmationKey(actionID)}, b, conf.State, w.confirmKeep().Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("write the confirmation of %s: %w", actionID, err)
	}
	if n == 0 {
		return nil
	}
	w.metrics.confirmations.WithLabelValues(string(meta.Action), conf.State).Inc()
	if meta.Producer == "" {
		return nil
	}
	view, err := w.currentView(meta.Queue, actionID)
	if err != nil {
		return err
	}
	if view.Result != nil {
		view.Result.Confirmation = &conf
	}
	w.emitCallback(ctx, meta.Producer, actionID, "action."+conf.State, view)
	return nil
}

// currentView is GET /v1/actions/{id} of a finished action, read from
// asynq.
func (w *Worker) currentView(queue, id string) (ActionView, error) {
	ti, err := w.cbInspector.GetTaskInfo(queue, id)
	if err != nil {
		return ActionView{}, fmt.Errorf("read action %s: %w", id, err)
	}
	v := ActionView{ID: ti.ID, State: viewState(ti.State), Attempts: ti.Retried, MaxAttempts: ti.MaxRetry + 1, LastError: ti.LastErr}
	if a, ok := tasks.ActionFromType(ti.Type); ok {
		v.Action = string(a)
	}
	switch ti.State {
	case asynq.TaskStateActive, asynq.TaskStateCompleted, asynq.TaskStateArchived:
		v.Attempts++ // the running or last attempt is not a retry
	}
	if len(ti.Result) > 0 {
		var r tasks.Result
		if json.Unmarshal(ti.Result, &r) == nil {
			v.Result = &r
			v.Attempts = r.Attempts
		}
	}
	return v, nil
}

// viewState names asynq's state as the API does (enqueue.stateName).
func viewState(s asynq.TaskState) string {
	switch s {
	case asynq.TaskStateActive:
		return "active"
	case asynq.TaskStateScheduled:
		return "scheduled"
	case asynq.TaskStateRetry:
		return "retry"
	case asynq.TaskStateCompleted:
		return "completed"
	case asynq.TaskStateArchived:
		return "archived"
	default:
		return "pending"
	}
}

// checkConfirmation is TypeConfirmCheck: the timeout passed.
func (w *Worker) checkConfirmation(ctx context.Context, t *asynq.Task) error {
	if err := w.verifyTask(ctx, t); err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	id := string(t.Payload())
	raw, err := w.rdb.Get(ctx, confirmMetaKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil // kept no longer: nothing to mark
	} else if err != nil {
		return err
	}
	var meta confirmMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return w.settle(ctx, id, meta, tasks.Confirmation{State: tasks.ConfirmationUnconfirmed, At: w.now().UTC()})
}
