package worker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
)

// Chaos (worker-kill, redis-rollback rows): a task active under a lease
// nobody extends any more (its worker died, or a Redis rollback brought
// it back as active) waited for asynq's recoverer, 60-120 s. The orphan
// scan puts it back once its lease's score has not moved for
// orphanStale, and leaves alone a task whose lease a heartbeat moves.
// Counted on asynq's real keys, with the looks' times given; the tasks
// put back then run on a real asynq server.
func TestOrphanedTasksArePutBackAndRun(t *testing.T) {
	r := redistest.New(t)
	orphanedTasksArePutBackAndRun(t, r.Client, r.Opt, "default")
}

// The same on a Redis Cluster: the scan's keys of one queue share its
// hash tag, and the heartbeat records are read across slots.
func TestOrphanedTasksArePutBackOnRedisCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	orphanedTasksArePutBackAndRun(t, c.Client, c.Opt, "orphans-"+newToken())
}

func orphanedTasksArePutBackAndRun(t *testing.T, rdb redis.UniversalClient, opt asynq.RedisConnOpt, q string) {
	ctx := context.Background()
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })
	for _, id := range []string{"orphan-1", "orphan-2", "live"} {
		if _, err := client.Enqueue(asynq.NewTask("test:orphan", nil), asynq.Queue(q), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	lease := func(id string, at time.Time) { // as asynq's dequeue and heartbeat write it
		rdb.ZAdd(ctx, "asynq:{"+q+"}:lease", redis.Z{Score: float64(at.Add(30 * time.Second).Unix()), Member: id})
	}
	// Dequeue all three as asynq does (dequeueCmd).
	prefix := "asynq:{" + q + "}:"
	t.Cleanup(func() { // a cluster not started by the test is shared: leave nothing behind
		ctx := context.Background()
		rdb.Del(ctx, prefix+"active", prefix+"lease", prefix+"pending", prefix+"t:orphan-1", prefix+"t:orphan-2", prefix+"t:live")
		rdb.SRem(ctx, "asynq:queues", q)
	})
	for range 3 {
		id, err := rdb.LMove(ctx, prefix+"pending", prefix+"active", "RIGHT", "LEFT").Result() // asynq: RPOPLPUSH
		if err != nil {
			t.Fatal(err)
		}
		rdb.HSet(ctx, prefix+"t:"+id, "state", "active")
		lease(id, now)
	}
	// A lease entry of a task no longer active (done since) is no orphan.
	rdb.ZAdd(ctx, prefix+"lease", redis.Z{Score: 1, Member: "gone"})

	w := &Worker{rdb: rdb, opts: Options{Queues: map[string]int{q: 1}, Logger: slog.New(slog.DiscardHandler)}}
	var st orphans
	// First sight (a worker that just started, or after Redis failed):
	// nothing is judged, however old the leases look.
	if n := w.requeueOrphans(ctx, &st, now); n != 0 {
		t.Fatalf("at first sight, %d tasks put back", n)
	}
	// A heartbeat moves the live task's lease; within orphanStale nothing
	// is put back.
	lease("live", now.Add(5*time.Second))
	if n := w.requeueOrphans(ctx, &st, now.Add(orphanStale-time.Millisecond)); n != 0 {
		t.Fatalf("within %s, %d tasks put back", orphanStale, n)
	}
	// orphan-2's worker's heartbeat record still lists it (the worker is
	// late, not dead): it stays until the record is gone.
	record := "asynq:workers:{test-host:1:" + q + "}"
	rdb.ZAdd(ctx, "asynq:workers", redis.Z{Score: float64(now.Add(10 * time.Second).Unix()), Member: record})
	t.Cleanup(func() { rdb.ZRem(context.Background(), "asynq:workers", record) })
	rdb.HSet(ctx, record, "orphan-2", "{}")
	if n := w.requeueOrphans(ctx, &st, now.Add(orphanStale)); n != 1 {
		t.Fatalf("put back %d tasks, want orphan-1 (orphan-2 is listed as running)", n)
	}
	rdb.Del(ctx, record) // its record expires: the worker died
	if n := w.requeueOrphans(ctx, &st, now.Add(orphanStale+time.Second)); n != 1 {
		t.Fatalf("put back %d tasks, want orphan-2 once its worker's record is gone", n)
	}
	for id, want := range map[string]asynq.TaskState{"orphan-1": asynq.TaskStatePending, "orphan-2": asynq.TaskStatePending, "live": asynq.TaskStateActive} {
		info, err := inspector.GetTaskInfo(q, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State != want {
			t.Errorf("%s is %s, want %s", id, info.State, want)
		}
	}
	lease("live", now.Add(10*time.Second))
	if n := w.requeueOrphans(ctx, &st, now.Add(3*orphanStale)); n != 0 {
		t.Errorf("a later look put back %d more", n)
	}
	// asynq runs the tasks put back, like any pending task.
	ran := make(chan string, 3)
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 2, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		ran <- id
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	got := map[string]bool{<-ran: true, <-ran: true}
	if !got["orphan-1"] || !got["orphan-2"] {
		t.Errorf("ran %v, want orphan-1 and orphan-2", got)
	}
}
