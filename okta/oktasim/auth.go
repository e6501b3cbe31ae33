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
	case strings.EqualFold(scheme, "Bearer"):
		t := s.tokens[cred]
		if t == nil || !now.Before(t.expires) {
			return nil, invalid
		}
		c := s.clients[t.clientID]
		if c == nil || c.revoked {
			return nil, invalid
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
	h := http.Header{}
	h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s/oauth2/v1/authorize", realm="%s", `+
		`scope="%s", error="insufficient_scope", error_description="The access token provided does not `+
		`contain the required scopes.", resource="%s"`, s.baseURL, s.baseURL, scope, path))
	return response{status: http.StatusForbidden, header: h}
}
