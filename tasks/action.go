package tasks

import "slices"

// Action names one thing oktaq can do to an Okta user, as in DESIGN.md's
// action table ("user.suspend"). Its asynq task type is "okta:" + the name.
type Action string

// The actions of DESIGN.md's table.
const (
	ActionActivate       Action = "user.activate"
	ActionReactivate     Action = "user.reactivate"
	ActionDeactivate     Action = "user.deactivate"
	ActionSuspend        Action = "user.suspend"
	ActionUnsuspend      Action = "user.unsuspend"
	ActionUnlock         Action = "user.unlock"
	ActionResetPassword  Action = "user.reset_password"
	ActionExpirePassword Action = "user.expire_password"
	ActionResetMFA       Action = "user.reset_mfa"
	ActionClearSessions  Action = "user.clear_sessions"
	ActionUpdateGroups   Action = "user.groups.update"
	ActionUpdateApps     Action = "user.apps.update"
)

// TypePrefix starts every asynq task type oktaq enqueues.
const TypePrefix = "okta:"

// Okta OAuth scopes oktaq knows about.
const (
	ScopeUsersRead    = "okta.users.read"
	ScopeUsersManage  = "okta.users.manage"
	ScopeGroupsRead   = "okta.groups.read"
	ScopeGroupsManage = "okta.groups.manage"
	ScopeAppsRead     = "okta.apps.read"
	ScopeAppsManage   = "okta.apps.manage"
)

// KnownScopes lists every scope a connection may enable. The sessions and
// event hook scopes are accepted but no action needs them (clearing a user's
// sessions is okta.users.manage; see DESIGN.md).
func KnownScopes() []string { return slices.Clone(knownScopes) }

var knownScopes = []string{
	ScopeUsersRead, ScopeUsersManage, ScopeGroupsRead, ScopeGroupsManage,
	ScopeAppsRead, ScopeAppsManage, "okta.sessions.read", "okta.sessions.manage",
	"okta.eventHooks.read", "okta.eventHooks.manage",
	"okta.principalRateLimits.read", "okta.rateLimits.read",
}

// Queues by urgency. Critical is served first.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

type actionInfo struct {
	scopes   []string
	critical bool
	newArgs  func() Args
}

var actions = map[Action]actionInfo{
	ActionActivate:       {scopes: []string{ScopeUsersRead, ScopeUsersManage}, newArgs: func() Args { return &Activate{} }},
	ActionReactivate:     {scopes: []string{ScopeUsersRead, ScopeUsersManage}, newArgs: func() Args { return &Reactivate{} }},
	ActionDeactivate:     {scopes: []string{ScopeUsersRead, ScopeUsersManage}, critical: true, newArgs: func() Args { return &Deactivate{} }},
	ActionSuspend:        {scopes: []string{ScopeUsersRead, ScopeUsersManage}, critical: true, newArgs: func() Args { return &Suspend{} }},
	ActionUnsuspend:      {scopes: []string{ScopeUsersRead, ScopeUsersManage}, newArgs: func() Args { return &Unsuspend{} }},
	ActionUnlock:         {scopes: []string{ScopeUsersRead, ScopeUsersManage}, newArgs: func() Args { return &Unlock{} }},
	ActionResetPassword:  {scopes: []string{ScopeUsersRead, ScopeUsersManage}, newArgs: func() Args { return &ResetPassword{} }},
	ActionExpirePassword: {scopes: []string{ScopeUsersRead, ScopeUsersManage}, newArgs: func() Args { return &ExpirePassword{} }},
	ActionResetMFA:       {scopes: []string{ScopeUsersRead, ScopeUsersManage}, critical: true, newArgs: func() Args { return &ResetMFA{} }},
	ActionClearSessions:  {scopes: []string{ScopeUsersRead, ScopeUsersManage}, critical: true, newArgs: func() Args { return &ClearSessions{} }},
	ActionUpdateGroups:   {scopes: []string{ScopeUsersRead, ScopeGroupsManage}, newArgs: func() Args { return &UpdateGroups{} }},
	ActionUpdateApps:     {scopes: []string{ScopeUsersRead, ScopeAppsManage}, newArgs: func() Args { return &UpdateApps{} }},
}

// Actions returns every action, sorted by name.
func Actions() []Action {
	out := make([]Action, 0, len(actions))
	for a := range actions {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Known reports whether a is one of the actions of the table.
func (a Action) Known() bool { _, ok := actions[a]; return ok }

// TypeName is the asynq task type: "okta:user.suspend".
func (a Action) TypeName() string { return TypePrefix + string(a) }

// Scopes are the Okta scopes the action needs, okta.users.read included.
func (a Action) Scopes() []string { return slices.Clone(actions[a].scopes) }

// Critical reports whether the action is a security response (suspend,
// deactivate, clear sessions, reset MFA) that jumps the queue.
func (a Action) Critical() bool { return actions[a].critical }

// Queue is the asynq queue the action goes to: critical for security
// actions, low for bulk work, default otherwise.
func (a Action) Queue(bulk bool) string {
	switch {
	case a.Critical():
		return QueueCritical
	case bulk:
		return QueueLow
	default:
		return QueueDefault
	}
}

// ActionFromType maps an asynq task type back to its action.
func ActionFromType(typeName string) (Action, bool) {
	if len(typeName) <= len(TypePrefix) || typeName[:len(TypePrefix)] != TypePrefix {
		return "", false
	}
	a := Action(typeName[len(TypePrefix):])
	return a, a.Known()
}

// New returns a zero value of the action's Go type, ready to decode into.
func New(a Action) (Args, bool) {
	info, ok := actions[a]
	if !ok {
		return nil, false
	}
	return info.newArgs(), true
}

// ManageScope reports whether enabling have also grants want: a manage
// scope includes its read scope, as Okta defines it.
func ManageScope(have, want string) bool {
	if have == want {
		return true
	}
	const read, manage = ".read", ".manage"
	return len(want) > len(read) && want[len(want)-len(read):] == read &&
		have == want[:len(want)-len(read)]+manage
}
