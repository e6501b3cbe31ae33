package enqueue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// holdFirstScript is a go-redis hook that holds the first lone EVALSHA
// until released, so that the scripts that come meanwhile queue; and
// counts round trips. With noScript set, a pipeline is answered NOSCRIPT
// for each of its scripts without reaching Redis, as a Redis that lost
// its scripts (restart, SCRIPT FLUSH) answers.
type holdFirstScript struct {
	held     chan struct{}
	release  chan struct{}
	once     sync.Once
	noScript bool
	mu       sync.Mutex
	lone     int
	batches  []int
}

func newHoldFirstScript() *holdFirstScript {
	return &holdFirstScript{held: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdFirstScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdFirstScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" || cmd.Name() == "eval" {
			h.mu.Lock()
			h.lone++
			h.mu.Unlock()
			h.once.Do(func() {
				close(h.held)
				<-h.release
			})
		}
		return next(ctx, cmd)
	}
}

func (h *holdFirstScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() != "evalsha" { // a new connection's own setup, say
			return next(ctx, cmds)
		}
		h.mu.Lock()
		h.batches = append(h.batches, len(cmds))
		h.mu.Unlock()
		if h.noScript {
			for _, cmd := range cmds {
				cmd.SetErr(redis.ErrNoScript)
			}
			return nil
		}
		return next(ctx, cmds)
	}
}

// queued waits (without a clock) until n scripts wait in the batcher.
func queued(c *Client, n int) {
	b := c.claims.batch
	for {
		b.mu.Lock()
		k := len(b.queue)
		b.mu.Unlock()
		if k == n {
			return
		}
		runtime.Gosched()
	}
}

// warmScripts has Redis hold the enqueue scripts, keyed and not, so that
// no EVALSHA after it is refused NOSCRIPT.
func warmScripts(t *testing.T, c *Client) {
	for _, key := range []string{"WARM", ""} {
		if _, err := c.Enqueue(t.Context(), suspend("warm@example.com", key)); err != nil {
			t.Fatal(err)
		}
	}
}

// Scripts that come while one is in flight go to Redis together, as one
// pipeline, and each is enqueued as it would be alone: keyed or not, each
// answer its own. With Redis answering NOSCRIPT for the pipeline, each
// script runs again by its source, and is enqueued once.
func TestScriptsInFlightGoTogether(t *testing.T) {
	for _, noScript := range []bool{false, true} {
		t.Run(fmt.Sprint("noscript=", noScript), func(t *testing.T) {
			c, db := newTestClient(t)
			warmScripts(t, c)
			h := newHoldFirstScript()
			h.noScript = noScript
			c.rc.AddHook(h)
			ctx := t.Context()
			const n = 12
			defer func() { h.noScript = false }() // for the checks after
			infos := make([]*Info, n+1)
			errs := make([]error, n+1)
			var wg sync.WaitGroup
			enqueue := func(i int) {
				defer wg.Done()
				a := suspend("alice@example.com", fmt.Sprint("BATCH-", i))
				if i%3 == 0 {
					a.IdempotencyKey = "" // asynq's own script, not the folded one
				}
				infos[i], errs[i] = c.Enqueue(ctx, a)
			}
			wg.Add(1)
			go enqueue(0)
			<-h.held
			for i := 1; i <= n; i++ {
				wg.Add(1)
				go enqueue(i)
			}
			queued(c, n)
			close(h.release)
			wg.Wait()
			h.mu.Lock()
			lone, batches := h.lone, h.batches
			h.mu.Unlock()
			for i := range infos {
				if errs[i] != nil || infos[i].Existing {
					t.Fatalf("enqueue %d: %+v, %v", i, infos[i], errs[i])
				}
				if i%3 != 0 && infos[i].ID != TaskID("helpdesk-a", fmt.Sprint("BATCH-", i)) {
					t.Errorf("enqueue %d: id %s", i, infos[i].ID)
				}
				if _, err := c.inspector.GetTaskInfo(tasks.QueueCritical, infos[i].ID); err != nil {
					t.Errorf("task %d (%s): %v", i, infos[i].ID, err)
				}
			}
			if got := countTasks(t, db); got != n+1+2 {
				t.Errorf("%d tasks, want %d", got, n+1+2)
			}
			// The held one alone, then the rest as one pipeline; after NOSCRIPT,
			// each of them again alone (EVAL).
			wantLone := 1
			if noScript {
				wantLone += n
			}
			if len(batches) != 1 || batches[0] != n || lone != wantLone {
				t.Errorf("pipelines %v and %d lone scripts; want [%d] and %d", batches, lone, n, wantLone)
			}
		})
	}
}

// A script whose request ends while it waits for its turn is withdrawn:
// nothing is enqueued, and the scripts after it go on.
func TestQueuedScriptWithdrawn(t *testing.T) {
	c, db := newTestClient(t)
	warmScripts(t, c)
	h := newHoldFirstScript()
	c.rc.AddHook(h)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if _, err := c.Enqueue(t.Context(), suspend("alice@example.com", "FIRST")); err != nil {
			t.Error(err)
		}
	}()
	<-h.held
	ctx, cancel := context.WithCancel(t.Context())
	var gone error
	go func() {
		defer wg.Done()
		_, gone = c.Enqueue(ctx, suspend("alice@example.com", "GONE"))
	}()
	queued(c, 1)
	go func() {
		defer wg.Done()
		if _, err := c.Enqueue(t.Context(), suspend("alice@example.com", "AFTER")); err != nil {
			t.Error(err)
		}
	}()
	queued(c, 2)
	cancel()
	queued(c, 1) // GONE left the queue; AFTER waits
	close(h.release)
	wg.Wait()
	if !errors.Is(gone, ErrUnavailable) || !errors.Is(gone, context.Canceled) {
		t.Errorf("the withdrawn request: %v", gone)
	}
	if got := countTasks(t, db); got != 2+2 {
		t.Errorf("%d tasks, want 4 (2 warm, FIRST and AFTER)", got)
	}
	if _, err := c.Status(t.Context(), TaskID("helpdesk-a", "GONE")); !errors.Is(err, ErrNotFound) {
		t.Errorf("the withdrawn request's task: %v", err)
	}
	if _, err := c.Enqueue(t.Context(), suspend("alice@example.com", "GONE")); err != nil {
		t.Errorf("its retry: %v", err)
	}
}
