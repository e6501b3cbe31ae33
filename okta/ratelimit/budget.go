package ratelimit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// BucketBudget is what the limiter last learnt of one bucket, read without
// taking anything (a dry run's cost estimate).
type BucketBudget struct {
	// Known is false when no answer of the current window showed the
	// bucket's figures (never called, or the window has ended).
	Known     bool
	Limit     int
	Remaining int
	// Usable is what calls of the priority asked about may still spend:
	// Remaining less the reserve and the headroom other classes keep. It
	// leaves out calls in flight and the gradual headroom release at the
	// window's end, which the limiter applies when it grants.
	Usable int
	Reset  time.Time
}

// Budget reads one bucket's last known figures for a call of priority p.
// It takes nothing and changes nothing.
func (l *Limiter) Budget(ctx context.Context, conn, bucket string, p Priority) (BucketBudget, error) {
	k := bucketKey(conn, l.counter(conn, bucket))
	v, err := l.rdb.HMGet(ctx, k, "limit", "rem", "reset").Result()
	if err != nil {
		return BucketBudget{}, fmt.Errorf("rate limiter: %w", err)
	}
	num := func(i int) int64 {
		s, _ := v[i].(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	b := BucketBudget{Limit: int(num(0)), Remaining: int(num(1)), Reset: time.Unix(num(2), 0)}
	if b.Limit <= 0 || !b.Reset.After(l.opts.Clock()) {
		return BucketBudget{}, nil
	}
	b.Known = true
	keep := l.opts.Reserve
	switch p.class() {
	case 0: // bulk leaves both headrooms
		keep += l.opts.CriticalHeadroom + l.opts.BulkHeadroom
	case 1: // default leaves the critical headroom
		keep += l.opts.CriticalHeadroom
	}
	b.Usable = max(0, b.Remaining-int(math.Ceil(keep*float64(b.Limit)-1e-9)))
	return b, nil
}
