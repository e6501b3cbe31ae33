package tasks

import (
	"fmt"
	"slices"
	"strings"
)

// Policy is what one connection lets requesters do: the Okta scopes
// enabled for it and, for each action, the requester roles allowed to
// trigger it. Producers check it before enqueue and workers again before
// execute; it holds no credentials, so a producer needs no Okta client.
type Policy struct {
	// Name is the connection's name.
	Name string
	// Scopes are the OAuth scopes enabled for the connection. An API token
	// has no scopes of its own; Scopes then still says what oktaq may do.
	Scopes []string
	Roles  Roles
	// Approvals names the actions that wait for a second person and the
	// roles that may approve them (OKTAQ_APPROVALS).
	Approvals Roles
	// VerifyUser names the actions that first ask the target user to
	// confirm with an Okta Verify push (OKTAQ_VERIFY_USER).
	VerifyUser VerifyPolicy
}

// Check verifies the scopes are known and okta.users.read is enabled
// (nothing can be found or shown without reading the user).
func (p *Policy) Check() error {
	for _, s := range p.Scopes {
		if !slices.Contains(knownScopes, s) {
			return fmt.Errorf("connection %q: unknown scope %q; known: %s", p.Name, s, strings.Join(knownScopes, ", "))
		}
	}
	if !p.HasScope(ScopeUsersRead) {
		return fmt.Errorf("connection %q: scope %s must be enabled: oktaq cannot find or show a user without it", p.Name, ScopeUsersRead)
	}
	return nil
}

// HasScope reports whether want is enabled, directly or through its manage
// scope.
func (p *Policy) HasScope(want string) bool {
	return slices.ContainsFunc(p.Scopes, func(have string) bool { return ManageScope(have, want) })
}

// MissingScope returns the first scope the action needs that is not
// enabled, or "".
func (p *Policy) MissingScope(a Action) string {
	for _, s := range a.Scopes() {
		if !p.HasScope(s) {
			return s
		}
	}
	return ""
}

// Authorize returns nil when role may trigger the action on this
// connection and the scope it needs is enabled, or a *NotAllowedError
// naming the missing scope or the role.
func (p *Policy) Authorize(a Action, role string) error {
	if s := p.MissingScope(a); s != "" {
		return &NotAllowedError{Connection: p.Name, Action: a, Scope: s}
	}
	if !p.Roles.Allows(a, role) {
		return &NotAllowedError{Connection: p.Name, Action: a, Role: role}
	}
	return nil
}

// NotAllowedError says why a connection's policy refuses an action.
type NotAllowedError struct {
	Connection string
	Action     Action
	// Scope is set when the scope is not enabled; Role when the requester's
	// role may not trigger the action.
	Scope string
	Role  string
}

func (e *NotAllowedError) Error() string {
	if e.Scope != "" {
		return fmt.Sprintf("%s needs Okta scope %s, which is not enabled for connection %q", e.Action, e.Scope, e.Connection)
	}
	return fmt.Sprintf("role %q may not trigger %s on connection %q", e.Role, e.Action, e.Connection)
}

// Code is CodeScopeNotEnabled or CodeRoleNotAllowed.
func (e *NotAllowedError) Code() Code {
	if e.Scope != "" {
		return CodeScopeNotEnabled
	}
	return CodeRoleNotAllowed
}

// Roles says which requester roles may trigger which actions.
type Roles map[Action][]string

// ParseRoles parses "action=role|role;action=role", where action "*"
// stands for every action, e.g. "*=it-admin;user.reset_password=helpdesk".
// Roles add up: the example lets it-admin do everything and helpdesk reset
// passwords.
func ParseRoles(s string) (Roles, error) {
	p := Roles{}
	err := eachActionRule(s, "action=role|role", func(i int, rule string, targets []Action, roles string) error {
		for _, role := range strings.Split(roles, "|") {
			role = strings.TrimSpace(role)
			if role == "" {
				return fmt.Errorf("rule %d %q has an empty role", i+1, rule)
			}
			for _, a := range targets {
				if !slices.Contains(p[a], role) {
					p[a] = append(p[a], role)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// eachActionRule walks "action=value;action=value" (the form of
// OKTAQ_ROLES, OKTAQ_APPROVALS, OKTAQ_VERIFY_USER), "*" standing for every
// action: each gets the rule's number (from 0), its text, the actions it
// names and its value. form names the rule's shape in errors.
func eachActionRule(s, form string, each func(i int, rule string, targets []Action, value string) error) error {
	for i, rule := range strings.Split(s, ";") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		name, value, ok := strings.Cut(rule, "=")
		if !ok {
			return fmt.Errorf("rule %d %q is not %s", i+1, rule, form)
		}
		name = strings.TrimSpace(name)
		var targets []Action
		if name == "*" {
			targets = Actions()
		} else if a := Action(name); a.Known() {
			targets = []Action{a}
		} else {
			return fmt.Errorf("rule %d names unknown action %q; known: *, %s", i+1, name, joinActions())
		}
		if err := each(i, rule, targets, value); err != nil {
			return err
		}
	}
	return nil
}

// Allows reports whether role may trigger a.
func (r Roles) Allows(a Action, role string) bool {
	return role != "" && slices.Contains(r[a], role)
}

func joinActions() string {
	names := make([]string, 0, len(Actions()))
	for _, a := range Actions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}
