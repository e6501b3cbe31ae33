package okta

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/oktaq/oktaq/tasks"
	"github.com/redis/go-redis/v9"
)

// Rate-limit state, shared through Redis so that every worker knows what
// any one of them learnt. After each call the bucket's limit, remaining
// and reset are written to the hash "oktaq:rl:{connection}:{bucket}"
// (fields limit, remaining, reset_ms, blocked_ms, updated_ms; times are
// local unix milliseconds computed as now + (Reset - Date), so a worker
// with a skewed clock still writes a correct wait). A 429 sets blocked_ms
// to the reset. The key expires a minute after the reset. The worker's gate
// reads it through Executor.Blocked; the full limiter (issue 8) builds on
// the same keys.

// RateKeyPrefix starts every rate-state key.
const RateKeyPrefix = "oktaq:rl:"

// BucketState is what is known of one bucket.
type BucketState struct {
	Limit, Remaining int
	Reset            time.Time // local clock
	BlockedUntil     time.Time // local clock; set by a 429
}

type rateState struct {
	rdb   redis.UniversalClient
	clock func() time.Time
	log   *slog.Logger

	mu  sync.Mutex
	mem map[string]BucketState // when rdb is nil
}

func rateKey(conn, bucket string) string { return RateKeyPrefix + conn + ":" + bucket }

// record stores what call c says about its bucket.
func (r *rateState) record(ctx context.Context, conn string, c *call) {
	if c.err != nil || c.authErr != nil || (!c.HasLimit && c.Status != 429) {
		return
	}
	st := BucketState{Limit: c.Limit, Remaining: c.Remaining, Reset: c.resetLocal()}
	if c.Status == 429 {
		st.Remaining, st.BlockedUntil = 0, st.Reset
	}
	key := rateKey(conn, c.Bucket)
	if r.rdb == nil {
		r.mu.Lock()
		if r.mem == nil {
			r.mem = map[string]BucketState{}
		}
		r.mem[key] = st
		r.mu.Unlock()
		return
	}
	fields := map[string]any{
		"limit": st.Limit, "remaining": st.Remaining,
		"reset_ms": st.Reset.UnixMilli(), "updated_ms": c.Local.UnixMilli(),
	}
	if !st.BlockedUntil.IsZero() {
		fields["blocked_ms"] = st.BlockedUntil.UnixMilli()
	}
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields)
		p.PExpireAt(ctx, key, st.Reset.Add(time.Minute))
		return nil
	})
	if err != nil {
		r.log.WarnContext(ctx, "rate state: write failed", "key", key, "err", err)
	}
}

// state reads a bucket's state; the zero value when nothing is known.
func (r *rateState) state(ctx context.Context, conn, bucket string) (BucketState, error) {
	st, err := r.states(ctx, conn, []string{bucket})
	if err != nil {
		return BucketState{}, err
	}
	return st[0], nil
}

// states reads several buckets in one round trip.
func (r *rateState) states(ctx context.Context, conn string, buckets []string) ([]BucketState, error) {
	out := make([]BucketState, len(buckets))
	if r.rdb == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, b := range buckets {
			out[i] = r.mem[rateKey(conn, b)]
		}
		return out, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(buckets))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, b := range buckets {
			cmds[i] = p.HGetAll(ctx, rateKey(conn, b))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, c := range cmds {
		out[i] = parseBucketState(c.Val())
	}
	return out, nil
}

func parseBucketState(h map[string]string) BucketState {
	num := func(f string) int64 { v, _ := strconv.ParseInt(h[f], 10, 64); return v }
	st := BucketState{Limit: int(num("limit")), Remaining: int(num("remaining"))}
	if v := num("reset_ms"); v > 0 {
		st.Reset = time.UnixMilli(v)
	}
	if v := num("blocked_ms"); v > 0 {
		st.BlockedUntil = time.UnixMilli(v)
	}
	return st
}

// emptyUntil is when a bucket known to be empty fills again, or zero.
func (st BucketState) emptyUntil(now time.Time) time.Time {
	var until time.Time
	if st.BlockedUntil.After(now) {
		until = st.BlockedUntil
	}
	if st.Limit > 0 && st.Remaining <= 0 && st.Reset.After(now) && st.Reset.After(until) {
		until = st.Reset
	}
	return until
}

// BucketState reports what is known of a bucket of the executor's
// connection.
func (e *Executor) BucketState(ctx context.Context, bucket string) (BucketState, error) {
	return e.rates.state(ctx, e.conn.Name, bucket)
}

// Blocked reports whether a bucket that action a will use is known to be
// empty; until is then when it fills again (the latest of them) and bucket
// names it. Zero until means go ahead. The worker's gate reschedules the
// task for until instead of calling Okta into a 429.
//
// With a Limiter that can peek (*Limiter), the answer is the limiter's:
// when a call of ctx's priority could take each bucket.
func (e *Executor) Blocked(ctx context.Context, a tasks.Args) (until time.Time, bucket string, err error) {
	if p, ok := e.limiter.(budgetPeeker); ok {
		return p.Peek(ctx, e.conn.Name, Buckets(a.Action()))
	}
	now := e.clock()
	names := Buckets(a.Action())
	states, err := e.rates.states(ctx, e.conn.Name, names)
	if err != nil {
		return time.Time{}, "", err
	}
	for i, st := range states {
		if u := st.emptyUntil(now); u.After(until) {
			until, bucket = u, names[i]
		}
	}
	return until, bucket, nil
}

// Buckets lists the rate-limit buckets an action draws on.
func Buckets(a tasks.Action) []string {
	switch a {
	case tasks.ActionUpdateGroups:
		return []string{BucketUsersGetOne, BucketGroups, BucketGroupsID, BucketUserGroups, BucketGroupMembers}
	case tasks.ActionUpdateApps:
		return []string{BucketUsersGetOne, BucketApps}
	default:
		return []string{BucketUsersGetOne, BucketUserLifecycle}
	}
}
