package worker

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
)

// awaitRedis holds the end of an attempt while Redis does not answer, so
// that the result and asynq's acknowledgement are written once it is
// back, instead of failing.
//
// Why: when asynq v0.26 cannot move a finished task out of the active
// list (Redis restarting, failing over), it queues the move for its
// syncer, but with a context it has already cancelled, so every retry of
// the move fails; the task stays active until the recoverer takes it 60 to
// 120 s later and runs it again (a second, no-op Okta call at best). A
// Redis blip of a few seconds thus cost two minutes. Waiting here keeps
// the task's lease (30 s from the last heartbeat) valid for blips shorter
// than that; a longer outage falls back to the recoverer as before.
func (w *Worker) awaitRedis(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := next.ProcessTask(ctx, t)
		w.waitForRedis(t)
		return err
	})
}

const (
	redisWaitStep  = 100 * time.Millisecond
	redisWaitTries = 250 // 25 s: within the lease asynq extended last
)

func (w *Worker) waitForRedis(t *asynq.Task) {
	for i := range redisWaitTries {
		ctx, cancel := context.WithTimeout(context.Background(), redisWaitStep)
		err := w.rdb.Ping(ctx).Err()
		cancel()
		switch {
		case err == nil && i > 0:
			w.opts.Logger.Info("Redis answers again; finishing the attempt", "type", t.Type(), "waited_tries", i)
			return
		case err == nil:
			return
		case i == 0:
			w.opts.Logger.Warn("Redis unreachable; holding the end of the attempt until it answers", "type", t.Type(), "error", err)
		}
		time.Sleep(redisWaitStep)
	}
}
