package okta

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/oktaq/oktaq/tasks"
)

// Scope grants. Okta refuses a whole token request when one requested
// scope is not granted to the app (invalid_scope, or consent_required when
// none is), and a manage scope includes its read scope but asking for the
// read scope of an app granted only the manage scope is refused too. So
// the token request asks for the enabled scopes without the read scopes
// their manage scope covers; if Okta refuses, each scope is probed alone
// (a read scope only when its manage scope is refused), the token is asked
// for with what Okta grants, and the others are reported by name. Each
// fetch (hourly) starts again from all enabled scopes, so a grant added in
// the Admin Console is picked up without a restart.

// requestScopes is what a token request asks for: the enabled scopes, minus
// read scopes whose manage scope is enabled.
func requestScopes(enabled []string) []string {
	var out []string
	for _, s := range enabled {
		covered := slices.ContainsFunc(enabled, func(have string) bool { return have != s && tasks.ManageScope(have, s) })
		if !covered && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// scopeRefusal reports whether Okta refused the token request for its
// scopes.
func scopeRefusal(err error) bool {
	var down *ConnectionDownError
	return errors.As(err, &down) && (down.Code == "invalid_scope" || down.Code == "consent_required")
}

// fetch gets a token for as many enabled scopes as Okta grants.
func (f *tokenClient) fetch(ctx context.Context) (*token, error) {
	want := requestScopes(f.conn.Scopes)
	t, err := f.request(ctx, want)
	if !scopeRefusal(err) {
		return t, err
	}
	refusal := err
	var granted, refused []string
	for i := 0; i < len(want); i++ {
		s := want[i]
		_, err := f.request(ctx, []string{s})
		switch {
		case err == nil:
			granted = append(granted, s)
		case scopeRefusal(err):
			refused = append(refused, s)
			if read, ok := strings.CutSuffix(s, ".manage"); ok && slices.Contains(f.conn.Scopes, read+".read") {
				want = append(want, read+".read")
			}
		default:
			return nil, err
		}
	}
	if len(granted) == 0 {
		return nil, refusal
	}
	f.log.WarnContext(ctx, "Okta does not grant every enabled scope to the app; actions needing them fail with "+string(tasks.CodeScopeNotGranted),
		"not_granted", strings.Join(refused, " "), "granted", strings.Join(granted, " "),
		"fix", "grant them in the Admin Console (the app's Okta API Scopes tab) or remove them from the connection's scopes")
	return f.request(ctx, granted)
}

// grants says for each enabled scope whether the token carries it,
// directly or through its manage scope.
func grants(enabled, carried []string) map[string]bool {
	out := make(map[string]bool, len(enabled))
	for _, s := range enabled {
		out[s] = slices.ContainsFunc(carried, func(have string) bool { return tasks.ManageScope(have, s) })
	}
	return out
}

// checkGranted fails an action that needs a scope Okta did not grant,
// naming it. It gets the token first (from memory, as a rule), so a down
// connection answers with its *ConnectionDownError.
func (e *Executor) checkGranted(ctx context.Context, a tasks.Action) error {
	o, ok := e.auth.(*oauthAuth)
	if !ok {
		return nil
	}
	t, err := o.cache.get(ctx)
	if err != nil {
		return err
	}
	if len(t.Scopes) == 0 {
		return nil // a token shared by an older oktaq: grants unknown
	}
	g := grants(e.conn.Scopes, t.Scopes)
	for _, s := range a.Scopes() {
		if !g[s] {
			return &PermanentError{Code: tasks.CodeScopeNotGranted, Scope: s,
				Summary: s + " is enabled for connection " + e.conn.Name + " but Okta did not grant it to the app (client " +
					e.conn.Credentials.ClientID + "); grant it in the Admin Console (the app's Okta API Scopes tab)"}
		}
	}
	return nil
}

// ScopeGrants says for each enabled scope whether Okta granted it, as of
// the current token; nil before the first token, and for an API token
// (which has no scopes of its own).
func (e *Executor) ScopeGrants() map[string]bool {
	o, ok := e.auth.(*oauthAuth)
	if !ok {
		return nil
	}
	o.cache.mu.Lock()
	t := o.cache.cur
	o.cache.mu.Unlock()
	if t == nil || len(t.Scopes) == 0 {
		return nil
	}
	return grants(e.conn.Scopes, t.Scopes)
}
