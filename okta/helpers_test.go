package okta_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

const (
	testClientID = "0oaoktaqtestclient01"
	testSecret   = "cs-SUPER-secret-value-0123456789"
	testAPIToken = "00SSWS-secret-api-token-0123456789"
)

var allScopes = []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage, tasks.ScopeGroupsManage, tasks.ScopeAppsManage}

var statuses = []string{
	oktasim.StatusStaged, oktasim.StatusProvisioned, oktasim.StatusActive, oktasim.StatusRecovery,
	oktasim.StatusPasswordExpired, oktasim.StatusLockedOut, oktasim.StatusSuspended, oktasim.StatusDeprovisioned,
}

// login is the login of the seeded user who starts in status.
func login(status string) string { return strings.ToLower(status) + "+tag@example.com" }

// startSim serves a simulator seeded with one user per status (each with a
// factor, a session and a password), the group-name trap, an app, a
// client-secret client and an API token.
func startSim(t testing.TB, opts oktasim.Options) *oktasim.Sim {
	t.Helper()
	sim := oktasim.New(opts)
	srv := sim.Start()
	t.Cleanup(srv.Close)
	seed := oktasim.Seed{
		Groups: []oktasim.SeedGroup{
			{Name: "Engineering"}, {Name: "Engineering-Admins"},
			{Name: "Engineering-App", Type: oktasim.GroupApp},
		},
		Apps:      []oktasim.SeedApp{{Label: "Slack"}},
		Clients:   []oktasim.SeedClient{{ClientID: testClientID, ClientSecret: testSecret, Scopes: allScopes}},
		APITokens: []string{testAPIToken},
	}
	for _, st := range statuses {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: login(st), Status: st,
			Factors: []string{"sms"}, Password: true, Sessions: 1})
	}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	return sim
}

type execOpts struct {
	creds     *okta.Credentials
	scopes    []string
	rdb       redis.UniversalClient
	name      string
	logger    *slog.Logger
	clock     func() time.Time
	onCall    func(okta.CallInfo)
	transport http.RoundTripper
}

// newExecutor connects to sim, with the client secret by default.
func newExecutor(t testing.TB, sim *oktasim.Sim, o execOpts) *okta.Executor {
	t.Helper()
	if o.creds == nil {
		o.creds = &okta.Credentials{ClientID: testClientID, ClientSecret: testSecret}
	}
	if o.scopes == nil {
		o.scopes = allScopes
	}
	if o.rdb == nil {
		o.rdb, o.name = testRedis(t)
	}
	if o.name == "" {
		o.name = "default"
	}
	conn := &okta.Connection{Policy: tasks.Policy{Name: o.name, Scopes: o.scopes}, BaseURL: sim.URL(), Credentials: *o.creds}
	// The limiter production runs, on the same Redis.
	lo := ratelimit.DefaultConfig()
	lo.Clock, lo.Logger = o.clock, o.logger
	lim, err := ratelimit.New(o.rdb, lo)
	if err != nil {
		t.Fatal(err)
	}
	e, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: o.rdb, Logger: o.logger, Clock: o.clock,
		OnCall: o.onCall, Transport: o.transport, RequestTimeout: 5 * time.Second, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func req(e *okta.Executor, user string) tasks.Request {
	return tasks.Request{Connection: e.Connection().Name, User: user,
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}
}

// resultKey makes a producer key pair for actions that return secrets.
func resultKey(t *testing.T) (pub, priv string) {
	t.Helper()
	pub, priv, err := tasks.GenerateResultKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// outcome is "succeeded", "no_op" or the error code of a *PermanentError.
func outcome(t *testing.T, res *tasks.Result, err error) string {
	t.Helper()
	if res == nil {
		t.Fatal("nil result")
	}
	if err != nil {
		var p *okta.PermanentError
		if !errorsAs(err, &p) {
			t.Fatalf("error is not permanent: %T %v", err, err)
		}
		return string(p.Code)
	}
	return string(res.Outcome)
}

// testRedis is a Redis of this test's own (internal/redistest) and the
// connection name to use on it.
func testRedis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	return redistest.New(t).Client, "default"
}
