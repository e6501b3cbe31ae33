package okta

import (
	"fmt"

	"github.com/oktaq/oktaq/tasks"
)

// Availability: the one place that decides, per action, what happens to
// a user in their current state and why. The executor asks it before it
// acts (refuse, no-op, or send) and the user view asks it to say which
// buttons make sense; a table test walks every status x provider x action
// on the simulator and checks that the view's word is the executor's
// outcome.

// verdictKind is what the executor will do with an action.
type verdictKind int

const (
	// verdictGo: the executor calls Okta and Okta accepts.
	verdictGo verdictKind = iota
	// verdictNoOp: the end state already holds; nothing is sent.
	verdictNoOp
	// verdictRefused: oktaq refuses before any call (the provider).
	verdictRefused
	// verdictOktaRefuses: the executor sends it and Okta refuses in this
	// state (the result has Okta's code and the hint). The executor
	// still asks Okta: Okta's answer, not our model, is the truth.
	verdictOktaRefuses
)

// verdict is the decision with the code the result would carry and the
// reason in an agent's words.
type verdict struct {
	kind   verdictKind
	code   tasks.Code
	reason string
	hint   string // for verdictRefused: the error's hint
}

// available reports whether the view offers the action.
func (v verdict) available() bool { return v.kind == verdictGo }

// userFacts are what the executor reads besides the user, where _links are
// no proof: the enrolled factors (reset_mfa) and the device blocks
// (unlock). -1 means not read.
type userFacts struct {
	factors, blocks int
}

var noFacts = userFacts{factors: -1, blocks: -1}

// needsFactors and needsBlocks say whether judge needs that fact for a on
// u; elsewhere the status decides alone (and no call is spent).
func needsFactors(a tasks.Action, u *oktaUser) bool {
	return a == tasks.ActionResetMFA && !u.statusIn(statusStaged, statusDeprovisioned) && u.TransitioningToStatus == ""
}

func needsBlocks(a tasks.Action, u *oktaUser) bool {
	return a == tasks.ActionUnlock && u.statusIn(statusActive, statusRecovery, statusPasswordExpired) && u.TransitioningToStatus == ""
}

// providerRefusal is what oktaq refuses before any call, whatever the state: a
// password action for a user whose password Okta does not hold. For
// FEDERATION and SOCIAL users Okta's reset_password (and, as far as anyone
// knows, expire_password) would give them an Okta password and bypass
// their identity provider; for AD and LDAP users the directory holds the
// password.
func providerRefusal(a tasks.Action, u *oktaUser) *PermanentError {
	if a != tasks.ActionResetPassword && a != tasks.ActionExpirePassword {
		return nil
	}
	p := u.Credentials.Provider
	switch p.Type {
	case providerFederation, providerSocial:
		return &PermanentError{Code: tasks.CodeFederatedUser,
			Summary: fmt.Sprintf("user %s signs in through the identity provider %q (%s); changing the password in Okta would make them an Okta-password user and bypass it", u.Profile.Login, p.Name, p.Type),
			Hint:    "Federated user: reset the password at their identity provider (" + orText(p.Name, p.Type) + "), not in Okta"}
	case providerAD, providerLDAP:
		return &PermanentError{Code: tasks.CodeDirectoryPassword,
			Summary: fmt.Sprintf("user %s is mastered by %s %q: the password lives in the directory", u.Profile.Login, p.Type, p.Name),
			Hint:    directoryName(p.Type) + "-mastered user: reset or expire the password in " + directoryName(p.Type)}
	}
	return nil
}

// judge decides action a (with its options: expire_password with a
// temporary password is never a no-op) on u, given the facts read.
func judge(a tasks.Args, u *oktaUser, f userFacts) verdict {
	act := a.Action()
	if p := providerRefusal(act, u); p != nil {
		return verdict{kind: verdictRefused, code: p.Code, reason: p.Hint, hint: p.Hint}
	}
	if noop, why := endStateHolds(a, u, f); noop {
		return verdict{kind: verdictNoOp, code: tasks.CodeAlreadyDone, reason: why}
	}
	if code, why := oktaRefuses(act, u); code != "" {
		return verdict{kind: verdictOktaRefuses, code: code, reason: why}
	}
	v := verdict{kind: verdictGo}
	if act == tasks.ActionActivate && u.Status == statusProvisioned {
		v.reason = "the activation is restarted (sent as reactivate): a new email or link; an earlier link stops working"
	}
	return v
}

// endStateHolds decides no_op from the status, the transition under way
// and the facts (never from an error code); why says what Okta showed.
func endStateHolds(a tasks.Args, u *oktaUser, f userFacts) (bool, string) {
	s, t := u.Status, u.TransitioningToStatus
	var noop bool
	switch act := a.(type) {
	case *tasks.Activate:
		// PROVISIONED is sent as reactivate; only a transition under way,
		// or ACTIVE, is a no-op.
		noop = s == statusActive || t == statusActive || t == statusProvisioned
	case *tasks.Reactivate:
		noop = s == statusActive || t == statusActive
	case *tasks.Deactivate:
		noop = s == statusDeprovisioned || t == statusDeprovisioned
	case *tasks.Suspend:
		noop = s == statusSuspended
	case *tasks.Unsuspend:
		// Not suspended and activated: the end state holds.
		noop = u.statusIn(statusActive, statusRecovery, statusPasswordExpired, statusLockedOut)
	case *tasks.ExpirePassword:
		noop = !act.Options.TempPassword && s == statusPasswordExpired
	case *tasks.Unlock:
		// An ACTIVE user may be blocked from unknown devices, which the
		// _links need not show: the blocks decide.
		if needsBlocks(act.Action(), u) && f.blocks == 0 {
			return true, fmt.Sprintf("the user is %s, not locked out, and blocked from no device", s)
		}
	case *tasks.ResetPassword:
		// With an email, a user who entered RECOVERY at or after the
		// request was reset already: by an attempt whose record Redis
		// lost (a failover to a lagging replica), or by someone else. A
		// second email would only invalidate the first link. (The view
		// asks with no request time: never.)
		if act.Options.SendsEmail() && s == statusRecovery && u.statusChangedSince(act.RequestedAt) {
			return true, "the user entered RECOVERY after this action was requested: the reset email went out already; not sent again"
		}
	case *tasks.ResetMFA:
		// Okta shows resetFactors also with no factor enrolled (as
		// recorded): the factor list decides.
		if needsFactors(act.Action(), u) && f.factors == 0 {
			return true, "the user has no factor enrolled: nothing to reset"
		}
	}
	if !noop {
		return false, ""
	}
	return true, noopReason(a.Action(), u)
}

// oktaRefuses predicts Okta's refusal of a in u's state: the code the
// result would carry and the reason (the hint the executor would give).
// It mirrors Okta's lifecycle rules as the simulator models them (see
// oktasim/lifecycle.go); the table test holds the two together.
func oktaRefuses(a tasks.Action, u *oktaUser) (tasks.Code, string) {
	s, p := u.Status, u.Credentials.Provider.Type
	if u.TransitioningToStatus != "" && a != tasks.ActionClearSessions && a != tasks.ActionUpdateGroups && a != tasks.ActionUpdateApps {
		return "E0000112", fmt.Sprintf("Okta is still moving the user to %s: try again in a minute", u.TransitioningToStatus)
	}
	lockedOut := "The user is locked out: unlock is the one to use"
	switch a {
	case tasks.ActionActivate:
		if !u.statusIn(statusStaged, statusDeprovisioned, statusProvisioned) {
			if s == statusLockedOut {
				return "E0000038", lockedOut
			}
			return "E0000038", wrongStatusHint(a, s)
		}
	case tasks.ActionReactivate:
		if !u.statusIn(statusProvisioned, statusRecovery) {
			if s == statusLockedOut {
				return "E0000038", lockedOut
			}
			return "E0000038", wrongStatusHint(a, s)
		}
	case tasks.ActionSuspend:
		if s != statusActive {
			return "E0000001", validationHint(a, s)
		}
	case tasks.ActionUnsuspend:
		if s != statusSuspended {
			return "E0000001", validationHint(a, s)
		}
	case tasks.ActionUnlock:
		// Okta unlocks only users whose password it holds; a directory
		// or an identity provider unlocks its own.
		if s == statusLockedOut || needsBlocks(a, u) {
			if p != providerOkta && p != "" {
				return "E0000032", unlockElsewhere(u)
			}
			return "", ""
		}
		return "E0000032", hintFor("E0000032", a, u)
	case tasks.ActionResetPassword, tasks.ActionExpirePassword:
		if !u.statusIn(statusActive, statusPasswordExpired, statusLockedOut, statusRecovery) {
			return "E0000038", wrongStatusHint(a, s)
		}
	case tasks.ActionResetMFA:
		if u.statusIn(statusStaged, statusDeprovisioned) {
			return "E0000038", wrongStatusHint(a, s)
		}
	case tasks.ActionUpdateGroups:
		if s == statusDeprovisioned {
			return "E0000001", validationHint(a, s)
		}
	case tasks.ActionUpdateApps:
		if u.statusIn(statusStaged, statusDeprovisioned) {
			return "E0000117", hintFor("E0000117", a, u)
		}
	}
	return "", ""
}

// unlockElsewhere says where a user whose password Okta does not hold is
// unlocked.
func unlockElsewhere(u *oktaUser) string {
	switch p := u.Credentials.Provider; p.Type {
	case providerAD, providerLDAP:
		return directoryName(p.Type) + "-mastered user: unlock in " + directoryName(p.Type)
	default:
		return "The user signs in through the identity provider " + orText(p.Name, p.Type) + ": they are unlocked there, not in Okta"
	}
}
