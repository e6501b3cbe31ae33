package oktasim

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

type client struct {
	id, secret, kid string
	appType         string
	key             any // public key for private_key_jwt, nil if none
	scopes          map[string]bool
	denied          map[string]bool
	revoked         bool
	requireDPoP     bool
}

type accessToken struct {
	clientID string
	scopes   []string
	expires  time.Time
	jkt      string // DPoP key thumbprint the token is bound to (cnf.jkt); "" for Bearer
}

// tokenLifetime is fixed by Okta for the org authorization server.
const tokenLifetime = time.Hour

func newClient(sc SeedClient) (*client, error) {
	c := &client{id: sc.ClientID, secret: sc.ClientSecret, kid: sc.KeyID, appType: sc.AppType,
		scopes: map[string]bool{}, denied: map[string]bool{}, requireDPoP: sc.RequireDPoP}
	if c.id == "" {
		return nil, errorf("client without client_id")
	}
	switch {
	case c.appType == "" && sc.PublicKeyPEM != "":
		c.appType = AppService
	case c.appType == "":
		c.appType = AppAPIServiceIntegration
	case c.appType != AppService && c.appType != AppAPIServiceIntegration:
		return nil, errorf("client %s: app_type %q is not %s or %s", c.id, c.appType, AppAPIServiceIntegration, AppService)
	}
	if c.appType == AppAPIServiceIntegration && sc.PublicKeyPEM != "" {
		return nil, errorf("client %s: an API service integration authenticates with a client secret, not a key", c.id)
	}
	for _, s := range sc.Scopes {
		c.scopes[s] = true
	}
	for _, p := range sc.DeniedPermissions {
		c.denied[p] = true
	}
	if sc.PublicKeyPEM != "" {
		k, err := parsePublicKey(sc.PublicKeyPEM)
		if err != nil {
			return nil, errorf("client %s: %v", c.id, err)
		}
		c.key = k
	}
	return c, nil
}

func oauthErr(status int, code, desc string) response {
	return response{status: status, body: map[string]string{"error": code, "error_description": desc},
		header: http.Header{"Cache-Control": {"no-cache, no-store"}, "Pragma": {"no-cache"}}}
}

// token serves POST /oauth2/v1/token (client_credentials only); s.mu is held.
// Parameters are read from the query string too, because the SDK's private-key mode sends them there.
func (s *Sim) token(w http.ResponseWriter, r *http.Request, principal *string) response {
	s.tokenReq++
	now := s.now()
	if r.Method != http.MethodPost {
		return oktaErr(http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
	}
	_ = r.ParseForm()
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: both are form-encoded before basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
	}
	assertion := r.Form.Get("client_assertion")
	if assertion != "" && id == "" {
		id = assertionSubject(assertion)
	}
	*principal = "client:" + id
	rl, allowed := s.limiter.take(r.Method, r.URL.Path, *principal, now)
	setRateHeaders(w.Header(), rl.limit, rl.remaining, rl.reset)
	if !allowed {
		return rateLimited()
	}
	if gt := r.Form.Get("grant_type"); gt != "client_credentials" {
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type",
			"The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials].")
	}
	c := s.clients[id]
	if c == nil || c.revoked {
		return oauthErr(http.StatusUnauthorized, "invalid_client", "Invalid value for 'client_id' parameter.")
	}
	if assertion != "" {
		if typ := r.Form.Get("client_assertion_type"); typ != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return oauthErr(http.StatusBadRequest, "invalid_request", "The client_assertion_type is invalid.")
		}
		if desc := s.verifyAssertion(c, assertion, now); desc != "" {
			return oauthErr(http.StatusUnauthorized, "invalid_client", desc)
		}
	} else if resp := s.checkSecret(c, secret, basic); resp != nil {
		return *resp
	}
	jkt := ""
	if c.requireDPoP {
		var resp *response
		if jkt, resp = s.tokenDPoP(r, now); resp != nil {
			return *resp
		}
	}
	scopes := strings.Fields(r.Form.Get("scope"))
	if len(scopes) == 0 {
		return oauthErr(http.StatusBadRequest, "invalid_scope",
			"The authorization server resource does not have any configured default scopes, 'scope' must be provided.")
	}
	// One scope not granted refuses the whole request; a manage scope does not stand in for
	// its read scope here (it does on the API).
	var refused []string
	for _, sc := range scopes {
		if !c.scopes[sc] {
			refused = append(refused, sc)
		}
	}
	switch {
	case len(refused) == len(scopes):
		return oauthErr(http.StatusBadRequest, "consent_required", "You are not allowed any of the requested scopes.")
	case len(refused) > 0:
		return oauthErr(http.StatusBadRequest, "invalid_scope",
			"The following scopes are not allowed: ["+strings.Join(refused, ", ")+"]")
	}
	tok := s.issue(c.id, scopes, now)
	tokenType := "Bearer"
	if jkt != "" {
		s.tokens[tok].jkt, tokenType = jkt, "DPoP"
	}
	resp := ok(map[string]any{"token_type": tokenType, "expires_in": int(tokenLifetime.Seconds()),
		"access_token": tok, "scope": strings.Join(scopes, " ")})
	resp.header = http.Header{"Cache-Control": {"no-cache, no-store"}, "Pragma": {"no-cache"}}
	return resp
}

// checkSecret authenticates a client secret: only an API service integration has one
// that counts for Okta scopes, and only with client_secret_basic.
func (s *Sim) checkSecret(c *client, secret string, basic bool) *response {
	var resp response
	switch {
	case c.appType == AppService:
		resp = oauthErr(http.StatusUnauthorized, "invalid_client",
			"Client Credentials requests to the Org Authorization Server must use the private_key_jwt token_endpoint_auth_method.")
	case c.secret == "" || !basic:
		resp = oauthErr(http.StatusUnauthorized, "invalid_client",
			"Client authentication failed. Either the client or the client credentials are invalid.")
	case subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1:
		resp = oauthErr(http.StatusUnauthorized, "invalid_client",
			"The client secret supplied for a confidential client is invalid.")
	default:
		return nil
	}
	return &resp
}

func (s *Sim) issue(clientID string, scopes []string, now time.Time) string {
	tok := "eyJraWQiOi" + base64.RawURLEncoding.EncodeToString([]byte(randomString(48)))
	s.tokens[tok] = &accessToken{clientID: clientID, scopes: scopes, expires: now.Add(tokenLifetime)}
	return tok
}

// IssueToken mints a bearer token without a token request. With no scopes, the client's own
// scopes are used; an unknown client is registered with the given scopes.
func (s *Sim) IssueToken(clientID string, scopes ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[clientID]
	if c == nil {
		c = &client{id: clientID, scopes: map[string]bool{}, denied: map[string]bool{}}
		for _, sc := range scopes {
			c.scopes[sc] = true
		}
		s.clients[clientID] = c
	}
	if len(scopes) == 0 {
		for sc := range c.scopes {
			scopes = append(scopes, sc)
		}
		sort.Strings(scopes)
	}
	return s.issue(clientID, scopes, s.now())
}

// AddClient registers (or replaces) an OAuth service app.
func (s *Sim) AddClient(sc SeedClient) error {
	c, err := newClient(sc)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.id] = c
	return nil
}

// AddAPIToken registers an SSWS API token.
func (s *Sim) AddAPIToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiKeys[tok] = true
}

// RevokeClient deactivates the client: its tokens get 401 E0000011, token requests invalid_client.
func (s *Sim) RevokeClient(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[clientID]; c != nil {
		c.revoked = true
	}
}

// ExpireTokens makes every bearer token issued so far expired.
func (s *Sim) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.tokens {
		t.expires = now
	}
}
