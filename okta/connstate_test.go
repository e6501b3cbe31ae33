package okta_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// fakeClock is a settable clock for the executor; the simulator keeps
// real time (its token lifetime is an hour, far beyond any step here).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func groupsTask(e *okta.Executor) *tasks.UpdateGroups {
	return &tasks.UpdateGroups{Request: req(e, login("ACTIVE")), Groups: tasks.GroupChanges{Add: []string{"Engineering"}}}
}

// An app granted only okta.users.manage must work although the connection
// enables okta.users.read too: manage includes read, and asking Okta for
// the read scope would refuse the whole token request.
func TestManageOnlyGrantWorks(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oamanageonly00001", ClientSecret: testSecret,
		Scopes: []string{tasks.ScopeUsersManage}}); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t, sim, execOpts{creds: &okta.Credentials{ClientID: "0oamanageonly00001", ClientSecret: testSecret},
		scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}})
	res, err := suspend(t, e, "ACTIVE")
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("suspend with manage only: %v", err)
	}
}

// One enabled scope that Okta does not grant fails only the actions that
// need it, naming it; the others run, and the grants are reported.
func TestUngrantedScopeFailsOnlyItsActions(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oausersonly000001", ClientSecret: testSecret,
		Scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}}); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t, sim, execOpts{creds: &okta.Credentials{ClientID: "0oausersonly000001", ClientSecret: testSecret}})
	if err := e.CheckCredentials(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	res, err := suspend(t, e, "ACTIVE")
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("suspend: %v", err)
	}
	_, err = e.Execute(context.Background(), groupsTask(e))
	var p *okta.PermanentError
	if !errors.As(err, &p) || p.Code != tasks.CodeScopeNotGranted || p.Scope != tasks.ScopeGroupsManage {
		t.Fatalf("update_groups: %T %v", err, err)
	}
	g := e.ScopeGrants()
	if !g[tasks.ScopeUsersManage] || g[tasks.ScopeGroupsManage] || g[tasks.ScopeAppsManage] {
		t.Errorf("grants: %v", g)
	}
	if _, ok := g[tasks.ScopeGroupsManage]; !ok {
		t.Errorf("an ungranted enabled scope is not reported: %v", g)
	}
}

// A wrong secret is the connection's failure: every task gets
// ConnectionDownError (not a failed attempt), the token endpoint is asked
// once per probe interval however many tasks come, and a fixed secret file
// is read at the next probe, which brings the connection back.
func TestWrongSecretIsConnectionDownUntilTheFileIsFixed(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(file, []byte("wrong-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	rdb, name := testRedis(t)
	creds := &okta.Credentials{ClientID: testClientID, ClientSecret: "wrong-secret", ClientSecretFile: file}
	a := newExecutor(t, sim, execOpts{creds: creds, clock: clock.Now, rdb: rdb, name: name})
	b := newExecutor(t, sim, execOpts{creds: creds, clock: clock.Now, rdb: rdb, name: name})
	before := sim.TokenRequests()
	for i := range 10 {
		e := []*okta.Executor{a, b}[i%2]
		sim.SetUserStatus(login("ACTIVE"), "ACTIVE")
		_, err := suspend(t, e, "ACTIVE")
		var down *okta.ConnectionDownError
		if !errors.As(err, &down) || down.Code != "invalid_client" || !down.Until.After(clock.Now()) {
			t.Fatalf("task %d: %T %v", i, err, err)
		}
	}
	if n := sim.TokenRequests() - before; n != 1 {
		t.Fatalf("token requests for 10 tasks on two workers: %d, want 1 (one probe)", n)
	}
	if err := os.WriteFile(file, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Add(okta.DefaultProbeInterval)
	res, err := suspend(t, b, "ACTIVE")
	if err != nil || res.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("after the fix: %v", err)
	}
	if _, err := suspend(t, a, "ACTIVE"); err != nil {
		t.Fatalf("other worker after the fix: %v", err)
	}
	if n := sim.TokenRequests() - before; n != 2 {
		t.Errorf("token requests: %d, want 2 (failed probe, good probe; the token is shared)", n)
	}
}

// A token endpoint answering 5xx is the connection being down too.
func TestTokenEndpoint5xxIsConnectionDown(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 503, Match: "/oauth2/"})
	e := newExecutor(t, sim, execOpts{})
	err := e.CheckCredentials(context.Background())
	var down *okta.ConnectionDownError
	if !errors.As(err, &down) || down.Code != "http_503" {
		t.Fatalf("check: %T %v", err, err)
	}
}

// 401 E0000015 (feature off) and a 401 insufficient_scope are not bad
// credentials: permanent, named, and no new token is fetched for them.
func TestUnauthorizedThatIsNotCredentials(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	if err := e.CheckCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := sim.TokenRequests()
	sim.DisableFeature("user.suspend")
	_, err := suspend(t, e, "ACTIVE")
	var p *okta.PermanentError
	if !errors.As(err, &p) || p.Code != "E0000015" {
		t.Fatalf("feature off: %T %v", err, err)
	}
	narrow := startSim(t, oktasim.Options{})
	narrow.SetInsufficientScopeStatus401(true)
	if err := narrow.AddClient(oktasim.SeedClient{ClientID: "0oareadonly0000001", ClientSecret: testSecret,
		Scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}}); err != nil {
		t.Fatal(err)
	}
	// The token says users.read only: the API answers 401 insufficient_scope.
	only := narrow.IssueToken("0oareadonly0000001", tasks.ScopeUsersRead)
	swap := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			r.Header.Set("Authorization", "Bearer "+only)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	e2 := newExecutor(t, narrow, execOpts{creds: &okta.Credentials{ClientID: "0oareadonly0000001", ClientSecret: testSecret},
		scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}, transport: swap})
	_, err = suspend(t, e2, "ACTIVE")
	if !errors.As(err, &p) || p.Code != "insufficient_scope" || p.Scope != tasks.ScopeUsersManage {
		t.Fatalf("401 insufficient_scope: %T %v", err, err)
	}
	if n := sim.TokenRequests() - before; n != 0 {
		t.Errorf("token requests after a feature 401: %d, want 0", n)
	}
}

// DPoP with a private key (custom service app) and with a client secret
// (API service integration): the simulator checks every proof.
func TestDPoP(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	priv, _ := x509.MarshalECPrivateKey(key)
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oadpopkey00000001", RequireDPoP: true, Scopes: allScopes,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oadpopsecret00001", RequireDPoP: true, Scopes: allScopes,
		ClientSecret: testSecret}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		creds okta.Credentials
	}{
		{"private key", okta.Credentials{ClientID: "0oadpopkey00000001", PrivateKeyPEM: okta.Secret(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: priv}))}},
		{"client secret", okta.Credentials{ClientID: "0oadpopsecret00001", ClientSecret: testSecret}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim.SetUserStatus(login("ACTIVE"), "ACTIVE")
			e := newDPoPExecutor(t, sim, c.creds)
			res, err := suspend(t, e, "ACTIVE")
			if err != nil || res.Outcome != tasks.OutcomeSucceeded {
				t.Fatalf("suspend: %v", err)
			}
			// Several calls, each with its own proof (a replayed jti is refused).
			res, err = e.Execute(context.Background(), groupsTask(e))
			if err != nil || res.Okta.Calls < 2 {
				t.Fatalf("update_groups: %v %+v", err, res)
			}
		})
	}
	t.Run("without DPoP the token request is refused and the connection is down", func(t *testing.T) {
		e := newExecutor(t, sim, execOpts{creds: &okta.Credentials{ClientID: "0oadpopsecret00001", ClientSecret: testSecret}})
		err := e.CheckCredentials(context.Background())
		var down *okta.ConnectionDownError
		if !errors.As(err, &down) || down.Code != "invalid_dpop_proof" {
			t.Fatalf("%T %v", err, err)
		}
	})
}

func newDPoPExecutor(t *testing.T, sim *oktasim.Sim, creds okta.Credentials) *okta.Executor {
	t.Helper()
	rdb, name := testRedis(t)
	conn := &okta.Connection{Policy: tasks.Policy{Name: name, Scopes: allScopes}, BaseURL: sim.URL(), Credentials: creds, DPoP: true}
	lim, err := ratelimit.New(rdb, ratelimit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, RequestTimeout: 5 * time.Second, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// No enabled scope granted: the connection is down (consent_required),
// each scope was tried once, and the next probe waits longer than after a
// credentials refusal.
func TestNoScopeGrantedIsConnectionDown(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oanothing00000001", ClientSecret: testSecret,
		Scopes: []string{"okta.eventHooks.read"}}); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := newExecutor(t, sim, execOpts{creds: &okta.Credentials{ClientID: "0oanothing00000001", ClientSecret: testSecret},
		scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage, tasks.ScopeGroupsManage}, clock: clock.Now})
	before := sim.TokenRequests()
	for range 3 {
		_, err := suspend(t, e, "ACTIVE")
		var down *okta.ConnectionDownError
		if !errors.As(err, &down) || down.Code != "consent_required" || !down.Until.After(clock.Now().Add(okta.DefaultProbeInterval)) {
			t.Fatalf("%T %v", err, err)
		}
	}
	// users.manage, groups.manage together; each alone; then users.read
	// alone (its manage scope was refused): 4 requests, for three tasks.
	if n := sim.TokenRequests() - before; n != 4 {
		t.Errorf("token requests: %d, want 4", n)
	}
}

// Many tasks at once on two workers while the token endpoint is slow and
// refuses: one probe, the others wait for its answer and share it.
func TestConcurrentTasksShareOneFailedProbe(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	sim.SetFaults(oktasim.Faults{Latency: 200 * time.Millisecond, Match: "/oauth2/"})
	rdb, name := testRedis(t)
	creds := &okta.Credentials{ClientID: testClientID, ClientSecret: "wrong-secret"}
	execs := []*okta.Executor{newExecutor(t, sim, execOpts{creds: creds, rdb: rdb, name: name}),
		newExecutor(t, sim, execOpts{creds: creds, rdb: rdb, name: name})}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- execs[i%2].CheckCredentials(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var down *okta.ConnectionDownError
		if !errors.As(err, &down) || down.Code != "invalid_client" {
			t.Fatalf("%T %v", err, err)
		}
	}
	if n := sim.TokenRequests(); n != 1 {
		t.Errorf("token requests for 16 concurrent tasks: %d, want 1", n)
	}
}
