package worker

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hibiken/asynq"
)

// warmPool runs tasks on a fixed set of long-lived goroutines.
//
// asynq starts a new goroutine for every task, with Go's small initial
// stack. An action's chain (middleware, executor, SDK, go-redis) is deep,
// so each of those goroutines grew its stack two or three times, copying
// it each time: 7% of the worker's CPU in the throughput benchmark. A
// pool goroutine keeps the stack it grew (the GC shrinks an idle one at
// most by half per cycle), so the copies happen per GC cycle, not per
// task. asynq's goroutine only waits.
//
// The task keeps its context (deadline, cancellation, asynq's values); a
// panic is carried back and raised again in asynq's goroutine, so asynq
// reports it as before (its message names warm.go's line; the original
// stack is logged here). When every pool goroutine is busy (asynq gave
// up on a task at its deadline while the handler still runs), or the
// pool is closed, the task runs in asynq's goroutine, as it did without
// the pool.
type warmPool struct {
	n    int32
	busy atomic.Int32 // tasks handed to the pool and not yet back
	jobs chan *warmJob
	quit chan struct{}
	stop sync.Once
	log  *slog.Logger
}

type warmJob struct {
	ctx      context.Context
	t        *asynq.Task
	h        asynq.Handler
	err      error
	panicked any
	done     chan struct{}
}

var warmJobs = sync.Pool{New: func() any { return &warmJob{done: make(chan struct{}, 1)} }}

func newWarmPool(n int, log *slog.Logger) *warmPool {
	p := &warmPool{n: int32(n), jobs: make(chan *warmJob), quit: make(chan struct{}), log: log}
	for range n {
		go p.loop()
	}
	return p
}

func (p *warmPool) loop() {
	for {
		select {
		case j := <-p.jobs:
			p.run(j)
			j.done <- struct{}{}
		case <-p.quit:
			return
		}
	}
}

func (p *warmPool) run(j *warmJob) {
	defer func() {
		if x := recover(); x != nil {
			p.log.Error("panic in a task's handler", "panic", x, "stack", string(debug.Stack()))
			j.panicked = x
		}
	}()
	j.err = j.h.ProcessTask(j.ctx, j.t)
}

// handler runs h on a pool goroutine.
func (p *warmPool) handler(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		j := warmJobs.Get().(*warmJob)
		j.ctx, j.t, j.h = ctx, t, h
		// At most n tasks are handed over, so one of the n goroutines
		// takes this one as soon as it is back from its last.
		if p.busy.Add(1) <= p.n {
			select {
			case p.jobs <- j:
				<-j.done
			case <-p.quit:
				p.run(j)
			}
		} else {
			p.run(j)
		}
		p.busy.Add(-1)
		err, x := j.err, j.panicked
		*j = warmJob{done: j.done}
		warmJobs.Put(j)
		if x != nil {
			panic(x)
		}
		return err
	})
}

// close ends the pool's idle goroutines; tasks still running finish.
func (p *warmPool) close() { p.stop.Do(func() { close(p.quit) }) }
