package worker

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
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
//
// The wait costs a round trip (a PING), so it is made only when a command
// of the attempt failed to reach Redis (redisErrors counts them): an
// attempt whose commands all got an answer finds Redis up.
func (w *Worker) awaitRedis(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		before := w.redisErrs.n.Load()
		err := next.ProcessTask(ctx, t)
		if w.redisErrs.n.Load() != before {
			w.waitForRedis(t)
		}
		return err
	})
}

// redisErrors is a go-redis hook counting commands that got no answer
// from Redis (a network error, a timeout); an answer, even an error
// reply or a nil, is not counted.
type redisErrors struct{ n atomic.Int64 }

func (h *redisErrors) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.n.Add(1)
		}
		return c, err
	}
}

func (h *redisErrors) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.note(err)
		return err
	}
}

func (h *redisErrors) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.note(err)
		return err
	}
}

func (h *redisErrors) note(err error) {
	var reply redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &reply) {
		h.n.Add(1)
	}
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
