package okta_test

import (
	"context"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// seedSim serves a simulator with this seed plus the test client and API
// token of startSim.
func seedSim(t *testing.T, seed oktasim.Seed) *oktasim.Sim {
	t.Helper()
	sim := oktasim.New(oktasim.Options{})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	if len(seed.Clients) == 0 {
		seed.Clients = []oktasim.SeedClient{{ClientID: testClientID, ClientSecret: testSecret, Scopes: allScopes}}
	}
	seed.APITokens = append(seed.APITokens, testAPIToken)
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	return sim
}

// lifecycleCalls counts the lifecycle POSTs the simulator received.
func lifecycleCalls(sim *oktasim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		if r.Method == "POST" && strings.Contains(r.Path, "/lifecycle/") {
			out = append(out, r.Path[strings.LastIndex(r.Path, "/")+1:])
		}
	}
	return out
}

// Item 4: a reset or expiry of a federated or social user's password
// would make them an Okta-password user (the simulator converts them, as
// Okta's default call does); AD and LDAP users' passwords live in the
// directory. Each is refused with a named code and a hint, and nothing is
// sent.
func TestPasswordActionsRespectTheProvider(t *testing.T) {
	providers := map[string]tasks.Code{
		oktasim.ProviderFederation:      tasks.CodeFederatedUser,
		oktasim.ProviderSocial:          tasks.CodeFederatedUser,
		oktasim.ProviderActiveDirectory: tasks.CodeDirectoryPassword,
		oktasim.ProviderLDAP:            tasks.CodeDirectoryPassword,
		oktasim.ProviderOkta:            "",
	}
	seed := oktasim.Seed{}
	for p := range providers {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: strings.ToLower(p) + "@example.com", Source: p})
	}
	for name, mk := range map[string]func(tasks.Request) tasks.Args{
		"reset_password":  func(r tasks.Request) tasks.Args { return &tasks.ResetPassword{Request: r} },
		"expire_password": func(r tasks.Request) tasks.Args { return &tasks.ExpirePassword{Request: r} },
	} {
		t.Run(name, func(t *testing.T) {
			sim := seedSim(t, seed)
			e := newExecutor(t, sim, execOpts{})
			for p, want := range providers {
				who := strings.ToLower(p) + "@example.com"
				res, err := e.Execute(context.Background(), mk(req(e, who)))
				u, _ := sim.User(who)
				if want == "" {
					if err != nil || u.Provider != oktasim.ProviderOkta {
						t.Errorf("%s: %v, provider %s", p, err, u.Provider)
					}
					continue
				}
				if got := outcome(t, res, err); got != string(want) {
					t.Errorf("%s user: got %s, want %s", p, got, want)
				}
				if res.Error == nil || res.Error.Hint == "" {
					t.Errorf("%s user: no hint in %+v", p, res.Error)
				}
				if u.Provider != p {
					t.Errorf("%s user was converted to %s", p, u.Provider)
				}
			}
			if calls := lifecycleCalls(sim); len(calls) != 1 {
				t.Errorf("lifecycle calls %v, want only the OKTA user's", calls)
			}
		})
	}
}

// Item 5: the user Okta answers must be the one named. A short name that
// Okta resolves (as it does "me") is refused before any change, and every
// result carries the resolved login.
func TestResolvedUserMustBeTheOneNamed(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	res, err := e.Execute(ctx, &tasks.Suspend{Request: req(e, "active+tag")})
	if got := outcome(t, res, err); got != string(tasks.CodeUserMismatch) {
		t.Fatalf("short name: got %s (%v)", got, err)
	}
	if u, _ := sim.User(login("ACTIVE")); u.Status != oktasim.StatusActive {
		t.Errorf("short name suspended %s", u.Login)
	}
	u, _ := sim.User(login("ACTIVE"))
	for _, ref := range []string{u.ID, "ACTIVE+TAG@example.com"} {
		res, err = e.Execute(ctx, &tasks.ClearSessions{Request: req(e, ref)})
		if err != nil || res.Login != login("ACTIVE") {
			t.Errorf("%s: login %q, err %v", ref, res.Login, err)
		}
	}
	res, _ = e.Execute(ctx, &tasks.UpdateGroups{Request: req(e, u.ID), Groups: tasks.GroupChanges{Add: []string{"Engineering"}}})
	if res.Login != login("ACTIVE") {
		t.Errorf("groups result login %q", res.Login)
	}
	res, _ = e.Execute(ctx, &tasks.UpdateApps{Request: req(e, u.ID), Apps: tasks.AppChanges{Assign: []string{"Slack"}}})
	if res.Login != login("ACTIVE") {
		t.Errorf("apps result login %q", res.Login)
	}
}

// Item 8: activate on a PROVISIONED user restarts the activation
// (reactivate) instead of doing nothing; reactivate works from RECOVERY;
// unassigning an app id that does not exist is not_found, not no_op.
func TestActivateProvisionedReactivates(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	res, err := e.Execute(ctx, &tasks.Activate{Request: req(e, login("PROVISIONED"))})
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("activate PROVISIONED: %v %+v", err, res)
	}
	if res.Detail == nil || res.Detail.Code != tasks.CodeReactivated {
		t.Errorf("detail %+v", res.Detail)
	}
	if calls := lifecycleCalls(sim); len(calls) != 1 || calls[0] != "reactivate" {
		t.Errorf("calls %v", calls)
	}
	if n := len(sim.Emails()); n != 1 {
		t.Errorf("%d emails, want the new activation email", n)
	}
	res, err = e.Execute(ctx, &tasks.Reactivate{Request: req(e, login("RECOVERY"))})
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Errorf("reactivate RECOVERY: %v %+v", err, res)
	}
	res, err = e.Execute(ctx, &tasks.UpdateApps{Request: req(e, login("ACTIVE")),
		Apps: tasks.AppChanges{Unassign: []string{"0oa00000000000000000"}}})
	if got := outcome(t, res, err); got != string(tasks.CodeNotFound) {
		t.Errorf("unassign unknown app id: %s (%+v)", got, res.Items)
	}
}

// Item 9: suspend refused by Okta for a user who is not ACTIVE says what
// to do instead.
func TestSuspendNotActiveSaysWhatToDo(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	for _, st := range []string{"LOCKED_OUT", "RECOVERY", "PASSWORD_EXPIRED", "PROVISIONED", "STAGED", "DEPROVISIONED"} {
		res, err := e.Execute(context.Background(), &tasks.Suspend{Request: req(e, login(st))})
		if err == nil {
			t.Errorf("%s: suspended", st)
			continue
		}
		hint := ""
		if res.Error != nil {
			hint = res.Error.Hint
		}
		if !strings.Contains(hint, "deactivate") && !strings.Contains(hint, "clear sessions") {
			t.Errorf("%s: hint %q names no way forward", st, hint)
		}
	}
}

// Item 10: no_op is decided from data, not from _links: a PROVISIONED
// user shows resetFactors with no factor enrolled (as recorded), and an
// ACTIVE user blocked from unknown devices shows no unlock link.
func TestNoOpFromDataNotLinks(t *testing.T) {
	sim := seedSim(t, oktasim.Seed{Users: []oktasim.SeedUser{
		{Login: "prov@example.com", Status: oktasim.StatusProvisioned},
		{Login: "blocked@example.com", BlockedUnknownDevices: true},
		{Login: "free@example.com"},
	}})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	res, err := e.Execute(ctx, &tasks.ResetMFA{Request: req(e, "prov@example.com")})
	if err != nil || res.Outcome != tasks.OutcomeNoOp || res.Detail == nil || res.Detail.Code != tasks.CodeAlreadyDone {
		t.Errorf("reset_mfa without factors: %v %+v", err, res)
	}
	res, err = e.Execute(ctx, &tasks.Unlock{Request: req(e, "blocked@example.com")})
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Errorf("unlock blocked user: %v %+v", err, res)
	}
	if u, _ := sim.User("blocked@example.com"); u.BlockedUnknownDevices {
		t.Error("still blocked")
	}
	res, err = e.Execute(ctx, &tasks.Unlock{Request: req(e, "free@example.com")})
	if err != nil || res.Outcome != tasks.OutcomeNoOp || res.Detail == nil || res.Detail.Reason == "" {
		t.Errorf("unlock a free user: %v %+v", err, res)
	}
	if calls := lifecycleCalls(sim); len(calls) != 1 || calls[0] != "unlock" {
		t.Errorf("calls %v", calls)
	}
}

// Item 11: a same-name directory group keeps the access: the result says
// so, by item and by detail code.
func TestSameNameAppGroupReported(t *testing.T) {
	// The seed puts the user in the first group of that name: the
	// APP_GROUP (as an AD import would).
	ctx := context.Background()
	sim2 := seedSim(t, oktasim.Seed{
		Groups: []oktasim.SeedGroup{{Name: "Finance", Type: oktasim.GroupApp}, {Name: "Finance"}},
		Users:  []oktasim.SeedUser{{Login: "ad@example.com", Groups: []string{"Finance"}}},
	})
	e2 := newExecutor(t, sim2, execOpts{})
	res, err := e2.Execute(ctx, &tasks.UpdateGroups{Request: req(e2, "ad@example.com"), Groups: tasks.GroupChanges{Remove: []string{"Finance"}}})
	if err != nil {
		t.Fatal(err)
	}
	it := res.Items[0]
	if it.Outcome != tasks.OutcomeNoOp || it.Detail == nil || it.Detail.Code != tasks.CodeAppGroupSameName || len(it.Unchanged) != 1 ||
		it.Unchanged[0].Type != oktasim.GroupApp {
		t.Errorf("item %+v detail %+v", it, it.Detail)
	}
	if res.Detail == nil || res.Detail.Code != tasks.CodeAppGroupSameName {
		t.Errorf("result detail %+v", res.Detail)
	}
}

// Item 12: clearing sessions revokes OAuth tokens unless told not to, and
// says what Okta leaves in place.
func TestClearSessionsRevokesTokensByDefault(t *testing.T) {
	sim := seedSim(t, oktasim.Seed{Users: []oktasim.SeedUser{{Login: "a@example.com", Sessions: 2, Grants: 3},
		{Login: "b@example.com", Sessions: 2, Grants: 3}}})
	e := newExecutor(t, sim, execOpts{})
	res, err := e.Execute(context.Background(), &tasks.ClearSessions{Request: req(e, "a@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := sim.User("a@example.com"); u.Sessions != 0 || u.OAuthGrants != 0 {
		t.Errorf("left %d sessions, %d grants", u.Sessions, u.OAuthGrants)
	}
	if res.Detail == nil || res.Detail.Code != tasks.CodeSessionsLeft || !strings.Contains(res.Detail.Reason, "Identity Engine") {
		t.Errorf("detail %+v", res.Detail)
	}
	if _, err := e.Execute(context.Background(), &tasks.ClearSessions{Request: req(e, "b@example.com"),
		Options: tasks.ClearSessionsOptions{OAuthTokens: tasks.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	if u, _ := sim.User("b@example.com"); u.OAuthGrants != 3 {
		t.Errorf("oauth_tokens=false revoked grants: %d left", u.OAuthGrants)
	}
}

// Item 13: Okta's E0000006 on a user the app's admin role does not cover
// (a group-scoped help-desk role) is named, with a hint.
func TestAdminRoleMissingIsNamed(t *testing.T) {
	sim := seedSim(t, oktasim.Seed{
		Groups: []oktasim.SeedGroup{{Name: "Helpdesk-Scope"}},
		Users: []oktasim.SeedUser{{Login: "in@example.com", Groups: []string{"Helpdesk-Scope"}},
			{Login: "out@example.com"}},
		Clients: []oktasim.SeedClient{{ClientID: testClientID, ClientSecret: testSecret, Scopes: allScopes,
			AdminTargets: &oktasim.AdminTargets{Groups: []string{"Helpdesk-Scope"}}}},
	})
	e := newExecutor(t, sim, execOpts{})
	ctx := context.Background()
	if _, err := e.Execute(ctx, &tasks.Suspend{Request: req(e, "in@example.com")}); err != nil {
		t.Fatalf("covered user: %v", err)
	}
	res, err := e.Execute(ctx, &tasks.Suspend{Request: req(e, "out@example.com")})
	if got := outcome(t, res, err); got != string(tasks.CodeAdminRoleMissing) {
		t.Fatalf("uncovered user: %s", got)
	}
	if res.Error.Hint == "" || !strings.Contains(res.Error.Summary, "E0000006") {
		t.Errorf("error %+v", res.Error)
	}
}

// Item 14: every Okta errorCode the executor meets carries a hint, and a
// no_op says why.
func TestEveryErrorHasAHintAndNoOpAReason(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	mk := []func(tasks.Request) tasks.Args{
		func(r tasks.Request) tasks.Args { return &tasks.Activate{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.Reactivate{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.Deactivate{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.Suspend{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.Unsuspend{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.Unlock{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.ResetPassword{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.ExpirePassword{Request: r} },
		func(r tasks.Request) tasks.Args { return &tasks.ResetMFA{Request: r} },
		func(r tasks.Request) tasks.Args {
			return &tasks.UpdateGroups{Request: r, Groups: tasks.GroupChanges{Add: []string{"Engineering", "Nope"}}}
		},
		func(r tasks.Request) tasks.Args {
			return &tasks.UpdateApps{Request: r, Apps: tasks.AppChanges{Assign: []string{"Slack"}}}
		},
	}
	for _, m := range mk {
		for _, st := range statuses {
			a := m(req(e, login(st)))
			res, err := e.Execute(context.Background(), a)
			switch {
			case err != nil:
				if res.Error == nil || res.Error.Hint == "" {
					t.Errorf("%s from %s: %v has no hint", a.Action(), st, err)
				}
				for _, it := range res.Items {
					if it.Error != nil && it.Error.Hint == "" {
						t.Errorf("%s from %s: item %s error %s has no hint", a.Action(), st, it.Ref, it.Error.Code)
					}
				}
			case res.Outcome == tasks.OutcomeNoOp && len(res.Items) == 0:
				if res.Detail == nil || res.Detail.Reason == "" {
					t.Errorf("%s from %s: no_op without a reason", a.Action(), st)
				}
			}
		}
	}
	_ = okta.ErrorInfo
}
