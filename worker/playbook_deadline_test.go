package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// A run is bounded as a whole: its deadline is set when it is asked for,
// each step's action inherits it (never a fresh one of its own), and once
// it has passed no further step is sent; the run ends partial, naming the
// steps not run. The worker's clock jumps past the deadline as soon as
// the first step has ended.
func TestPlaybookRunDeadline(t *testing.T) {
	var skew atomic.Int64
	hookMu.Lock()
	extra = func(o *worker.Options) {
		o.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		o.PlaybookHook = func(event string, step int) {
			if event == "step-ended" && step == 0 {
				skew.Store(int64(3 * time.Hour))
			}
		}
	}
	hookMu.Unlock()
	t.Cleanup(func() { hookMu.Lock(); extra = nil; hookMu.Unlock() })
	h, c := pbHarness(t, []oktasim.SeedUser{pbUser("late@example.com", "ACTIVE")})
	ctx := context.Background()
	run, _, err := c.StartPlaybook(ctx, "offboard", enqueue.RunRequest{User: "late@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	if run.Deadline.IsZero() || run.Deadline.Sub(run.CreatedAt) != tasks.DefaultTaskDeadline {
		t.Fatalf("run deadline %v, created %v: want created + %v", run.Deadline, run.CreatedAt, tasks.DefaultTaskDeadline)
	}
	run = waitRun(t, c, run.ID)
	// The first step's action carried the run's deadline.
	insp := asynq.NewInspector(h.redis.Opt)
	defer insp.Close()
	ti, err := insp.GetTaskInfo(tasks.QueueCritical, run.Steps[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var step tasks.Request
	if err := json.Unmarshal(ti.Payload, &step); err != nil || !step.Deadline.Equal(run.Deadline) {
		t.Errorf("step 1 deadline %v (%v), want the run's %v", step.Deadline, err, run.Deadline)
	}
	if run.State != tasks.RunPartial || stepsOf(run) != "succeeded,not_run,not_run,not_run,not_run" {
		t.Fatalf("run %s: %s, failed %v", run.State, stepsOf(run), run.Failed)
	}
	if len(run.Failed) != 4 || !strings.Contains(run.Failed[0], "step 2 user.clear_sessions") || !strings.Contains(run.Failed[0], "deadline") {
		t.Errorf("failed: %v", run.Failed)
	}
	if got := writes(h.sim); len(got) != 1 {
		t.Errorf("Okta writes after the deadline: %v", got)
	}
}
