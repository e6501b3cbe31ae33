package enqueue

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scriptBatcher sends the enqueue scripts of concurrent requests to
// Redis together (group commit). A script that finds none in flight
// goes at once, alone: a lone request pays one round trip, as it would
// without the batcher. Scripts that come while one is in flight queue,
// and the first of them sends the queue as one pipeline when the
// flight is back; no call waits for company. Under load one round trip
// then carries many actions: in BenchmarkPostActions (about 10 a round
// trip) the API's process and the Redis server each spend about 5 µs
// less an action, a write, a read and a wake-up on each side (Redis 18
// -> 13 µs an action; issue 19).
//
// Every script is one EVALSHA as before: its atomicity is its own, and
// a pipeline neither merges nor orders them beyond the order they came
// in. A queued call whose context ends before it is sent is withdrawn
// (nothing is enqueued); once sent, it is waited for, as a lone
// command's reply is.
type scriptBatcher struct {
	rc *redis.Client
	mu sync.Mutex
	// busy: a script or a pipeline is in flight; queue waits for it.
	busy  bool
	queue []*scriptCall
}

// maxScriptBatch bounds one pipeline; the rest go in the next.
const maxScriptBatch = 64

type scriptCall struct {
	ctx  context.Context
	sha  string
	keys []string
	args []any
	res  *redis.Cmd
	// ready is closed when res is set, or when the call is to send the
	// queue (lead), for a call that queued.
	ready chan struct{}
	lead  bool
}

// evalSha runs EVALSHA sha with keys and args, alone or in a pipeline.
func (b *scriptBatcher) evalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	call := &scriptCall{ctx: ctx, sha: sha, keys: keys, args: args}
	b.mu.Lock()
	if !b.busy {
		b.busy = true
		b.mu.Unlock()
		b.send([]*scriptCall{call})
		return call.res
	}
	call.ready = make(chan struct{})
	b.queue = append(b.queue, call)
	b.mu.Unlock()
	select {
	case <-call.ready:
	case <-ctx.Done():
		if b.withdraw(call) {
			return failedCmd(ctx, ctx.Err())
		}
		<-call.ready
	}
	if call.lead {
		b.mu.Lock()
		n := min(len(b.queue), maxScriptBatch)
		batch := slices.Clone(b.queue[:n]) // call is the first
		b.queue = slices.Delete(b.queue, 0, n)
		b.mu.Unlock()
		b.send(batch)
	}
	return call.res
}

// withdraw takes a call that has not been sent out of the queue.
func (b *scriptBatcher) withdraw(call *scriptCall) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if call.lead {
		return false
	}
	i := slices.Index(b.queue, call)
	if i < 0 {
		return false
	}
	b.queue = slices.Delete(b.queue, i, i+1)
	return true
}

// send runs the batch (alone when it is one), then hands the queue on to
// its first call, and wakes the batch's callers.
func (b *scriptBatcher) send(batch []*scriptCall) {
	defer b.done(batch)
	if len(batch) == 1 {
		c := batch[0]
		c.res = b.rc.EvalSha(c.ctx, c.sha, c.keys, c.args...)
		return
	}
	// The pipeline is every caller's: one caller's end does not cut it
	// (go-redis's timeouts bound it).
	ctx := context.WithoutCancel(batch[0].ctx)
	pipe := b.rc.Pipeline()
	for _, c := range batch {
		c.res = pipe.EvalSha(ctx, c.sha, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
}

// done hands the queue on and wakes the batch's callers, even after a
// panic in a hook: a batcher left busy would stall every enqueue.
func (b *scriptBatcher) done(batch []*scriptCall) {
	for _, c := range batch {
		if c.res == nil {
			c.res = failedCmd(c.ctx, errScriptNotSent)
		}
	}
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		next.lead = true
		close(next.ready)
	} else {
		b.busy = false
	}
	b.mu.Unlock()
	for _, c := range batch[1:] { // batch[0] sent it: its own, or the leader
		close(c.ready)
	}
}

var errScriptNotSent = errors.New("enqueue script not sent")
