package worker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// killGate stands between the workers and the simulator. The first
// request hold matches is held until its caller goes away (the test kills
// it), so the kill lands at a point the test chose by counting Okta
// writes, however fast or slow the machine is. With apply, Okta carries
// the request out and its answer is lost; without, it never reaches Okta.
type killGate struct {
	next  http.Handler
	apply bool
	mu    sync.Mutex
	hold  func(*http.Request) bool // nil once a request is held
	held  chan struct{}            // closed when it is
}

func (g *killGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	hold := g.hold != nil && g.hold(r)
	if hold {
		g.hold = nil
	}
	g.mu.Unlock()
	if !hold {
		g.next.ServeHTTP(w, r)
		return
	}
	if g.apply {
		g.next.ServeHTTP(httptest.NewRecorder(), r)
	}
	// Read the body so the server notices the caller's connection close.
	_, _ = io.Copy(io.Discard, r.Body)
	close(g.held)
	<-r.Context().Done()
}

// TestPlaybookKillWorkerMidRun runs offboard on a worker process, kills
// it (SIGKILL) in the middle of the run and lets a fresh worker on the
// same Redis and simulator finish it: the run succeeds with every step
// done, and each Okta write happened exactly once, in order. The kill
// leaves a step's task in flight, or the run's coordinator: both recover.
func TestPlaybookKillWorkerMidRun(t *testing.T) {
	const login = "leaver@example.com"
	for _, tc := range []struct {
		name string
		// hold picks the request the first worker is inside when it dies;
		// apply, whether Okta carried it out.
		hold  func(h *harness, uid string, r *http.Request) bool
		apply bool
		// writesBefore is how many Okta writes the run made before it.
		writesBefore int
		// inFlight is the task (queue and id) that holds a lease then.
		inFlight func(run *tasks.Run) string
	}{
		{
			name: "step in flight",
			// Step 3 (reset MFA) sending its write, after suspend and
			// clear sessions.
			hold: func(_ *harness, uid string, r *http.Request) bool {
				return r.Method == http.MethodPost && r.URL.Path == "/api/v1/users/"+uid+"/lifecycle/reset_factors"
			},
			writesBefore: 2,
			inFlight:     func(run *tasks.Run) string { return run.Steps[2].ID },
		},
		{
			name: "coordinator in flight",
			// The coordinator resolving step 4's "every group", after the
			// first three steps' writes and before any group is removed.
			hold: func(h *harness, uid string, r *http.Request) bool {
				return r.Method == http.MethodGet && r.URL.Path == "/api/v1/users/"+uid+"/groups" && len(writes(h.sim)) == 3
			},
			writesBefore: 3,
			inFlight:     func(run *tasks.Run) string { return run.ID },
		},
		{
			name: "step's write applied, its answer lost",
			// Step 4 removing the first group: Okta removes it, the
			// worker dies before it hears so. The next worker must not
			// send it again.
			hold: func(h *harness, uid string, r *http.Request) bool {
				return r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/api/v1/groups/")
			},
			apply:        true,
			writesBefore: 4,
			inFlight:     func(run *tasks.Run) string { return run.Steps[3].ID },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := oktasim.SeedUser{Login: login, Status: "ACTIVE", Factors: []string{"sms", "push"}, Password: true, Sessions: 2,
				Groups: []string{"Engineering", "Engineering-Admins", "Sales", "Engineering-App"}, Apps: []string{"Slack", "Zoom"}}
			h, c := pbHarness(t, []oktasim.SeedUser{user}, func(h *harness) {
				h.simSeed.Groups = append(h.simSeed.Groups, oktasim.SeedGroup{Name: "Sales"})
				h.simSeed.Apps = append(h.simSeed.Apps, oktasim.SeedApp{Label: "Zoom"})
			})
			h.stopWorker() // the first worker is a process of its own
			u, _ := h.sim.User(login)
			gate := &killGate{next: h.sim.Handler(), apply: tc.apply, held: make(chan struct{}),
				hold: func(r *http.Request) bool { return tc.hold(h, u.ID, r) }}
			srv := httptest.NewServer(gate)
			t.Cleanup(srv.Close)
			h.sim.SetBaseURL(srv.URL)
			h.srv, h.conn.BaseURL = srv, srv.URL

			run, _, err := c.StartPlaybook(context.Background(), "offboard", enqueue.RunRequest{User: login, Requester: agent(), IdempotencyKey: "REQ-KILL"})
			if err != nil {
				t.Fatal(err)
			}
			first := h.child()
			select {
			case <-gate.held:
			case <-time.After(hangGuard):
				t.Fatalf("still waiting after %s for the run to reach the kill point; writes so far: %v", hangGuard, writes(h.sim))
			}
			running, err := c.Run(context.Background(), "helpdesk-a", run.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.inFlight(running)
			leased := inFlight(t, h)
			if err := first.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = first.Wait()
			if n := len(writes(h.sim)); n != tc.writesBefore {
				t.Fatalf("%d Okta writes before the kill, want %d: %v", n, tc.writesBefore, writes(h.sim))
			}
			if !slices.Contains(leased, want) {
				t.Fatalf("task %s was not in flight at the kill (leased: %v): the test did not test its recovery", want, leased)
			}
			if running.State.Final() {
				t.Fatalf("run %s before the kill: the test did not test", running.State)
			}
			t.Logf("killed the worker with %d writes made, steps %s, tasks in flight %v", tc.writesBefore, stepsOf(running), leased)
			expireLeases(t, h)

			h.start() // a fresh worker in this process
			run = waitRun(t, c, run.ID)
			if run.State != tasks.RunSucceeded || stepsOf(run) != "succeeded,succeeded,succeeded,succeeded,succeeded" {
				t.Fatalf("run %s, steps %s, failed %v; want succeeded, every step succeeded", run.State, stepsOf(run), run.Failed)
			}
			groups := run.Steps[3].Targets
			if g := slices.Sorted(slices.Values(groups)); !slices.Equal(g, slices.Sorted(slices.Values([]string{
				h.sim.GroupID("Engineering"), h.sim.GroupID("Engineering-Admins"), h.sim.GroupID("Sales")}))) {
				t.Fatalf("step 4 removed groups %v, want Engineering, Engineering-Admins and Sales", groups)
			}
			wantWrites := []string{
				"POST /api/v1/users/" + u.ID + "/lifecycle/suspend",
				"DELETE /api/v1/users/" + u.ID + "/sessions",
				"POST /api/v1/users/" + u.ID + "/lifecycle/reset_factors",
			}
			for _, g := range groups {
				wantWrites = append(wantWrites, "DELETE /api/v1/groups/"+g+"/users/"+u.ID)
			}
			apps := run.Steps[4].Targets
			if len(apps) != 2 {
				t.Fatalf("step 5 unassigned apps %v, want Slack and Zoom", apps)
			}
			for _, a := range apps {
				wantWrites = append(wantWrites, "DELETE /api/v1/apps/"+a+"/users/"+u.ID)
			}
			if got := writes(h.sim); !slices.Equal(got, wantWrites) {
				t.Fatalf("Okta writes:\n%s\nwant each once, in order:\n%s", strings.Join(got, "\n"), strings.Join(wantWrites, "\n"))
			}
			su, _ := h.sim.User(login)
			if su.Status != "SUSPENDED" || len(su.Apps) != 0 || len(su.Groups) != 2 {
				t.Errorf("user after the run: %s, groups %v, apps %v; want SUSPENDED, in Everyone and the APP_GROUP only, no apps", su.Status, su.Groups, su.Apps)
			}
			if want == run.ID {
				return // the coordinator's last error is its later "not ended yet"
			}
			// The step cut off by the kill came back through asynq's
			// recoverer, not through a failure of its own.
			info := h.wait(want)
			if !strings.Contains(info.LastErr, asynq.ErrLeaseExpired.Error()) || info.Retried != 0 {
				t.Errorf("step task %s: last error %q, %d attempts spent; want the kill's lease expiry, none spent", want, info.LastErr, info.Retried)
			}
		})
	}
}

// inFlight lists the tasks holding a lease on any queue.
func inFlight(t *testing.T, h *harness) []string {
	t.Helper()
	var ids []string
	for _, q := range []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} {
		got, err := h.redis.Client.ZRange(context.Background(), "asynq:{"+q+"}:lease", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}
