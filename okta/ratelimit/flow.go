package ratelimit

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Flow carries the calls of one action through the limiter in fewer
// round trips to Redis (issue 19): alone, each call costs two, its
// acquire and its observe. Within a flow
//
//   - the answer of a call is recorded with the next round trip the
//     action makes anyway: the acquire of its next call, or the caller's
//     own write at the end (FlushIn, the worker's result write);
//   - the first call's slot can be taken ahead, in a round trip the caller
//     makes anyway (GateIn, the worker's user lease);
//   - a write that must be in Redis before the next call goes out (the
//     worker's journal entry) rides with that call's acquire (Before).
//
// An action of a read and a write then costs the limiter no round trip of
// its own. The slot of a call whose answer waits for the next round trip
// stays taken (and renewed) until then: a few milliseconds. A flow is for
// one action on one connection, used by one goroutine at a time (its calls
// may still run concurrently: it is safe for that).
type Flow struct {
	mu      sync.Mutex
	l       *Limiter
	conn    string
	grant   *grant      // taken ahead (GateIn), not used yet
	pending []answered  // answers not recorded yet
	writes  []flowWrite // to send before the next call
	ended   bool        // flushed: later answers are recorded at once
}

// grant is a slot taken ahead for a bucket's next call.
type grant struct {
	bucket, key, member string
	stop                func() // ends the slot's renewal
}

// answered is a call whose answer is not recorded yet.
type answered struct {
	c           Call
	key, member string
	o           Observation
	stop        func()
}

type flowWrite struct {
	rdb   redis.UniversalClient
	queue func(redis.Pipeliner) func() error
}

// NewFlow starts the flow of one action.
func NewFlow() *Flow { return &Flow{} }

type flowKey struct{}

// WithFlow makes the limiter run the calls made with ctx in f.
func WithFlow(ctx context.Context, f *Flow) context.Context {
	return context.WithValue(ctx, flowKey{}, f)
}

// FlowFrom is the flow WithFlow put in ctx, or nil.
func FlowFrom(ctx context.Context) *Flow {
	f, _ := ctx.Value(flowKey{}).(*Flow)
	return f
}

// Before makes a write of the caller's part of the action's next call: it
// is sent on rdb, in the round trip of that call's acquire when rdb is
// the limiter's Redis, and the call does not go to Okta unless the write
// succeeded (queue's returned func reports it, after the round trip).
// A write made before no call is dropped when the flow ends.
func (f *Flow) Before(rdb redis.UniversalClient, queue func(redis.Pipeliner) func() error) {
	f.mu.Lock()
	f.writes = append(f.writes, flowWrite{rdb: rdb, queue: queue})
	f.mu.Unlock()
}

// bind ties the flow to the limiter and connection of its first call; a
// flow of another limiter or connection is not used (nil).
func (f *Flow) bind(l *Limiter, conn string) *Flow {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.l == nil {
		f.l, f.conn = l, conn
	}
	if f.l != l || f.conn != conn {
		return nil
	}
	return f
}

// take returns the flow's answers and writes to send, emptying them.
func (f *Flow) take() ([]answered, []flowWrite) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, w := f.pending, f.writes
	f.pending, f.writes = nil, nil
	return p, w
}

func (f *Flow) takeGrant(bucket string) *grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.grant
	if g == nil || g.bucket != bucket {
		return nil
	}
	f.grant = nil
	return g
}

// done is a granted call's done func within the flow: the answer waits
// for the flow's next round trip.
func (f *Flow) done(c Call, key, member string, stop func()) func(Observation) {
	return func(o Observation) {
		f.mu.Lock()
		if !f.ended {
			f.pending = append(f.pending, answered{c: c, key: key, member: member, o: o, stop: stop})
			f.mu.Unlock()
			return
		}
		// A call that outlived its flow (nothing will flush it again).
		l := f.l
		f.mu.Unlock()
		l.observeNow(context.Background(), answered{c: c, key: key, member: member, o: o, stop: stop})
	}
}

func (f *Flow) isEnded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

// queueObserve adds a's observe to pipe; the returned func, called after
// the pipeline ran, reads its answer.
func (l *Limiter) queueObserve(ctx context.Context, pipe redis.Pipeliner, a answered) func() {
	a.stop()
	keys, args := l.observeArgs(a.c, a.key, a.member, a.o)
	cmd := observeScript.EvalSha(ctx, pipe, keys, args...)
	return func() {
		res, err := cmd.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			l.observe(ctx, a.c, a.key, a.member, a.o)
			return
		}
		l.observed(ctx, a.c, a.member, a.o, res, err)
	}
}

// sendWrites sends writes that cannot ride in the limiter's pipeline
// (another Redis) first, and queues the others in pipe; check reports
// the first failure after pipe ran.
func sendWrites(ctx context.Context, l *Limiter, pipe redis.Pipeliner, writes []flowWrite) (check func() error, err error) {
	var checks []func() error
	for _, w := range writes {
		if sameRedis(w.rdb, l.rdb) {
			checks = append(checks, w.queue(pipe))
			continue
		}
		own := w.rdb.Pipeline()
		c := w.queue(own)
		_, _ = own.Exec(ctx)
		if err := c(); err != nil {
			return nil, err
		}
	}
	return func() error {
		for _, c := range checks {
			if err := c(); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// acquireInFlow runs an acquire with the flow's answers and writes in one
// round trip. A failed write refuses the call (its slot is given back).
func (l *Limiter) acquireInFlow(ctx context.Context, f *Flow, keys []string, args []any, conn, member string) ([]any, error) {
	pending, writes := f.take()
	pipe := l.rdb.Pipeline()
	check, err := sendWrites(ctx, l, pipe, writes)
	if err != nil {
		for _, a := range pending {
			defer l.observeNow(ctx, a)
		}
		return nil, &writeError{err: err}
	}
	var reads []func()
	for _, a := range pending[:max(0, len(pending)-1)] {
		reads = append(reads, l.queueObserve(ctx, pipe, a))
	}
	// The last answer and this acquire run as one script (step.lua).
	script := acquireScript
	var last *answered
	if len(pending) > 0 {
		last = &pending[len(pending)-1]
		last.stop()
		okeys, oargs := l.observeArgs(last.c, last.key, last.member, last.o)
		script, keys, args = stepScript, append(okeys, keys[2]), append(oargs, args...)
	}
	cmd := script.EvalSha(ctx, pipe, keys, args...)
	_, _ = pipe.Exec(ctx)
	for _, r := range reads {
		r()
	}
	res, err := cmd.Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		res, err = script.Run(ctx, l.rdb, keys, args...).Slice()
	}
	if last != nil {
		if err == nil && len(res) < 6 {
			err = fmt.Errorf("step answered %v", res)
		}
		var ores []any
		if err == nil {
			ores, res = res[3:6], res[:3]
		}
		l.observed(ctx, last.c, last.member, last.o, ores, err)
	}
	if werr := check(); werr != nil {
		if err == nil {
			if code, _, _ := reply(res); code == codeOK {
				if l.rdb.ZRem(context.WithoutCancel(ctx), inflightKey(conn), member).Err() != nil {
					l.lost.add(conn, member, l.opts.Lease)
				}
			}
		}
		return nil, &writeError{err: werr}
	}
	return res, err
}

// observeNow records a's answer in a round trip of its own.
func (l *Limiter) observeNow(ctx context.Context, a answered) {
	a.stop()
	l.observe(ctx, a.c, a.key, a.member, a.o)
}

// writeError: a write the caller made Before the call failed; the call
// was not made.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write before the call failed: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// keep makes g the flow's slot taken ahead (GateIn); one it had goes
// back.
func (f *Flow) keep(g *grant) {
	f.mu.Lock()
	old := f.grant
	f.grant = g
	l, conn := f.l, f.conn
	f.mu.Unlock()
	if old != nil {
		l.observeNow(context.Background(), answered{c: Call{Connection: conn, Bucket: old.bucket}, key: old.key, member: old.member, stop: old.stop})
	}
}

// FlushIn records the flow's last answers and gives back a slot taken
// ahead and not used, in the caller's pipeline on rdb (the worker's result
// write); after, called once the pipeline ran, reads the answers. When
// rdb is not the limiter's Redis, after sends them alone. Writes made
// Before no call are dropped.
func (f *Flow) FlushIn(ctx context.Context, pipe redis.Pipeliner, rdb redis.UniversalClient) (after func()) {
	if f == nil {
		return func() {}
	}
	f.mu.Lock()
	l := f.l
	f.ended = f.ended || l == nil
	f.mu.Unlock()
	if l == nil {
		return func() {}
	}
	if !sameRedis(rdb, l.rdb) {
		return func() { f.Flush(ctx) }
	}
	ctx = context.WithoutCancel(ctx)
	var reads []func()
	for _, a := range f.end() {
		reads = append(reads, l.queueObserve(ctx, pipe, a))
	}
	return func() {
		for _, r := range reads {
			r()
		}
	}
}

// Flush is FlushIn in a round trip of its own (nothing to send: none).
func (f *Flow) Flush(ctx context.Context) {
	if f == nil {
		return
	}
	f.mu.Lock()
	l := f.l
	f.ended = f.ended || l == nil
	f.mu.Unlock()
	if l == nil {
		return
	}
	ends := f.end()
	if len(ends) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	pipe := l.rdb.Pipeline()
	var reads []func()
	for _, a := range ends {
		reads = append(reads, l.queueObserve(ctx, pipe, a))
	}
	_, _ = pipe.Exec(ctx)
	for _, r := range reads {
		r()
	}
}

// end empties the flow: its answers, and its unused slot as an answer
// that gives it back (no status: nothing is learnt).
func (f *Flow) end() []answered {
	pending, _ := f.take()
	f.mu.Lock()
	f.ended = true
	g := f.grant
	f.grant = nil
	conn := f.conn
	f.mu.Unlock()
	if g != nil {
		pending = append(pending, answered{c: Call{Connection: conn, Bucket: g.bucket}, key: g.key, member: g.member, stop: g.stop})
	}
	return pending
}
