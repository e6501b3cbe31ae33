package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Orphaned tasks: faster than asynq's recoverer.
//
// A task is active in asynq under a lease that its worker's heartbeat
// extends every 5 s (to now + 30 s, in whole seconds, so the lease's
// score changes at every beat). asynq's own recoverer (recovery.go) takes
// a task back only 30 s after its lease ended and looks once a minute:
// 60-120 s after a worker died, or after a Redis rollback brought back
// tasks as active that nobody runs any more. Neither number can be
// configured in asynq v0.26.
//
// Each worker therefore reads the leases of its queues every
// orphanScanEvery and remembers each one's score. A lease whose score has
// not moved for orphanStale (more than a heartbeat, with slack) belongs to
// a worker that no longer beats: it died, or the task came back with a
// rollback and nobody runs it. So that a live worker whose heartbeat is
// merely late (a starved machine) keeps its tasks, a task that any
// worker's heartbeat record lists as running (asynq:workers:{server},
// rewritten at each beat, gone 10 s after the last) is left alone: a dead
// worker's tasks are put back once its record has expired, a rolled-back
// task once the live workers' next beat has rewritten theirs. The task is put
// back at the head of its queue, as asynq's own requeue on shutdown does
// (one script, which checks the score is still the one seen, so a task is
// never both active and pending). It spends no attempt and runs again at
// once; what a re-run may not do twice (a reset email, a temporary
// password) the journal settles, as for any crash, and the task takes
// over its own user lease (lease.go).
//
// No clock is compared with another: only whether a score moved, on this
// worker's clock. When a look fails (Redis down), everything remembered is
// forgotten: no heartbeat could move a score meanwhile, and the live
// workers' next beats move theirs before orphanStale has passed again.
const (
	orphanScanEvery = time.Second
	orphanStale     = 6500 * time.Millisecond
	orphanBatch     = 1000
)

// requeueOrphanScript: KEYS[1] lease zset, KEYS[2] active list, KEYS[3]
// pending list of one queue (asynq:{q}:...); ARGV[1] the queue's task key
// prefix, then pairs of task id and the lease score seen. A task whose
// score is still that one and that is still active is put back; returns
// how many were.
var requeueOrphanScript = redis.NewScript(`
local n = 0
for i = 2, #ARGV, 2 do
  local id, seen = ARGV[i], ARGV[i + 1]
  local score = redis.call("ZSCORE", KEYS[1], id)
  if score and tonumber(score) == tonumber(seen) then
    redis.call("ZREM", KEYS[1], id)
    if redis.call("LREM", KEYS[2], 0, id) > 0 then
      redis.call("RPUSH", KEYS[3], id)
      redis.call("HSET", ARGV[1] .. id, "state", "pending")
      n = n + 1
    end
  end
end
return n`)

// orphans remembers, per queue and task, the lease score seen and since
// when (this worker's clock).
type orphans struct {
	seen map[string]map[string]leaseSeen
}

type leaseSeen struct {
	score float64
	since time.Time
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
			if n := w.requeueOrphans(ctx, &st, time.Now()); n > 0 {
				w.opts.Logger.Warn("put back tasks whose lease no worker extends (a worker died, or a Redis rollback brought them back)",
					"tasks", n)
			}
		}
	}
}

// requeueOrphans makes one look at now and returns how many tasks it put
// back.
func (w *Worker) requeueOrphans(ctx context.Context, st *orphans, now time.Time) int {
	if st.seen == nil {
		st.seen = map[string]map[string]leaseSeen{}
	}
	running, err := w.listedRunning(ctx, now)
	if err != nil {
		clear(st.seen)
		return 0
	}
	n := 0
	for q := range w.opts.Queues {
		prefix := "asynq:{" + q + "}:"
		leases, err := w.rdb.ZRangeWithScores(ctx, prefix+"lease", 0, orphanBatch-1).Result()
		if err != nil {
			clear(st.seen) // no beat could move a score meanwhile
			return n
		}
		before, after := st.seen[q], make(map[string]leaseSeen, len(leases))
		args := []any{prefix + "t:"}
		for _, z := range leases {
			id, _ := z.Member.(string)
			s, ok := before[id]
			if !ok || s.score != z.Score {
				s = leaseSeen{score: z.Score, since: now}
			}
			if now.Sub(s.since) >= orphanStale && !running[id] {
				args = append(args, id, z.Score)
				continue
			}
			after[id] = s
		}
		st.seen[q] = after
		if len(args) == 1 {
			continue
		}
		moved, err := requeueOrphanScript.Run(ctx, w.rdb, []string{prefix + "lease", prefix + "active", prefix + "pending"}, args...).Int()
		if err != nil {
			w.opts.Logger.Warn("putting back orphaned tasks failed", "queue", q, "error", err)
			clear(st.seen)
			return n
		}
		n += moved
	}
	return n
}

// listedRunning is the task ids that live asynq servers' heartbeat records
// list as running.
func (w *Worker) listedRunning(ctx context.Context, now time.Time) (map[string]bool, error) {
	// Scores are the records' expiry (the writer's clock); a minute back
	// leaves out long-dead servers without trusting clocks to agree.
	keys, err := w.rdb.ZRangeByScore(ctx, "asynq:workers", &redis.ZRangeBy{
		Min: strconv.FormatInt(now.Add(-time.Minute).Unix(), 10), Max: "+inf"}).Result()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HKeys(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	running := map[string]bool{}
	for _, c := range cmds {
		for _, id := range c.Val() {
			running[id] = true
		}
	}
	return running, nil
}
