package oktasim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// principal is who a request acts as: an SSWS API token (all scopes) or an OAuth client.
type principal struct {
	name   string
	client *client // nil for SSWS
	scopes map[string]bool
}

// authenticate resolves the Authorization header. On failure it returns Okta's error response.
func (s *Sim) authenticate(r *http.Request, now time.Time) (*principal, response) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	invalid := oktaErr(http.StatusUnauthorized, "E0000011", "Invalid token provided")
	switch {
	case scheme == "" && cred == "":
		return nil, oktaErr(http.StatusForbidden, "E0000005", "Invalid session")
	case strings.EqualFold(scheme, "SSWS"):
		if !s.apiKeys[cred] {
			return nil, invalid
		}
		return &principal{name: "ssws:" + cred[:min(6, len(cred))]}, response{}
	case strings.EqualFold(scheme, "Bearer"), strings.EqualFold(scheme, "DPoP"):
		t := s.tokens[cred]
		if t == nil || !now.Before(t.expires) {
			return nil, invalid
		}
		c := s.clients[t.clientID]
		if c == nil || c.revoked {
			return nil, invalid
		}
		// A DPoP-bound token is useless as a bearer token, and the proof must hold.
		if bound := t.jkt != ""; bound != strings.EqualFold(scheme, "DPoP") {
			return nil, invalid
		}
		if t.jkt != "" {
			if resp := s.apiDPoP(r, cred, t, now); resp != nil {
				return nil, *resp
			}
		}
		p := &principal{name: "client:" + c.id, client: c, scopes: map[string]bool{}}
		for _, sc := range t.scopes {
			p.scopes[sc] = true
		}
		return p, response{}
	}
	return nil, invalid
}

// hasScope: SSWS tokens have every scope; a manage scope grants its read scope.
func (p *principal) hasScope(scope string) bool {
	if p.client == nil {
		return true
	}
	if p.scopes[scope] {
		return true
	}
	if base, ok := strings.CutSuffix(scope, ".read"); ok {
		return p.scopes[base+".manage"]
	}
	return false
}

// insufficientScope is Okta's answer to a token lacking the scope: 403, empty body, and the
// required scope only in WWW-Authenticate.
func (s *Sim) insufficientScope(scope, path string) response {
	status := http.StatusForbidden
	if s.scope401 {
		status = http.StatusUnauthorized
	}
	h := http.Header{}
	h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s/oauth2/v1/authorize", realm="%s", `+
		`scope="%s", error="insufficient_scope", error_description="The access token provided does not `+
		`contain the required scopes.", resource="%s"`, s.baseURL, s.baseURL, scope, path))
	return response{status: status, header: h}
}

// featureOff is Okta's answer when the org lacks the feature an endpoint belongs to.
func featureOff() response {
	return oktaErr(http.StatusUnauthorized, "E0000015", "You do not have permission to access the feature you are requesting")
}

// DisableFeature makes every endpoint needing the admin-role permission perm (see doc.go)
// answer 401 E0000015, as Okta does when the org lacks the feature.
func (s *Sim) DisableFeature(perm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.features == nil {
		s.features = map[string]bool{}
	}
	s.features[perm] = true
}

// SetInsufficientScopeStatus401 answers a missing scope with 401 (true) instead of 403: Okta
// documents both for insufficient_scope (RFC 6750 allows either with the header).
func (s *Sim) SetInsufficientScopeStatus401(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scope401 = on
}
