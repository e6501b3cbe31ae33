package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// GateIn is the worker's gate sent in a caller's pipeline, so that it
// costs no round trip of its own (issue 19): the worker reads the task's
// hold, its user lease and journal, and this, at once. It is Peek over
// buckets (the action's, its first call's first) and, when f is not nil
// and no bucket holds the action longer than Acquire would wait in
// place, the grant of the slot of f's first call of buckets[0]
// (first.lua: one script), which that call then uses at no round trip.
// A slot the action does not use goes back when the flow ends.
//
// rdb is the client the pipeline belongs to; ok is false unless it is the
// limiter's or a client of the same server and database (the worker makes
// its own client from the same URL): call Peek then. answer reads the
// peek after the pipeline ran, running the script alone if Redis did not
// know it.
func (l *Limiter) GateIn(ctx context.Context, pipe redis.Pipeliner, rdb redis.UniversalClient, f *Flow, conn string, buckets []string) (answer func() (time.Time, string, error), ok bool) {
	if !sameRedis(rdb, l.rdb) {
		return nil, false
	}
	if len(buckets) == 0 {
		return func() (time.Time, string, error) { return time.Time{}, "", nil }, true
	}
	class := PriorityFrom(ctx).class()
	keys := []string{connKey(conn), inflightKey(conn)}
	args := append([]any{class}, l.params()...)
	for _, b := range buckets {
		k := l.counter(conn, b)
		keys = append(keys, bucketKey(conn, k))
		args = append(args, k)
	}
	if f = f.bind(l, conn); f == nil || f.isEnded() {
		cmd := peekScript.EvalSha(ctx, pipe, keys, args...)
		return func() (time.Time, string, error) {
			res, err := cmd.Int64Slice()
			if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				res, err = peekScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
			}
			if err == nil && len(res) < 2 {
				err = fmt.Errorf("peek answered %v", res)
			}
			if err != nil {
				return time.Time{}, "", fmt.Errorf("rate limiter: %w", err)
			}
			return l.gateWait(res[0], res[1], buckets)
		}, true
	}
	first := Call{Connection: conn, Bucket: buckets[0], Method: "GET", Priority: PriorityFrom(ctx)}
	key := l.counter(conn, first.Bucket)
	member := key + "|" + leaseID()
	_, aargs := l.acquireArgs(first, key, member, class, l.slots(class, false))
	fargs := append(append(append([]any{}, args...), l.opts.MaxWait.Milliseconds()), aargs...)
	cmd := firstScript.EvalSha(ctx, pipe, keys, fargs...)
	return func() (time.Time, string, error) {
		res, err := cmd.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Alone, which loads the script for the next time.
			res, err = firstScript.Run(ctx, l.rdb, keys, fargs...).Slice()
		}
		if err == nil && len(res) < 5 {
			err = fmt.Errorf("gate answered %v", res)
		}
		if err != nil {
			l.lost.add(conn, member, l.opts.Lease) // it may have been granted
			return time.Time{}, "", fmt.Errorf("rate limiter: %w", err)
		}
		wait, at, _ := reply(res[:3])
		if code, n, _ := reply(res[2:]); code == codeOK {
			l.event(Granted, conn, first.Bucket, n)
			f.keep(&grant{bucket: first.Bucket, key: key, member: member, stop: l.keepSlot(conn, member)})
		}
		return l.gateWait(int64(wait), at, buckets)
	}, true
}

// gateWait turns the peek's {wait ms, bucket index} into when the action
// may start: zero when within MaxWait (Acquire waits that long in place;
// asynq could not reschedule more precisely, its retry times are whole
// seconds).
func (l *Limiter) gateWait(ms, at int64, buckets []string) (time.Time, string, error) {
	wait := time.Duration(ms) * time.Millisecond
	if wait <= l.opts.MaxWait {
		return time.Time{}, "", nil
	}
	bucket := ""
	if at > 0 && int(at) <= len(buckets) {
		bucket = buckets[at-1]
	}
	return l.opts.Clock().Add(wait + l.jitter(wait)), bucket, nil
}

// sameRedis: a and b are one client, or single-node clients of one
// address, database and user.
func sameRedis(a, b redis.UniversalClient) bool {
	if a == b {
		return true
	}
	ca, ok1 := a.(*redis.Client)
	cb, ok2 := b.(*redis.Client)
	if !ok1 || !ok2 {
		return false
	}
	oa, ob := ca.Options(), cb.Options()
	return oa.Network == ob.Network && oa.Addr == ob.Addr && oa.DB == ob.DB && oa.Username == ob.Username
}
