package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A granted call's in-flight slot is held under a short lease (Config.Lease,
// 4 s) that the call renews every half lease while it runs, instead of
// one lease as long as the longest call. A slot nobody renews any more
// frees itself soon: its worker died, or a Redis rollback brought back
// slots whose calls ended long ago (their releases were lost with the
// rolled-back seconds). With one 35 s lease either kept the connection's
// first calls out for half a minute (chaos redis-rollback row: 35 s;
// with 10 s, 8 s of the 10 the row took). Most calls end within half a
// lease and cost no renewal; a renewal that comes late lets one more call
// in flight for a moment, well under Okta's concurrency limit.
//
// renewSlotScript: KEYS[1] in-flight zset; ARGV[1] member, ARGV[2] lease
// ms. Moves the member's expiry to Redis now + lease if it is still
// there (a slot already released or rolled away is not brought back).
var renewSlotScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1`)

// keepSlot renews member's lease every half lease until stop is called.
// A call shorter than half the lease costs a timer and no round trip.
func (l *Limiter) keepSlot(conn, member string) (stop func()) {
	every := l.opts.Lease / 2
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	renew := func() {
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := renewSlotScript.Run(ctx, l.rdb, []string{inflightKey(conn)}, member, l.opts.Lease.Milliseconds()).Err()
		cancel()
		if err != nil {
			l.opts.Logger.Warn("rate limiter: renewing a call's slot failed", "connection", conn, "error", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(every)
		}
	}
	mu.Lock()
	t = time.AfterFunc(every, renew)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}
