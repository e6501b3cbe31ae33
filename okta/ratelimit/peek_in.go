package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// PeekIn is Peek sent in a caller's pipeline, so that the worker's gate
// costs no round trip of its own (issue 19): the worker reads the task's
// hold, its user lease and journal, and this, at once. rdb is the
// client the pipeline belongs to; ok is false unless it is the
// limiter's or a client of the same server and database (the worker
// makes its own client from the same URL): call Peek then. answer reads the reply after
// the pipeline ran, running the script alone if Redis did not know it.
// Kept apart from Peek, which it mirrors, so that edits to the limiter's
// own round trips do not meet this one.
func (l *Limiter) PeekIn(ctx context.Context, pipe redis.Pipeliner, rdb redis.UniversalClient, conn string, buckets []string) (answer func() (time.Time, string, error), ok bool) {
	if !sameRedis(rdb, l.rdb) {
		return nil, false
	}
	if len(buckets) == 0 {
		return func() (time.Time, string, error) { return time.Time{}, "", nil }, true
	}
	keys := []string{connKey(conn), inflightKey(conn)}
	args := append([]any{PriorityFrom(ctx).class()}, l.params()...)
	for _, b := range buckets {
		k := l.counter(conn, b)
		keys = append(keys, bucketKey(conn, k))
		args = append(args, k)
	}
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
		if time.Duration(res[0])*time.Millisecond <= l.opts.MaxWait {
			return time.Time{}, "", nil // waited out in place, as in Peek
		}
		bucket := ""
		if res[1] > 0 {
			bucket = buckets[res[1]-1]
		}
		wait := time.Duration(res[0]) * time.Millisecond
		return l.opts.Clock().Add(wait + l.jitter(wait)), bucket, nil
	}, true
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
