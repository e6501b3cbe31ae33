package tasks

import (
	"errors"
	"fmt"
	"time"
)

// UserView is what a help desk sees of one Okta user before it acts
// (GET /v1/users/{ref}): who the user is, where they sign in, their
// groups, factors and apps, and which actions the requester's role may
// take now and why not. Sections the connection's scopes cannot read are
// nil and named in Omitted.
type UserView struct {
	ID                    string            `json:"id"`
	Login                 string            `json:"login"`
	Email                 string            `json:"email,omitempty"`
	Status                string            `json:"status"`
	TransitioningToStatus string            `json:"transitioning_to_status,omitempty"`
	Provider              UserProvider      `json:"provider"`
	Profile               map[string]string `json:"profile"`
	Created               *time.Time        `json:"created,omitempty"`
	Activated             *time.Time        `json:"activated,omitempty"`
	LastLogin             *time.Time        `json:"last_login,omitempty"`
	PasswordChanged       *time.Time        `json:"password_changed,omitempty"`
	StatusChanged         *time.Time        `json:"status_changed,omitempty"`
	Groups                []UserGroup       `json:"groups"`
	Factors               []UserFactor      `json:"factors"`
	Apps                  []UserApp         `json:"apps"`
	// Actions says for every action whether the role may take it on this
	// user now; nil when no role was given.
	Actions []UserAction `json:"actions,omitempty"`
	// PendingActions are the asking producer's actions on this user that
	// wait for a second person (awaiting_approval) or for the user's
	// answer to a push (awaiting_verification); ExpiringAccess the
	// removals of the user's time-bound access, each at its run_at. Read
	// from oktaq's own queue on every view, never cached; another
	// producer's actions are not shown (results stay per producer).
	PendingActions []HeldAction `json:"pending_actions"`
	ExpiringAccess []HeldAction `json:"expiring_access"`
	// Omitted names each section left out and why (a scope the connection
	// does not enable or Okta does not grant).
	Omitted []Omission `json:"omitted,omitempty"`
	// Connection and Role are what the view was asked for.
	Connection string `json:"connection"`
	Role       string `json:"role,omitempty"`
	// FetchedAt is when Okta was read; a cached answer keeps the time of
	// the read it repeats.
	FetchedAt time.Time `json:"fetched_at"`
	// Cached is true when the answer came from the cache, not from Okta.
	Cached bool `json:"cached"`
}

// UserProvider is where the user's credentials live
// (credentials.provider): type OKTA, ACTIVE_DIRECTORY, LDAP, FEDERATION or
// SOCIAL, and the name Okta gives it.
type UserProvider struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// UserGroup is one group the user is in.
type UserGroup struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is OKTA_GROUP, APP_GROUP (mastered elsewhere: oktaq cannot
	// change it) or BUILT_IN.
	Type string `json:"type"`
}

// UserFactor is one enrolled factor.
type UserFactor struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Provider string `json:"provider,omitempty"`
	Status   string `json:"status,omitempty"`
}

// UserApp is one app assigned to the user (directly or through a group).
type UserApp struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// UserAction is one action's availability for the user and the role.
type UserAction struct {
	Action    Action `json:"action"`
	Available bool   `json:"available"`
	// Code names why not, machine-readably: role_not_allowed,
	// scope_not_enabled, scope_not_granted, federated_user,
	// directory_password, already_done, or the error code Okta answers
	// in this state (E0000038...), the one the worker would record.
	Code Code `json:"code,omitempty"`
	// Reason says why not in words an agent understands; for an
	// available action it may carry a note (what will happen).
	Reason string `json:"reason,omitempty"`
}

// HeldAction is one action on a user that waits: for a second person
// (awaiting_approval), for the user's answer to a push
// (awaiting_verification), or the removal of a time-bound access
// (ExpiresAccess, at RunAt). GET /v1/actions/{id} shows it in full.
type HeldAction struct {
	ID       string `json:"id"`
	Action   Action `json:"action"`
	State    string `json:"state"`
	Producer string `json:"producer"`
	// ExpiresAccess marks the removal of a time-bound access, granted by
	// the action FollowUpOf; RunAt is when the access ends.
	ExpiresAccess bool      `json:"expires_access,omitempty"`
	FollowUpOf    string    `json:"follow_up_of,omitempty"`
	RunAt         time.Time `json:"run_at,omitzero"`
	// ApprovalExpiresAt is when an action awaiting approval expires.
	ApprovalExpiresAt time.Time `json:"approval_expires_at,omitzero"`
}

// Omission is one section of the view that was not read.
type Omission struct {
	Section string `json:"section"`
	Reason  string `json:"reason"`
	// Scope is the Okta scope that would let oktaq read it.
	Scope string `json:"scope,omitempty"`
}

// ForRole fills Actions for role from the state verdicts (Actions as read,
// role-free) and the connection's policy: a scope the connection does not
// enable or a role it does not allow outranks the user's state. It
// returns a copy; v is not changed, so a cached view serves every role.
func (v *UserView) ForRole(p *Policy, role string) *UserView {
	out := *v
	out.Role = role
	if role == "" {
		out.Actions = nil
		return &out
	}
	out.Actions = make([]UserAction, 0, len(v.Actions))
	for _, st := range v.Actions {
		a := st
		var na *NotAllowedError
		if err := p.Authorize(st.Action, role); errors.As(err, &na) {
			a.Available, a.Code = false, na.Code()
			if na.Scope != "" {
				a.Reason = fmt.Sprintf("the scope %s is not enabled for connection %s: ask the oktaq operators", na.Scope, p.Name)
			} else {
				a.Reason = fmt.Sprintf("your role %s may not %s on this connection", role, st.Action.Verb())
			}
		}
		out.Actions = append(out.Actions, a)
	}
	return &out
}

// Verb is the action in a few words, for sentences.
func (a Action) Verb() string {
	if v, ok := verbs[a]; ok {
		return v
	}
	return string(a)
}

var verbs = map[Action]string{
	ActionActivate: "activate users", ActionReactivate: "reactivate users", ActionDeactivate: "deactivate users",
	ActionSuspend: "suspend users", ActionUnsuspend: "unsuspend users", ActionUnlock: "unlock users",
	ActionResetPassword: "reset passwords", ActionExpirePassword: "expire passwords", ActionResetMFA: "reset MFA",
	ActionClearSessions: "clear sessions", ActionUpdateGroups: "change group memberships", ActionUpdateApps: "change app assignments",
}

// ViewError says why a user view could not be given.
type ViewError struct {
	// Code: CodeNotFound (no such user), CodeRateLimited (the limiter or
	// Okta says wait), CodeConnectionDown or CodeTransient (Okta cannot be
	// reached now), or Okta's own code for a refusal.
	Code    Code
	Summary string
	// RetryAt is when asking again makes sense (rate limited,
	// unavailable); zero if unknown.
	RetryAt time.Time
}

func (e *ViewError) Error() string { return fmt.Sprintf("user view (%s): %s", e.Code, e.Summary) }

// AuthorizeConnection returns nil when producer may name connection (the
// connection half of Authorize, for reads that assert no role).
func (p Producers) AuthorizeConnection(producer, connection string) error {
	if connection == "" {
		connection = DefaultConnection
	}
	if p.Connections != nil && !allows(p.Connections[producer], connection) {
		return &ProducerNotAllowedError{Producer: producer, Connection: connection}
	}
	return nil
}

// IsUserID reports whether ref is an Okta user id (00u...), as opposed to
// a login.
func IsUserID(ref string) bool { return userIDRe.MatchString(ref) }
