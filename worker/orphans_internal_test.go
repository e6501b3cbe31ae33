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
// scan puts it back at once when its lease has gone unextended for
// orphanStale, leaves a task whose lease is fresh alone, and after a Redis
// outage waits orphanGrace first. Counted on asynq's real keys; the
// requeued tasks then run on a real asynq server.
func TestOrphanedTasksArePutBackAndRun(t *testing.T) {
	r := redistest.New(t)
	ctx := context.Background()
	client := asynq.NewClient(r.Opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(r.Opt)
	t.Cleanup(func() { _ = inspector.Close() })
	const q = "default"
	for _, id := range []string{"orphan-1", "orphan-2", "live"} {
		if _, err := client.Enqueue(asynq.NewTask("test:orphan", nil), asynq.Queue(q), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	// Dequeue all three as asynq does (dequeueCmd): orphan-1 and orphan-2
	// last extended orphanStale+1 s ago, live just now.
	prefix := "asynq:{" + q + "}:"
	for range 3 {
		id, err := r.Client.LMove(ctx, prefix+"pending", prefix+"active", "RIGHT", "LEFT").Result() // asynq: RPOPLPUSH
		if err != nil {
			t.Fatal(err)
		}
		extended := now.Add(-orphanStale - time.Second)
		if id == "live" {
			extended = now
		}
		r.Client.HSet(ctx, prefix+"t:"+id, "state", "active")
		r.Client.ZAdd(ctx, prefix+"lease", redis.Z{Score: float64(extended.Add(asynqLease).Unix()), Member: id})
	}
	// A lease entry of a task no longer active (done since) is no orphan.
	r.Client.ZAdd(ctx, prefix+"lease", redis.Z{Score: 1, Member: "gone"})

	w := &Worker{rdb: r.Client, opts: Options{Queues: map[string]int{q: 1}, Logger: slog.New(slog.DiscardHandler)}}
	// Just after an outage this worker saw, nothing is judged.
	if n := w.requeueOrphans(ctx, &orphans{downSeen: true, upSince: now.Add(-time.Second)}, now); n != 0 {
		t.Fatalf("within the grace after an outage, %d tasks put back", n)
	}
	if n := w.requeueOrphans(ctx, &orphans{}, now); n != 2 {
		t.Fatalf("put back %d tasks, want the 2 orphans", n)
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
	if n := w.requeueOrphans(ctx, &orphans{}, now); n != 0 {
		t.Errorf("a second pass put back %d more", n)
	}
	// asynq runs the tasks put back, like any pending task.
	ran := make(chan string, 3)
	srv := asynq.NewServer(r.Opt, asynq.Config{Concurrency: 2, Queues: map[string]int{q: 1}, LogLevel: asynq.FatalLevel})
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

// A task the orphan scan puts back finds its user free: the dead
// attempt's user lease has ended by then (with 30 s it waited 15 s more).
func TestUserLeaseEndsByTheTimeAnOrphanIsPutBack(t *testing.T) {
	if ttl := DefaultLeasePolicy().TTL; ttl > orphanStale {
		t.Errorf("a dead worker's user lease lasts %s past its last renewal, longer than the %s after which its task is put back", ttl, orphanStale)
	}
}
