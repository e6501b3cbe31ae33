package okta_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// bigOrg is an org whose user many@example.com is in 250 groups (G001..G250)
// and assigned 250 apps (App 001..App 250), so that every list the executor
// reads runs past Okta's page of 200.
func bigOrg(t *testing.T) *oktasim.Sim {
	t.Helper()
	sim := oktasim.New(oktasim.Options{})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	seed := oktasim.Seed{
		Clients:   []oktasim.SeedClient{{ClientID: testClientID, ClientSecret: testSecret, Scopes: allScopes}},
		APITokens: []string{testAPIToken},
	}
	u := oktasim.SeedUser{Login: "many@example.com"}
	for i := 1; i <= 250; i++ {
		g, a := fmt.Sprintf("G%03d", i), fmt.Sprintf("App %03d", i)
		seed.Groups = append(seed.Groups, oktasim.SeedGroup{Name: g})
		seed.Apps = append(seed.Apps, oktasim.SeedApp{Label: a})
		u.Groups, u.Apps = append(u.Groups, g), append(u.Apps, a)
	}
	// 250 apps whose labels start with "Sales": the one labelled exactly
	// "Sales" comes last, on the second page of q=Sales.
	for i := 1; i < 250; i++ {
		seed.Apps = append(seed.Apps, oktasim.SeedApp{Label: fmt.Sprintf("Sales %03d", i)})
	}
	seed.Apps = append(seed.Apps, oktasim.SeedApp{Label: "Sales"})
	seed.Users = []oktasim.SeedUser{u}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	return sim
}

// Item 1 of issue 12: Okta sends rel="self" and rel="next" as two Link
// headers, self first, and pages a user's groups at 200. Leaving group 230
// must read the second page, or it is reported no_op and access stays.
func TestUserInMoreGroupsThanAPage(t *testing.T) {
	sim := bigOrg(t)
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	g230 := sim.GroupID("G230")
	res, err := e.Execute(ctx, &tasks.UpdateGroups{Request: req(e, "many@example.com"),
		Groups: tasks.GroupChanges{Remove: []string{"G230"}, Add: []string{"G240"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items[0].Outcome != tasks.OutcomeNoOp || res.Items[1].Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("items %+v; want add G240 no_op (member already), remove G230 succeeded", res.Items)
	}
	u, _ := sim.User("many@example.com")
	if slices.Contains(u.Groups, g230) {
		t.Fatal("still a member of G230")
	}
	pages := 0
	for _, r := range sim.Requests() {
		if r.Method == "GET" && r.Path == "/api/v1/users/"+u.ID+"/groups" {
			pages++
		}
	}
	if pages != 2 {
		t.Fatalf("read %d pages of the user's groups (250 groups + Everyone), want 2", pages)
	}
}

// Items 1 and 17: an app found by its label past the first page of
// q=label (200 at most) is still found.
func TestAppLabelOnSecondPage(t *testing.T) {
	sim := bigOrg(t)
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	res, err := e.Execute(ctx, &tasks.UpdateApps{Request: req(e, "many@example.com"),
		Apps: tasks.AppChanges{Assign: []string{"Sales"}, Unassign: []string{"App 230"}}})
	if err != nil {
		t.Fatalf("%v (items %+v)", err, res.Items)
	}
	if res.Items[0].ID != sim.AppID("Sales") || res.Items[0].Outcome != tasks.OutcomeSucceeded ||
		res.Items[1].Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("items %+v", res.Items)
	}
	u, _ := sim.User("many@example.com")
	if slices.Contains(u.Apps, sim.AppID("App 230")) || !slices.Contains(u.Apps, sim.AppID("Sales")) {
		t.Fatal("assignments not changed")
	}
}

// Item 16: a group name ending in a backslash (or holding quotes) is
// escaped by the executor and read back by Okta's parser the same way.
func TestGroupNameWithTrailingBackslash(t *testing.T) {
	sim := oktasim.New(oktasim.Options{})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	names := []string{`Finance\`, `Say "hi"\`, `a\"b`}
	seed := oktasim.Seed{APITokens: []string{testAPIToken}, Users: []oktasim.SeedUser{{Login: "bs@example.com"}},
		Clients: []oktasim.SeedClient{{ClientID: testClientID, ClientSecret: testSecret, Scopes: allScopes}}}
	for _, n := range names {
		seed.Groups = append(seed.Groups, oktasim.SeedGroup{Name: n})
	}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t, sim, execOpts{})
	res, err := e.Execute(context.Background(), &tasks.UpdateGroups{Request: req(e, "bs@example.com"),
		Groups: tasks.GroupChanges{Add: names}})
	if err != nil {
		t.Fatalf("%v (items %+v)", err, res.Items)
	}
	for i, n := range names {
		if res.Items[i].ID != sim.GroupID(n) || res.Items[i].Outcome != tasks.OutcomeSucceeded {
			t.Errorf("%s: %+v", n, res.Items[i])
		}
	}
}
