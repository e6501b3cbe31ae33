package worker

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// finished runs once an action reached its final outcome and its result
// is written: the wait for Okta's event starts, and the producer's
// callback goes out.
func (w *Worker) finished(ctx context.Context, t *asynq.Task, at *attempt, res *tasks.Result, err error) {
	if at.args == nil {
		return // not decoded: no producer to tell
	}
	w.awaitConfirmation(ctx, t, at, res)
	w.emitCallback(ctx, at.args.Base().Producer, at.taskID, "action."+string(res.Outcome), finalView(ctx, at, res, err))
}

// finalView is what GET /v1/actions/{id} will answer once asynq has moved
// the task: completed after success, archived after a failure.
func finalView(ctx context.Context, at *attempt, res *tasks.Result, err error) ActionView {
	v := ActionView{ID: at.taskID, Action: string(at.action), State: "completed", Attempts: res.Attempts,
		MaxAttempts: maxRetry(ctx) + 1, Result: res}
	if err != nil {
		v.State, v.LastError = "archived", err.Error()
	}
	return v
}
