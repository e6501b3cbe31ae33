package enqueue

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// requestCallback has a worker tell the producer that its new action was
// accepted for later (action.scheduled) or waits for a second person
// (action.awaiting_approval), when the producer has a callback URL (the
// worker knows; the API does not). The sequence number is taken here,
// and the request marked pending among the action's deliveries, so that
// a state a worker reaches next (denied, expired, cancelled, performed)
// is numbered and delivered after this one, however late a worker picks
// the request up. Best effort: the action is enqueued either way, and its
// outcome is called back regardless.
func (c *Client) requestCallback(ctx context.Context, info *Info, due time.Time) {
	if info.Producer == "" || info.Existing || c.opts.Keyring == nil {
		return
	}
	typ := "action.scheduled"
	switch info.State {
	case StateScheduled:
	case StateAwaitingApproval:
		typ = "action.awaiting_approval"
	default:
		return
	}
	id := tasks.CallbackRequestID(info.ID, typ)
	ttl := tasks.CallbackKeep
	if now := c.opts.Clock(); due.After(now) {
		ttl += due.Sub(now)
	}
	seq, err := c.rc.Incr(ctx, tasks.CallbackSeqKey(info.ID)).Result()
	if err != nil {
		seq = 0 // the worker numbers it
	} else {
		pipe := c.rc.Pipeline()
		pipe.Expire(ctx, tasks.CallbackSeqKey(info.ID), ttl)
		pipe.ZAdd(ctx, tasks.CallbackPendingKey(info.ID), redis.Z{Score: float64(seq), Member: id})
		pipe.Expire(ctx, tasks.CallbackPendingKey(info.ID), ttl)
		_, _ = pipe.Exec(ctx)
	}
	payload, _ := json.Marshal(tasks.CallbackRequest{Producer: info.Producer, ActionID: info.ID, Queue: info.Queue, Type: typ,
		Sequence: seq, Due: due.UTC()})
	env := tasks.Envelope{TaskID: id, Queue: tasks.QueueCallbacks, Type: tasks.TypeCallbackRequest, Payload: payload}
	task := asynq.NewTaskWithHeaders(tasks.TypeCallbackRequest, payload, c.opts.Keyring.Sign(env))
	_, _ = c.asynq.EnqueueContext(ctx, task, asynq.Queue(env.Queue), asynq.TaskID(env.TaskID),
		asynq.MaxRetry(5), asynq.Retention(c.opts.Retention))
}
