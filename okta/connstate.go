package okta

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// codeFeatureNotEnabled is Okta's E0000015 on a 401: the org lacks the
// feature; new credentials would not help.
const codeFeatureNotEnabled = "E0000015"

// DefaultProbeInterval is how long a failed token request stands for the
// whole connection (all workers) before one worker asks Okta again.
const DefaultProbeInterval = 5 * time.Second

// ConnectionDownError means the connection cannot get a token: the token
// endpoint refused the credentials (invalid_client, consent_required,
// access_denied, invalid_dpop_proof, ...) or failed (5xx, unreachable).
// It is the connection's failure, not the task's: the worker reschedules
// the task at Until without spending an attempt, marks the connection
// down (/readyz, oktaq_connection_up) and the next probe after Until
// decides again. The error never holds a secret or a token.
type ConnectionDownError struct {
	Connection string
	// Code is the token endpoint's error ("invalid_client"), "http_503"
	// for a failure without one, or "unreachable".
	Code    string
	Summary string
	// Until is when the next probe may ask Okta, on the local clock.
	Until time.Time
	// Pending: no answer yet, another worker's probe is under way; the
	// connection's state is unchanged.
	Pending bool
}

func (e *ConnectionDownError) Error() string {
	return fmt.Sprintf("connection %q is down: token request failed (%s): %s; next probe at %s",
		e.Connection, e.Code, e.Summary, e.Until.Format(time.RFC3339))
}

// hint says what an operator does about a token endpoint refusal.
func tokenHint(code string) string {
	switch code {
	case "invalid_client":
		return "check the client id and the client secret or private key (and its kid); a custom service app must use a private key"
	case "invalid_scope", "consent_required":
		return "grant the connection's scopes to the app in the Admin Console (Okta API Scopes tab) or disable them in OKTAQ_OKTA_SCOPES"
	case "access_denied":
		return "the app is not allowed this grant; check that it is an API service app with the client credentials grant"
	case "invalid_dpop_proof", "use_dpop_nonce":
		return "the app requires DPoP: set OKTAQ_OKTA_DPOP=true (or \"dpop\": true in the connections file)"
	}
	return ""
}

// credentials401 reports whether a 401 says the credentials (the token)
// are bad: not when Okta names a missing feature (E0000015) or a missing
// scope (insufficient_scope in WWW-Authenticate), which a new token would
// not change.
func credentials401(c *call) bool {
	if c == nil || c.Status != http.StatusUnauthorized {
		return false
	}
	if _, ok := insufficientScope(c.wwwAuthenticate); ok {
		return false
	}
	var body oktaErrorBody
	_ = json.Unmarshal(c.body, &body)
	return body.ErrorCode != codeFeatureNotEnabled
}

// unauthorizedNotCredentials names a 401 that is not about credentials; it
// is permanent.
func unauthorizedNotCredentials(c *call, code, summary string) error {
	if scope, ok := insufficientScope(c.wwwAuthenticate); ok {
		return &PermanentError{Code: tasks.CodeInsufficientScope, Scope: scope, Status: c.Status, RequestID: c.RequestID,
			Summary: "the access token lacks scope " + scope + "; grant it to the app in Okta (Okta API Scopes tab) and enable it for the connection"}
	}
	return &PermanentError{Code: tasks.Code(code), Status: c.Status, RequestID: c.RequestID,
		Summary: orText(summary, "feature not enabled") + "; the org lacks the feature this action needs (E0000015): ask Okta support or your Okta admin to enable it"}
}
