package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

var pbStatuses = []string{"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"}

// pbUser is a user in status with a group, a directory group, an app, a
// factor and a session.
func pbUser(login, status string) oktasim.SeedUser {
	return oktasim.SeedUser{Login: login, Status: status, Factors: []string{"sms"}, Password: true, Sessions: 1,
		Groups: []string{"Engineering", "Engineering-App"}, Apps: []string{"Slack"}}
}

func pbHarness(t *testing.T, users []oktasim.SeedUser, opts ...option) (*harness, *enqueue.Client) {
	t.Helper()
	opts = append([]option{withUsers(users...)}, opts...)
	h := newHarness(t, append(opts, withWorker(func(o *worker.Options) {
		o.PlaybookPoll = 50 * time.Millisecond
		if prev := h0(o); prev != nil {
			prev(o)
		}
	}))...)
	c := enqueue.NewFromRedisClient(h.redis.Client, enqueue.Options{Producer: "helpdesk-a", Producers: testProducers,
		Keyring: h.keyring, Connections: map[string]*tasks.Policy{"default": &h.conn.Policy}})
	return h, c
}

// h0 lets a test add worker options after pbHarness's own.
var (
	hookMu sync.Mutex
	extra  func(*worker.Options)
)

func h0(*worker.Options) func(*worker.Options) { hookMu.Lock(); defer hookMu.Unlock(); return extra }

func agent() tasks.Requester { return tasks.Requester{ID: "agent-42", Role: "it-admin"} }

// waitRun waits for the run to end and returns it.
func waitRun(t *testing.T, c *enqueue.Client, id string) *tasks.Run {
	t.Helper()
	var run *tasks.Run
	until(t, "run "+id+" ended", func() bool {
		r, err := c.Run(context.Background(), "helpdesk-a", id)
		if err != nil {
			t.Fatal(err)
		}
		run = r
		return r.State.Final()
	})
	return run
}

func stepsOf(run *tasks.Run) string {
	var out []string
	for _, s := range run.Steps {
		v := s.State
		if s.State == tasks.StepDone {
			v = string(s.Outcome)
		}
		out = append(out, v)
	}
	return strings.Join(out, ",")
}

// Each built-in playbook on a user in every status: what is done, what is
// skipped and why.
func TestBuiltinPlaybooksEveryStatus(t *testing.T) {
	var users []oktasim.SeedUser
	for _, st := range pbStatuses {
		users = append(users, pbUser("off-"+strings.ToLower(st)+"@example.com", st), pbUser("con-"+strings.ToLower(st)+"@example.com", st))
	}
	h, c := pbHarness(t, users)
	S, D, N := "skipped", "succeeded", "no_op"
	// suspend, clear sessions, reset MFA, every group, every app
	want := map[string][]string{
		"STAGED":           {S, S, S, D, D},
		"PROVISIONED":      {S, D, D, D, D},
		"ACTIVE":           {D, D, D, D, D},
		"RECOVERY":         {S, D, D, D, D},
		"PASSWORD_EXPIRED": {S, D, D, D, D},
		"LOCKED_OUT":       {S, D, D, D, D},
		"SUSPENDED":        {N, D, D, D, D},
		"DEPROVISIONED":    {S, S, S, D, D},
	}
	ids := map[string]string{}
	for _, st := range pbStatuses {
		for _, pb := range []string{"offboard", "contain"} {
			run, _, err := c.StartPlaybook(context.Background(), pb, enqueue.RunRequest{
				User: pb[:3] + "-" + strings.ToLower(st) + "@example.com", Requester: agent()})
			if err != nil {
				t.Fatal(err)
			}
			ids[pb+st] = run.ID
		}
	}
	for _, st := range pbStatuses {
		for _, pb := range []string{"offboard", "contain"} {
			run := waitRun(t, c, ids[pb+st])
			w := strings.Join(want[st][:len(run.Steps)], ",")
			if got := stepsOf(run); got != w || run.State != tasks.RunSucceeded {
				t.Errorf("%s on %s: steps %s, state %s; want %s, succeeded (failed: %v)", pb, st, got, run.State, w, run.Failed)
			}
			for i, s := range run.Steps {
				if s.State == tasks.StepSkipped && s.Reason == "" {
					t.Errorf("%s on %s: step %d skipped without a reason", pb, st, i+1)
				}
			}
			if pb != "offboard" {
				continue
			}
			groups := run.Steps[3]
			if len(groups.Targets) != 1 || len(groups.Skipped) != 2 {
				t.Errorf("offboard on %s: groups resolved to %v, skipped %+v; want Engineering, skipping Everyone and the APP_GROUP", st, groups.Targets, groups.Skipped)
			}
			u, _ := h.sim.User("off-" + strings.ToLower(st) + "@example.com")
			if slices.Contains(u.Groups, h.sim.GroupID("Engineering")) || len(u.Apps) != 0 || !slices.Contains(u.Groups, h.sim.GroupID("Engineering-App")) {
				t.Errorf("offboard on %s: user left with groups %v apps %v", st, u.Groups, u.Apps)
			}
			if (st == "ACTIVE" || st == "SUSPENDED") != (u.Status == "SUSPENDED") {
				t.Errorf("offboard on %s: user is %s", st, u.Status)
			}
		}
	}
}

// writes lists the simulator's logged calls that change something.
func writes(sim *oktasim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		if r.Method != "GET" && strings.HasPrefix(r.Path, "/api/") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// A coordinator that crashes right after enqueuing a step, and right
// after a step ended but before recording it, resumes: every step is done
// once, no Okta write is repeated.
func TestPlaybookResumesAfterCrash(t *testing.T) {
	var once sync.Map
	hookMu.Lock()
	extra = func(o *worker.Options) {
		o.PlaybookHook = func(event string, step int) {
			key := fmt.Sprint(event, step)
			if (key == "step-enqueued1" || key == "step-ended3") && !loaded(&once, key) {
				panic("simulated crash at " + key)
			}
		}
	}
	hookMu.Unlock()
	t.Cleanup(func() { hookMu.Lock(); extra = nil; hookMu.Unlock() })
	h, c := pbHarness(t, []oktasim.SeedUser{pbUser("crash@example.com", "ACTIVE")})
	run, _, err := c.StartPlaybook(context.Background(), "offboard", enqueue.RunRequest{User: "crash@example.com", Requester: agent(), IdempotencyKey: "REQ-9"})
	if err != nil {
		t.Fatal(err)
	}
	run = waitRun(t, c, run.ID)
	if run.State != tasks.RunSucceeded || stepsOf(run) != "succeeded,succeeded,succeeded,succeeded,succeeded" {
		t.Fatalf("run %s: %s %v", run.State, stepsOf(run), run.Failed)
	}
	for _, k := range []string{"step-enqueued1", "step-ended3"} {
		if _, ok := once.Load(k); !ok {
			t.Fatalf("crash %s never happened: the test did not test", k)
		}
	}
	u, _ := h.sim.User("crash@example.com")
	got := writes(h.sim)
	want := []string{
		"POST /api/v1/users/" + u.ID + "/lifecycle/suspend",
		"DELETE /api/v1/users/" + u.ID + "/sessions",
		"POST /api/v1/users/" + u.ID + "/lifecycle/reset_factors",
		"DELETE /api/v1/groups/" + h.sim.GroupID("Engineering") + "/users/" + u.ID,
		"DELETE /api/v1/apps/" + h.sim.AppID("Slack") + "/users/" + u.ID,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Okta writes:\n%s\nwant each once, in order:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The same key again is the same run, not a second one.
	again, existing, err := c.StartPlaybook(context.Background(), "offboard", enqueue.RunRequest{User: "crash@example.com", Requester: agent(), IdempotencyKey: "REQ-9"})
	if err != nil || !existing || again.ID != run.ID {
		t.Fatalf("repeat: %v %v %v", again, existing, err)
	}
}

func loaded(m *sync.Map, k string) bool { _, ok := m.LoadOrStore(k, true); return ok }

// Undo restores the status, the groups and the apps; it says what it
// cannot restore.
func TestPlaybookUndo(t *testing.T) {
	h, c := pbHarness(t, []oktasim.SeedUser{pbUser("undo@example.com", "ACTIVE")})
	ctx := context.Background()
	run, _, err := c.StartPlaybook(ctx, "offboard", enqueue.RunRequest{User: "undo@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	run = waitRun(t, c, run.ID)
	before, _ := h.sim.User("undo@example.com")
	if before.Status != "SUSPENDED" || len(before.Apps) != 0 || before.Factors != 0 {
		t.Fatalf("offboard left %+v", before)
	}
	undo, _, err := c.Undo(ctx, "helpdesk-a", run.ID, agent(), tasks.Ticket{})
	if err != nil {
		t.Fatal(err)
	}
	undo = waitRun(t, c, undo.ID)
	if undo.State != tasks.RunSucceeded || undo.UndoOf != run.ID || len(undo.NotRestored) == 0 {
		t.Fatalf("undo %s %v, not restored %v", undo.State, undo.Failed, undo.NotRestored)
	}
	u, _ := h.sim.User("undo@example.com")
	if u.Status != "ACTIVE" || !slices.Contains(u.Groups, h.sim.GroupID("Engineering")) || !slices.Equal(u.Apps, []string{h.sim.AppID("Slack")}) {
		t.Fatalf("after undo: %+v", u)
	}
	if u.Factors != 0 {
		t.Errorf("factors came back: %d", u.Factors)
	}
}

// A run whose middle step fails ends partial, naming the step; a later
// step with on_failure stop ends the run there.
func TestPlaybookPartial(t *testing.T) {
	pbs, err := tasks.ParsePlaybooks("test.yaml", []byte(`
playbooks:
  - name: leaver
    steps:
      - action: user.suspend
      - action: user.groups.update
        groups: {remove: ["No Such Group", "Engineering"]}
        on_failure: continue
      - action: user.apps.update
        apps: {unassign: [Zoom]}
      - action: user.clear_sessions
`))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := pbHarness(t, []oktasim.SeedUser{pbUser("part@example.com", "ACTIVE")})
	c := enqueue.NewFromRedisClient(h.redis.Client, enqueue.Options{Producer: "helpdesk-a", Producers: testProducers,
		Keyring: h.keyring, Connections: map[string]*tasks.Policy{"default": &h.conn.Policy}, Playbooks: pbs})
	run, _, err := c.StartPlaybook(context.Background(), "leaver", enqueue.RunRequest{User: "part@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	run = waitRun(t, c, run.ID)
	if run.State != tasks.RunPartial || stepsOf(run) != "succeeded,partial,failed,not_run" || len(run.Failed) != 2 ||
		!strings.Contains(run.Failed[0], "step 2") || !strings.Contains(run.Failed[1], "step 3") {
		t.Fatalf("run %s: %s, failed %v", run.State, stepsOf(run), run.Failed)
	}
}

// A dry run changes nothing and predicts the calls the real run then makes,
// in order (the simulator's request log).
func TestPlaybookDryRunMatchesRun(t *testing.T) {
	h, c := pbHarness(t, []oktasim.SeedUser{pbUser("dry@example.com", "ACTIVE")})
	ctx := context.Background()
	h.sim.ResetRequests()
	plan, err := c.DryRun(ctx, h.exec, "helpdesk-a", "offboard", enqueue.RunRequest{User: "dry@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(h.sim); len(w) != 0 {
		t.Fatalf("the dry run wrote: %v", w)
	}
	u, _ := h.sim.User("dry@example.com")
	if u.Status != "ACTIVE" || len(u.Apps) != 1 {
		t.Fatalf("the dry run changed the user: %+v", u)
	}
	var predicted []string
	for _, call := range plan.Snapshot.Calls {
		predicted = append(predicted, call.Method+" "+call.Path)
	}
	for _, s := range plan.Steps {
		if s.Would != "succeeded" {
			t.Errorf("step %s would %s (%+v)", s.Action, s.Would, s.Refused)
		}
		if len(s.Budget) == 0 {
			t.Errorf("step %s has no budget", s.Action)
		}
		for _, call := range s.Calls {
			predicted = append(predicted, call.Method+" "+call.Path)
		}
	}
	h.sim.ResetRequests()
	run, _, err := c.StartPlaybook(ctx, "offboard", enqueue.RunRequest{User: "dry@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	if run = waitRun(t, c, run.ID); run.State != tasks.RunSucceeded {
		t.Fatalf("run %s %v", run.State, run.Failed)
	}
	var real []string
	for _, r := range h.sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			real = append(real, r.Method+" "+r.Path)
		}
	}
	if !slices.Equal(predicted, real) {
		t.Fatalf("predicted %d calls:\n%s\nthe run made %d:\n%s", len(predicted), strings.Join(predicted, "\n"), len(real), strings.Join(real, "\n"))
	}
	// What would be refused: a role that may not reset MFA.
	h.conn.Policy.Roles[tasks.ActionResetMFA] = []string{"someone-else"}
	plan, err = c.DryRun(ctx, h.exec, "helpdesk-a", "offboard", enqueue.RunRequest{User: "dry@example.com", Requester: agent()})
	if err != nil {
		t.Fatal(err)
	}
	if s := plan.Steps[2]; s.Would != "refused" || s.Refused == nil || s.Refused.Code != tasks.CodeRoleNotAllowed {
		t.Fatalf("reset MFA by a role not allowed: %+v", s)
	}
	if _, _, err := c.StartPlaybook(ctx, "offboard", enqueue.RunRequest{User: "dry@example.com", Requester: agent()}); err == nil {
		t.Fatal("a run with a step the role may not trigger started")
	}
}
