package tasks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Limits on request fields. They are generous for real data and keep a
// hostile payload from filling Redis or logs.
const (
	MaxGroups       = 100 // groups (or apps) changed by one request
	maxUserLen      = 256
	maxIDLen        = 128
	maxNameLen      = 255
	maxFutureSkew   = 5 * time.Minute
	oktaUserIDShape = `^00u[0-9A-Za-z]{17}$`
)

var (
	connectionRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	roleRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	keyRe        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	userIDRe     = regexp.MustCompile(oktaUserIDShape)
)

// FieldError is one bad field and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every bad field of a request.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

type validator struct{ errs []FieldError }

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// text checks a free string: length and no control characters.
func (v *validator) text(field, s string, max int, required bool) bool {
	switch {
	case s == "" && required:
		v.add(field, "is required")
	case len(s) > max:
		v.add(field, "is %d bytes long; at most %d allowed", len(s), max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.add(field, "contains a control character")
	case s != strings.TrimSpace(s):
		v.add(field, "has leading or trailing spaces")
	default:
		return true
	}
	return false
}

// CheckConnectionName says whether name can name a connection: requests
// are validated with the same rule, so a configured connection that broke
// it could never be used.
func CheckConnectionName(name string) error {
	if !connectionRe.MatchString(name) {
		return errors.New("must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
	}
	return nil
}

// CheckRole says whether role can be a requester role: the rule of
// requester.role, also applied to the role a capabilities query names.
func CheckRole(role string) error {
	if !roleRe.MatchString(role) {
		return errors.New("must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// Validate checks a request and returns a *ValidationError naming every bad
// field, or nil. It does not change the request; call Normalize first to
// fill defaults.
func Validate(a Args, now time.Time) error {
	v := &validator{}
	r := a.Base()
	if r.Version != PayloadVersion {
		v.add("v", "payload version %d is not supported; want %d", r.Version, PayloadVersion)
	}
	if r.Connection != "" {
		if err := CheckConnectionName(r.Connection); err != nil {
			v.add("connection", "%s", err.Error())
		}
	}
	validateUser(v, r.User)
	v.text("requester.id", r.Requester.ID, maxIDLen, true)
	if v.text("requester.role", r.Requester.Role, 64, true) {
		if err := CheckRole(r.Requester.Role); err != nil {
			v.add("requester.role", "%s", err.Error())
		}
	}
	validateTicket(v, r.Ticket)
	if r.IdempotencyKey != "" && !keyRe.MatchString(r.IdempotencyKey) {
		v.add("idempotency_key", "must be 1-128 letters, digits, '.', '_', ':' or '-'")
	}
	switch {
	case r.RequestedAt.IsZero():
		v.add("requested_at", "is required")
	case r.RequestedAt.After(now.Add(maxFutureSkew)):
		v.add("requested_at", "is in the future")
	}
	if !r.Deadline.IsZero() && !r.Deadline.After(r.RequestedAt) {
		v.add("deadline", "must be after requested_at")
	}
	v.text("producer", r.Producer, maxIDLen, false)
	validateResultKey(v, a)
	validateHoldFields(v, a, now)
	a.validateOptions(v)
	if len(v.errs) > 0 {
		return &ValidationError{Fields: v.errs}
	}
	return nil
}

// validateUser accepts an Okta user id or a full login of the form
// local@domain. Okta's GET /users/{idOrLogin} also resolves "me" (the
// token's own admin with an API token) and a login's short name (the part
// before '@', when unambiguous), so "me", "alice", "." or ".." would act on
// someone other than the one meant. A reference holding '@' with text on
// both sides is neither: Okta matches it only as a whole login. Logins may
// be any string in orgs that change the login pattern; such users are
// named by id.
func validateUser(v *validator, user string) {
	if !v.text("user", user, maxUserLen, true) {
		return
	}
	if err := CheckUserRef(user); err != nil {
		v.add("user", "%s", err.Error())
	}
}

// CheckUserRef says whether ref names one Okta user unambiguously: an
// Okta user id (00u and 17 letters or digits) or a full login
// (local@domain, no spaces or '/').
func CheckUserRef(ref string) error {
	if userIDRe.MatchString(ref) {
		return nil
	}
	switch at := strings.LastIndexByte(ref, '@'); {
	case strings.ContainsAny(ref, " \t"):
		return errors.New("a login cannot contain spaces")
	case strings.Contains(ref, "/"):
		return errors.New("a login containing '/' cannot be looked up in Okta; use the user's Okta id")
	case at <= 0 || at == len(ref)-1 || strings.HasPrefix(ref[at+1:], ".") || strings.HasSuffix(ref, "."):
		return fmt.Errorf("%q is neither an Okta user id (00u + 17 letters or digits) nor a full login (name@domain); Okta would resolve a short name or \"me\" to whoever matches", ref)
	}
	return nil
}

func validateTicket(v *validator, t Ticket) {
	v.text("ticket.system", t.System, 64, false)
	v.text("ticket.id", t.ID, maxIDLen, false)
}

func validateResultKey(v *validator, a Args) {
	key := a.Base().ResultKey
	if key == "" {
		if a.ReturnsSecret() {
			v.add("result_key", "is required: with these options Okta returns a secret, which oktaq seals to this key")
		}
		return
	}
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 32 {
		v.add("result_key", "must be a base64 X25519 public key (32 bytes)")
	}
}

// validateNames checks a list of group or app names/ids, and reports a name
// that appears twice in it or in other.
func validateNames(v *validator, field string, names []string, seen map[string]string) {
	for i, n := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !v.text(f, n, maxNameLen, true) {
			continue
		}
		k := strings.ToLower(n)
		if prev, ok := seen[k]; ok {
			v.add(f, "%q is already listed in %s", n, prev)
			continue
		}
		seen[k] = f
	}
}

func (*Activate) validateOptions(*validator)      {}
func (*Reactivate) validateOptions(*validator)    {}
func (*Deactivate) validateOptions(*validator)    {}
func (*Suspend) validateOptions(*validator)       {}
func (*Unsuspend) validateOptions(*validator)     {}
func (*Unlock) validateOptions(*validator)        {}
func (*ResetPassword) validateOptions(*validator) {}
func (*ResetMFA) validateOptions(*validator)      {}
func (*ClearSessions) validateOptions(*validator) {}

func (a *ExpirePassword) validateOptions(v *validator) {
	if a.Options.RevokeSessions && !a.Options.TempPassword {
		v.add("options.revoke_sessions", "applies only with temp_password: Okta revokes sessions only when it issues a temporary password")
	}
}

func (a *UpdateGroups) validateOptions(v *validator) {
	validateChanges(v, "groups", "add", "remove", a.Groups.Add, a.Groups.Remove)
}

func (a *UpdateApps) validateOptions(v *validator) {
	validateChanges(v, "apps", "assign", "unassign", a.Apps.Assign, a.Apps.Unassign)
}

func validateChanges(v *validator, field, in, out string, add, remove []string) {
	n := len(add) + len(remove)
	switch {
	case n == 0:
		v.add(field, "%s.%s and %s.%s are both empty: nothing to change", field, in, field, out)
		return
	case n > MaxGroups:
		v.add(field, "changes %d items; at most %d per request", n, MaxGroups)
		return
	}
	seen := map[string]string{}
	validateNames(v, field+"."+in, add, seen)
	validateNames(v, field+"."+out, remove, seen)
}
