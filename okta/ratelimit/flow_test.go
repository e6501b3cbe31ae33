package ratelimit_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta/ratelimit"
)

// tripCounter counts round trips to Redis: a command alone or a pipeline,
// not a new connection's handshake (HELLO, CLIENT SETINFO, SELECT), which
// comes whenever the pool dials.
type tripCounter struct{ n atomic.Int64 }

func handshake(cmds ...redis.Cmder) bool {
	for _, c := range cmds {
		switch c.Name() {
		case "hello", "client", "select", "auth":
		default:
			return false
		}
	}
	return true
}

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !handshake(cmds...) {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// flowLimiter is a limiter on a counted client of a private Redis.
func flowLimiter(t *testing.T) (*ratelimit.Limiter, *redis.Client, *tripCounter) {
	t.Helper()
	r := redistest.New(t)
	rdb := redis.NewClient(r.Client.Options())
	t.Cleanup(func() { rdb.Close() })
	// Load the scripts first: a NOSCRIPT answer costs a round trip more.
	lim, err := ratelimit.New(rdb, ratelimit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := ratelimit.NewFlow()
	warm := ratelimit.WithFlow(context.Background(), f)
	for range 2 { // acquire, then step (observe and acquire)
		done, err := lim.Acquire(warm, ratelimit.Call{Connection: "warm", Bucket: ratelimit.BucketUsers})
		if err != nil {
			t.Fatal(err)
		}
		done(okAnswer(500))
	}
	f.Flush(context.Background()) // observe
	// The gate's script, through its own fallback: a NOSCRIPT answer must
	// load it (else every gate costs two round trips more).
	for range 2 {
		g := ratelimit.NewFlow()
		pipe := rdb.Pipeline()
		answer, _ := lim.GateIn(context.Background(), pipe, rdb, g, "warm", []string{ratelimit.BucketUsersGetOne})
		_, _ = pipe.Exec(context.Background())
		if _, _, err := answer(); err != nil {
			t.Fatal(err)
		}
		g.Flush(context.Background())
	}
	// and open a connection of the pipeline pool (go-redis keeps one).
	if _, err := rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error { return p.Ping(context.Background()).Err() }); err != nil {
		t.Fatal(err)
	}
	c := &tripCounter{}
	rdb.AddHook(c)
	return lim, rdb, c
}

func okAnswer(remaining int) ratelimit.Observation {
	now := time.Now()
	return ratelimit.Observation{Status: 200, HasLimit: true, Limit: 600, Remaining: remaining,
		Reset: now.Add(time.Minute), Date: now, RTT: time.Millisecond}
}

func inFlightOf(t *testing.T, rdb *redis.Client, conn string) int64 {
	t.Helper()
	n, err := rdb.ZCard(context.Background(), ratelimit.KeyPrefix+"{"+conn+"}:inflight").Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func bucketRem(t *testing.T, rdb *redis.Client, conn, bucket string) string {
	t.Helper()
	v, err := rdb.HGet(context.Background(), ratelimit.KeyPrefix+"{"+conn+"}:b:"+bucket, "rem").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return v
}

// TestFlowRecordsAnswersWithTheNextRoundTrip: within a flow an action of
// a read and a write costs the limiter one round trip (the write's
// acquire, carrying the read's answer) and the caller's own pipeline at
// the end carries the last answer: 4 round trips without a flow.
func TestFlowRecordsAnswersWithTheNextRoundTrip(t *testing.T) {
	lim, rdb, trips := flowLimiter(t)
	ctx := context.Background()

	// Without a flow: acquire and observe of each call.
	for _, b := range []string{ratelimit.BucketUsersGetOne, ratelimit.BucketUsers} {
		done, err := lim.Acquire(ctx, ratelimit.Call{Connection: "alone", Bucket: b})
		if err != nil {
			t.Fatal(err)
		}
		done(okAnswer(599))
	}
	if n := trips.n.Swap(0); n != 4 {
		t.Fatalf("without a flow: %d round trips, want 4", n)
	}

	f := ratelimit.NewFlow()
	fctx := ratelimit.WithFlow(ctx, f)
	done, err := lim.Acquire(fctx, ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsersGetOne})
	if err != nil {
		t.Fatal(err)
	}
	done(okAnswer(599))
	if n := trips.n.Load(); n != 1 {
		t.Fatalf("first call: %d round trips, want 1 (its answer waits for the next)", n)
	}
	if n := inFlightOf(t, rdb, "c"); n != 1 {
		t.Fatalf("%d calls in flight after the read answered, want 1 (its slot is held until its answer is recorded)", n)
	}
	trips.n.Store(0)
	done, err = lim.Acquire(fctx, ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsers, Continuation: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := trips.n.Load(); n != 1 {
		t.Fatalf("second call: %d round trips, want 1", n)
	}
	if rem := bucketRem(t, rdb, "c", ratelimit.BucketUsersGetOne); rem != "599" {
		t.Fatalf("the read's answer was not recorded with the write's acquire: rem %q", rem)
	}
	if n := inFlightOf(t, rdb, "c"); n != 1 {
		t.Fatalf("%d calls in flight, want 1 (the read's slot released, the write's taken)", n)
	}
	done(okAnswer(598))

	trips.n.Store(0)
	pipe := rdb.Pipeline()
	pipe.Set(ctx, "caller:result", "x", time.Minute)
	after := f.FlushIn(ctx, pipe, rdb)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	after()
	if n := trips.n.Load(); n != 1 {
		t.Fatalf("flush: %d round trips, want 1 (the caller's pipeline)", n)
	}
	if rem := bucketRem(t, rdb, "c", ratelimit.BucketUsers); rem != "598" {
		t.Fatalf("the write's answer was not recorded with the flush: rem %q", rem)
	}
	if n := inFlightOf(t, rdb, "c"); n != 0 {
		t.Fatalf("%d calls in flight after the flush, want 0", n)
	}
}

// TestFlowSlotTakenAhead: a slot taken in the caller's pipeline (the
// gate's script) is used by
// the flow's first call of its bucket at no round trip, and given back by
// the flush when no call used it; another Redis is refused.
func TestFlowSlotTakenAhead(t *testing.T) {
	lim, rdb, trips := flowLimiter(t)
	ctx := context.Background()
	call := ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsersGetOne}

	take := func(f *ratelimit.Flow) {
		t.Helper()
		pipe := rdb.Pipeline()
		answer, ok := lim.GateIn(ctx, pipe, rdb, f, call.Connection, []string{call.Bucket, ratelimit.BucketUsers})
		if !ok {
			t.Fatal("GateIn refused the limiter's own Redis")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if until, _, err := answer(); err != nil || !until.IsZero() {
			t.Fatalf("gate: %v %v, want go", until, err)
		}
	}
	used := ratelimit.NewFlow()
	take(used)
	if n := inFlightOf(t, rdb, "c"); n != 1 {
		t.Fatalf("%d in flight after taking ahead, want 1", n)
	}
	trips.n.Store(0)
	done, err := lim.Acquire(ratelimit.WithFlow(ctx, used), call)
	if err != nil {
		t.Fatal(err)
	}
	if n := trips.n.Load(); n != 0 {
		t.Fatalf("a call with its slot taken ahead made %d round trips, want 0", n)
	}
	if n := inFlightOf(t, rdb, "c"); n != 1 {
		t.Fatalf("%d in flight, want 1 (the slot taken ahead, not a second)", n)
	}
	done(okAnswer(500))
	used.Flush(ctx)

	unused := ratelimit.NewFlow()
	take(unused)
	take(ratelimit.NewFlow()) // a flow nobody ends: its slot's lease ends it
	if n := inFlightOf(t, rdb, "c"); n != 2 {
		t.Fatalf("%d in flight, want 2", n)
	}
	unused.Flush(ctx)
	if n := inFlightOf(t, rdb, "c"); n != 1 {
		t.Fatalf("%d in flight after the unused slot's flow ended, want 1", n)
	}

	other := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: rdb.Options().DB + 1})
	defer other.Close()
	if _, ok := lim.GateIn(ctx, other.Pipeline(), other, ratelimit.NewFlow(), call.Connection, []string{call.Bucket}); ok {
		t.Fatal("GateIn took a slot in a pipeline of another Redis database")
	}
}

// TestFlowWriteBeforeTheCall: a write made Before the call rides in its
// acquire's round trip; a write that fails keeps the call from going and
// gives its slot back.
func TestFlowWriteBeforeTheCall(t *testing.T) {
	lim, rdb, trips := flowLimiter(t)
	ctx := context.Background()
	f := ratelimit.NewFlow()
	fctx := ratelimit.WithFlow(ctx, f)
	f.Before(rdb, func(pipe redis.Pipeliner) func() error { return pipe.Set(ctx, "journal:1", "before", time.Minute).Err })
	done, err := lim.Acquire(fctx, ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsers})
	if err != nil {
		t.Fatal(err)
	}
	if n := trips.n.Load(); n != 1 {
		t.Fatalf("acquire with a write: %d round trips, want 1", n)
	}
	if v, _ := rdb.Get(ctx, "journal:1").Result(); v != "before" {
		t.Fatalf("the write was not made: %q", v)
	}
	done(okAnswer(5))

	f.Before(rdb, func(pipe redis.Pipeliner) func() error {
		return pipe.Do(ctx, "INCR", "journal:1").Err // not an integer: fails
	})
	if _, err := lim.Acquire(fctx, ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsers, Continuation: true}); err == nil {
		t.Fatal("a call whose write failed was granted")
	} else if errors.As(err, new(*ratelimit.WaitError)) {
		t.Fatalf("a failed write is not a rate limit: %v", err)
	}
	if n := inFlightOf(t, rdb, "c"); n != 0 {
		t.Fatalf("%d in flight after the refused call, want 0 (the first call's answer recorded, the refused call's slot given back)", n)
	}
	if rem := bucketRem(t, rdb, "c", ratelimit.BucketUsers); rem != strconv.Itoa(5) {
		t.Fatalf("the first call's answer was not recorded: rem %q", rem)
	}
}

// TestFlowEnded: after its flush a flow is not used: a late call is
// acquired and recorded at once, not kept waiting for a flush that will
// not come (its slot would be renewed for ever).
func TestFlowEnded(t *testing.T) {
	lim, rdb, trips := flowLimiter(t)
	ctx := context.Background()
	f := ratelimit.NewFlow()
	fctx := ratelimit.WithFlow(ctx, f)
	done, err := lim.Acquire(fctx, ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsers})
	if err != nil {
		t.Fatal(err)
	}
	f.Flush(ctx) // the call is still under way
	done(okAnswer(500))
	if n := inFlightOf(t, rdb, "c"); n != 0 {
		t.Fatalf("%d in flight after a call that outlived its flow answered, want 0", n)
	}
	trips.n.Store(0)
	done, err = lim.Acquire(fctx, ratelimit.Call{Connection: "c", Bucket: ratelimit.BucketUsers})
	if err != nil {
		t.Fatal(err)
	}
	done(okAnswer(499))
	if n := trips.n.Load(); n != 2 {
		t.Fatalf("a call on an ended flow: %d round trips, want 2 (acquire, observe)", n)
	}
	if n := inFlightOf(t, rdb, "c"); n != 0 {
		t.Fatalf("%d in flight, want 0", n)
	}
}
