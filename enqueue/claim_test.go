package enqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

// TestKeyedEnqueueIsOneRoundTrip: on one Redis node the claim and the
// task of a keyed action, due now or later, are written in one round
// trip (the claim rides in asynq's script), and a conflict across queues
// is one round trip too; a replay answers the same task.
func TestKeyedEnqueueIsOneRoundTrip(t *testing.T) {
	c, _ := newTestClient(t)
	trips := &tripCounter{}
	c.rc.AddHook(trips)
	keyTrips := &keyTripCounter{}
	c.rc.AddHook(keyTrips)
	ctx := t.Context()
	later := []EnqueueOption{After(time.Hour)}
	// Warm up: asynq adds a queue to asynq:queues on its first enqueue
	// there, and a script's first EVALSHA may be refused (NOSCRIPT).
	for i, opts := range [][]EnqueueOption{nil, later} {
		if _, err := c.Enqueue(ctx, suspend("warm@example.com", fmt.Sprint("WARM-", i)), opts...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Enqueue(ctx, &tasks.Unlock{Request: suspend("warm@example.com", "WARM-unlock").Request}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  []EnqueueOption
		trips int64 // all of them: a later action asks for its action.scheduled callback too
	}{{"now", nil, 1}, {"later", later, 4}} {
		trips.n.Store(0)
		keyTrips.n.Store(0)
		keyTrips.id = TaskID("helpdesk-a", "ONE-"+tc.name)
		info, err := c.Enqueue(ctx, suspend("alice@example.com", "ONE-"+tc.name), tc.opts...)
		if err != nil || info.Existing || info.ID != TaskID("helpdesk-a", "ONE-"+tc.name) {
			t.Fatalf("%s: %+v, %v", tc.name, info, err)
		}
		if n := keyTrips.n.Load(); n != 1 {
			t.Errorf("%s: %d round trips write the claim and the task, want 1", tc.name, n)
		}
		if n := trips.n.Load(); n != tc.trips {
			t.Errorf("%s: %d round trips in all, want %d", tc.name, n, tc.trips)
		}
	}
	again, err := c.Enqueue(ctx, suspend("alice@example.com", "ONE-now"))
	if err != nil || !again.Existing || again.ID != TaskID("helpdesk-a", "ONE-now") {
		t.Errorf("replay: %+v, %v; want the existing task", again, err)
	}
	trips.n.Store(0)
	_, err = c.Enqueue(ctx, &tasks.Unlock{Request: suspend("alice@example.com", "ONE-now").Request})
	if !errors.Is(err, ErrKeyConflict) || !strings.Contains(err.Error(), "suspend") {
		t.Errorf("same key, other queue: %v; want ErrKeyConflict naming suspend", err)
	}
	if n := trips.n.Load(); n != 1 {
		t.Errorf("%d round trips for a conflict across queues, want 1", n)
	}
}

// keyTripCounter counts round trips that touch the claim or the task of
// the action id.
type keyTripCounter struct {
	id string
	n  atomic.Int64
}

func (k *keyTripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (k *keyTripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		for _, a := range cmd.Args()[1:] {
			if s, ok := a.(string); ok && k.id != "" && strings.HasSuffix(s, k.id) {
				k.n.Add(1)
				break
			}
		}
		return next(ctx, cmd)
	}
}

func (k *keyTripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestKeyedEnqueueWhenRedisFailsMidway: a keyed request whose one round
// trip fails before Redis ran it leaves nothing behind; one whose answer
// is lost after Redis ran it has its task. Either way the producer's
// retry with the same key answers that one task, and no second one is
// made.
func TestKeyedEnqueueWhenRedisFailsMidway(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ran      bool
		retryIs  int
		tasksNow int
	}{{"before", false, http.StatusAccepted, 0}, {"after", true, http.StatusOK, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startAPI(t)
			fail := &failClaim{after: tc.ran}
			fail.left.Store(1)
			s.c.rc.AddHook(fail)
			body := suspendBody("alice@example.com", "MIDWAY")
			wantProblem(t, s.post(t, "/v1/actions", body), http.StatusServiceUnavailable, "unavailable")
			if n := countTasks(t, s.db); n != tc.tasksNow {
				t.Fatalf("%d tasks after the failure, want %d", n, tc.tasksNow)
			}
			claims, _ := s.db.Client.Keys(t.Context(), "oktaq:idem:*").Result()
			if len(claims) != tc.tasksNow {
				t.Errorf("claims %v after the failure, want %d", claims, tc.tasksNow)
			}
			a := s.post(t, "/v1/actions", body)
			if a.status != tc.retryIs || a.json(t)["id"] != TaskID("helpdesk-a", "MIDWAY") {
				t.Fatalf("retry: %d %s; want %d with the key's task", a.status, a.body, tc.retryIs)
			}
			if n := countTasks(t, s.db); n != 1 {
				t.Errorf("%d tasks after the retry, want 1", n)
			}
			body["user"] = "mallory@example.com"
			wantProblem(t, s.post(t, "/v1/actions", body), http.StatusConflict, "key_conflict")
		})
	}
}

// failClaim is a go-redis hook that fails the next left scripts carrying
// an idempotency claim, as a broken connection would: before the script
// reaches Redis, or after Redis ran it (the answer is lost).
type failClaim struct {
	after bool
	left  atomic.Int32
}

func (f *failClaim) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failClaim) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !carriesClaim(cmd) {
			return next(ctx, cmd)
		}
		if f.after {
			// An EVALSHA that Redis refused (NOSCRIPT, then EVAL) did not run.
			if err := next(ctx, cmd); err != nil || f.left.Add(-1) < 0 {
				return err
			}
		} else if f.left.Add(-1) < 0 {
			return next(ctx, cmd)
		}
		cmd.SetErr(io.ErrUnexpectedEOF)
		return io.ErrUnexpectedEOF
	}
}

func (f *failClaim) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func carriesClaim(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "evalsha", "eval":
	default:
		return false
	}
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "oktaq:idem:") {
			return true
		}
	}
	return false
}

// TestKeyedEnqueueOnCluster: on a Redis Cluster the claim and the task
// live in different hash slots, so the claim takes its own round trip;
// replays and conflicts answer as on one node.
func TestKeyedEnqueueOnCluster(t *testing.T) {
	cl := redistest.NewCluster(t)
	c := NewFromRedisClient(cl.Client, testOptions(t))
	ctx := t.Context()
	// A key of its own: a shared cluster (OKTAQ_TEST_REDIS_CLUSTER_URL) is never flushed.
	key := fmt.Sprintf("CLUSTER-%d", time.Now().UnixNano())
	first, err := c.Enqueue(ctx, suspend("alice@example.com", key))
	if err != nil || first.Existing {
		t.Fatalf("first: %+v, %v", first, err)
	}
	again, err := c.Enqueue(ctx, suspend("alice@example.com", key))
	if err != nil || !again.Existing || again.ID != first.ID {
		t.Errorf("replay: %+v, %v; want the task %s", again, err, first.ID)
	}
	if _, err := c.Enqueue(ctx, suspend("mallory@example.com", key)); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("other fields: %v, want ErrKeyConflict", err)
	}
	if _, err := c.Enqueue(ctx, &tasks.Unlock{Request: suspend("alice@example.com", key).Request}); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("other queue: %v, want ErrKeyConflict", err)
	}
	if _, err := c.Status(ctx, first.ID); err != nil {
		t.Errorf("Status: %v", err)
	}
	ttl, err := cl.Client.PTTL(ctx, claimKey(first.ID)).Result()
	if err != nil || ttl <= 0 {
		t.Errorf("claim TTL %v, %v; want one", ttl, err)
	}
	for _, q := range Queues() {
		if _, err := c.taskInfo(ctx, q, first.ID); err == nil && q != "critical" {
			t.Errorf("the key's task is in %s too", q)
		}
	}
}
