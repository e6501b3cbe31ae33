package oktasim_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// proofSpec builds a DPoP proof; each test case spoils one part.
type proofSpec struct {
	key    *ecdsa.PrivateKey // signs
	jwkKey *ecdsa.PrivateKey // embedded as jwk (default: key)
	typ    string
	claims map[string]any
}

func (p proofSpec) sign(t *testing.T) string {
	t.Helper()
	jwk := p.jwkKey
	if jwk == nil {
		jwk = p.key
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(p.typ)).
		WithHeader("jwk", jose.JSONWebKey{Key: &jwk.PublicKey, Algorithm: "ES256"})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(p.claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

func dpopTokenRequest(t *testing.T, srv *httptest.Server, proof string) (int, map[string]any, http.Header) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.users.read"}}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth2/v1/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("0oadpop00000000001", "dpop-secret")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header
}

func TestDPoPChecks(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	if err := sim.AddClient(oktasim.SeedClient{ClientID: "0oadpop00000000001", ClientSecret: "dpop-secret",
		Scopes: []string{"okta.users.read"}, RequireDPoP: true}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tokenURL := srv.URL + "/oauth2/v1/token"
	now := time.Now().Unix()
	n := 0
	claims := func(htm, htu string, extra ...any) map[string]any {
		n++
		c := map[string]any{"htm": htm, "htu": htu, "iat": now, "jti": "jti-" + string(rune('a'+n))}
		for i := 0; i+1 < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		return c
	}

	// No proof, then a proof without the nonce: use_dpop_nonce with the nonce.
	if st, body, _ := dpopTokenRequest(t, srv, ""); st != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("no proof: %d %v", st, body)
	}
	st, body, h := dpopTokenRequest(t, srv, proofSpec{key: key, typ: "dpop+jwt", claims: claims("POST", tokenURL)}.sign(t))
	nonce := h.Get("DPoP-Nonce")
	if st != 400 || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("no nonce: %d %v", st, body)
	}
	for _, c := range []struct {
		name string
		p    proofSpec
	}{
		{"typ", proofSpec{key: key, typ: "JWT", claims: claims("POST", tokenURL, "nonce", nonce)}},
		{"signature by another key", proofSpec{key: other, jwkKey: key, typ: "dpop+jwt", claims: claims("POST", tokenURL, "nonce", nonce)}},
		{"htm", proofSpec{key: key, typ: "dpop+jwt", claims: claims("GET", tokenURL, "nonce", nonce)}},
		{"htu", proofSpec{key: key, typ: "dpop+jwt", claims: claims("POST", tokenURL+"?x=1", "nonce", nonce)}},
		{"iat", proofSpec{key: key, typ: "dpop+jwt", claims: map[string]any{"htm": "POST", "htu": tokenURL, "iat": now - 600, "jti": "old", "nonce": nonce}}},
	} {
		if st, body, _ := dpopTokenRequest(t, srv, c.p.sign(t)); st != 400 || body["error"] != "invalid_dpop_proof" {
			t.Errorf("%s: %d %v", c.name, st, body)
		}
	}
	good := proofSpec{key: key, typ: "dpop+jwt", claims: claims("POST", tokenURL, "nonce", nonce)}.sign(t)
	st, body, _ = dpopTokenRequest(t, srv, good)
	if st != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("good proof: %d %v", st, body)
	}
	if st, body, _ := dpopTokenRequest(t, srv, good); st != 400 || body["error"] != "invalid_dpop_proof" {
		t.Errorf("replayed jti: %d %v", st, body)
	}
	tok := body["access_token"].(string)
	sum := sha256.Sum256([]byte(tok))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	apiURL := srv.URL + "/api/v1/users/alice@example.com"
	call := func(scheme, proof string) int {
		req, _ := http.NewRequest("GET", apiURL+"?expand=x", nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name, scheme string
		proof        string
		want         int
	}{
		{"bound token as Bearer", "Bearer", proofSpec{key: key, typ: "dpop+jwt", claims: claims("GET", apiURL, "ath", ath)}.sign(t), 401},
		{"no proof", "DPoP", "", 401},
		{"wrong ath", "DPoP", proofSpec{key: key, typ: "dpop+jwt", claims: claims("GET", apiURL, "ath", "AAAA")}.sign(t), 401},
		{"another key (cnf.jkt)", "DPoP", proofSpec{key: other, typ: "dpop+jwt", claims: claims("GET", apiURL, "ath", ath)}.sign(t), 401},
		{"htu with the query", "DPoP", proofSpec{key: key, typ: "dpop+jwt", claims: claims("GET", apiURL+"?expand=x", "ath", ath)}.sign(t), 401},
		{"good", "DPoP", proofSpec{key: key, typ: "dpop+jwt", claims: claims("GET", apiURL, "ath", ath)}.sign(t), 200},
	} {
		if got := call(c.scheme, c.proof); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
