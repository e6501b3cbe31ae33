package oktasim

import (
	"net/http"
	"time"
)

// lifecycleOp is one POST /api/v1/users/{id}/lifecycle/{path} call.
type lifecycleOp struct {
	path, link, perm string
	valid            func(u *user) bool // also decides whether the _links entry is shown
	run              func(s *Sim, c *call, u *user) response
	// shown, when set, decides the _links entry instead of valid: Okta's
	// links follow policies, not what the call would accept.
	shown func(u *user) bool
}

func (op lifecycleOp) handler(s *Sim) func(*call) response {
	return func(c *call) response {
		u, r := c.user()
		if u == nil {
			return r
		}
		if u.transitioning != "" {
			return stillTransitioning()
		}
		return op.run(s, c, u)
	}
}

func in(status string, set ...string) bool {
	for _, s := range set {
		if status == s {
			return true
		}
	}
	return false
}

// passwordStates are those where reset_password and expire_password apply.
var passwordStates = []string{StatusActive, StatusPasswordExpired, StatusLockedOut, StatusRecovery}

// lifecycleOps is filled in init: its handlers render users, whose links read this table.
var lifecycleOps []lifecycleOp

func init() {
	lifecycleOps = []lifecycleOp{
		{"activate", "activate", "user.activate",
			func(u *user) bool { return in(u.status, StatusStaged, StatusDeprovisioned) }, (*Sim).activate, nil},
		{"reactivate", "reactivate", "user.reactivate",
			func(u *user) bool { return in(u.status, StatusProvisioned, StatusRecovery) }, (*Sim).reactivate, nil},
		{"deactivate", "deactivate", "user.deactivate",
			func(u *user) bool { return u.status != StatusDeprovisioned }, (*Sim).deactivateCall, nil},
		{"suspend", "suspend", "user.suspend",
			func(u *user) bool { return u.status == StatusActive }, (*Sim).suspend,
			// Recorded: a fresh PROVISIONED user shows suspend, which the
			// spec refuses (ACTIVE only).
			func(u *user) bool { return in(u.status, StatusActive, StatusProvisioned) }},
		{"unsuspend", "unsuspend", "user.unsuspend",
			func(u *user) bool { return u.status == StatusSuspended }, (*Sim).unsuspend, nil},
		{"unlock", "unlock", "user.unlock",
			func(u *user) bool { return unlockable(u) }, (*Sim).unlock,
			// A user blocked from unknown devices shows no unlock link:
			// only GET /users/{id}/blocks tells.
			func(u *user) bool { return u.status == StatusLockedOut && u.source == ProviderOkta }},
		{"reset_password", "resetPassword", "user.reset_password",
			func(u *user) bool { return in(u.status, passwordStates...) }, (*Sim).resetPassword,
			// Recorded on a fresh PROVISIONED user too, where the call is refused.
			func(u *user) bool { return in(u.status, append([]string{StatusProvisioned}, passwordStates...)...) }},
		{"expire_password", "expirePassword", "user.expire_password",
			func(u *user) bool { return in(u.status, passwordStates...) }, (*Sim).expirePassword, nil},
		{"expire_password_with_temp_password", "", "user.expire_password",
			func(u *user) bool { return in(u.status, passwordStates...) }, (*Sim).expireWithTemp, nil},
		{"reset_factors", "resetFactors", "user.reset_mfa",
			func(u *user) bool {
				return len(u.factors) > 0 && u.status != StatusDeprovisioned && u.status != StatusStaged
			},
			(*Sim).resetFactors,
			// Recorded: a PROVISIONED user with no factor shows
			// resetFactors; the call then has nothing to reset.
			func(u *user) bool {
				return u.status == StatusProvisioned || len(u.factors) > 0 && !in(u.status, StatusDeprovisioned, StatusStaged)
			}},
	}
}

type link struct{ name, op string }

// lifecycleLinks are the _links a single-user GET shows: exactly the calls the sim would accept.
func lifecycleLinks(u *user) []link {
	var out []link
	if u.transitioning != "" {
		return nil
	}
	for _, op := range lifecycleOps {
		shown := op.valid
		if op.shown != nil {
			shown = op.shown
		}
		if op.link != "" && shown(u) {
			out = append(out, link{op.link, op.path})
		}
	}
	return out
}

func (s *Sim) activationToken(c *call, u *user) map[string]string {
	tok := randomString(20)
	return map[string]string{"activationUrl": s.baseURL + "/welcome/" + tok, "activationToken": tok}
}

func (s *Sim) activate(c *call, u *user) response {
	switch u.status {
	case StatusActive:
		return oktaErr(http.StatusForbidden, "E0000016", "Activation failed because the user is already active")
	case StatusStaged, StatusDeprovisioned:
	default:
		return notAllowedInStatus()
	}
	target := StatusProvisioned
	if u.hasPassword {
		target = StatusActive
	}
	u.setStatus(target, c.now, true)
	u.activated = c.now
	if c.boolParam("sendEmail", true) {
		s.sendEmail(u.id, "activation")
		return ok(empty)
	}
	return ok(s.activationToken(c, u))
}

// reactivate restarts the activation of a PROVISIONED user, or of one in
// RECOVERY (current spec); the status stays.
func (s *Sim) reactivate(c *call, u *user) response {
	if !in(u.status, StatusProvisioned, StatusRecovery) {
		return notAllowedInStatus()
	}
	u.lastUpdated = c.now
	if c.boolParam("sendEmail", false) {
		s.sendEmail(u.id, "activation")
		return ok(empty)
	}
	return ok(s.activationToken(c, u))
}

func (s *Sim) deactivateCall(c *call, u *user) response {
	if u.status == StatusDeprovisioned {
		return validationFailed("deactivate", "Cannot deactivate a user that is already deprovisioned")
	}
	s.deactivate(u, c.now, c.boolParam("sendEmail", false))
	return ok(empty)
}

func (s *Sim) deactivate(u *user, now time.Time, email bool) {
	u.setStatus(StatusDeprovisioned, now, true)
	u.sessions, u.grants = 0, 0
	if email {
		s.sendEmail(u.id, "deactivation_admin")
	}
}

func (s *Sim) suspend(c *call, u *user) response {
	if u.status != StatusActive {
		return validationFailed("suspendUser", "Cannot suspend a user that is not active")
	}
	u.setStatus(StatusSuspended, c.now, false)
	u.sessions = 0
	return ok(empty)
}

func (s *Sim) unsuspend(c *call, u *user) response {
	if u.status != StatusSuspended {
		return validationFailed("unsuspendUser", "Cannot unsuspend a user that is not suspended")
	}
	u.setStatus(StatusActive, c.now, false)
	return ok(empty)
}

// unlockable: a LOCKED_OUT user, or an ACTIVE-like one blocked from unknown
// devices, mastered by Okta (a directory unlocks its own users).
func unlockable(u *user) bool {
	if u.source != ProviderOkta {
		return false
	}
	return u.status == StatusLockedOut || u.blocked && in(u.status, StatusActive, StatusRecovery, StatusPasswordExpired)
}

func (s *Sim) unlock(c *call, u *user) response {
	if !unlockable(u) {
		return oktaErr(http.StatusForbidden, "E0000032", "Unlock is not allowed for this user.")
	}
	u.blocked = false
	if u.status == StatusLockedOut {
		u.setStatus(StatusActive, c.now, false)
	}
	u.lastUpdated = c.now
	return ok(empty)
}

// federated: the user signs in at an identity provider. The default
// reset_password (and, the safe reading, expire_password) makes them an
// Okta-password user: the provider is bypassed from then on.
func federated(u *user) bool { return in(u.source, ProviderFederation, ProviderSocial) }

func convertToOkta(u *user) {
	if federated(u) {
		u.source = ProviderOkta
	}
}

// resetPassword requires sendEmail (the spec marks it required); each call issues a new link.
func (s *Sim) resetPassword(c *call, u *user) response {
	if c.q.Get("sendEmail") == "" {
		return missingParam("sendEmail")
	}
	if !in(u.status, passwordStates...) {
		return notAllowedInStatus()
	}
	u.setStatus(StatusRecovery, c.now, false)
	convertToOkta(u)
	u.resetTokens++
	if c.boolParam("revokeSessions", false) {
		u.sessions = 0
	}
	if c.boolParam("sendEmail", false) {
		s.sendEmail(u.id, "reset_password")
		return ok(empty)
	}
	return ok(map[string]string{"resetPasswordUrl": s.baseURL + "/reset_password/" + randomString(20)})
}

func (s *Sim) expirePassword(c *call, u *user) response {
	if c.boolParam("tempPassword", false) {
		return s.expireWithTemp(c, u)
	}
	if !in(u.status, passwordStates...) {
		return notAllowedInStatus()
	}
	u.setStatus(StatusPasswordExpired, c.now, false)
	convertToOkta(u)
	return ok(s.userBody(u, true))
}

// expireWithTemp issues a new temporary password on every call.
func (s *Sim) expireWithTemp(c *call, u *user) response {
	if !in(u.status, passwordStates...) {
		return notAllowedInStatus()
	}
	u.setStatus(StatusPasswordExpired, c.now, false)
	convertToOkta(u)
	u.hasPassword, u.passwordChanged = true, c.now
	if c.boolParam("revokeSessions", false) {
		u.sessions = 0
	}
	return ok(map[string]string{"tempPassword": randomString(10)})
}

func (s *Sim) resetFactors(c *call, u *user) response {
	if len(u.factors) == 0 || in(u.status, StatusDeprovisioned, StatusStaged) {
		return notAllowedInStatus()
	}
	u.factors = nil
	u.lastUpdated = c.now
	return ok(empty)
}
