package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// hooksEnv starts a simulator whose client has the given scopes and the
// API's event hook receiver, and points the configuration at both.
func hooksEnv(t *testing.T, scopes ...string) (*oktasim.Sim, string) {
	m := setProducerEnv(t)
	sim := oktasim.New(oktasim.Options{})
	seed := oktasim.DemoSeed()
	seed.Clients = []oktasim.SeedClient{{ClientID: "hooks-cli", ClientSecret: "hooks-cli-secret", Scopes: scopes}}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	t.Cleanup(srv.Close)
	t.Setenv("OKTAQ_OKTA_DOMAIN", srv.URL)
	t.Setenv("OKTAQ_OKTA_ALLOW_HTTP", "true")
	t.Setenv("OKTAQ_OKTA_CLIENT_ID", "hooks-cli")
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET", "hooks-cli-secret")
	t.Setenv("OKTAQ_OKTA_SCOPES", strings.Join(scopes, ","))
	t.Setenv("OKTAQ_EVENT_HOOK_SECRET", "cli-hook-secret-0a1b2c")
	policy := tasks.Policy{Name: "default", Scopes: scopes}
	c := enqueue.New(m.Opt, enqueue.Options{Connections: map[string]*tasks.Policy{"default": &policy}})
	t.Cleanup(func() { c.Close() })
	api := httptest.NewServer(enqueue.NewAPI(c, nil, enqueue.APIOptions{EventHookSecret: "cli-hook-secret-0a1b2c"}))
	t.Cleanup(api.Close)
	return sim, api.URL
}

func TestHooksRegisterAndList(t *testing.T) {
	_, apiURL := hooksEnv(t, "okta.users.read", "okta.users.manage", "okta.eventHooks.manage")
	code, out, errs := runCmd(t, "hooks", "list")
	if code != 0 || !strings.Contains(out, "no event hooks") {
		t.Fatalf("list before: %d %q %q", code, out, errs)
	}
	code, out, errs = runCmd(t, "hooks", "register", "--connection", "default", "--url", apiURL)
	if code != 0 || !strings.Contains(out, "verified and active") || !strings.Contains(out, apiURL+"/v1/okta/events/default") {
		t.Fatalf("register: %d %q %q", code, out, errs)
	}
	code, out, errs = runCmd(t, "hooks", "list")
	if code != 0 || !strings.Contains(out, "ACTIVE") || !strings.Contains(out, "VERIFIED") || !strings.Contains(out, "/v1/okta/events/default") {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	if strings.Contains(out+errs, "cli-hook-secret") {
		t.Error("the hook secret is printed")
	}
}

func TestHooksWithoutTheScopeSaysConfirmationIsOff(t *testing.T) {
	_, apiURL := hooksEnv(t, "okta.users.read", "okta.users.manage")
	code, out, errs := runCmd(t, "hooks", "register", "--url", apiURL)
	if code != 1 || !strings.Contains(errs, "okta.eventHooks.manage") || !strings.Contains(errs, "confirmation by Okta's events is off") {
		t.Fatalf("register without the scope: %d %q %q", code, out, errs)
	}
}

func TestHooksRegisterRefusesAWrongSecret(t *testing.T) {
	_, apiURL := hooksEnv(t, "okta.users.read", "okta.eventHooks.manage")
	t.Setenv("OKTAQ_EVENT_HOOK_SECRET", "not-the-api-secret")
	code, _, errs := runCmd(t, "hooks", "register", "--url", apiURL)
	if code != 1 || !strings.Contains(errs, "verify the event hook") {
		t.Fatalf("register with a secret the API does not know: %d %q", code, errs)
	}
}

func TestHooksUsage(t *testing.T) {
	for _, args := range [][]string{{"hooks"}, {"hooks", "delete"}, {"hooks", "register"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
