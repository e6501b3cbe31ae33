package tasks

import "time"

// Args is one action request: a pointer to one of the action types below.
// The set is closed; Decode and New return only these.
type Args interface {
	// Action is the action this value requests.
	Action() Action
	// Base is the common part of the request.
	Base() *Request
	// ReturnsSecret reports whether the action, with these options, hands
	// a secret back to the producer (sealed to Request.ResultKey).
	ReturnsSecret() bool
	validateOptions(v *validator)
}

// Activate activates a STAGED or DEPROVISIONED user.
type Activate struct {
	Request
	Options SendEmailOption `json:"options,omitzero"`
}

// Reactivate sends a PROVISIONED user a new activation.
type Reactivate struct {
	Request
	Options SendEmailOption `json:"options,omitzero"`
}

// SendEmailOption says whether Okta emails the user. Unset means yes; with
// false Okta returns the activation link, which is sealed for the producer.
type SendEmailOption struct {
	SendEmail *bool `json:"send_email,omitempty"`
}

// Deactivate deprovisions a user. It never deletes: DELETE on a
// deprovisioned user is permanent, so oktaq does not call it.
type Deactivate struct {
	Request
	Options DeactivateOptions `json:"options,omitzero"`
}

// DeactivateOptions for Deactivate.
type DeactivateOptions struct {
	// NotifyAdmins makes Okta email the org's admins.
	NotifyAdmins bool `json:"notify_admins,omitempty"`
}

// Suspend suspends an ACTIVE user.
type Suspend struct{ Request }

// Unsuspend returns a SUSPENDED user to ACTIVE.
type Unsuspend struct{ Request }

// Unlock unlocks a LOCKED_OUT user.
type Unlock struct{ Request }

// ResetPassword starts a password reset; the user moves to RECOVERY.
type ResetPassword struct {
	Request
	Options ResetPasswordOptions `json:"options,omitzero"`
}

// ResetPasswordOptions for ResetPassword.
type ResetPasswordOptions struct {
	// SendEmail: unset means Okta emails the reset link; false returns
	// the link, sealed for the producer.
	SendEmail *bool `json:"send_email,omitempty"`
	// RevokeSessions ends the user's sessions too.
	RevokeSessions bool `json:"revoke_sessions,omitempty"`
}

// ExpirePassword makes the user choose a new password at next sign-in.
type ExpirePassword struct {
	Request
	Options ExpirePasswordOptions `json:"options,omitzero"`
}

// ExpirePasswordOptions for ExpirePassword.
type ExpirePasswordOptions struct {
	// TempPassword asks Okta for a temporary password, sealed for the
	// producer.
	TempPassword bool `json:"temp_password,omitempty"`
	// RevokeSessions ends the user's sessions (with TempPassword only, as
	// Okta offers it).
	RevokeSessions bool `json:"revoke_sessions,omitempty"`
}

// ResetMFA resets every enrolled factor; the user must enroll again.
type ResetMFA struct {
	Request
	Options ResetMFAOptions `json:"options,omitzero"`
}

// ResetMFAOptions for ResetMFA.
type ResetMFAOptions struct {
	// RemoveRecoveryEnrollment also removes the recovery phone.
	RemoveRecoveryEnrollment bool `json:"remove_recovery_enrollment,omitempty"`
}

// ClearSessions ends every session of the user.
type ClearSessions struct {
	Request
	Options ClearSessionsOptions `json:"options,omitzero"`
}

// ClearSessionsOptions for ClearSessions.
type ClearSessionsOptions struct {
	// OAuthTokens also revokes the user's OAuth refresh and access tokens.
	// Unset means yes: a help desk clears sessions to lock someone out, and
	// a kept refresh token lets the user's apps mint new access tokens.
	OAuthTokens *bool `json:"oauth_tokens,omitempty"`
}

// RevokesOAuthTokens reports whether the user's OAuth tokens are revoked
// too (the default).
func (o ClearSessionsOptions) RevokesOAuthTokens() bool {
	return o.OAuthTokens == nil || *o.OAuthTokens
}

// UpdateGroups adds the user to groups and removes them from others.
type UpdateGroups struct {
	Request
	Groups GroupChanges `json:"groups"`
}

// GroupChanges names groups by Okta id (00g...) or exact name.
type GroupChanges struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
	// Until makes the adds time-bound: after success oktaq schedules
	// their removal at this time (Result.FollowUp).
	Until time.Time `json:"until,omitzero"`
}

// UpdateApps assigns apps to the user and unassigns others.
type UpdateApps struct {
	Request
	Apps AppChanges `json:"apps"`
}

// AppChanges names apps by Okta id (0oa...) or exact label.
type AppChanges struct {
	Assign   []string `json:"assign,omitempty"`
	Unassign []string `json:"unassign,omitempty"`
	// Until makes the assignments time-bound, as GroupChanges.Until.
	Until time.Time `json:"until,omitzero"`
}

func (*Activate) Action() Action       { return ActionActivate }
func (*Reactivate) Action() Action     { return ActionReactivate }
func (*Deactivate) Action() Action     { return ActionDeactivate }
func (*Suspend) Action() Action        { return ActionSuspend }
func (*Unsuspend) Action() Action      { return ActionUnsuspend }
func (*Unlock) Action() Action         { return ActionUnlock }
func (*ResetPassword) Action() Action  { return ActionResetPassword }
func (*ExpirePassword) Action() Action { return ActionExpirePassword }
func (*ResetMFA) Action() Action       { return ActionResetMFA }
func (*ClearSessions) Action() Action  { return ActionClearSessions }
func (*UpdateGroups) Action() Action   { return ActionUpdateGroups }
func (*UpdateApps) Action() Action     { return ActionUpdateApps }

// SendsEmail reports whether Okta should email the user (the default).
func (o SendEmailOption) SendsEmail() bool { return o.SendEmail == nil || *o.SendEmail }

// SendsEmail reports whether Okta should email the reset link (the default).
func (o ResetPasswordOptions) SendsEmail() bool { return o.SendEmail == nil || *o.SendEmail }

func (a *Activate) ReturnsSecret() bool       { return !a.Options.SendsEmail() }
func (a *Reactivate) ReturnsSecret() bool     { return !a.Options.SendsEmail() }
func (*Deactivate) ReturnsSecret() bool       { return false }
func (*Suspend) ReturnsSecret() bool          { return false }
func (*Unsuspend) ReturnsSecret() bool        { return false }
func (*Unlock) ReturnsSecret() bool           { return false }
func (a *ResetPassword) ReturnsSecret() bool  { return !a.Options.SendsEmail() }
func (a *ExpirePassword) ReturnsSecret() bool { return a.Options.TempPassword }
func (*ResetMFA) ReturnsSecret() bool         { return false }
func (*ClearSessions) ReturnsSecret() bool    { return false }
func (*UpdateGroups) ReturnsSecret() bool     { return false }
func (*UpdateApps) ReturnsSecret() bool       { return false }

// Bool returns a pointer to b, for the optional booleans above.
func Bool(b bool) *bool { return &b }
