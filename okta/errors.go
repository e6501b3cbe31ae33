package okta

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// The executor returns one of five error classes; the worker maps them onto
// asynq with errors.As: Permanent -> archive at once (SkipRetry),
// RateLimited -> reschedule at Until without counting a failure,
// ConnectionDown (connstate.go) -> reschedule at the connection's next
// probe without counting a failure, Transient -> retry with backoff,
// Unauthorized -> retry slowly and fail loudly (an API token Okta refuses).

// PermanentError is a refusal that a retry would only repeat: bad input, a
// target that does not exist or is ambiguous, an invalid state transition,
// a missing scope, a permission Okta denies.
type PermanentError struct {
	// Code is Okta's errorCode (E0000038) or OAuth error (invalid_scope),
	// or oktaq's own (tasks.CodeNotFound, tasks.CodeUnconfirmed...).
	Code    tasks.Code
	Summary string
	// Scope is the missing OAuth scope, for insufficient_scope.
	Scope     string
	Status    int
	RequestID string
	// Hint is one line a help-desk agent can act on; empty means the
	// executor derives it from Code, the action and the user (hints.go).
	Hint string
}

func (e *PermanentError) Error() string {
	s := fmt.Sprintf("okta refused (%s): %s", e.Code, e.Summary)
	if e.Scope != "" {
		s += " (scope " + e.Scope + ")"
	}
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// TransientError is a failure that may pass: 5xx, a timeout, a lost
// connection, E0000112 (user still being activated).
type TransientError struct {
	Err    error
	Status int
}

func (e *TransientError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("okta temporarily failed (HTTP %d): %v", e.Status, e.Err)
	}
	return fmt.Sprintf("okta temporarily unreachable: %v", e.Err)
}

func (e *TransientError) Unwrap() error { return e.Err }

// RateLimitedError is a 429: the bucket is empty until Until.
type RateLimitedError struct {
	// Until is on the local clock: now + (X-Rate-Limit-Reset - Date), so a
	// skewed local clock does not matter.
	Until  time.Time
	Bucket string
	// Concurrency is set for Okta's concurrency limit (X-Rate-Limit-Limit
	// 0): Until is then only Okta's estimate.
	Concurrency bool
}

func (e *RateLimitedError) Error() string {
	kind := "rate limited"
	if e.Concurrency {
		kind = "concurrency limited"
	}
	return fmt.Sprintf("okta %s on bucket %s until %s", kind, e.Bucket, e.Until.Format(time.RFC3339))
}

// UnauthorizedError means Okta refused the credentials on an API call even
// after a fresh token: an API token that is wrong, revoked or expired (an
// OAuth client whose token request is refused gets ConnectionDownError).
type UnauthorizedError struct {
	// Code is Okta's errorCode or OAuth error, or tasks.CodeUnauthorized.
	Code    tasks.Code
	Summary string
}

func (e *UnauthorizedError) Error() string {
	return fmt.Sprintf("okta rejected the credentials (%s): %s", e.Code, e.Summary)
}

// oktaErrorBody is Okta's error JSON (notes section 0).
type oktaErrorBody struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

// classify turns one recorded call into nil or a classified error. It reads
// only what the transport recorded (status, headers, raw body), never the
// SDK's error text.
func classify(c *call) error {
	switch {
	case c.denied != nil:
		return c.denied
	case c.authErr != nil:
		return c.authErr
	case c.err != nil:
		return &TransientError{Err: c.err}
	case c.Status >= 200 && c.Status < 300:
		return nil
	case c.Status == http.StatusTooManyRequests:
		return &RateLimitedError{Until: c.resetLocal(), Bucket: c.Bucket, Concurrency: c.HasLimit && c.Limit == 0}
	}
	var body oktaErrorBody
	_ = json.Unmarshal(c.body, &body)
	summary := body.ErrorSummary
	for _, cause := range body.ErrorCauses {
		if cause.ErrorSummary != "" && cause.ErrorSummary != summary {
			summary += "; " + cause.ErrorSummary
		}
	}
	switch {
	case c.Status == http.StatusUnauthorized && !credentials401(c):
		return unauthorizedNotCredentials(c, body.ErrorCode, summary)
	case c.Status == http.StatusUnauthorized:
		code := tasks.Code(body.ErrorCode)
		if code == "" {
			code = tasks.CodeUnauthorized
		}
		return &UnauthorizedError{Code: code, Summary: orText(summary, "authentication failed")}
	case c.Status >= 500:
		return &TransientError{Err: errors.New(orText(summary, http.StatusText(c.Status))), Status: c.Status}
	case body.ErrorCode == "E0000112":
		return &TransientError{Err: errors.New(body.ErrorCode + ": " + summary), Status: c.Status}
	case c.Status == http.StatusForbidden && body.ErrorCode == "":
		if scope, ok := insufficientScope(c.wwwAuthenticate); ok {
			return &PermanentError{Code: tasks.CodeInsufficientScope, Scope: scope, Status: c.Status, RequestID: c.RequestID,
				Summary: "the access token lacks scope " + scope + "; grant it to the app in Okta (Okta API Scopes tab) and enable it for the connection"}
		}
	}
	code := tasks.Code(body.ErrorCode)
	if code == "" {
		code = tasks.HTTPStatus(c.Status)
	}
	if code == "E0000006" {
		// With the scope granted, E0000006 means the app's admin role
		// is missing or does not cover the target (groups we never
		// send: only OKTA_GROUP memberships are changed).
		code, summary = tasks.CodeAdminRoleMissing, "E0000006: "+orText(summary, "permission denied")
	}
	return &PermanentError{Code: code, Summary: orText(summary, http.StatusText(c.Status)), Status: c.Status, RequestID: c.RequestID}
}

// insufficientScope parses `Bearer error="insufficient_scope",
// scope="okta.users.manage"` (RFC 6750).
func insufficientScope(h string) (string, bool) {
	if !strings.Contains(h, "insufficient_scope") {
		return "", false
	}
	_, after, ok := strings.Cut(h, `scope="`)
	if !ok {
		return "", true
	}
	scope, _, _ := strings.Cut(after, `"`)
	return scope, true
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
