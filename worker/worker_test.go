package worker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

func result(t *testing.T, info *asynq.TaskInfo) tasks.Result {
	t.Helper()
	var r tasks.Result
	if err := json.Unmarshal(info.Result, &r); err != nil {
		t.Fatalf("task %s has no result (state %s, last error %q): %v", info.ID, info.State, info.LastErr, err)
	}
	return r
}

func seedUser(login, status string, extra ...func(*oktasim.SeedUser)) oktasim.SeedUser {
	u := oktasim.SeedUser{Login: login, Email: login, FirstName: "T", LastName: "User", Status: status, Sessions: 2}
	for _, f := range extra {
		f(&u)
	}
	return u
}

func withFactors(u *oktasim.SeedUser) { u.Factors = []string{"sms", "push"} }
func inGroup(g string) func(*oktasim.SeedUser) {
	return func(u *oktasim.SeedUser) { u.Groups = append(u.Groups, g) }
}

// TestEveryAction enqueues each action and checks the end state both in
// Okta (the simulator) and in the result.
func TestEveryAction(t *testing.T) {
	pub, _, _ := tasks.GenerateResultKey()
	h := newHarness(t, withUsers(
		seedUser("staged@example.com", "STAGED"),
		seedUser("provisioned@example.com", "PROVISIONED"),
		seedUser("active@example.com", "ACTIVE"),
		seedUser("suspendme+it@example.com", "ACTIVE"),
		seedUser("suspended@example.com", "SUSPENDED"),
		seedUser("locked@example.com", "LOCKED_OUT"),
		seedUser("reset@example.com", "ACTIVE"),
		seedUser("expire@example.com", "ACTIVE"),
		seedUser("mfa@example.com", "ACTIVE", withFactors),
		seedUser("sessions@example.com", "ACTIVE"),
		seedUser("groups@example.com", "ACTIVE", inGroup("Engineering-Admins")),
		seedUser("apps@example.com", "ACTIVE"),
	))
	withKey := func(r tasks.Request) tasks.Request { r.ResultKey = pub; return r }
	tests := []struct {
		args         tasks.Args
		user, status string
		outcome      tasks.Outcome
		check        func(t *testing.T, u oktasim.User, r tasks.Result)
	}{
		{args: &tasks.Activate{Request: request("staged@example.com")}, user: "staged@example.com", status: "PROVISIONED", outcome: tasks.OutcomeSucceeded},
		{args: &tasks.Reactivate{Request: withKey(request("provisioned@example.com")), Options: tasks.SendEmailOption{SendEmail: tasks.Bool(false)}},
			user: "provisioned@example.com", status: "PROVISIONED", outcome: tasks.OutcomeSucceeded,
			check: func(t *testing.T, _ oktasim.User, r tasks.Result) {
				if r.Sealed == nil {
					t.Error("activation link not sealed into the result")
				}
			}},
		{args: &tasks.Deactivate{Request: request("active@example.com")}, user: "active@example.com", status: "DEPROVISIONED", outcome: tasks.OutcomeSucceeded},
		{args: &tasks.Suspend{Request: request("suspendme+it@example.com")}, user: "suspendme+it@example.com", status: "SUSPENDED", outcome: tasks.OutcomeSucceeded},
		{args: &tasks.Unsuspend{Request: request("suspended@example.com")}, user: "suspended@example.com", status: "ACTIVE", outcome: tasks.OutcomeSucceeded},
		{args: &tasks.Unlock{Request: request("locked@example.com")}, user: "locked@example.com", status: "ACTIVE", outcome: tasks.OutcomeSucceeded},
		{args: &tasks.ResetPassword{Request: request("reset@example.com")}, user: "reset@example.com", status: "RECOVERY", outcome: tasks.OutcomeSucceeded},
		{args: &tasks.ExpirePassword{Request: withKey(request("expire@example.com")), Options: tasks.ExpirePasswordOptions{TempPassword: true}},
			user: "expire@example.com", status: "PASSWORD_EXPIRED", outcome: tasks.OutcomeSucceeded,
			check: func(t *testing.T, _ oktasim.User, r tasks.Result) {
				if r.Sealed == nil {
					t.Error("temporary password not sealed into the result")
				}
			}},
		{args: &tasks.ResetMFA{Request: request("mfa@example.com")}, user: "mfa@example.com", status: "ACTIVE", outcome: tasks.OutcomeSucceeded,
			check: func(t *testing.T, u oktasim.User, _ tasks.Result) {
				if u.Factors != 0 {
					t.Errorf("%d factors left", u.Factors)
				}
			}},
		{args: &tasks.ClearSessions{Request: request("sessions@example.com"), Options: tasks.ClearSessionsOptions{OAuthTokens: tasks.Bool(true)}},
			user: "sessions@example.com", status: "ACTIVE", outcome: tasks.OutcomeSucceeded,
			check: func(t *testing.T, u oktasim.User, _ tasks.Result) {
				if u.Sessions != 0 {
					t.Errorf("%d sessions left", u.Sessions)
				}
			}},
		{args: &tasks.UpdateGroups{Request: request("groups@example.com"), Groups: tasks.GroupChanges{Add: []string{"Engineering"}, Remove: []string{"Engineering-Admins"}}},
			user: "groups@example.com", status: "ACTIVE", outcome: tasks.OutcomeSucceeded,
			check: func(t *testing.T, u oktasim.User, r tasks.Result) {
				if len(r.Items) != 2 {
					t.Fatalf("items = %+v", r.Items)
				}
			}},
		{args: &tasks.UpdateApps{Request: request("apps@example.com"), Apps: tasks.AppChanges{Assign: []string{"Slack"}}},
			user: "apps@example.com", status: "ACTIVE", outcome: tasks.OutcomeSucceeded},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		ids[i] = h.enqueue(tt.args)
	}
	for i, tt := range tests {
		t.Run(string(tt.args.Action()), func(t *testing.T) {
			info := h.wait(ids[i])
			r := result(t, info)
			if info.State != asynq.TaskStateCompleted || r.Outcome != tt.outcome {
				t.Fatalf("state %s outcome %s error %+v, want completed %s", info.State, r.Outcome, r.Error, tt.outcome)
			}
			u, ok := h.sim.User(tt.user)
			if !ok {
				t.Fatalf("user %s gone", tt.user)
			}
			if u.Status != tt.status {
				t.Errorf("okta status %s, want %s", u.Status, tt.status)
			}
			if r.Okta.StatusAfter != "" && r.Okta.StatusAfter != tt.status && tt.args.Action() != tasks.ActionDeactivate {
				t.Errorf("result status_after %s, want %s", r.Okta.StatusAfter, tt.status)
			}
			if r.UserID != u.ID || len(r.Okta.RequestIDs) == 0 || r.Attempts != 1 {
				t.Errorf("result user %s request ids %v attempts %d", r.UserID, r.Okta.RequestIDs, r.Attempts)
			}
			if tt.check != nil {
				tt.check(t, u, r)
			}
		})
	}
	g, _ := h.sim.User("groups@example.com")
	if len(g.Groups) != 2 || !contains(g.Groups, h.sim.GroupID("Engineering")) || contains(g.Groups, h.sim.GroupID("Engineering-Admins")) {
		t.Errorf("groups after update: %v", g.Groups)
	}
	a, _ := h.sim.User("apps@example.com")
	if !contains(a.Apps, h.sim.AppID("Slack")) {
		t.Errorf("apps after update: %v", a.Apps)
	}
	if got := testutil.ToFloat64(metric(t, h, "oktaq_actions_total", "user.suspend", "default", "succeeded")); got != 1 {
		t.Errorf("oktaq_actions_total{suspend,succeeded} = %v", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestNoOp: an action whose end state holds succeeds as no_op.
func TestNoOp(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("already@example.com", "SUSPENDED")))
	r := result(t, h.wait(h.enqueue(&tasks.Suspend{Request: request("already@example.com")})))
	if r.Outcome != tasks.OutcomeNoOp {
		t.Fatalf("outcome %s, want no_op", r.Outcome)
	}
}

// TestRejected: a task with a bad signature, a role not allowed or a scope
// not enabled is archived with the reason and makes no Okta API call.
func TestRejected(t *testing.T) {
	h := newHarness(t, withScopes("okta.users.read", "okta.users.manage"), withUsers(seedUser("target@example.com", "ACTIVE")))
	forged, _ := tasks.ParseKeyring("k1=not-the-real-key-0123456789")
	helpdesk := request("target@example.com")
	helpdesk.Requester.Role = "helpdesk"
	cases := []struct {
		name, id string
		code     tasks.Code
	}{
		{"bad signature", h.enqueueWith(forged, &tasks.Suspend{Request: request("target@example.com")}), tasks.CodeSignature},
		{"role not allowed", h.enqueue(&tasks.Suspend{Request: helpdesk}), tasks.CodeRoleNotAllowed},
		{"scope not enabled", h.enqueue(&tasks.UpdateGroups{Request: request("target@example.com"), Groups: tasks.GroupChanges{Add: []string{"Engineering"}}}), tasks.CodeScopeNotEnabled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := h.wait(c.id)
			r := result(t, info)
			if info.State != asynq.TaskStateArchived || r.Outcome != tasks.OutcomeRejected || r.Error == nil || r.Error.Code != c.code {
				t.Fatalf("state %s result %+v error %+v, want archived rejected %s", info.State, r.Outcome, r.Error, c.code)
			}
			if info.Retried != 0 {
				t.Errorf("retried %d times", info.Retried)
			}
		})
	}
	for _, req := range h.sim.Requests() {
		if strings.HasPrefix(req.Path, "/api/v1/users") {
			t.Errorf("rejected tasks reached Okta: %s %s", req.Method, req.Path)
		}
	}
	if u, _ := h.sim.User("target@example.com"); u.Status != "ACTIVE" {
		t.Errorf("status changed to %s", u.Status)
	}
}

// TestPermanentArchivesAfterOneAttempt: an invalid transition is archived
// at once with Okta's errorCode.
func TestPermanentArchivesAfterOneAttempt(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("gone@example.com", "DEPROVISIONED")))
	info := h.wait(h.enqueue(&tasks.Suspend{Request: request("gone@example.com")}))
	r := result(t, info)
	if info.State != asynq.TaskStateArchived || info.Retried != 0 || r.Outcome != tasks.OutcomeFailed {
		t.Fatalf("state %s retried %d outcome %s", info.State, info.Retried, r.Outcome)
	}
	if r.Error == nil || !strings.HasPrefix(string(r.Error.Code), "E0000") {
		t.Fatalf("error %+v lacks Okta's errorCode", r.Error)
	}
}

// TestTransientRetries: 5xx faults are retried until the action completes.
func TestTransientRetries(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("flaky@example.com", "ACTIVE")))
	h.sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 503, Match: "/lifecycle/"})
	id := h.enqueue(&tasks.Suspend{Request: request("flaky@example.com")})
	until(t, "two retries of the suspend", func() bool {
		info, err := h.inspect.GetTaskInfo("critical", id)
		return err == nil && info.Retried >= 2
	})
	h.sim.SetFaults(oktasim.Faults{})
	info := h.wait(id)
	r := result(t, info)
	if info.State != asynq.TaskStateCompleted || r.Outcome != tasks.OutcomeSucceeded || r.Attempts < 3 {
		t.Fatalf("state %s outcome %s attempts %d", info.State, r.Outcome, r.Attempts)
	}
	if u, _ := h.sim.User("flaky@example.com"); u.Status != "SUSPENDED" {
		t.Fatalf("status %s", u.Status)
	}
}

// TestRateLimitReschedules: a 429 reschedules the task at the bucket's
// reset without spending an attempt, and the action completes after it.
func TestRateLimitReschedules(t *testing.T) {
	h := newHarness(t, withRates(oktasim.RateLimits{Window: 2 * time.Second}),
		withUsers(seedUser("busy@example.com", "ACTIVE")))
	h.sim.Drain(oktasim.ActionBucket)
	info := h.wait(h.enqueue(&tasks.Suspend{Request: request("busy@example.com")}))
	r := result(t, info)
	if info.State != asynq.TaskStateCompleted || r.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("state %s outcome %s error %+v", info.State, r.Outcome, r.Error)
	}
	if info.Retried != 0 {
		t.Errorf("a rate-limit wait spent %d attempts", info.Retried)
	}
	// The simulator enforces the window: the suspend went through only
	// once it reset. The worker must not have hammered it meanwhile.
	var got429, done int
	for _, req := range h.sim.Requests() {
		if strings.HasSuffix(req.Path, "/lifecycle/suspend") {
			switch {
			case req.Status == 429:
				got429++
			case req.Status == 200 && got429 > 0:
				done++
			}
		}
	}
	if got429 == 0 || done != 1 {
		t.Fatalf("suspend answers: %d 429s, %d successes after them; want a 429, then one success", got429, done)
	}
	if got429 > 2 {
		t.Errorf("the worker called into an empty bucket %d times instead of waiting for its reset", got429)
	}
}

// TestRevokedCredential: metrics and readiness reflect a credential Okta
// refuses.
func TestRevokedCredential(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("victim@example.com", "ACTIVE")))
	h.sim.RevokeClient(clientID)
	h.sim.ExpireTokens()
	h.enqueue(&tasks.Suspend{Request: request("victim@example.com")})
	until(t, "oktaq_connection_up 0 after the client was revoked", func() bool {
		return testutil.ToFloat64(metric(t, h, "oktaq_connection_up", "default")) == 0
	})
	if err := h.worker.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "default") {
		t.Fatalf("Ready = %v, want the connection named", err)
	}
	if strings.Contains(h.logs.String(), clientSecret) {
		t.Fatal("the client secret reached the logs")
	}
}

// TestDeadline: an action not done by its deadline is archived as failed
// with deadline_exceeded, without calling Okta.
func TestDeadline(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("late@example.com", "ACTIVE")))
	req := request("late@example.com")
	req.RequestedAt = time.Now().Add(-2 * time.Second)
	req.Deadline = time.Now().Add(-time.Second)
	info := h.wait(h.enqueue(&tasks.Suspend{Request: req}))
	r := result(t, info)
	if info.State != asynq.TaskStateArchived || r.Outcome != tasks.OutcomeFailed || r.Error == nil || r.Error.Code != tasks.CodeDeadlineExceeded {
		t.Fatalf("state %s outcome %s error %+v", info.State, r.Outcome, r.Error)
	}
	if u, _ := h.sim.User("late@example.com"); u.Status != "ACTIVE" {
		t.Fatalf("status %s: a late action reached Okta", u.Status)
	}
}
