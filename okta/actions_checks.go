package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// What the executor reads besides the user before it acts, where the
// user's _links are no proof (Okta shows them by policy: a recorded
// PROVISIONED user with no factor shows resetFactors), and what it refuses
// to send at all.

// reactivateStep restarts an activation: PROVISIONED, or RECOVERY (current
// spec). reactivate changes nothing visible, so applied stays nil and a
// lost answer with send_email=false is called again (the new link replaces
// the lost one).
func (e *Executor) reactivateStep(o tasks.SendEmailOption) step {
	send := o.SendsEmail()
	return step{
		noop: func(u *oktaUser) bool { return u.Status == statusActive || u.TransitioningToStatus == statusActive },
		invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
			_, r, err := e.api.UserAPI.ReactivateUser(ctx, id).SendEmail(send).Execute()
			return r, err
		},
		after: same, secret: activationSecret, repeatable: !send,
	}
}

// passwordInOkta refuses password calls for users whose password Okta does
// not hold. For FEDERATION and SOCIAL users Okta's reset_password (and, as
// far as anyone knows, expire_password) would give them an Okta password
// and bypass their identity provider; for AD and LDAP users the directory
// holds the password.
func passwordInOkta(u *oktaUser) error {
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

func directoryName(provider string) string {
	if provider == providerLDAP {
		return "LDAP"
	}
	return "Active Directory"
}

// unlockNeeded: a LOCKED_OUT user needs unlocking; an ACTIVE-like user
// only if GET /users/{id}/blocks shows a block (unknown devices). Other
// statuses go to Okta, which refuses with E0000032 (and a hint). 0 or 1
// call.
func (e *Executor) unlockNeeded(ctx context.Context, u *oktaUser) (bool, string, error) {
	if !u.statusIn(statusActive, statusRecovery, statusPasswordExpired) || u.TransitioningToStatus != "" {
		return false, "", nil
	}
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserAPI.ListUserBlocks(ctx, u.ID).Execute()
		return r, err
	})
	if err != nil {
		return false, "", err
	}
	var blocks []struct {
		AppliesTo string `json:"appliesTo"`
	}
	if json.Unmarshal(c.body, &blocks) != nil {
		return false, "", &TransientError{Err: errors.New("okta answered the user's blocks with an unreadable body"), Status: c.Status}
	}
	if len(blocks) > 0 {
		return false, "", nil
	}
	return true, fmt.Sprintf("the user is %s, not locked out, and blocked from no device", u.Status), nil
}

// factorsEnrolled: reset_mfa is a no-op when the user has no factor
// enrolled. STAGED and DEPROVISIONED users, and users in transition, go
// to Okta, which refuses (with a hint). 0 or 1 call.
func (e *Executor) factorsEnrolled(ctx context.Context, u *oktaUser) (bool, string, error) {
	if u.statusIn(statusStaged, statusDeprovisioned) || u.TransitioningToStatus != "" {
		return false, "", nil
	}
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserFactorAPI.ListFactors(ctx, u.ID).Execute()
		return r, err
	})
	if err != nil {
		return false, "", err
	}
	var factors []json.RawMessage
	if json.Unmarshal(c.body, &factors) != nil {
		return false, "", &TransientError{Err: errors.New("okta answered the user's factors with an unreadable body"), Status: c.Status}
	}
	if len(factors) > 0 {
		return false, "", nil
	}
	return true, "the user has no factor enrolled: nothing to reset", nil
}

// noopReason says why an action whose end state held changed nothing.
func noopReason(a tasks.Action, u *oktaUser) string {
	if u.TransitioningToStatus != "" {
		return fmt.Sprintf("Okta is already moving the user to %s", u.TransitioningToStatus)
	}
	switch a {
	case tasks.ActionActivate, tasks.ActionReactivate:
		return "the user is already ACTIVE"
	case tasks.ActionDeactivate:
		return "the user is already DEPROVISIONED"
	case tasks.ActionSuspend:
		return "the user is already SUSPENDED"
	case tasks.ActionUnsuspend:
		return fmt.Sprintf("the user is %s, not SUSPENDED", u.Status)
	case tasks.ActionExpirePassword:
		return "the password is already expired (PASSWORD_EXPIRED)"
	}
	return "the end state already held (status " + u.Status + ")"
}

// sessionsLeft is what clear_sessions does not do, for the result.
const sessionsLeft = "Okta sessions (and, unless oauth_tokens=false, OAuth tokens) were revoked; sessions inside web and native apps are not ended by Okta and last until those apps check again; on Identity Engine Okta also forgets the user's remembered devices (forgetDevices defaults to true)"

// execState carries, within one Execute, what the hints need to know.
type execState struct{ user *oktaUser }

type execStateKey struct{}

func withState(ctx context.Context, st *execState) context.Context {
	return context.WithValue(ctx, execStateKey{}, st)
}

func stateFrom(ctx context.Context) *execState {
	st, _ := ctx.Value(execStateKey{}).(*execState)
	return st
}
