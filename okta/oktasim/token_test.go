package oktasim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/okta/oktasim"
)

type tokenAnswer struct {
	status int
	body   map[string]any
}

func postToken(t *testing.T, srv *httptest.Server, form url.Values, basicID, basicSecret string) tokenAnswer {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/oauth2/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return tokenAnswer{resp.StatusCode, body}
}

func TestTokenClientSecret(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.users.read okta.users.manage"}}
	basic := postToken(t, srv, form, oktasim.DemoClientID, oktasim.DemoClientSecret)
	if basic.status != 200 || basic.body["token_type"] != "Bearer" || basic.body["expires_in"] != 3600.0 ||
		basic.body["scope"] != "okta.users.read okta.users.manage" || basic.body["access_token"] == "" {
		t.Fatalf("basic: %+v", basic)
	}
	post := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.groups.read"},
		"client_id": {oktasim.DemoClientID}, "client_secret": {oktasim.DemoClientSecret}}
	// An API service integration authenticates with client_secret_basic only.
	if a := postToken(t, srv, post, "", ""); a.status != 401 || a.body["error"] != "invalid_client" {
		t.Fatalf("client_secret_post: %+v", a)
	}
	bad := postToken(t, srv, form, oktasim.DemoClientID, "wrong")
	if bad.status != 401 || bad.body["error"] != "invalid_client" ||
		bad.body["error_description"] != "The client secret supplied for a confidential client is invalid." {
		t.Fatalf("bad secret: %+v", bad)
	}
	form.Set("scope", "okta.users.manage okta.eventHooks.manage")
	if a := postToken(t, srv, form, oktasim.DemoClientID, oktasim.DemoClientSecret); a.status != 400 || a.body["error"] != "invalid_scope" ||
		!strings.Contains(a.body["error_description"].(string), "okta.eventHooks.manage") {
		t.Fatalf("ungranted scope: %+v", a)
	}
	form.Del("scope")
	if a := postToken(t, srv, form, oktasim.DemoClientID, oktasim.DemoClientSecret); a.status != 400 || a.body["error"] != "invalid_scope" {
		t.Fatalf("empty scope: %+v", a)
	}
	if n := sim.TokenRequests(); n != 5 {
		t.Fatalf("token requests: %d", n)
	}

	// The token works against the API through the SDK's Bearer mode.
	c := sdk(t, srv, "Bearer", basic.body["access_token"].(string))
	if _, _, err := c.UserAPI.GetUser(context.Background(), "alice@example.com").Execute(); err != nil {
		t.Fatal(err)
	}
}

func pemOf(t *testing.T, typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestTokenPrivateKeyJWTViaSDK(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oajwtclient", PublicKeyPEM: pemOf(t, "PUBLIC KEY", pub),
		KeyID: "kid1", Scopes: oktasim.ManageScopes}); err != nil {
		t.Fatal(err)
	}
	c := sdk(t, srv, "PrivateKey", "", okta.WithClientId("0oajwtclient"), okta.WithScopes([]string{"okta.users.read"}),
		okta.WithPrivateKey(pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))), okta.WithPrivateKeyId("kid1"))
	for i := 0; i < 3; i++ {
		if _, _, err := c.UserAPI.GetUser(context.Background(), "alice@example.com").Execute(); err != nil {
			t.Fatal(err)
		}
	}
	if n := sim.TokenRequests(); n != 1 {
		t.Fatalf("the SDK caches its token; got %d token requests", n)
	}
}

// es256 signs claims by hand, to probe each check of the assertion.
func es256(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signed := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	d := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestTokenPrivateKeyJWTChecks(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "svc", PublicKeyPEM: pemOf(t, "PUBLIC KEY", pub),
		Scopes: []string{"okta.users.read"}}); err != nil {
		t.Fatal(err)
	}
	aud := srv.URL + "/oauth2/v1/token"
	now := time.Now()
	good := map[string]any{"iss": "svc", "sub": "svc", "aud": aud, "exp": now.Add(5 * time.Minute).Unix(), "jti": "j1"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m["jti"] = k
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		jwt    string
		status int
	}{
		{"good", es256(t, key, good), 200},
		{"replayed jti", es256(t, key, good), 401},
		{"wrong key", es256(t, other, with("x", 1)), 401},
		{"wrong aud", es256(t, key, with("aud", "https://evil/oauth2/v1/token")), 401},
		{"expired", es256(t, key, with("exp", now.Add(-time.Minute).Unix())), 401},
		{"too far", es256(t, key, with("exp", now.Add(2*time.Hour).Unix())), 401},
		{"iss", es256(t, key, with("iss", "other")), 401},
	}
	for _, tc := range cases {
		a := postToken(t, srv, url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.users.read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {tc.jwt}}, "", "")
		if a.status != tc.status {
			t.Errorf("%s: %d %+v", tc.name, a.status, a.body)
		}
	}
}

func TestBearerAuthorization(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	ctx := context.Background()
	readOnly := sim.IssueToken(oktasim.DemoClientID, "okta.users.read")
	c := sdk(t, srv, "Bearer", readOnly)
	if _, _, err := c.UserAPI.GetUser(ctx, "alice@example.com").Execute(); err != nil {
		t.Fatal(err)
	}
	resp, err := c.UserAPI.SuspendUser(ctx, "alice@example.com").Execute()
	if st, code := errCode(t, resp, err); st != 403 || code != "" {
		t.Fatalf("missing scope: %d %q", st, code)
	}
	want := `Bearer authorization_uri="` + srv.URL + `/oauth2/v1/authorize", realm="` + srv.URL +
		`", scope="okta.users.manage", error="insufficient_scope", error_description="The access token provided ` +
		`does not contain the required scopes.", resource="/api/v1/users/alice@example.com/lifecycle/suspend"`
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Fatalf("WWW-Authenticate:\n got %s\nwant %s", got, want)
	}
	manage := sdk(t, srv, "Bearer", sim.IssueToken(oktasim.DemoClientID, "okta.groups.manage"))
	if _, _, err := manage.GroupAPI.GetGroup(ctx, sim.GroupID("Sales")).Execute(); err != nil {
		t.Fatalf("manage includes read: %v", err)
	}

	sim.ExpireTokens()
	_, resp2, err := c.UserAPI.GetUser(ctx, "alice@example.com").Execute()
	if st, code := errCode(t, resp2, err); st != 401 || code != "E0000011" {
		t.Fatalf("expired: %d %s", st, code)
	}
	fresh := sdk(t, srv, "Bearer", sim.IssueToken(oktasim.DemoClientID))
	sim.RevokeClient(oktasim.DemoClientID)
	_, resp3, err := fresh.UserAPI.GetUser(ctx, "alice@example.com").Execute()
	if st, code := errCode(t, resp3, err); st != 401 || code != "E0000011" {
		t.Fatalf("revoked: %d %s", st, code)
	}
	noAuth, _ := http.Get(srv.URL + "/api/v1/users/alice@example.com")
	noAuth.Body.Close()
	if noAuth.StatusCode != 403 {
		t.Fatalf("no Authorization: %d", noAuth.StatusCode)
	}
}

func TestDeniedPermissionIsE0000006(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "helpdesk", ClientSecret: "s", Scopes: oktasim.ManageScopes,
		DeniedPermissions: []string{"user.suspend"}}); err != nil {
		t.Fatal(err)
	}
	c := sdk(t, srv, "Bearer", sim.IssueToken("helpdesk"))
	resp, err := c.UserAPI.SuspendUser(context.Background(), "alice@example.com").Execute()
	if st, code := errCode(t, resp, err); st != 403 || code != "E0000006" {
		t.Fatalf("%d %s", st, code)
	}
	if _, err := c.UserAPI.UnlockUser(context.Background(), "erin@example.com").Execute(); err != nil {
		t.Fatalf("other permissions still work: %v", err)
	}
}

// Okta scopes need private_key_jwt from a custom service app: its secret is refused; one
// scope not granted refuses the whole request, and none granted is consent_required.
func TestTokenAppTypesAndGrants(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oacustomservice001", ClientSecret: "custom-secret",
		PublicKeyPEM: pemOf(t, "PUBLIC KEY", der), Scopes: []string{"okta.users.manage"}}); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.users.manage"}}
	a := postToken(t, srv, form, "0oacustomservice001", "custom-secret")
	if a.status != 401 || a.body["error"] != "invalid_client" || !strings.Contains(a.body["error_description"].(string), "private_key_jwt") {
		t.Fatalf("custom service app with a secret: %+v", a)
	}
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oamanageonly00001", ClientSecret: "s", Scopes: []string{"okta.users.manage"}}); err != nil {
		t.Fatal(err)
	}
	form.Set("scope", "okta.users.read okta.users.manage")
	if a := postToken(t, srv, form, "0oamanageonly00001", "s"); a.status != 400 || a.body["error"] != "invalid_scope" {
		t.Fatalf("read asked, manage granted: %+v", a)
	}
	form.Set("scope", "okta.groups.manage")
	if a := postToken(t, srv, form, "0oamanageonly00001", "s"); a.status != 400 || a.body["error"] != "consent_required" {
		t.Fatalf("nothing granted: %+v", a)
	}
	form.Set("scope", "okta.users.manage")
	if a := postToken(t, srv, form, "0oamanageonly00001", "s"); a.status != 200 {
		t.Fatalf("manage alone: %+v", a)
	}
}
