package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

func suspend(user, key string) *tasks.Suspend {
	return &tasks.Suspend{Request: tasks.Request{User: user, IdempotencyKey: key,
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
}

func TestEnqueueSignsAndSchedules(t *testing.T) {
	c, db := newTestClient(t)
	now := time.Now()
	info, err := c.Enqueue(t.Context(), suspend("alice@example.com", "K1"), RunAt(now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != TaskID("helpdesk-a", "K1") || info.State != StateScheduled || info.Queue != tasks.QueueCritical || info.MaxAttempts != 5 {
		t.Errorf("info %+v", info)
	}
	ti, err := asynq.NewInspectorFromRedisClient(db.Client).GetTaskInfo(tasks.QueueCritical, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := testKeyring(t).Verify(tasks.Envelope{TaskID: ti.ID, Queue: ti.Queue, Type: ti.Type, Payload: ti.Payload}, ti.Headers); err != nil {
		t.Errorf("task does not verify: %v", err)
	}
	if ti.MaxRetry != 4 || ti.Retention != 7*24*time.Hour {
		t.Errorf("max retry %d retention %v", ti.MaxRetry, ti.Retention)
	}
	args, err := tasks.DecodeTask(ti.Type, ti.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if want, got := now.Add(time.Hour+2*time.Hour), args.Base().Deadline; got.Sub(want).Abs() > 2*time.Second {
		t.Errorf("deadline %v, want about %v (due + 2h), in the signed payload", got, want)
	}
	if ti.Timeout != AttemptTimeout || !ti.Deadline.IsZero() {
		t.Errorf("asynq timeout %v deadline %v: want a per-attempt timeout and no asynq deadline", ti.Timeout, ti.Deadline)
	}
	if _, err := c.Enqueue(t.Context(), suspend("bob@example.com", ""), After(time.Minute), Deadline(now)); err == nil {
		t.Error("a deadline before the action is due was accepted")
	}
}

func TestEnqueueErrors(t *testing.T) {
	c, _ := newTestClient(t)
	var ve *tasks.ValidationError
	if _, err := c.Enqueue(t.Context(), suspend("", "")); !errors.As(err, &ve) {
		t.Errorf("empty user: %v", err)
	}
	a := suspend("alice@example.com", "")
	a.Connection = "eu"
	if _, err := c.Enqueue(t.Context(), a); !errors.As(err, &ve) || ve.Fields[0].Field != "connection" {
		t.Errorf("unknown connection: %v", err)
	}
	a = suspend("alice@example.com", "")
	a.Requester.Role = "helpdesk"
	var na *tasks.NotAllowedError
	if _, err := c.Enqueue(t.Context(), a); !errors.As(err, &na) || na.Role != "helpdesk" {
		t.Errorf("role: %v", err)
	}
	a = suspend("alice@example.com", "")
	a.Requester.Role = "intern"
	var pn *tasks.ProducerNotAllowedError
	if _, err := c.Enqueue(t.Context(), a); !errors.As(err, &pn) || pn.Role != "intern" || pn.Producer != "helpdesk-a" {
		t.Errorf("a role the producer may not assert: %v", err)
	}
	a = suspend("alice@example.com", "")
	a.Producer = "helpdesk-b"
	if _, err := c.Enqueue(t.Context(), a); !errors.As(err, &ve) || ve.Fields[0].Field != "producer" {
		t.Errorf("a request naming another producer than the client's: %v", err)
	}
	if _, err := c.Enqueue(t.Context(), suspend("alice@example.com", "K2")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(t.Context(), suspend("bob@example.com", "K2")); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("same key, other user: %v", err)
	}
	if _, err := c.Status(t.Context(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status of unknown: %v", err)
	}
}

func TestEnqueueSameKeyConcurrently(t *testing.T) {
	c, db := newTestClient(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh, existing := 0, 0
	for range 50 {
		wg.Go(func() {
			info, err := c.Enqueue(context.Background(), suspend("alice@example.com", "RACE"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case info.Existing:
				existing++
			default:
				fresh++
			}
		})
	}
	wg.Wait()
	if fresh != 1 || existing != 49 || countTasks(t, db) != 1 {
		t.Errorf("fresh %d existing %d tasks %d; want 1, 49, 1", fresh, existing, countTasks(t, db))
	}
}

// TestStatusOfFinishedTask runs a real asynq server that writes a result,
// as the worker does, and reads it back.
func TestStatusOfFinishedTask(t *testing.T) {
	c, db := newTestClient(t)
	srv := asynq.NewServerFromRedisClient(db.Client, asynq.Config{Concurrency: 1,
		Queues: map[string]int{tasks.QueueCritical: 1}, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.ActionSuspend.TypeName(), func(_ context.Context, task *asynq.Task) error {
		b, _ := json.Marshal(tasks.Result{Outcome: tasks.OutcomeSucceeded, Action: tasks.ActionSuspend,
			Connection: "default", Okta: tasks.OktaTrace{StatusBefore: "ACTIVE", StatusAfter: "SUSPENDED"}, Attempts: 1})
		_, err := task.ResultWriter().Write(b)
		return err
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	first, err := c.Enqueue(t.Context(), suspend("alice@example.com", "DONE"))
	if err != nil {
		t.Fatal(err)
	}
	var info *Info
	waitFor(t, func() bool {
		var err error
		info, err = c.Status(t.Context(), first.ID)
		return err == nil && info.Final()
	})
	if info.State != StateCompleted || info.Result == nil || info.Result.Outcome != tasks.OutcomeSucceeded ||
		info.Result.Okta.StatusAfter != "SUSPENDED" || info.Attempts != 1 {
		t.Errorf("info %+v result %+v", info, info.Result)
	}
	// A completed task still holds its key: a repeat is not a second action.
	again, err := c.Enqueue(t.Context(), suspend("alice@example.com", "DONE"))
	if err != nil || !again.Existing || again.State != StateCompleted {
		t.Errorf("repeat after completion: %+v, %v", again, err)
	}
}

func TestParseProducers(t *testing.T) {
	h := HashToken("secret-token")
	ps, err := ParseProducers("helpdesk=" + h + ", jira=" + HashToken("other"))
	if err != nil || len(ps) != 2 {
		t.Fatalf("%v %v", ps, err)
	}
	if id, ok := matchProducer(ps, "secret-token"); !ok || id != "helpdesk" {
		t.Errorf("match = %q %v", id, ok)
	}
	if _, ok := matchProducer(ps, "nope"); ok {
		t.Error("a wrong token matched")
	}
	for _, bad := range []string{"", "helpdesk", "helpdesk=secret-token-in-clear", "=" + h, "a=" + h + ",a=" + h, "x=" + h[:63]} {
		_, err := ParseProducers(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if len(bad) > 10 && (strings.Contains(err.Error(), "secret-token") || strings.Contains(err.Error(), h[:20])) {
			t.Errorf("error echoes the value: %v", err)
		}
	}
}
