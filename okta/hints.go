package okta

import (
	"errors"

	"github.com/oktaq/oktaq/tasks"
)

// Hints: one line per failure that a help-desk agent can act on, derived
// from the code, the action and the user as Okta showed them. The summary
// keeps Okta's own words; the hint says what to do.

// addHint fills the hint of a permanent error that has none, knowing the
// action and the user (nil when the user was never read).
func addHint(err error, a tasks.Action, u *oktaUser) {
	var p *PermanentError
	if errors.As(err, &p) && p.Hint == "" {
		p.Hint = hintFor(p.Code, a, u)
	}
}

// hintFor answers every code the executor can meet; a or u may be empty.
func hintFor(code tasks.Code, a tasks.Action, u *oktaUser) string {
	status, provider := "", ""
	if u != nil {
		status, provider = u.Status, u.Credentials.Provider.Type
	}
	switch code {
	case "E0000001":
		return validationHint(a, status)
	case "E0000032":
		switch {
		case provider == providerAD || provider == providerLDAP:
			return directoryName(provider) + "-mastered user: unlock in " + directoryName(provider)
		case status == statusSuspended:
			return "User is suspended, not locked out: unsuspend instead"
		case status == statusDeprovisioned:
			return "User is deactivated: activate instead"
		}
		return "User is not locked out (" + orText(status, "status unknown") + "): nothing to unlock"
	case "E0000038":
		return wrongStatusHint(a, status)
	case "E0000016":
		return "User is already active: nothing to activate"
	case "E0000017":
		return "Okta could not reset the password: check the user's status and password policy in the Admin Console"
	case "E0000007", tasks.CodeNotFound:
		return "Not found in Okta: check the spelling, or name it by its Okta id"
	case "E0000117":
		return "User is not active (STAGED or DEPROVISIONED): activate them before assigning apps"
	case "E0000112":
		return "Okta is still activating or deactivating the user: retried automatically; check again in a minute"
	case "E0000062":
		return "The app is already assigned to the user"
	case "E0000015":
		return "This Okta feature is not enabled in the org: ask the Okta admin to enable it"
	case "E0000011", tasks.CodeUnauthorized:
		return "oktaq's Okta credentials were refused: the Okta admin must renew the client secret, key or API token"
	case "E0000028", "E0000031", "E0000022", tasks.CodeClient:
		return "oktaq sent a request Okta does not accept: report it to the oktaq operators with the request id"
	case tasks.CodeAdminRoleMissing:
		return "oktaq's Okta app lacks an admin role covering this user or group: the Okta admin must assign one (Security > Administrators) or widen its resource set"
	case tasks.CodeInsufficientScope:
		return "Grant the named scope to oktaq's app in Okta (Okta API Scopes tab)"
	case tasks.CodeScopeNotEnabled:
		return "Enable the named scope for this connection (OKTAQ_OKTA_SCOPES) after granting it in Okta"
	case tasks.CodeUserMismatch:
		return "Name the user by Okta id or full login (name@domain)"
	case tasks.CodeAmbiguous:
		return "Several match this name: name it by its Okta id"
	case tasks.CodeNotOktaGroup:
		return "Directory or app group: change the membership in its source (e.g. Active Directory)"
	case tasks.CodeGroupAssignment:
		return "Assigned through a group: remove the user from that group instead"
	case tasks.CodeUnconfirmed:
		return "Check the user in the Okta Admin Console before trying again (a repeat may send a second email)"
	case tasks.CodeResponseLost:
		return "Okta applied it but the link or password was lost: request the action again for a new one"
	case tasks.CodeSeal:
		return "The producer's result key is unusable: fix result_key and request again"
	case tasks.CodeRateLimited:
		return "Okta's rate limit stayed exhausted: request again later"
	case tasks.CodeTransient:
		return "Okta was unreachable or failing: request again later; if it persists, check Okta's status page"
	case tasks.CodeWrongConnection, tasks.CodeInvalid:
		return "Fix the request as the summary says and send it again"
	}
	if u != nil || a != "" {
		return "Okta refused: check the user in the Okta Admin Console; the summary has Okta's words"
	}
	return "See the summary; Okta's documentation explains its error code"
}

// validationHint: E0000001 is Okta's answer to suspend and unsuspend from
// the wrong status, and to a membership change of a deactivated user.
func validationHint(a tasks.Action, status string) string {
	switch a {
	case tasks.ActionSuspend:
		switch status {
		case statusLockedOut:
			return "Locked-out users cannot be suspended (they cannot sign in now): clear sessions, or deactivate to block them for good"
		case statusRecovery:
			return "User is in password recovery and cannot be suspended: deactivate to void the reset link, and clear sessions"
		case statusPasswordExpired:
			return "User's password is expired and Okta will not suspend them: deactivate to block sign-in, or clear sessions"
		case statusProvisioned:
			return "User has not finished activation and cannot be suspended: deactivate to void the activation link"
		case statusStaged:
			return "User was never activated and cannot sign in: nothing to suspend; deactivate to remove them"
		case statusDeprovisioned:
			return "User is deactivated and cannot sign in: nothing to suspend; clear sessions is not needed"
		}
		return "Only ACTIVE users can be suspended: deactivate instead, or clear sessions"
	case tasks.ActionUnsuspend:
		return "Only SUSPENDED users can be unsuspended: activate a deactivated user, reactivate a PROVISIONED one"
	case tasks.ActionDeactivate:
		return "User is already deactivated"
	case tasks.ActionUpdateGroups:
		return "User is deactivated: activate them before changing groups"
	}
	return "Okta rejected the request as invalid: the summary names the field"
}

// wrongStatusHint: E0000038, a lifecycle call from a status that does not
// allow it.
func wrongStatusHint(a tasks.Action, status string) string {
	switch {
	case status == statusSuspended:
		return "User is suspended: unsuspend first"
	case status == statusDeprovisioned:
		return "User is deactivated: activate first"
	case status == statusStaged && a != tasks.ActionActivate:
		return "User was never activated: activate first"
	}
	switch a {
	case tasks.ActionActivate:
		return "User is already activated (" + orText(status, "?") + "): use reset_password or unlock instead"
	case tasks.ActionReactivate:
		return "Only PROVISIONED users (or RECOVERY) can be reactivated: activate a STAGED or deactivated user"
	case tasks.ActionResetPassword, tasks.ActionExpirePassword:
		if status == statusProvisioned {
			return "User has not finished activation: activate (sends a new activation email) instead"
		}
	case tasks.ActionResetMFA:
		return "Okta will not reset factors in this status: activate the user first"
	}
	return "Okta does not allow this in the user's status (" + orText(status, "?") + "): check the user in the Admin Console"
}
