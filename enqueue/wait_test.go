package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

func TestWaitBackoff(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	var d time.Duration
	for i, w := range want {
		if d = nextPoll(d); d != w {
			t.Fatalf("poll %d: %v, want %v", i+1, d, w)
		}
	}
}

// TestWaitReturnsFinal: Wait returns the finished task with its result
// once a (real asynq) server has handled it.
func TestWaitReturnsFinal(t *testing.T) {
	c, db := newTestClient(t)
	srv := asynq.NewServer(db.Opt, asynq.Config{Concurrency: 1, Queues: map[string]int{tasks.QueueCritical: 1},
		LogLevel: asynq.FatalLevel, TaskCheckInterval: 50 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.ActionSuspend.TypeName(), func(_ context.Context, task *asynq.Task) error {
		b, _ := json.Marshal(tasks.Result{Outcome: tasks.OutcomeSucceeded, Attempts: 1})
		_, err := task.ResultWriter().Write(b)
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	queued, err := c.Enqueue(t.Context(), suspend("alice@example.com", "W-1"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Wait(t.Context(), queued.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateCompleted || info.Result == nil || info.Result.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("got %+v", info)
	}
}

// TestWaitGivesUp: with no worker, Wait ends with ctx, saying the state;
// a task that does not exist is ErrNotFound at once.
func TestWaitGivesUp(t *testing.T) {
	c, _ := newTestClient(t)
	info, err := c.Enqueue(t.Context(), suspend("alice@example.com", "W-2"))
	if err != nil {
		t.Fatal(err)
	}
	// No worker runs: whenever the deadline comes, the task is pending.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Wait(ctx, info.ID)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), info.ID) || !strings.Contains(err.Error(), "gave up waiting") {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Wait(t.Context(), "no-such-task"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown task: %v", err)
	}
}
