package tasks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A hold is what keeps an action from running as soon as asynq delivers
// it: a second person's approval, a later run_at (reschedule), a
// cancellation, a push to the user. It lives in one Redis hash per task
// (HoldKey), written atomically by the API (approve, deny, cancel,
// reschedule) and by the worker (expiry, start), so that no process keeps
// any of it in memory and the action itself stays one asynq task under
// one id. The field names below are shared by both sides' scripts.

// HoldKey is the Redis hash of task id's hold. The braces make it its own
// hash tag: every script touches one such key only.
func HoldKey(taskID string) string { return "oktaq:hold:{" + taskID + "}" }

// Fields of a hold hash.
const (
	// HoldApproval: awaiting, approved, denied or expired (absent: the
	// action needs no approval).
	HoldApproval = "approval"
	// HoldExpiresAt: unix milliseconds when an awaiting approval expires.
	HoldExpiresAt = "expires_at"
	// HoldDecision: the signed Decision of the approver (JSON).
	HoldDecision = "decision"
	// HoldCancelled: the signed Decision of whoever cancelled (JSON).
	HoldCancelled = "cancelled"
	// HoldStarted: "1" once an attempt went on to call Okta for the
	// action itself; from then on it can no longer be cancelled. The
	// worker sets it with its hold check and takes it back when that
	// attempt waits without calling Okta (worker/hold.go).
	HoldStarted = "started"
	// HoldRunAt: unix milliseconds before which the action does not run
	// (set by reschedule and by a time-bound access's removal).
	HoldRunAt = "run_at"
	// HoldRemindLead: milliseconds before run_at a reminder goes out;
	// HoldReminded is set once it went out for the current run_at.
	HoldRemindLead = "remind_lead"
	HoldReminded   = "reminded"
	// HoldVerify: waiting, verified, rejected, timeout or no_factor while
	// a push to the user is out; HoldVerifyFactor and HoldVerifyTxn name
	// the factor and Okta's transaction; HoldVerifyPolls counts polls.
	HoldVerify       = "verify"
	HoldVerifyFactor = "verify_factor"
	HoldVerifyTxn    = "verify_txn"
	HoldVerifyPolls  = "verify_polls"
)

// Approval states of a hold.
const (
	ApprovalAwaiting = "awaiting"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
)

// Verdicts of a Decision.
const (
	VerdictApprove    = "approve"
	VerdictDeny       = "deny"
	VerdictCancel     = "cancel"
	VerdictReschedule = "reschedule"
)

// Decision is what a person decided about a held action: approve, deny,
// cancel. The API signs it with the task keyring, and the worker checks
// the signature and the decider's rights again before it acts on an
// approval: whoever can write Redis cannot approve an action.
type Decision struct {
	TaskID  string    `json:"task_id"`
	Verdict string    `json:"verdict"`
	By      Requester `json:"by"`
	// Producer is the producer the decider came through.
	Producer string    `json:"producer"`
	At       time.Time `json:"at"`
	KeyID    string    `json:"kid,omitempty"`
	MAC      string    `json:"mac,omitempty"`
}

// SignDecision sets d's key id and MAC.
func (k *Keyring) SignDecision(d *Decision) {
	d.KeyID = k.signing
	d.MAC = base64.RawURLEncoding.EncodeToString(decisionMAC(k.keys[k.signing], d))
}

// VerifyDecision checks d's MAC; failures wrap ErrSignature.
func (k *Keyring) VerifyDecision(d *Decision) error {
	key, ok := k.keys[d.KeyID]
	if !ok {
		return fmt.Errorf("%w: decision signed with unknown key id %q", ErrSignature, d.KeyID)
	}
	got, err := base64.RawURLEncoding.DecodeString(d.MAC)
	if err != nil || !hmac.Equal(got, decisionMAC(key, d)) {
		return fmt.Errorf("%w: decision MAC does not match", ErrSignature)
	}
	return nil
}

// decisionMAC has its own domain string, so that a decision's MAC can
// never pass for a task's.
func decisionMAC(key []byte, d *Decision) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("oktaq-decision-v1\x00"))
	for _, part := range []string{d.TaskID, d.Verdict, d.By.ID, d.By.Role, d.Producer, strconv.FormatInt(d.At.UnixNano(), 10)} {
		fmt.Fprintf(h, "%d\x00%s\x00", len(part), part)
	}
	return h.Sum(nil)
}

// VerifyMode is how the target user proves a caller is who they say
// before the action runs.
type VerifyMode string

// Verify modes.
const (
	// VerifyNone: no proof asked.
	VerifyNone VerifyMode = ""
	// VerifyPush: an Okta Verify push to the user's enrolled push factor;
	// a user without one is refused (no_push_factor).
	VerifyPush VerifyMode = "push"
	// VerifyPushOrApproval: a push, or for a user without a push factor a
	// second person's approval (OKTAQ_APPROVALS must list the action).
	VerifyPushOrApproval VerifyMode = "push_or_approval"
)

// VerifyPolicy: action -> the verification it requires on a connection.
type VerifyPolicy map[Action]VerifyMode

// ParseVerifyPolicy parses "action=push;action=push_or_approval" (the
// form of OKTAQ_VERIFY_USER), "*" standing for every action.
func ParseVerifyPolicy(s string) (VerifyPolicy, error) {
	out := VerifyPolicy{}
	err := eachActionRule(s, "action=push or action=push_or_approval", func(i int, _ string, targets []Action, mode string) error {
		m := VerifyMode(strings.TrimSpace(mode))
		if m != VerifyPush && m != VerifyPushOrApproval {
			return fmt.Errorf("rule %d: mode %q is unknown; want push or push_or_approval", i+1, m)
		}
		for _, a := range targets {
			out[a] = m
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VerifyModeFor is the verification an action needs: the connection's
// policy, made stricter (never weaker) by the request's own verify_user.
func (p *Policy) VerifyModeFor(a Args) VerifyMode {
	m := p.VerifyUser[a.Action()]
	if m == VerifyNone && a.Base().VerifyUser == string(VerifyPush) {
		m = VerifyPush
	}
	if a.Base().FollowUpOf != "" {
		return VerifyNone // removal of time-bound access: nothing to prove
	}
	return m
}

// NeedsApproval reports whether the action waits for a second person on
// this connection from the start. The removal that ends a time-bound
// access never does: it takes access away, and was approved with the
// grant. An action whose verification is push_or_approval waits for
// approval only when the user has no push factor (the worker finds out).
func (p *Policy) NeedsApproval(a Args) bool {
	return len(p.Approvals[a.Action()]) > 0 && a.Base().FollowUpOf == "" &&
		p.VerifyModeFor(a) != VerifyPushOrApproval
}

// AuthorizeApprover returns nil when approver may approve (or deny) the
// action requested by requester, or an *ApprovalError saying why not:
// the approver is the requester, or has no approving role.
func (p *Policy) AuthorizeApprover(a Action, requester, approver Requester) error {
	switch {
	case approver.ID == "" || approver.Role == "":
		return &ApprovalError{Code: CodeInvalid, Reason: "approver.id and approver.role are required"}
	case approver.ID == requester.ID:
		return &ApprovalError{Code: CodeSelfApproval, Reason: fmt.Sprintf("approver %q is the requester: a second person must approve", approver.ID)}
	case !p.Approvals.Allows(a, approver.Role):
		return &ApprovalError{Code: CodeApproverRole, Reason: fmt.Sprintf("role %q may not approve %s on connection %q (OKTAQ_APPROVALS)", approver.Role, a, p.Name)}
	}
	return nil
}

// ApprovalError says why an approval, denial or cancellation is refused.
type ApprovalError struct {
	Code   Code
	Reason string
}

func (e *ApprovalError) Error() string { return e.Reason }

// validateHoldFields checks verify_user, follow_up_of and the until of a
// time-bound access.
func validateHoldFields(v *validator, a Args, now time.Time) {
	r := a.Base()
	switch VerifyMode(r.VerifyUser) {
	case VerifyNone, VerifyPush:
	default:
		v.add("verify_user", "%q is unknown; the one method is \"push\" (an Okta Verify push to the user)", r.VerifyUser)
	}
	if r.FollowUpOf != "" {
		v.text("follow_up_of", r.FollowUpOf, maxIDLen, false)
		if !removesOnly(a) {
			v.add("follow_up_of", "is only for the removal of a time-bound access")
		}
	}
	var until time.Time
	var field string
	var grants int
	switch x := a.(type) {
	case *UpdateGroups:
		until, field, grants = x.Groups.Until, "groups.until", len(x.Groups.Add)
	case *UpdateApps:
		until, field, grants = x.Apps.Until, "apps.until", len(x.Apps.Assign)
	}
	switch {
	case until.IsZero():
	case grants == 0:
		v.add(field, "needs something to add or assign: until ends the access those grant")
	case !until.After(now):
		v.add(field, "is %s, not in the future: the access would end before it began", until.UTC().Format(time.RFC3339))
	}
}

// removesOnly reports whether a only removes memberships or assignments.
func removesOnly(a Args) bool {
	switch x := a.(type) {
	case *UpdateGroups:
		return len(x.Groups.Add) == 0 && len(x.Groups.Remove) > 0 && x.Groups.Until.IsZero()
	case *UpdateApps:
		return len(x.Apps.Assign) == 0 && len(x.Apps.Unassign) > 0 && x.Apps.Until.IsZero()
	}
	return false
}

// Until is the end of a time-bound access a requests, or zero.
func Until(a Args) time.Time {
	switch x := a.(type) {
	case *UpdateGroups:
		return x.Groups.Until
	case *UpdateApps:
		return x.Apps.Until
	}
	return time.Time{}
}

// CheckHolds verifies that every push_or_approval action has approving
// roles (Approvals) to fall back on.
func (p *Policy) CheckHolds() error {
	for _, a := range Actions() {
		if p.VerifyUser[a] == VerifyPushOrApproval && len(p.Approvals[a]) == 0 {
			return fmt.Errorf("%s=push_or_approval needs approving roles for %s in OKTAQ_APPROVALS to fall back on", a, a)
		}
	}
	return nil
}
