package ratelimit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures a Limiter; start from DefaultConfig.
type Config struct {
	// Reserve is the share of each bucket's limit never spent, left for
	// people and other integrations using the same org.
	Reserve float64
	// CriticalHeadroom is the share of the limit only critical calls may
	// spend; BulkHeadroom the share bulk calls leave for default and
	// critical ones. Both are released gradually over the last
	// HeadroomRelease share of each window, so that budget no urgent call
	// needed is used before the window ends.
	CriticalHeadroom, BulkHeadroom, HeadroomRelease float64
	// MaxInFlight caps calls in flight per connection across all workers,
	// well under Okta's org-wide concurrency limit. With 4 or more, one
	// slot is kept for critical calls, and half for actions under way.
	MaxInFlight int
	// Lease is how long a granted call holds its slot past its last
	// renewal: the call renews it every half lease while it runs
	// (slotlease.go), so a slot whose worker died, or that a Redis
	// rollback brought back, frees itself within a lease.
	Lease time.Duration
	// MaxWait is the longest a call waits in place for a slot or a budget
	// that frees sooner than a reschedule would run (a window's probe, a
	// call in flight ending); a longer wait is a *WaitError. The
	// later calls of an action wait up to three times as long.
	MaxWait time.Duration
	// Jitter is the most added at random to WaitError.Until (at
	// most a quarter of the wait), so the tasks that waited for one reset
	// do not all wake at once.
	Jitter time.Duration
	// MinBlock is how long a 429 without a usable reset blocks (a
	// concurrency 429, or one at a window's very end).
	MinBlock time.Duration
	// Clock is the local clock, only to turn waits into WaitError times;
	// nil is time.Now. The budget itself runs on Redis's clock.
	Clock  func() time.Time
	Logger *slog.Logger
	// OnEvent is told of every grant, refusal and release (for metrics).
	// It must not block.
	OnEvent func(Event)
}

// Defaults of the settings operators change (OKTAQ_RATE_RESERVE,
// OKTAQ_OKTA_MAX_IN_FLIGHT); the config's defaults are tested against them.
const (
	DefaultReserve = 0.1
	// DefaultMaxInFlight is MaxInFlightFor(10), the worker's default
	// concurrency (the config's test ties the two).
	DefaultMaxInFlight = 20
)

// MaxInFlightFor is the in-flight cap that lets a worker of this
// concurrency start every action it runs at once: an action's first call
// may take only half the slots (the rest are kept for actions under way),
// so the cap is twice the concurrency. With several worker processes on
// one connection, set OKTAQ_OKTA_MAX_IN_FLIGHT to twice their sum, under
// Okta's concurrency limit.
func MaxInFlightFor(concurrency int) int { return max(1, 2*concurrency) }

// DefaultConfig: a 10% reserve, 10% of headroom for critical
// calls and 10% more that bulk leaves to default, released over the last
// quarter of the window; DefaultMaxInFlight calls in flight.
func DefaultConfig() Config {
	return Config{Reserve: DefaultReserve, CriticalHeadroom: 0.1, BulkHeadroom: 0.1, HeadroomRelease: 0.25,
		MaxInFlight: DefaultMaxInFlight, Lease: 4 * time.Second, MaxWait: time.Second, Jitter: 500 * time.Millisecond,
		MinBlock: time.Second}
}

// Limiter is the rate limiter shared by every worker of every connection
// through Redis. It learns each bucket's limit, remaining and reset from
// Okta's answers, keeps the reserve and the class headrooms, counts the
// calls granted and not yet answered (so N workers do not all spend the
// same "remaining"), caps calls in flight, and grants a call only when
// the budget allows it. All of its decisions run as Lua scripts on
// Redis's clock; see common.lua for the keys.
//
// Where it acts: every call, in the executor's transport (Acquire), so an
// action of several calls is covered whatever it does; and once per
// action, at the worker's gate (Peek, through okta's Executor.Blocked), which
// takes nothing but keeps an action from starting when a bucket it needs
// has no budget for its priority, so it does not spend its first calls
// and stop. A call that must wait longer than MaxWait is refused with a
// *WaitError for when the budget will allow it, plus jitter; the
// worker reschedules the task without spending an attempt.
//
// Windows: Okta's Reset is a whole second, rounded up, so the limiter
// takes a window to end up to a second after it does, and then lets one
// call through until an answer shows the new window.
type Limiter struct {
	rdb  redis.UniversalClient
	opts Config

	mu   sync.Mutex
	keys map[[2]string]string // connection, bucket -> counter key
	lost lostSlots            // slots whose release Redis missed (lostslots.go)
}

// KeyPrefix starts every limiter key: "oktaq:lim:{connection}...".
const KeyPrefix = "oktaq:lim:"

// New returns a limiter on rdb.
func New(rdb redis.UniversalClient, opts Config) (*Limiter, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("limiter: no Redis")
	case opts.Reserve < 0 || opts.CriticalHeadroom < 0 || opts.BulkHeadroom < 0 ||
		opts.Reserve+opts.CriticalHeadroom+opts.BulkHeadroom >= 1:
		return nil, fmt.Errorf("limiter: reserve %v and headrooms %v, %v must be non-negative and sum under 1",
			opts.Reserve, opts.CriticalHeadroom, opts.BulkHeadroom)
	case opts.HeadroomRelease < 0 || opts.HeadroomRelease > 1:
		return nil, fmt.Errorf("limiter: headroom release %v is not in [0, 1]", opts.HeadroomRelease)
	case opts.MaxInFlight < 1:
		return nil, fmt.Errorf("limiter: max in flight %d is under 1", opts.MaxInFlight)
	}
	d := DefaultConfig()
	if opts.Lease <= 0 {
		opts.Lease = d.Lease
	}
	if opts.MinBlock <= 0 {
		opts.MinBlock = d.MinBlock
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{rdb: rdb, opts: opts, keys: map[[2]string]string{}}, nil
}

// learntByLimit: no bucket is learnt by the limit it shows any more: Okta's
// own table says which bucket each call counts against (bucket.go). The
// scripts keep the path (ARGV[3]) until they are next reworked.
func learntByLimit(string) bool { return false }

func connKey(conn string) string            { return KeyPrefix + "{" + conn + "}" }
func inflightKey(conn string) string        { return connKey(conn) + ":inflight" }
func bucketKey(conn, counter string) string { return connKey(conn) + ":b:" + counter }

func (l *Limiter) counter(conn, bucket string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k, ok := l.keys[[2]string{conn, bucket}]; ok {
		return k
	}
	return bucket
}

func (l *Limiter) setCounter(conn, bucket, key string) {
	l.mu.Lock()
	l.keys[[2]string{conn, bucket}] = key
	l.mu.Unlock()
}

// probeMS is how long a call waits for answers that will show the budget
// (a new window's first call, calls under way): within a call's time.
const probeMS = 10

// params are the budget's parameters, the last five ARGV of acquire and
// peek (common.lua's params).
func (l *Limiter) params() []any {
	return []any{l.opts.Reserve, l.opts.CriticalHeadroom, l.opts.BulkHeadroom, l.opts.HeadroomRelease, probeMS}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Acquire grants the call, or refuses it with a *WaitError saying when to
// try again; done must then be called once with what the call saw. It
// waits in place (up to MaxWait) only for what frees within a call's time.
// If Redis fails it refuses the call (fail closed) with a *WaitError a
// second or so ahead: no call goes to Okta that the budget did not count.
// When ctx ends while it waits, the error wraps ctx.Err().
func (l *Limiter) Acquire(ctx context.Context, c Call) (done func(Observation), err error) {
	class := c.Priority.class()
	if c.Continuation && class < 2 {
		class++
	}
	slots := l.slots(class, c.Continuation)
	maxWait := l.opts.MaxWait
	if c.Continuation {
		// An action under way waits longer rather than waste its first
		// calls: its buckets' windows need not end together.
		maxWait *= 3
	}
	start := time.Now()
	l.releaseLost(ctx, c.Connection)
	f := FlowFrom(ctx).bind(l, c.Connection)
	if f != nil && f.isEnded() {
		f = nil
	}
	if f != nil {
		if g := f.takeGrant(c.Bucket); g != nil {
			// Taken ahead (GateIn): only the writes before the call
			// are left to send.
			if err := l.sendFlowWrites(ctx, f); err != nil {
				f.done(c, g.key, g.member, g.stop)(Observation{})
				return nil, err
			}
			return f.done(c, g.key, g.member, g.stop), nil
		}
	}
	for tries := 0; ; tries++ {
		key := l.counter(c.Connection, c.Bucket)
		member := key + "|" + leaseID()
		keys, args := l.acquireArgs(c, key, member, class, slots)
		var res []any
		var err error
		if f != nil && tries == 0 {
			res, err = l.acquireInFlow(ctx, f, keys, args, c.Connection, member)
			var we *writeError
			if errors.As(err, &we) {
				return nil, fmt.Errorf("rate limiter: %w", err)
			}
		} else {
			res, err = acquireScript.Run(ctx, l.rdb, keys, args...).Slice()
		}
		if err != nil {
			// The grant may have been written with its answer lost.
			l.lost.add(c.Connection, member, l.opts.Lease)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("rate limiter: %w", ctx.Err())
			}
			// Fail closed: a call the shared budget does not count could
			// be the one that makes every worker meet 429s. The task is
			// rescheduled like a rate limit, without spending an attempt.
			l.opts.Logger.WarnContext(ctx, "rate limiter unreachable; not calling Okta", "bucket", c.Bucket, "error", err)
			l.event(Delayed, c.Connection, c.Bucket, -1)
			wait := max(l.opts.MinBlock, time.Second)
			return nil, &WaitError{Until: l.opts.Clock().Add(wait + l.jitter(wait)), Bucket: c.Bucket}
		}
		code, n, k := reply(res)
		switch {
		case code == codeCounterMoved && tries < 3:
			l.setCounter(c.Connection, c.Bucket, k)
			continue
		case code == codeOK:
			l.event(Granted, c.Connection, c.Bucket, n)
			stop := l.keepSlot(c.Connection, member)
			if f != nil {
				return f.done(c, key, member, stop), nil
			}
			return func(o Observation) { stop(); l.observe(ctx, c, key, member, o) }, nil
		case code == codeBudget, code == codeConcurrencyBlocked, code == codeInFlightCap, code == codeProbing, code == codeCounterMoved:
			// Refused for n ms: wait below, or hand the wait to the worker.
		default:
			return nil, fmt.Errorf("rate limiter: unknown script answer %d", code)
		}
		wait := time.Duration(n) * time.Millisecond
		if time.Since(start)+wait <= maxWait {
			if err := sleep(ctx, wait+rand.N(wait/2+time.Millisecond)); err != nil {
				return nil, fmt.Errorf("rate limiter: %w", err)
			}
			continue
		}
		if code == codeInFlightCap || code == codeProbing {
			// Calls in flight stay slow: try again soon, not at once.
			wait = max(wait, l.opts.MaxWait/4)
		}
		l.event(Delayed, c.Connection, c.Bucket, -1)
		return nil, &WaitError{Until: l.opts.Clock().Add(wait + l.jitter(wait)), Bucket: c.Bucket,
			Concurrency: code == codeConcurrencyBlocked || code == codeInFlightCap}
	}
}

// slots is how many of the connection's calls in flight there may be
// when a call of class takes one: critical calls may fill them all; with
// 4 or more, one stays free for critical calls, and an action's first
// call finds half of them kept for the calls of actions under way, so
// that an action once started is not stopped for want of a slot after
// spending its first calls.
func (l *Limiter) slots(class int, continuation bool) int {
	n := l.opts.MaxInFlight
	switch {
	case class == 2 || n < 4:
		return n
	case continuation:
		return n - 1
	default:
		return (n + 1) / 2
	}
}

// acquireArgs are acquire.lua's KEYS and ARGV for a call.
func (l *Limiter) acquireArgs(c Call, key, member string, class, slots int) ([]string, []any) {
	args := append([]any{c.Bucket, key, flag(learntByLimit(c.Bucket)), member, class, slots,
		l.opts.Lease.Milliseconds()}, l.params()...)
	return []string{connKey(c.Connection), inflightKey(c.Connection), bucketKey(c.Connection, key)}, args
}

// observeArgs are observe.lua's KEYS and ARGV for a call's answer.
func (l *Limiter) observeArgs(c Call, key, member string, o Observation) ([]string, []any) {
	var reset, date int64
	if !o.Reset.IsZero() {
		reset = o.Reset.Unix()
	}
	if !o.Date.IsZero() {
		date = o.Date.Unix()
	}
	return []string{connKey(c.Connection), inflightKey(c.Connection), bucketKey(c.Connection, key)},
		[]any{c.Bucket, key, flag(learntByLimit(c.Bucket)), member, o.Status,
			flag(o.HasLimit), o.Limit, o.Remaining, reset, date, o.RTT.Milliseconds(), o.Age.Milliseconds(),
			l.opts.MinBlock.Milliseconds(), (24 * time.Hour).Milliseconds()}
}

// observe releases a granted call and records what it saw.
func (l *Limiter) observe(ctx context.Context, c Call, key, member string, o Observation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	keys, args := l.observeArgs(c, key, member, o)
	res, err := observeScript.Run(ctx, l.rdb, keys, args...).Slice()
	l.observed(ctx, c, member, o, res, err)
}

// observed handles observe.lua's answer: a counter the answer showed the
// bucket draws on is recorded again against it (the slot is released
// already).
func (l *Limiter) observed(ctx context.Context, c Call, member string, o Observation, res []any, err error) {
	for tries := 0; ; tries++ {
		if err != nil {
			l.opts.Logger.WarnContext(ctx, "rate limiter: recording a call failed", "bucket", c.Bucket, "error", err)
			l.lost.add(c.Connection, member, l.opts.Lease)
			return
		}
		code, n, k := reply(res)
		if code != codeCounterMoved || tries >= 2 {
			l.event(Released, c.Connection, c.Bucket, n)
			return
		}
		l.setCounter(c.Connection, c.Bucket, k)
		member = ""
		keys, args := l.observeArgs(c, k, member, o)
		res, err = observeScript.Run(ctx, l.rdb, keys, args...).Slice()
	}
}

// sendFlowWrites sends the flow's writes before a call whose slot was
// taken ahead: one round trip, only when there are some.
func (l *Limiter) sendFlowWrites(ctx context.Context, f *Flow) error {
	f.mu.Lock()
	writes := f.writes
	f.writes = nil
	f.mu.Unlock()
	if len(writes) == 0 {
		return nil
	}
	pipe := l.rdb.Pipeline()
	check, err := sendWrites(ctx, l, pipe, writes)
	if err == nil {
		_, _ = pipe.Exec(ctx)
		err = check()
	}
	if err != nil {
		return fmt.Errorf("rate limiter: %w", &writeError{err: err})
	}
	return nil
}

// Peek reports when calls of ctx's priority could take every bucket
// named, without taking anything: zero until means now or within MaxWait
// (Acquire waits that long in place). The worker's gate
// uses it before an action's first call, so an action whose later bucket
// is spent does not start and waste its first calls.
func (l *Limiter) Peek(ctx context.Context, conn string, buckets []string) (until time.Time, bucket string, err error) {
	if len(buckets) == 0 {
		return time.Time{}, "", nil
	}
	l.releaseLost(ctx, conn)
	keys := []string{connKey(conn), inflightKey(conn)}
	args := append([]any{PriorityFrom(ctx).class()}, l.params()...)
	for _, b := range buckets {
		k := l.counter(conn, b)
		keys = append(keys, bucketKey(conn, k))
		args = append(args, k)
	}
	res, err := peekScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err == nil && len(res) < 2 {
		err = fmt.Errorf("peek answered %v", res)
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("rate limiter: %w", err)
	}
	return l.gateWait(res[0], res[1], buckets)
}

// jitter spreads the wake-ups of tasks told to wait: up to Jitter for
// those waiting for a new window (a crowd), a quarter of the wait for
// those waiting for a step of the headroom release (a few hundred ms).
func (l *Limiter) jitter(wait time.Duration) time.Duration {
	j := min(l.opts.Jitter, wait/4)
	if j <= 0 {
		return 0
	}
	return rand.N(j + 1)
}

func (l *Limiter) event(kind EventKind, conn, bucket string, inflight int64) {
	if l.opts.OnEvent != nil {
		l.opts.OnEvent(Event{Kind: kind, Connection: conn, Bucket: bucket, InFlight: int(inflight)})
	}
}

func leaseID() string {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
