package okta_test

import (
	"context"
	"testing"

	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// An update where some items succeed and others fail reports each item and
// the outcome partial, not failed: the done items stay done and a retry
// would find them as no-ops (issue 18 item 6).
func TestUpdatePartialOutcome(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	u := login("ACTIVE")
	if res, err := e.Execute(ctx, &tasks.UpdateApps{Request: req(e, u), Apps: tasks.AppChanges{Assign: []string{"Slack"}}}); err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("assign Slack: %v", err)
	}
	cases := []struct {
		name  string
		args  tasks.Args
		items []tasks.Outcome
	}{
		{"apps", &tasks.UpdateApps{Request: req(e, u), Apps: tasks.AppChanges{Unassign: []string{"Slack", "Zoom"}}},
			[]tasks.Outcome{tasks.OutcomeSucceeded, tasks.OutcomeFailed}},
		{"groups", &tasks.UpdateGroups{Request: req(e, u), Groups: tasks.GroupChanges{Add: []string{"Engineering", "No Such Group"}}},
			[]tasks.Outcome{tasks.OutcomeSucceeded, tasks.OutcomeFailed}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.Execute(ctx, c.args)
			if err != nil {
				t.Fatalf("a partial update is no error of the task: %v", err)
			}
			if res.Outcome != tasks.OutcomePartial {
				t.Fatalf("outcome %s, want partial", res.Outcome)
			}
			if res.Error == nil || res.Error.Code != tasks.CodeNotFound {
				t.Fatalf("error %+v, want the first item's not_found", res.Error)
			}
			if len(res.Items) != len(c.items) {
				t.Fatalf("items %+v", res.Items)
			}
			for i, want := range c.items {
				if res.Items[i].Outcome != want {
					t.Errorf("item %d (%s): %s, want %s", i, res.Items[i].Ref, res.Items[i].Outcome, want)
				}
			}
		})
	}
	sUser, _ := sim.User(u)
	if len(sUser.Apps) != 0 {
		t.Errorf("Slack still assigned: %v", sUser.Apps)
	}
	// Every item failing is still failed.
	res, err := e.Execute(ctx, &tasks.UpdateApps{Request: req(e, u), Apps: tasks.AppChanges{Unassign: []string{"Zoom"}}})
	if err == nil || res.Outcome != tasks.OutcomeFailed {
		t.Fatalf("all items failed: outcome %s, err %v", res.Outcome, err)
	}
}
