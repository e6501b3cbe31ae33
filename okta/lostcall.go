package okta

import (
	"context"
	"errors"

	oktasdk "github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/tasks"
)

// lostCall is what a call with side effects whose answer never came left
// behind. The same table serves both ways an answer is lost: within an
// attempt (the connection dropped, afterLostAnswer) and across attempts
// (a worker stopped between sending and recording, resumeAfterCrash).
type lostCall int

const (
	// lostCallApplied: it took effect and there is nothing to deliver.
	lostCallApplied lostCall = iota
	// lostCallRepeat: send it (again): repeating is harmless, and needed
	// since it did not apply or the secret it returned went with the answer.
	lostCallRepeat
	// lostCallNotApplied: it has not taken effect (yet) and repeating it is
	// not harmless.
	lostCallNotApplied
	// lostCallUnconfirmed: the user's state cannot show whether it took
	// effect; it is not repeated (a second email).
	lostCallUnconfirmed
	// lostCallResponseLost: it took effect but the secret it returned is
	// lost and cannot be asked for again by repeating it.
	lostCallResponseLost
)

// judgeLostCall decides from the user before the call and now (nil when
// st.applied is nil: nothing a re-read could show).
func judgeLostCall(a tasks.Args, st step, before, now *oktaUser) lostCall {
	switch {
	case st.applied == nil && st.repeatable:
		return lostCallRepeat
	case st.applied == nil:
		return lostCallUnconfirmed
	case !st.applied(before, now) && st.blind != nil && st.blind(before) && !st.repeatable:
		return lostCallUnconfirmed
	case !st.applied(before, now) && st.repeatable:
		return lostCallRepeat
	case !st.applied(before, now):
		return lostCallNotApplied
	case st.secret == nil || !a.ReturnsSecret():
		return lostCallApplied
	case st.repeatable:
		return lostCallRepeat
	default:
		return lostCallResponseLost
	}
}

// lostCallError is the error of an unconfirmed or response-lost verdict;
// how says how the answer was lost.
func lostCallError(v lostCall, how string) error {
	if v == lostCallResponseLost {
		return &PermanentError{Code: tasks.CodeResponseLost, Summary: "Okta applied the call but " + how + ", with the link; " +
			"request user.reactivate with send_email=false for a new link"}
	}
	return &PermanentError{Code: tasks.CodeUnconfirmed, Summary: how + " and the user's state cannot show whether Okta applied the call; " +
		"it is not repeated, so that the user does not get a second email. Check the user and request again if needed"}
}

// resumeAfterCrash decides what an unfinished earlier attempt left: done
// reports that the action needs no call now (with err nil: it took
// effect; with err set: it cannot be known, or its secret is lost). With
// done false the normal flow goes on, since the earlier call did not take
// effect or may be repeated.
func (e *Executor) resumeAfterCrash(a tasks.Args, st step, prev, now *oktaUser) (done bool, err error) {
	switch v := judgeLostCall(a, st, prev, now); v {
	case lostCallApplied:
		return true, nil
	case lostCallUnconfirmed, lostCallResponseLost:
		return true, lostCallError(v, "an earlier attempt sent the call and stopped before its answer")
	default:
		return false, nil
	}
}

// afterLostAnswer decides what to do when a call's answer never came (the
// connection dropped or timed out): the call may or may not have been
// applied. It re-reads the user first and never repeats a call that sends
// an email. It returns the call whose body holds the secret, if any, and
// settled: whether the call's fate is now known. While it is not (the
// re-read failed, the call may still be on its way, a repeat's answer was
// lost too) the journal entry stays open, so the next attempt decides
// from the user's state again instead of sending the call a second time.
func (e *Executor) afterLostAnswer(ctx context.Context, a tasks.Args, st step, before *oktaUser) (c *call, settled bool, err error) {
	var now *oktaUser
	if st.applied != nil {
		if now, err = e.getUser(ctx, before.ID); err != nil {
			return nil, false, err
		}
	}
	switch v := judgeLostCall(a, st, before, now); v {
	case lostCallApplied:
		return nil, true, nil
	case lostCallRepeat:
		c, err := e.do(ctx, func(ctx context.Context) (*oktasdk.APIResponse, error) { return st.invoke(ctx, before.ID) })
		return c, err == nil || c == nil || c.err == nil, err
	case lostCallNotApplied:
		return nil, false, &TransientError{Err: errors.New("the answer to the call was lost and it was not applied")}
	default:
		return nil, true, lostCallError(v, "its answer was lost")
	}
}

// afterConflict: Okta refused the call for the user's state (E0000001
// "cannot suspend a user that is not active", E0000038). Another action
// may have reached the end state between our read and our call (an
// admin, another tool, a duplicate request): the user is read again, and
// if the end state now holds the action is a no-op, not a failure. It
// returns the user as re-read then, else nil (the refusal stands).
func (e *Executor) afterConflict(ctx context.Context, a tasks.Args, id string, err error) *oktaUser {
	var p *PermanentError
	if !errors.As(err, &p) || (p.Code != "E0000001" && p.Code != "E0000038") {
		return nil
	}
	now, rerr := e.getUser(ctx, id)
	if rerr != nil {
		return nil
	}
	// A state conflict is about status, which needs no factor or block
	// read: the end state is judged from the user alone.
	if held, _ := endStateHolds(a, now, userFacts{}); !held {
		return nil
	}
	return now
}
