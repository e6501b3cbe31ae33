package oktasim_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/okta/oktasim"
)

func TestGetUserByIDLoginAndShortName(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	carol, _ := sim.User("carol+ops@example.com")
	for _, key := range []string{carol.ID, "carol+ops@example.com", "CAROL+OPS@example.com", "carol+ops"} {
		u, _, err := c.UserAPI.GetUser(context.Background(), key).Execute()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if u.GetId() != carol.ID || u.Profile.GetLogin() != "carol+ops@example.com" {
			t.Fatalf("%s: got %s %s", key, u.GetId(), u.Profile.GetLogin())
		}
	}
	_, resp, err := c.UserAPI.GetUser(context.Background(), "nobody@example.com").Execute()
	if st, code := errCode(t, resp, err); st != 404 || code != "E0000007" {
		t.Fatalf("unknown user: %d %s", st, code)
	}
}

func TestUserLinksFollowStatus(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	cases := map[string][]string{
		"alice@example.com": {"suspend", "resetPassword", "expirePassword", "deactivate", "resetFactors"},
		"dave@example.com":  {"unsuspend", "deactivate", "resetFactors"},
		"erin@example.com":  {"unlock", "resetPassword", "expirePassword", "deactivate"},
		// As recorded from Okta: a fresh PROVISIONED user with no factor
		// shows suspend, resetPassword and resetFactors, calls that fail.
		"heidi@example.com": {"reactivate", "deactivate", "suspend", "resetPassword", "resetFactors"},
		"ivan@example.com":  {"activate", "deactivate"},
		"judy@example.com":  {"activate"},
	}
	for login, want := range cases {
		u, _, err := c.UserAPI.GetUser(context.Background(), login).Execute()
		if err != nil {
			t.Fatal(err)
		}
		l := u.Links
		got := map[string]bool{"suspend": l.Suspend != nil, "unsuspend": l.Unsuspend != nil,
			"activate": l.Activate != nil, "reactivate": l.Reactivate != nil, "deactivate": l.Deactivate != nil,
			"unlock": l.Unlock != nil, "resetPassword": l.ResetPassword != nil,
			"expirePassword": l.ExpirePassword != nil, "resetFactors": l.ResetFactors != nil}
		n := 0
		for _, name := range want {
			if !got[name] {
				t.Errorf("%s: missing link %s", login, name)
			}
		}
		for _, v := range got {
			if v {
				n++
			}
		}
		if n != len(want) {
			t.Errorf("%s: links %v, want exactly %v", login, got, want)
		}
		if l.Self == nil || l.Self.Href != sim.URL()+"/api/v1/users/"+u.GetId() {
			t.Errorf("%s: self link %v", login, l.Self)
		}
	}
}

func TestListUsers(t *testing.T) {
	_, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	all, _, err := c.UserAPI.ListUsers(ctx).Execute()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range all {
		if u.GetStatus() == "DEPROVISIONED" {
			t.Fatal("default list includes DEPROVISIONED")
		}
		if u.Links == nil || u.Links.Suspend != nil {
			t.Fatal("list results carry only self")
		}
	}
	if len(all) != 11 {
		t.Fatalf("default list: %d users", len(all))
	}
	byQ, _, _ := c.UserAPI.ListUsers(ctx).Q("ju").Execute()
	if len(byQ) != 0 {
		t.Fatalf("q must leave out DEPROVISIONED judy: %d", len(byQ))
	}
	bySearch, _, _ := c.UserAPI.ListUsers(ctx).Search(`profile.login eq "judy@example.com"`).Execute()
	if len(bySearch) != 1 {
		t.Fatalf("search includes DEPROVISIONED: %d", len(bySearch))
	}
	combo, _, _ := c.UserAPI.ListUsers(ctx).Search(`status eq "ACTIVE" and (profile.lastName eq "Brown" or profile.email eq "alice@example.com")`).Execute()
	if len(combo) != 2 {
		t.Fatalf("and/or search: %d", len(combo))
	}
	byFilter, _, _ := c.UserAPI.ListUsers(ctx).Filter(`status eq "LOCKED_OUT"`).Execute()
	if len(byFilter) != 2 {
		t.Fatalf("filter: %d", len(byFilter))
	}
	_, resp, err := c.UserAPI.ListUsers(ctx).Filter(`profile.title eq "x"`).Execute()
	if st, code := errCode(t, resp, err); st != 400 || code != "E0000031" {
		t.Fatalf("bad filter: %d %s", st, code)
	}
}

func TestListUsersPaging(t *testing.T) {
	_, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	page, resp, err := c.UserAPI.ListUsers(context.Background()).Limit(5).Execute()
	if err != nil {
		t.Fatal(err)
	}
	seen := len(page)
	links := strings.Join(resp.Header.Values("Link"), ",")
	if !strings.Contains(links, `rel="self"`) || !strings.Contains(links, `rel="next"`) {
		t.Fatalf("Link: %s", links)
	}
	for resp.HasNextPage() {
		var next []map[string]any
		if resp, err = resp.Next(&next); err != nil {
			t.Fatal(err)
		}
		seen += len(next)
	}
	if seen != 11 {
		t.Fatalf("paged through %d users", seen)
	}
}

func TestDeleteTwiceDeletesForGood(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	if _, err := c.UserAPI.DeleteUser(ctx, "alice@example.com").Execute(); err != nil {
		t.Fatal(err)
	}
	if u, _ := sim.User("alice@example.com"); u.Status != "DEPROVISIONED" {
		t.Fatalf("first DELETE must deactivate, got %s", u.Status)
	}
	resp, err := c.UserAPI.DeleteUser(ctx, "alice@example.com").Execute()
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("second DELETE: %v", err)
	}
	_, resp2, err := c.UserAPI.GetUser(ctx, "alice@example.com").Execute()
	if st, code := errCode(t, resp2, err); st != 404 || code != "E0000007" {
		t.Fatalf("after delete: %d %s", st, code)
	}
}

func TestSessionsFactorsAndUserGroups(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		resp, err := c.UserAPI.RevokeUserSessions(ctx, "niaj@example.com").OauthTokens(true).Execute()
		if err != nil || resp.StatusCode != 204 {
			t.Fatalf("clear sessions %d: %v", i, err)
		}
	}
	if u, _ := sim.User("niaj@example.com"); u.Sessions != 0 {
		t.Fatal("sessions not cleared")
	}
	factors, _, err := c.UserFactorAPI.ListFactors(ctx, uid(t, sim, "alice@example.com")).Execute()
	if err != nil || len(factors) != 2 || factors[0].UserFactorSMS == nil || factors[1].UserFactorTOTP == nil {
		t.Fatalf("factors: %v %+v", err, factors)
	}
	groups, _, err := c.UserAPI.ListUserGroups(ctx, "bob@example.com").Execute()
	if err != nil || len(groups) != 3 {
		t.Fatalf("bob's groups: %v %d", err, len(groups))
	}
}

// TestUsersMe: Okta answers /users/me with the user the token belongs to:
// for an API token the admin who made it (the seed's api_token_owner);
// an OAuth service app's token belongs to no user (404). A worker that
// passed "me" on would act on its own admin: the executor refuses the
// reference, and this makes the simulator able to show why.
func TestUsersMe(t *testing.T) {
	sim := oktasim.New(oktasim.Options{})
	seed := oktasim.DemoSeed()
	seed.APITokens = append(seed.APITokens, ssws)
	seed.APITokenOwner = "bob@example.com"
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	t.Cleanup(srv.Close)
	bob, _ := sim.User("bob@example.com")
	u, _, err := sswsClient(t, srv).UserAPI.GetUser(context.Background(), "me").Execute()
	if err != nil || u.GetId() != bob.ID {
		t.Fatalf("SSWS me: %v %v", u.GetId(), err)
	}
	tok := sim.IssueToken(oktasim.DemoClientID)
	_, resp, err := sdk(t, srv, "Bearer", tok).UserAPI.GetUser(context.Background(), "me").Execute()
	if st, code := errCode(t, resp, err); st != 404 || code != "E0000007" {
		t.Fatalf("service app me: %d %s", st, code)
	}
}
