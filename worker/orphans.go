package worker

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Orphaned tasks: faster than asynq's recoverer.
//
// A task is active in asynq under a lease that its worker's heartbeat
// extends to now + 30 s every 5 s. asynq's own recoverer (recovery.go)
// takes a task back only 30 s after its lease ended and looks once a
// minute: 60-120 s after a worker died, or after a Redis rollback brought
// back tasks as active that nobody runs any more. Neither number can be
// configured in asynq v0.26.
//
// Each worker therefore looks every orphanScanEvery for active tasks whose
// lease nobody extended for orphanStale (three heartbeats missed: their
// worker is dead or cut off), and puts them back at the head of their
// queue, as asynq's own requeue on shutdown does (same keys, one script,
// so a task is never both active and pending). The task spends no attempt
// and runs again at once; what a re-run may not do twice (a reset email,
// a temporary password) the journal and the per-user lease settle, as for
// any crash.
//
// Lease times are written with the writing worker's clock, so worker
// clocks must agree within orphanStale - 5 s (10 s; NTP does far better).
// After this worker saw Redis fail, it waits orphanGrace of Redis
// answering before it judges leases: during the outage no heartbeat could
// extend them, and the live workers extend them again at their next beat.
const (
	orphanScanEvery = 2 * time.Second
	orphanStale     = 15 * time.Second
	orphanGrace     = 6 * time.Second
	// asynqLease is asynq's rdb.LeaseDuration (v0.26): a lease extended at
	// t ends at t + 30 s.
	asynqLease = 30 * time.Second
)

// requeueOrphansScript: KEYS[1] lease zset, KEYS[2] active list,
// KEYS[3] pending list of one queue (asynq:{q}:...); ARGV[1] cutoff
// (lease scores, Unix seconds, below it are orphaned), ARGV[2] the
// queue's task key prefix, ARGV[3] most tasks moved. Returns how many
// were put back.
var requeueOrphansScript = redis.NewScript(`
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  redis.call("ZREM", KEYS[1], id)
  if redis.call("LREM", KEYS[2], 0, id) > 0 then
    redis.call("RPUSH", KEYS[3], id)
    redis.call("HSET", ARGV[2] .. id, "state", "pending")
    n = n + 1
  end
end
return n`)

// orphans is the scan's state: since when Redis answers, and whether
// this worker saw it fail.
type orphans struct {
	upSince  time.Time
	downSeen bool
}

// scanOrphans runs until ctx ends.
func (w *Worker) scanOrphans(ctx context.Context) {
	var st orphans
	t := time.NewTicker(orphanScanEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// asynq writes leases with the real clock, not the worker's
			// injected one.
			if n := w.requeueOrphans(ctx, &st, time.Now()); n > 0 {
				w.opts.Logger.Warn("put back tasks whose worker stopped renewing their lease (crashed, or brought back by a Redis rollback)",
					"tasks", n)
			}
		}
	}
}

// requeueOrphans makes one pass at now and returns how many tasks it put
// back.
func (w *Worker) requeueOrphans(ctx context.Context, st *orphans, now time.Time) int {
	if err := w.rdb.Ping(ctx).Err(); err != nil {
		st.upSince, st.downSeen = time.Time{}, true
		return 0
	}
	if st.upSince.IsZero() {
		st.upSince = now
	}
	if st.downSeen && now.Sub(st.upSince) < orphanGrace {
		return 0 // Redis is back: the live workers' heartbeats extend their leases first
	}
	cutoff := now.Add(asynqLease - orphanStale).Unix()
	n := 0
	for q := range w.opts.Queues {
		prefix := "asynq:{" + q + "}:"
		moved, err := requeueOrphansScript.Run(ctx, w.rdb, []string{prefix + "lease", prefix + "active", prefix + "pending"},
			cutoff, prefix+"t:", 100).Int()
		if err != nil {
			w.opts.Logger.Warn("looking for orphaned tasks failed", "queue", q, "error", err)
			continue
		}
		n += moved
	}
	return n
}
