package enqueue

import (
	"context"
	"encoding/json"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// requestCallback has a worker tell the producer that its action was
// accepted for later (action.scheduled), when the producer has a callback
// URL (the worker knows; the API does not). Best effort: the action is
// enqueued either way, and its outcome is called back regardless.
func (c *Client) requestCallback(ctx context.Context, info *Info) {
	if info.Producer == "" || info.State != StateScheduled || c.opts.Keyring == nil {
		return
	}
	payload, _ := json.Marshal(tasks.CallbackRequest{Producer: info.Producer, ActionID: info.ID, Queue: info.Queue, Type: "action.scheduled"})
	env := tasks.Envelope{TaskID: "cbr-" + info.ID, Queue: tasks.QueueCallbacks, Type: tasks.TypeCallbackRequest, Payload: payload}
	task := asynq.NewTaskWithHeaders(tasks.TypeCallbackRequest, payload, c.opts.Keyring.Sign(env))
	_, _ = c.asynq.EnqueueContext(ctx, task, asynq.Queue(env.Queue), asynq.TaskID(env.TaskID),
		asynq.MaxRetry(5), asynq.Retention(c.opts.Retention))
}
