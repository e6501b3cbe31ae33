package okta_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

var providers = []string{oktasim.ProviderOkta, oktasim.ProviderActiveDirectory, oktasim.ProviderLDAP,
	oktasim.ProviderFederation, oktasim.ProviderSocial}

// profile is one kind of user: a status, a provider, and the two facts
// that _links do not show (factors, device blocks).
type profile struct {
	status, provider string
	noFactors        bool
	blocked          bool
}

func (p profile) name() string {
	n := strings.ToLower(p.status + "-" + strings.ReplaceAll(p.provider, "_", ""))
	if p.noFactors {
		n += "-nofactors"
	}
	if p.blocked {
		n += "-blocked"
	}
	return n
}

func (p profile) seed(login string) oktasim.SeedUser {
	u := oktasim.SeedUser{Login: login, Status: p.status, Source: p.provider, Password: true, Sessions: 1}
	if !p.noFactors {
		u.Factors = []string{"sms"}
	}
	u.BlockedUnknownDevices = p.blocked
	return u
}

// profiles is every status x provider with a factor and no block, and the
// variants that decide reset_mfa (no factor) and unlock (blocked from
// unknown devices, for the statuses where blocks are read).
func profiles() []profile {
	var out []profile
	for _, st := range statuses {
		for _, pr := range providers {
			out = append(out, profile{status: st, provider: pr})
			out = append(out, profile{status: st, provider: pr, noFactors: true})
			switch st {
			case oktasim.StatusActive, oktasim.StatusRecovery, oktasim.StatusPasswordExpired:
				out = append(out, profile{status: st, provider: pr, blocked: true})
			}
		}
	}
	return out
}

// The view never offers what the worker refuses, and offers everything it
// would do: for every status x provider x action, the view's verdict on
// one user is compared with what the executor really does to an identical
// user on the simulator. available <=> succeeded; otherwise the view's
// code is the executor's: already_done for a no-op, or the refusal's code
// (federated_user, directory_password, or Okta's E0000038...).
func TestViewAgreesWithExecutorOnEveryStatusProviderAction(t *testing.T) {
	sim := startSim(t, oktasim.Options{RateLimits: roomyLimits()})
	seed := oktasim.Seed{}
	ps := profiles()
	for _, p := range ps {
		seed.Users = append(seed.Users, p.seed("view-"+p.name()+"@example.com"))
		for _, act := range tasks.Actions() {
			seed.Users = append(seed.Users, p.seed(actLogin(p, act)))
		}
	}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t, sim, execOpts{scopes: append(allScopes, tasks.ScopeAppsRead)})
	reader := okta.NewUserReader(map[string]*okta.Executor{e.Connection().Name: e}, okta.UserReaderOptions{TTL: -1})
	ctx := context.Background()
	compared := 0
	for _, p := range ps {
		view, err := reader.ReadUser(ctx, e.Connection().Name, "view-"+p.name()+"@example.com", true)
		if err != nil {
			t.Fatalf("%s: view: %v", p.name(), err)
		}
		if view.Status != p.status || view.Provider.Type != p.provider {
			t.Fatalf("%s: view shows %s/%s", p.name(), view.Status, view.Provider.Type)
		}
		byAction := map[tasks.Action]tasks.UserAction{}
		for _, a := range view.Actions {
			byAction[a.Action] = a
		}
		for _, act := range tasks.Actions() {
			v, ok := byAction[act]
			if !ok {
				t.Fatalf("%s: view has no verdict for %s", p.name(), act)
			}
			got := executed(t, e, sim, act, actLogin(p, act))
			want := "succeeded"
			if !v.Available {
				want = string(v.Code)
			}
			if got != want {
				t.Errorf("%s %s: view says available=%v code=%q (%s); executor: %s", p.name(), act, v.Available, v.Code, v.Reason, got)
			}
			if !v.Available && v.Reason == "" {
				t.Errorf("%s %s: unavailable without a reason", p.name(), act)
			}
			compared++
		}
	}
	if want := len(ps) * len(tasks.Actions()); compared != want {
		t.Fatalf("compared %d cases, want %d", compared, want)
	}
}

func actLogin(p profile, act tasks.Action) string {
	return fmt.Sprintf("%s-%s@example.com", p.name(), strings.NewReplacer("user.", "", ".", "-", "_", "-").Replace(string(act)))
}

// executed runs act with default options on login: "succeeded", or the
// no-op's detail code, or the error code.
func executed(t *testing.T, e *okta.Executor, sim *oktasim.Sim, act tasks.Action, login string) string {
	t.Helper()
	args, _ := tasks.New(act)
	*args.Base() = req(e, login)
	switch a := args.(type) {
	case *tasks.UpdateGroups:
		a.Groups.Add = []string{"Engineering"}
	case *tasks.UpdateApps:
		a.Apps.Assign = []string{"Slack"}
	}
	res, err := e.Execute(context.Background(), args)
	if err != nil {
		return string(okta.ErrorInfo(err).Code)
	}
	switch res.Outcome {
	case tasks.OutcomeNoOp:
		return string(res.Detail.Code)
	case tasks.OutcomeSucceeded:
		return "succeeded"
	}
	return string(res.Outcome)
}

// roomyLimits lifts every bucket of the simulator far above what a table
// test spends in a window (the apps bucket is 100 a minute by default).
func roomyLimits() oktasim.RateLimits {
	rl := oktasim.RateLimits{}
	for _, name := range []string{oktasim.UsersBucket, "user-get", "user-update", "groups", "group", "app", "apps", "token", "api"} {
		rl.Buckets = append(rl.Buckets, oktasim.Bucket{Name: name, Limit: 1_000_000})
	}
	return rl
}
