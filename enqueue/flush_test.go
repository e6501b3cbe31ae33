package enqueue

import (
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

// Issue 14 item 7: after a FLUSHALL (or a Redis that lost its data) the
// API answered 404 for tasks enqueued since, until restart: asynq's
// client remembers it once added each queue to the set of queues and
// never adds it again, and its inspector refuses a queue not in the set.
func TestStatusAfterFlush(t *testing.T) {
	c, db := newTestClient(t)
	if _, err := c.Enqueue(t.Context(), suspend("alice@example.com", "before-flush")); err != nil {
		t.Fatal(err)
	}
	if err := db.Client.FlushDB(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"after-flush", ""} {
		info, err := c.Enqueue(t.Context(), suspend("bob@example.com", key))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Status(t.Context(), info.ID)
		if err != nil || got.ID != info.ID {
			t.Errorf("task %q enqueued after the flush: %v %+v", info.ID, err, got)
		}
	}
}

// Issue 14 item 5: after a rollback a result written by a worker left a
// task hash with a result and no message (no expiry, no owner); its
// idempotency key answered 503 "retry later" for ever. The remnant is
// dropped and the key enqueues anew.
func TestResultOnlyRemnantDoesNotBlockItsKey(t *testing.T) {
	c, db := newTestClient(t)
	id := TaskID("helpdesk-a", "REQ-9-suspend")
	key := "asynq:{" + tasks.QueueCritical + "}:t:" + id
	if err := db.Client.HSet(t.Context(), key, "result", `{"outcome":"succeeded"}`).Err(); err != nil {
		t.Fatal(err)
	}
	info, err := c.Enqueue(t.Context(), suspend("carol@example.com", "REQ-9-suspend"))
	if err != nil {
		t.Fatalf("enqueue on a key whose task hash is a remnant: %v", err)
	}
	if info.ID != id || info.Existing {
		t.Errorf("got %+v, want a new task with the key", info)
	}
	if got, err := c.Status(t.Context(), info.ID); err != nil || got.State != StatePending {
		t.Errorf("status: %v %+v", err, got)
	}
}
