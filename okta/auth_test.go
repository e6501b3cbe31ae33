package okta_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

func suspend(t *testing.T, e *okta.Executor, status string) (*tasks.Result, error) {
	t.Helper()
	return e.Execute(context.Background(), &tasks.Suspend{Request: req(e, login(status))})
}

func TestAuthModes(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oaprivatekeyclient1", KeyID: "kid-1", Scopes: allScopes,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))}); err != nil {
		t.Fatal(err)
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	for _, c := range []struct {
		name  string
		creds okta.Credentials
	}{
		{"client secret", okta.Credentials{ClientID: testClientID, ClientSecret: testSecret}},
		{"private key", okta.Credentials{ClientID: "0oaprivatekeyclient1", PrivateKeyPEM: okta.Secret(privPEM), PrivateKeyID: "kid-1"}},
		{"api token", okta.Credentials{APIToken: testAPIToken}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sim.SetUserStatus(login("ACTIVE"), "ACTIVE")
			e := newExecutor(t, sim, execOpts{creds: &c.creds})
			if err := e.CheckCredentials(context.Background()); err != nil {
				t.Fatal(err)
			}
			res, err := suspend(t, e, "ACTIVE")
			if err != nil || res.Outcome != tasks.OutcomeSucceeded {
				t.Fatalf("%v %+v", err, res)
			}
		})
	}
}

func TestWrongSecretSaysInvalidClient(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	const wrong = "wrong-secret-must-not-leak-42"
	e := newExecutor(t, sim, execOpts{creds: &okta.Credentials{ClientID: testClientID, ClientSecret: wrong}})
	res, err := suspend(t, e, "ACTIVE")
	var u *okta.ConnectionDownError
	if !errors.As(err, &u) || u.Code != "invalid_client" || res.Error.Code != tasks.CodeConnectionDown {
		t.Fatalf("got %T %v", err, err)
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(res.Error.Summary, wrong) {
		t.Errorf("error shows the secret: %v", err)
	}
	if err := e.CheckCredentials(context.Background()); !errors.As(err, &u) {
		t.Errorf("CheckCredentials: %v", err)
	}
}

// An expired (or revoked) token draws a 401: it is dropped, one new token is
// fetched and the call is made once more.
func TestExpiredTokenRefreshedOnce(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	if _, err := suspend(t, e, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	sim.ResetRequests()
	sim.ExpireTokens()
	res, err := suspend(t, e, "SUSPENDED") // no-op: 1 GET, retried once after the 401
	if err != nil || res.Outcome != tasks.OutcomeNoOp {
		t.Fatalf("%v %+v", err, res)
	}
	if n := sim.TokenRequests(); n != 1 {
		t.Errorf("token requests after expiry: %d, want 1", n)
	}
	// Revoked credentials: 401, and the fresh token is refused: the
	// connection is down.
	sim.RevokeClient(testClientID)
	sim.ExpireTokens()
	_, err = suspend(t, e, "SUSPENDED")
	var u *okta.ConnectionDownError
	if !errors.As(err, &u) || u.Code != "invalid_client" {
		t.Fatalf("revoked client: %T %v", err, err)
	}
}

func TestMissingScope(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oanarrowclient00001", ClientSecret: testSecret,
		Scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}}); err != nil {
		t.Fatal(err)
	}
	narrow := &okta.Credentials{ClientID: "0oanarrowclient00001", ClientSecret: testSecret}

	t.Run("not enabled for the connection", func(t *testing.T) {
		e := newExecutor(t, sim, execOpts{creds: narrow, scopes: []string{tasks.ScopeUsersRead}})
		_, err := suspend(t, e, "ACTIVE")
		var p *okta.PermanentError
		if !errors.As(err, &p) || p.Code != tasks.CodeScopeNotEnabled || p.Scope != tasks.ScopeUsersManage {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not granted to the app: only its actions fail", func(t *testing.T) {
		e := newExecutor(t, sim, execOpts{creds: narrow})
		if _, err := suspend(t, e, "ACTIVE"); err != nil {
			t.Fatalf("suspend needs no ungranted scope: %v", err)
		}
		_, err := e.Execute(context.Background(), &tasks.UpdateApps{Request: req(e, login("ACTIVE")),
			Apps: tasks.AppChanges{Assign: []string{"Slack"}}})
		var p *okta.PermanentError
		if !errors.As(err, &p) || p.Code != tasks.CodeScopeNotGranted || p.Scope != tasks.ScopeAppsManage || strings.Contains(err.Error(), testSecret) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("token lacks it: insufficient_scope", func(t *testing.T) {
		tok := sim.IssueToken("0oanarrowclient00001", tasks.ScopeUsersRead)
		swap := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			return http.DefaultTransport.RoundTrip(r)
		})
		e := newExecutor(t, sim, execOpts{creds: narrow, scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}, transport: swap})
		sim.SetUserStatus(login("ACTIVE"), "ACTIVE")
		_, err := suspend(t, e, "ACTIVE")
		var p *okta.PermanentError
		if !errors.As(err, &p) || p.Code != tasks.CodeInsufficientScope || p.Scope != tasks.ScopeUsersManage {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(err.Error(), tasks.ScopeUsersManage) {
			t.Errorf("error does not name the scope: %v", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Two executors (two workers) sharing Redis fetch one token between them.
func TestTwoExecutorsShareOneToken(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	rdb, name := testRedis(t)
	a := newExecutor(t, sim, execOpts{rdb: rdb, name: name})
	b := newExecutor(t, sim, execOpts{rdb: rdb, name: name})
	var wg sync.WaitGroup
	for _, e := range []*okta.Executor{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.CheckCredentials(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := suspend(t, b, "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	if n := sim.TokenRequests(); n != 1 {
		t.Errorf("token requests: %d, want 1", n)
	}
	// Redis holds no usable token in clear.
	keys, _ := rdb.Keys(context.Background(), "oktaq:token:"+name+":*").Result()
	if len(keys) != 1 {
		t.Fatalf("token keys %v", keys)
	}
	v, _ := rdb.Get(context.Background(), keys[0]).Result()
	if strings.Contains(v, "eyJ") {
		t.Errorf("token stored in clear")
	}
}

// NewConfiguration of the SDK reads ~/.okta/okta.yaml and OKTA_CLIENT_*;
// none of it may reach the client.
func TestSDKIgnoresEnvironmentAndOktaYAML(t *testing.T) {
	var stray sync.Map
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stray.Store(r.URL.Path, r.Header.Get("Authorization"))
		w.WriteHeader(500)
	}))
	defer decoy.Close()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".okta"), 0o700); err != nil {
		t.Fatal(err)
	}
	yaml := "okta:\n  client:\n    orgUrl: " + decoy.URL + "\n    token: yaml-token\n    authorizationMode: SSWS\n" +
		"    proxy:\n      host: 127.0.0.1\n      port: 1\n    rateLimit:\n      maxRetries: 5\n      maxBackoff: 30\n    cache:\n      enabled: true\n"
	if err := os.WriteFile(filepath.Join(home, ".okta", "okta.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("OKTA_CLIENT_TOKEN", "env-token")
	t.Setenv("OKTA_CLIENT_ORGURL", decoy.URL)
	t.Setenv("OKTA_CLIENT_RATELIMIT_MAXRETRIES", "7")
	t.Setenv("OKTA_CLIENT_RATE_LIMIT_MAX_RETRIES", "7")
	t.Setenv("OKTA_CLIENT_AUTHORIZATIONMODE", "SSWS")
	t.Setenv("OKTA_DEBUG", "true")
	t.Setenv("OKTA_CLIENT_CACHE_ENABLED", "true")

	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	for i := 0; i < 2; i++ { // twice: a cache would answer the second GET
		if res, err := suspend(t, e, "SUSPENDED"); err != nil || res.Okta.Calls != 1 {
			t.Fatalf("%v %+v", err, res)
		}
	}
	stray.Range(func(k, v any) bool { t.Errorf("request went to the decoy: %v %v", k, v); return true })
	n := 0
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			n++
			if r.Principal != "client:"+testClientID {
				t.Errorf("%s %s as %q", r.Method, r.Path, r.Principal)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d API requests reached the sim, want 2 (no cache)", n)
	}
}
