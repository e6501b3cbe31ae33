package okta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

// Every action from every starting status: succeeded, no_op or the exact
// Okta error code, decided as the doc comments of actions_*.go say.
func TestEveryActionFromEveryStatus(t *testing.T) {
	type want map[string]string // status -> outcome
	const (
		ok, noop = "succeeded", "no_op"
		E1, E38  = "E0000001", "E0000038"
	)
	S, P, A, R, X, L, U, D := "STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"
	cases := []struct {
		action tasks.Action
		args   func(r tasks.Request, sim *oktasim.Sim) tasks.Args
		want   want
	}{
		{tasks.ActionActivate, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.Activate{Request: r} },
			// PROVISIONED: sent as reactivate (a new activation).
			want{S: ok, P: ok, A: noop, R: E38, X: E38, L: E38, U: E38, D: ok}},
		{tasks.ActionReactivate, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.Reactivate{Request: r} },
			want{S: E38, P: ok, A: noop, R: ok, X: E38, L: E38, U: E38, D: E38}},
		{tasks.ActionDeactivate, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.Deactivate{Request: r} },
			want{S: ok, P: ok, A: ok, R: ok, X: ok, L: ok, U: ok, D: noop}},
		{tasks.ActionSuspend, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.Suspend{Request: r} },
			want{S: E1, P: E1, A: ok, R: E1, X: E1, L: E1, U: noop, D: E1}},
		{tasks.ActionUnsuspend, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.Unsuspend{Request: r} },
			want{S: E1, P: E1, A: noop, R: noop, X: noop, L: noop, U: ok, D: E1}},
		{tasks.ActionUnlock, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.Unlock{Request: r} },
			want{S: "E0000032", P: "E0000032", A: noop, R: noop, X: noop, L: ok, U: "E0000032", D: "E0000032"}},
		{tasks.ActionResetPassword, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.ResetPassword{Request: r} },
			want{S: E38, P: E38, A: ok, R: ok, X: ok, L: ok, U: E38, D: E38}},
		{tasks.ActionExpirePassword, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.ExpirePassword{Request: r} },
			want{S: E38, P: E38, A: ok, R: ok, X: noop, L: ok, U: E38, D: E38}},
		{tasks.ActionResetMFA, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.ResetMFA{Request: r} },
			want{S: E38, P: ok, A: ok, R: ok, X: ok, L: ok, U: ok, D: E38}},
		{tasks.ActionClearSessions, func(r tasks.Request, _ *oktasim.Sim) tasks.Args { return &tasks.ClearSessions{Request: r} },
			want{S: ok, P: ok, A: ok, R: ok, X: ok, L: ok, U: ok, D: ok}},
		{tasks.ActionUpdateGroups, func(r tasks.Request, _ *oktasim.Sim) tasks.Args {
			return &tasks.UpdateGroups{Request: r, Groups: tasks.GroupChanges{Add: []string{"Engineering"}}}
		}, want{S: ok, P: ok, A: ok, R: ok, X: ok, L: ok, U: ok, D: E1}},
		{tasks.ActionUpdateApps, func(r tasks.Request, sim *oktasim.Sim) tasks.Args {
			return &tasks.UpdateApps{Request: r, Apps: tasks.AppChanges{Assign: []string{sim.AppID("Slack")}}}
		}, want{S: "E0000117", P: ok, A: ok, R: ok, X: ok, L: ok, U: ok, D: "E0000117"}},
	}
	for _, c := range cases {
		t.Run(string(c.action), func(t *testing.T) {
			sim := startSim(t, oktasim.Options{})
			e := newExecutor(t, sim, execOpts{})
			for _, st := range statuses {
				res, err := e.Execute(context.Background(), c.args(req(e, login(st)), sim))
				got := outcome(t, res, err)
				if got != c.want[st] {
					t.Errorf("%s from %s: got %s, want %s (err %v)", c.action, st, got, c.want[st], err)
				}
				if res.Okta.StatusBefore != st || res.UserID == "" {
					t.Errorf("%s from %s: result says status_before %q, user %q", c.action, st, res.Okta.StatusBefore, res.UserID)
				}
				// unlock reads the blocks and reset_mfa the factors of a
				// user who might need none (1 more call).
				calls, read := res.Okta.Calls, 0
				if c.action == tasks.ActionUnlock && (st == A || st == R || st == X) ||
					c.action == tasks.ActionResetMFA && st != S && st != D {
					read = 1
				}
				switch {
				case got == noop && c.action != tasks.ActionUpdateGroups && c.action != tasks.ActionUpdateApps && calls != 1+read,
					got == ok && c.action != tasks.ActionUpdateGroups && c.action != tasks.ActionUpdateApps && calls != 2+read:
					t.Errorf("%s from %s: %s in %d calls", c.action, st, got, calls)
				}
				if len(res.Okta.RequestIDs) != calls {
					t.Errorf("%s from %s: %d request ids for %d calls", c.action, st, len(res.Okta.RequestIDs), calls)
				}
			}
		})
	}
}

// The end state is what the simulator shows afterwards, and DELETE on a
// user is never sent.
func TestEndStatesAndNoDelete(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	for _, a := range []tasks.Args{
		&tasks.Suspend{Request: req(e, login("ACTIVE"))},
		&tasks.Deactivate{Request: req(e, login("SUSPENDED"))},
		&tasks.Deactivate{Request: req(e, login("SUSPENDED"))},
	} {
		if _, err := e.Execute(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := sim.User(login("ACTIVE")); u.Status != "SUSPENDED" {
		t.Errorf("suspended user is %s", u.Status)
	}
	if u, ok := sim.User(login("SUSPENDED")); !ok || u.Status != "DEPROVISIONED" {
		t.Errorf("deactivated user is %v %s", ok, u.Status)
	}
	for _, r := range sim.Requests() {
		if r.Method == "DELETE" && len(r.Path) == len("/api/v1/users/")+20 {
			t.Errorf("sent %s %s", r.Method, r.Path)
		}
	}
}

func TestLoginWithPlusAndAt(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	res, err := e.Execute(context.Background(), &tasks.Suspend{Request: req(e, "active+tag@example.com")})
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("%v %+v", err, res)
	}
	u, _ := sim.User("active+tag@example.com")
	if res.UserID != u.ID || u.Status != "SUSPENDED" {
		t.Errorf("result user %s, sim user %s %s", res.UserID, u.ID, u.Status)
	}
	_, err = e.Execute(context.Background(), &tasks.Suspend{Request: req(e, "nobody+x@example.com")})
	if got := outcome(t, &tasks.Result{}, err); got != "E0000007" {
		t.Errorf("unknown login: %s", got)
	}
}

// "Engineering" must never resolve to Engineering-Admins (prefix) or the
// APP_GROUP Engineering-App.
func TestGroupNamePrefixTrap(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	res, err := e.Execute(ctx, &tasks.UpdateGroups{Request: req(e, login("ACTIVE")),
		Groups: tasks.GroupChanges{Add: []string{"Engineering", "Engineering-App", "Eng"}}})
	// One name added, two refused: partial, each item on its own.
	if err != nil || res.Outcome != tasks.OutcomePartial {
		t.Fatalf("want outcome partial for the bad names, got %s, %v", res.Outcome, err)
	}
	u, _ := sim.User(login("ACTIVE"))
	eng, admins, app := sim.GroupID("Engineering"), sim.GroupID("Engineering-Admins"), sim.GroupID("Engineering-App")
	if !contains(u.Groups, eng) || contains(u.Groups, admins) || contains(u.Groups, app) {
		t.Errorf("user groups %v; want %s only (not %s, %s)", u.Groups, eng, admins, app)
	}
	// An APP_GROUP named exactly is not_okta_group: its membership is
	// the directory's.
	want := []string{"succeeded", "not_okta_group", "not_found"}
	if len(res.Items) != 3 {
		t.Fatalf("items %+v", res.Items)
	}
	for i, it := range res.Items {
		got := string(it.Outcome)
		if it.Error != nil {
			got = string(it.Error.Code)
		}
		if got != want[i] {
			t.Errorf("item %s: %s, want %s", it.Ref, got, want[i])
		}
	}
	if res.Items[1].Error == nil || !containsStr(res.Items[1].Error.Summary, "APP_GROUP") {
		t.Errorf("Engineering-App should list the APP_GROUP candidate: %+v", res.Items[1].Error)
	}
	// A retry does only what is left: the done add is a no-op.
	res, err = e.Execute(ctx, &tasks.UpdateGroups{Request: req(e, login("ACTIVE")),
		Groups: tasks.GroupChanges{Add: []string{"Engineering"}, Remove: []string{eng, "Engineering-Admins"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(res.Items[0].Outcome, res.Items[1].Outcome, res.Items[2].Outcome)
	if got != "no_opsucceededno_op" || res.Outcome != tasks.OutcomeSucceeded {
		t.Errorf("items %s, outcome %s", got, res.Outcome)
	}
}

func TestAppsByIDNoOp(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	aid := sim.AppID("Slack")
	a := &tasks.UpdateApps{Request: req(e, login("ACTIVE")), Apps: tasks.AppChanges{Assign: []string{aid}}}
	for i, want := range []tasks.Outcome{tasks.OutcomeSucceeded, tasks.OutcomeNoOp} {
		res, err := e.Execute(ctx, a)
		if err != nil || res.Outcome != want {
			t.Fatalf("round %d: %v %s", i, err, res.Outcome)
		}
	}
	res, err := e.Execute(ctx, &tasks.UpdateApps{Request: req(e, login("ACTIVE")), Apps: tasks.AppChanges{Unassign: []string{aid}}})
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("unassign: %v %s", err, res.Outcome)
	}
	if u, _ := sim.User(login("ACTIVE")); len(u.Apps) != 0 {
		t.Errorf("apps after unassign: %v", u.Apps)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func containsStr(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// A user still being activated answers E0000112: transient, retry later.
// activate itself is a no-op then (transitioningToStatus shows it is under way).
func TestTransitioningUser(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	u, _ := sim.User(login("STAGED"))
	sim.StickTransition(u.ID, time.Hour)
	ctx := context.Background()
	if res, err := e.Execute(ctx, &tasks.Activate{Request: req(e, u.ID)}); err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("%v %+v", err, res)
	}
	res, err := e.Execute(ctx, &tasks.Activate{Request: req(e, u.ID)})
	if err != nil || res.Outcome != tasks.OutcomeNoOp {
		t.Fatalf("second activate: %v %+v", err, res)
	}
	_, err = e.Execute(ctx, &tasks.Deactivate{Request: req(e, u.ID)})
	var tr *okta.TransientError
	if !errors.As(err, &tr) || tr.Status != 409 {
		t.Fatalf("deactivate while activating: %T %v", err, err)
	}
}
