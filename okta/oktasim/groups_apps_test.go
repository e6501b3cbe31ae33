package oktasim_test

import (
	"context"
	"testing"

	"github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/okta/oktasim"
)

func TestGroupLookups(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	byQ, _, err := c.GroupAPI.ListGroups(ctx).Q("engineering").Execute()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, g := range byQ {
		names[g.Profile.GetName()] = g.GetType()
	}
	if len(names) != 3 || names["Engineering-App"] != "APP_GROUP" || names["Engineering-Admins"] != "OKTA_GROUP" {
		t.Fatalf("q is a prefix match including APP_GROUPs: %v", names)
	}
	exact, _, _ := c.GroupAPI.ListGroups(ctx).Search(`profile.name eq "Engineering" and type eq "OKTA_GROUP"`).Execute()
	if len(exact) != 1 || exact[0].GetId() != sim.GroupID("Engineering") {
		t.Fatalf("search exact: %d", len(exact))
	}
	everyone, _, err := c.GroupAPI.GetGroup(ctx, sim.GroupID("Everyone")).Execute()
	if err != nil || everyone.GetType() != "BUILT_IN" {
		t.Fatalf("Everyone: %v", err)
	}
	_, resp, err := c.GroupAPI.GetGroup(ctx, "00gnope").Execute()
	if st, code := errCode(t, resp, err); st != 404 || code != "E0000007" {
		t.Fatalf("unknown group: %d %s", st, code)
	}
	members, _, err := c.GroupAPI.ListGroupUsers(ctx, sim.GroupID("Engineering")).Execute()
	if err != nil || len(members) != 3 {
		t.Fatalf("members: %v %d", err, len(members))
	}
}

func TestGroupMembership(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	sales, alice := sim.GroupID("Sales"), uid(t, sim, "alice@example.com")
	for i := 0; i < 2; i++ {
		if resp, err := c.GroupAPI.AssignUserToGroup(ctx, sales, alice).Execute(); err != nil || resp.StatusCode != 204 {
			t.Fatalf("PUT %d: %v", i, err)
		}
	}
	if u, _ := sim.User(alice); len(u.Groups) != 3 {
		t.Fatalf("groups after add: %v", u.Groups)
	}
	for i := 0; i < 2; i++ {
		if resp, err := c.GroupAPI.UnassignUserFromGroup(ctx, sales, alice).Execute(); err != nil || resp.StatusCode != 204 {
			t.Fatalf("DELETE %d: %v", i, err)
		}
	}
	cases := []struct {
		name, gid, uid string
		status         int
		code           string
	}{
		{"app group", sim.GroupID("Engineering-App"), alice, 403, "E0000006"},
		{"built-in", sim.GroupID("Everyone"), alice, 403, "E0000006"},
		{"deprovisioned", sales, uid(t, sim, "judy@example.com"), 400, "E0000001"},
		{"login is not an id", sales, "alice@example.com", 404, "E0000007"},
	}
	for _, tc := range cases {
		resp, err := c.GroupAPI.AssignUserToGroup(ctx, tc.gid, tc.uid).Execute()
		if st, code := errCode(t, resp, err); st != tc.status || code != tc.code {
			t.Errorf("%s: %d %s", tc.name, st, code)
		}
	}
}

func TestAppAssignments(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	slack, alice := sim.AppID("Slack"), uid(t, sim, "alice@example.com")
	for i := 0; i < 2; i++ {
		au, _, err := c.ApplicationUsersAPI.AssignUserToApplication(ctx, slack).
			AppUser(okta.AppUserAssignRequest{Id: alice, Scope: okta.PtrString("USER")}).Execute()
		if err != nil || au.GetId() != alice || au.GetScope() != "USER" {
			t.Fatalf("assign %d: %v", i, err)
		}
	}
	if _, _, err := c.ApplicationUsersAPI.GetApplicationUser(ctx, slack, alice).Execute(); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.ApplicationUsersAPI.ListApplicationUsers(ctx, slack).Execute()
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	_, resp, err := c.ApplicationUsersAPI.AssignUserToApplication(ctx, slack).
		AppUser(okta.AppUserAssignRequest{Id: uid(t, sim, "ivan@example.com")}).Execute()
	if st, code := errCode(t, resp, err); st != 403 || code != "E0000117" {
		t.Fatalf("staged user: %d %s", st, code)
	}
	if _, err := c.ApplicationUsersAPI.UnassignUserFromApplication(ctx, slack, alice).Execute(); err != nil {
		t.Fatal(err)
	}
	resp, err = c.ApplicationUsersAPI.UnassignUserFromApplication(ctx, slack, alice).Execute()
	if st, code := errCode(t, resp, err); st != 404 || code != "E0000007" {
		t.Fatalf("unassign twice: %d %s", st, code)
	}
	_, resp, err = c.ApplicationUsersAPI.GetApplicationUser(ctx, slack, alice).Execute()
	if st, code := errCode(t, resp, err); st != 404 || code != "E0000007" {
		t.Fatalf("get after unassign: %d %s", st, code)
	}
}

// TestAppLookups: GET /apps?q= is a prefix match on label or name, and
// the SDK decodes what the simulator answers.
func TestAppLookups(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	apps, _, err := c.ApplicationAPI.ListApplications(ctx).Q("sla").Execute()
	if err != nil || len(apps) != 1 {
		t.Fatalf("list q=sla: %v, %d apps", err, len(apps))
	}
	body := rawBody(t, srv, "GET", "/api/v1/apps/"+sim.AppID("Slack"))
	keys := keysOf(t, body)
	for _, k := range []string{"id", "name", "label", "status", "signOnMode", "_links"} {
		if !keys[k] {
			t.Errorf("app body lacks %q", k)
		}
	}
	if resp := do(t, srv, "GET", "/api/v1/apps?q=nothing-like-it"); resp.StatusCode != 200 {
		t.Fatalf("empty list: %d", resp.StatusCode)
	}
	if resp := do(t, srv, "GET", "/api/v1/apps/0oaNOPE"); resp.StatusCode != 404 {
		t.Fatalf("unknown app: %d", resp.StatusCode)
	}
}
