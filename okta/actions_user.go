package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// Calls per single-user action, on every path (id or login alike: Okta's
// GET /users/{idOrLogin} takes both):
//
//	no-op (end state already holds)        1  GET user
//	done                                   2  GET user, lifecycle call
//	answer lost, end state confirmed       3  GET user, call, GET user
//	answer lost, call repeated (secret     3-4  (reset_password with send_email=false,
//	  that must be delivered)                   temp password)
//
// The GET is needed to resolve a login, to decide no_op from status,
// transitioningToStatus and _links (never from an error code), and to
// report status_before. No action re-reads after success: the call's own
// answer (200/204, or the User that expire_password returns) confirms it.

// oktaUser is the part of a user the executor reads, decoded from the raw
// body rather than the SDK model (whose decoders are strict about shapes).
type oktaUser struct {
	ID                    string `json:"id"`
	Status                string `json:"status"`
	TransitioningToStatus string `json:"transitioningToStatus"`
	Profile               struct {
		Login string `json:"login"`
	} `json:"profile"`
	Credentials struct {
		Provider struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"provider"`
	} `json:"credentials"`
	// Links: Okta offers an operation on the user by listing its link;
	// only the names are read (has).
	Links map[string]link `json:"_links"`
	// StatusChanged is when Okta last changed the status (null for a
	// user whose status never changed); a string, so that an odd format
	// makes the time unknown rather than the user unreadable.
	StatusChanged string `json:"statusChanged"`
}

// statusChangedSince reports whether Okta changed the status at or after
// t (Okta's times have milliseconds; t is cut to them).
func (u *oktaUser) statusChangedSince(t time.Time) bool {
	at, err := time.Parse(time.RFC3339Nano, u.StatusChanged)
	return err == nil && !t.IsZero() && !at.Before(t.Truncate(time.Millisecond))
}

// Credential providers (credentials.provider.type).
const (
	providerOkta       = "OKTA"
	providerAD         = "ACTIVE_DIRECTORY"
	providerLDAP       = "LDAP"
	providerFederation = "FEDERATION"
	providerSocial     = "SOCIAL"
)

func (u *oktaUser) has(name string) bool { _, ok := u.Links[name]; return ok }

// link is one of a user's _links, of which only the name counts: its
// value is neither copied when read nor written back (journal, view
// cache) but as {}. Copying and re-encoding every href cost ~4 us and 10
// allocations an action.
type link struct{}

func (*link) UnmarshalJSON([]byte) error  { return nil }
func (link) MarshalJSON() ([]byte, error) { return []byte("{}"), nil }

func (u *oktaUser) statusIn(set ...string) bool {
	for _, s := range set {
		if u.Status == s {
			return true
		}
	}
	return false
}

const (
	statusStaged          = "STAGED"
	statusProvisioned     = "PROVISIONED"
	statusActive          = "ACTIVE"
	statusRecovery        = "RECOVERY"
	statusPasswordExpired = "PASSWORD_EXPIRED"
	statusLockedOut       = "LOCKED_OUT"
	statusSuspended       = "SUSPENDED"
	statusDeprovisioned   = "DEPROVISIONED"
)

// getUser reads a user by id or login (path-escaped as the SDK does, so +
// and @ arrive intact) and checks that Okta answered with the user named:
// Okta also resolves "me" and login short names, which would act on
// someone else. 1 call, sent raw (rawread.go): only oktaUser is decoded.
func (e *Executor) getUser(ctx context.Context, ref string) (*oktaUser, error) {
	c, err := e.read(ctx, "/api/v1/users/"+url.PathEscape(ref))
	if err != nil {
		return nil, err
	}
	var u oktaUser
	if err := json.Unmarshal(c.body, &u); err != nil || u.ID == "" {
		return nil, &TransientError{Err: errors.New("okta answered a user read with an unreadable body"), Status: c.Status}
	}
	if u.ID != ref && !strings.EqualFold(u.Profile.Login, ref) {
		return nil, &PermanentError{Code: tasks.CodeUserMismatch, Status: c.Status, RequestID: c.RequestID,
			Summary: fmt.Sprintf("Okta resolved %q to user %s (%s), not the user named; nothing was done", ref, u.ID, u.Profile.Login)}
	}
	if st := stateFrom(ctx); st != nil {
		st.user = &u
	}
	return &u, nil
}

// step is one lifecycle action, described for lifecycle().
type step struct {
	// Whether to refuse, or to do nothing because the end state holds,
	// is decided by judge (availability.go), for the view too.
	invoke  func(ctx context.Context, id string) (*oktasdk.APIResponse, error)
	after   func(before *oktaUser) string    // status after success
	applied func(before, now *oktaUser) bool // after a lost answer: did the call apply?
	secret  func(body []byte) *tasks.Secret
	// repeatable: a lost answer held a secret no email delivers, so the
	// call is made once more (it sends no email).
	repeatable bool
	// blind reports that from this starting state a re-read cannot show
	// whether the call applied.
	blind func(before *oktaUser) bool
}

func (e *Executor) lifecycle(ctx context.Context, a tasks.Args, res *tasks.Result) error {
	st, err := e.stepFor(a)
	if err != nil {
		return err
	}
	u, err := e.getUser(ctx, a.Base().User)
	if err != nil {
		return err
	}
	res.UserID, res.Login, res.Okta.StatusBefore = u.ID, u.Profile.Login, u.Status
	if act, ok := a.(*tasks.Activate); ok && u.Status == statusProvisioned && u.TransitioningToStatus == "" {
		// activate on PROVISIONED does nothing in Okta; reactivate
		// restarts the activation (a new email or link).
		st = e.reactivateStep(act.Options)
		res.Detail = &tasks.Detail{Code: tasks.CodeReactivated,
			Reason: "the user was already activated but never finished (PROVISIONED): the activation was restarted with reactivate; an earlier activation link no longer works"}
	}
	if p := providerRefusal(a.Action(), u); p != nil {
		return p
	}
	j := journalFrom(ctx)
	prev, err := pendingBefore(ctx, j, u.ID)
	if err != nil {
		return err
	}
	if prev != nil {
		res.Okta.StatusBefore = prev.Status
		if done, err := e.resumeAfterCrash(a, st, prev, u); done {
			if err == nil {
				res.Outcome, res.Okta.StatusAfter = tasks.OutcomeSucceeded, st.after(prev)
				_ = j.Answered(ctx)
			}
			return err
		}
	}
	facts, err := e.readFacts(ctx, a.Action(), u)
	if err != nil {
		return err
	}
	if v := judge(a, u, facts); v.kind == verdictNoOp {
		res.Outcome, res.Okta.StatusAfter = tasks.OutcomeNoOp, u.Status
		if u.TransitioningToStatus != "" {
			res.Okta.StatusAfter = u.TransitioningToStatus
		}
		res.Detail = &tasks.Detail{Code: v.code, Reason: v.reason}
		return nil
	}
	if j != nil {
		before, _ := json.Marshal(u)
		if err := j.Sent(ctx, before); err != nil {
			return &TransientError{Err: fmt.Errorf("journal: %w", err)}
		}
	}
	c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) { return st.invoke(ctx, u.ID) })
	settled := err == nil || c == nil || c.err == nil
	if !settled {
		c, settled, err = e.afterLostAnswer(ctx, a, st, u)
	}
	// Close the entry only when the call's fate is known and another
	// attempt will follow: after a success the task ends, and if its ack
	// is lost the open entry makes the next attempt confirm the end state
	// instead of calling again.
	if j != nil && err != nil && settled {
		_ = j.Answered(ctx)
	}
	if now := e.afterConflict(ctx, a, u.ID, err); now != nil {
		res.Outcome, res.Okta.StatusAfter = tasks.OutcomeNoOp, now.Status
		return nil
	}
	if err != nil {
		return err
	}
	res.Outcome = tasks.OutcomeSucceeded
	res.Okta.StatusAfter = st.after(u)
	if _, ok := a.(*tasks.ClearSessions); ok {
		res.Detail = &tasks.Detail{Code: tasks.CodeSessionsLeft, Reason: sessionsLeft}
	}
	if c != nil && st.secret != nil {
		if s := st.secret(c.body); s != nil {
			sealed, err := tasks.Seal(a.Base().ResultKey, *s)
			if err != nil {
				return &PermanentError{Code: tasks.CodeSeal, Summary: "the secret Okta returned could not be sealed: " + err.Error()}
			}
			res.Sealed = sealed
		}
	}
	return nil
}

func statusIs(s string) func(*oktaUser) string { return func(*oktaUser) string { return s } }
func same(u *oktaUser) string                  { return u.Status }

func reached(statuses ...string) func(before, now *oktaUser) bool {
	return func(_, now *oktaUser) bool {
		for _, s := range statuses {
			if now.Status == s || now.TransitioningToStatus == s {
				return true
			}
		}
		return false
	}
}

func activationSecret(body []byte) *tasks.Secret {
	var raw struct {
		URL   string `json:"activationUrl"`
		Token string `json:"activationToken"`
	}
	if json.Unmarshal(body, &raw) != nil || raw.URL == "" {
		return nil
	}
	return &tasks.Secret{Kind: "activation", Value: raw.URL, Token: raw.Token}
}

func (e *Executor) stepFor(a tasks.Args) (step, error) {
	users := e.api.UserAPI
	switch a := a.(type) {
	case *tasks.Activate:
		send := a.Options.SendsEmail()
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				_, r, err := users.ActivateUser(ctx, id).SendEmail(send).Execute()
				return r, err
			},
			after:   func(*oktaUser) string { return "" }, // PROVISIONED or ACTIVE, decided by Okta asynchronously
			applied: reached(statusProvisioned, statusActive),
			secret:  activationSecret,
		}, nil
	case *tasks.Reactivate:
		return e.reactivateStep(a.Options), nil
	case *tasks.Deactivate:
		notify := a.Options.NotifyAdmins
		return step{
			// Never DELETE /users/{id}: a second DELETE deletes for good.
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				return users.DeactivateUser(ctx, id).SendEmail(notify).Execute()
			},
			after: statusIs(statusDeprovisioned), applied: reached(statusDeprovisioned),
		}, nil
	case *tasks.Suspend:
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				return users.SuspendUser(ctx, id).Execute()
			},
			after: statusIs(statusSuspended), applied: reached(statusSuspended),
		}, nil
	case *tasks.Unsuspend:
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				return users.UnsuspendUser(ctx, id).Execute()
			},
			after: statusIs(statusActive), applied: reached(statusActive),
		}, nil
	case *tasks.Unlock:
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				return users.UnlockUser(ctx, id).Execute()
			},
			after: statusIs(statusActive),
			applied: func(before, now *oktaUser) bool {
				return before.Status == statusLockedOut && now.Status != statusLockedOut
			},
		}, nil
	case *tasks.ResetPassword:
		return e.resetPasswordStep(a), nil
	case *tasks.ExpirePassword:
		return e.expirePasswordStep(a), nil
	case *tasks.ResetMFA:
		remove := a.Options.RemoveRecoveryEnrollment
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				return users.ResetFactors(ctx, id).RemoveRecoveryEnrollment(remove).Execute()
			},
			after:   same,
			applied: func(before, now *oktaUser) bool { return before.has("resetFactors") && !now.has("resetFactors") },
		}, nil
	case *tasks.ClearSessions:
		tokens := a.Options.RevokesOAuthTokens()
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				return users.RevokeUserSessions(ctx, id).OauthTokens(tokens).Execute()
			},
			// Repeating is harmless (204 again), so a lost answer is
			// simply retried by the worker.
			after: same, applied: func(*oktaUser, *oktaUser) bool { return false },
		}, nil
	}
	return step{}, &PermanentError{Code: tasks.CodeInvalid, Summary: fmt.Sprintf("action %s is not a user lifecycle action", a.Action())}
}

// resetPasswordStep: the user moves to RECOVERY. After a lost answer, a
// user now in RECOVERY (and not before) shows it was applied: with an email
// that is success, and no second call (no second email); with
// send_email=false the link is lost, so it is called once more (no email;
// the new link replaces the lost one). From RECOVERY a lost answer cannot
// be told apart: with email it is reported unconfirmed, not repeated.
func (e *Executor) resetPasswordStep(a *tasks.ResetPassword) step {
	send, revoke := a.Options.SendsEmail(), a.Options.RevokeSessions
	return step{
		invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
			_, r, err := e.api.UserAPI.GenerateResetPasswordToken(ctx, id).SendEmail(send).RevokeSessions(revoke).Execute()
			return r, err
		},
		after: statusIs(statusRecovery),
		applied: func(before, now *oktaUser) bool {
			return before.Status != statusRecovery && now.Status == statusRecovery
		},
		secret: func(body []byte) *tasks.Secret {
			var v struct {
				URL string `json:"resetPasswordUrl"`
			}
			if json.Unmarshal(body, &v) != nil || v.URL == "" {
				return nil
			}
			return &tasks.Secret{Kind: "reset_password_url", Value: v.URL}
		},
		repeatable: !send,
		blind:      func(before *oktaUser) bool { return before.Status == statusRecovery },
	}
}

// expirePasswordStep: PASSWORD_EXPIRED is a no-op unless a temporary
// password is asked for; each temp-password call issues a new one, and a
// lost one cannot be recovered, so after a lost answer it is called once
// more and the new password (which replaces the lost one) is delivered.
func (e *Executor) expirePasswordStep(a *tasks.ExpirePassword) step {
	users := e.api.UserAPI
	if a.Options.TempPassword {
		revoke := a.Options.RevokeSessions
		return step{
			invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
				_, r, err := users.ExpirePasswordAndGetTemporaryPassword(ctx, id).RevokeSessions(revoke).Execute()
				return r, err
			},
			after: statusIs(statusPasswordExpired),
			secret: func(body []byte) *tasks.Secret {
				var v struct {
					P string `json:"tempPassword"`
				}
				if json.Unmarshal(body, &v) != nil || v.P == "" {
					return nil
				}
				return &tasks.Secret{Kind: "temp_password", Value: v.P}
			},
			repeatable: true,
		}
	}
	return step{
		invoke: func(ctx context.Context, id string) (*oktasdk.APIResponse, error) {
			_, r, err := users.ExpirePassword(ctx, id).Execute()
			return r, err
		},
		after: statusIs(statusPasswordExpired), applied: reached(statusPasswordExpired),
	}
}
