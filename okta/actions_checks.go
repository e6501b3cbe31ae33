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
		invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
			_, r, err := e.api.UserAPI.ReactivateUser(ctx, id).SendEmail(send).Execute()
			return r, err
		},
		after: same, secret: activationSecret, repeatable: !send,
	}
}

func directoryName(provider string) string {
	if provider == providerLDAP {
		return "LDAP"
	}
	return "Active Directory"
}

// readFacts reads what judge needs for a on u beyond the user: the
// device blocks for unlock of an ACTIVE-like user (LOCKED_OUT needs no
// read; other statuses go to Okta, which refuses with E0000032 and a
// hint), the enrolled factors for reset_mfa (STAGED and DEPROVISIONED
// users, and users in transition, go to Okta, which refuses). 0 or 1 call.
func (e *Executor) readFacts(ctx context.Context, a tasks.Action, u *oktaUser) (userFacts, error) {
	f := noFacts
	var err error
	if needsBlocks(a, u) {
		f.blocks, err = e.countBlocks(ctx, u.ID)
	}
	if err == nil && needsFactors(a, u) {
		var factors []oktaFactor
		factors, err = e.listFactors(ctx, u.ID)
		f.factors = len(factors)
	}
	return f, err
}

// countBlocks reads GET /users/{id}/blocks: how many device blocks the
// user has. 1 call.
func (e *Executor) countBlocks(ctx context.Context, id string) (int, error) {
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserAPI.ListUserBlocks(ctx, id).Execute()
		return r, err
	})
	if err != nil {
		return 0, err
	}
	var blocks []struct {
		AppliesTo string `json:"appliesTo"`
	}
	if json.Unmarshal(c.body, &blocks) != nil {
		return 0, &TransientError{Err: errors.New("okta answered the user's blocks with an unreadable body"), Status: c.Status}
	}
	return len(blocks), nil
}

// oktaFactor is one enrolled factor as the executor reads it, from the
// raw body (the SDK's oneOf decoder empties factor types it does not
// know, such as signed_nonce).
type oktaFactor struct {
	ID         string `json:"id"`
	FactorType string `json:"factorType"`
	Provider   string `json:"provider"`
	Status     string `json:"status"`
}

// listFactors reads GET /users/{id}/factors. 1 call.
func (e *Executor) listFactors(ctx context.Context, id string) ([]oktaFactor, error) {
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) {
		_, r, err := e.api.UserFactorAPI.ListFactors(ctx, id).Execute()
		return r, err
	})
	if err != nil {
		return nil, err
	}
	var factors []oktaFactor
	if json.Unmarshal(c.body, &factors) != nil {
		return nil, &TransientError{Err: errors.New("okta answered the user's factors with an unreadable body"), Status: c.Status}
	}
	return factors, nil
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
