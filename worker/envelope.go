package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// envelopeOf is what a task of ours was signed over: its id and queue as
// asynq hands them to the handler, its type and payload. A payload copied
// under another id or into another queue does not verify.
func envelopeOf(ctx context.Context, t *asynq.Task) tasks.Envelope {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	return tasks.Envelope{TaskID: id, Queue: queue, Type: t.Type(), Payload: t.Payload()}
}

// verifyTask checks the signature of a task of ours that is not an action
// (callbacks, confirmation checks, Okta events, playbook runs).
func (w *Worker) verifyTask(ctx context.Context, t *asynq.Task) error {
	return w.opts.Keyring.Verify(envelopeOf(ctx, t), t.Headers())
}
