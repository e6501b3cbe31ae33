package tasks

// Outcomes of a held action (see hold.go).
const (
	// OutcomeDenied: the approver denied the action; nothing was done.
	OutcomeDenied Outcome = "denied"
	// OutcomeExpired: nobody approved the action within
	// OKTAQ_APPROVAL_TTL; nothing was done.
	OutcomeExpired Outcome = "expired"
	// OutcomeCancelled: the action was cancelled before it ran.
	OutcomeCancelled Outcome = "cancelled"
)

// Codes of held actions: the result's error.code of the outcomes above,
// and refusals of approve, deny, cancel and reschedule.
const (
	// CodeDenied: a second person denied the action.
	CodeDenied Code = "denied"
	// CodeApprovalExpired: nobody approved within OKTAQ_APPROVAL_TTL.
	CodeApprovalExpired Code = "approval_expired"
	// CodeCancelled: cancelled before it ran.
	CodeCancelled Code = "cancelled"
	// CodeApprovalRequired: the action needs a second person's approval
	// (OKTAQ_APPROVALS) and the task carries none.
	CodeApprovalRequired Code = "approval_required"
	// CodeSelfApproval: the approver is the requester.
	CodeSelfApproval Code = "self_approval"
	// CodeApproverRole: the approver's role may not approve this action
	// (OKTAQ_APPROVALS).
	CodeApproverRole Code = "approver_role_not_allowed"
	// CodeNotAwaitingApproval: approve or deny of an action that is not
	// awaiting approval (never was, or already decided or expired).
	CodeNotAwaitingApproval Code = "not_awaiting_approval"
	// CodeAlreadyStarted: cancel or reschedule of an action that has
	// already started or ended.
	CodeAlreadyStarted Code = "already_started"
	// CodeCallerNotVerified: the user rejected the Okta Verify push, or
	// did not answer it in time; nothing was done.
	CodeCallerNotVerified Code = "caller_not_verified"
	// CodeNoPushFactor: the action needs an Okta Verify push and the user
	// has no active push factor; nothing was done.
	CodeNoPushFactor Code = "no_push_factor"
	// CodeAwaitingApproval: the action waits for a second person (seen
	// only while it waits).
	CodeAwaitingApproval Code = "awaiting_approval"
	// CodeAwaitingVerification: a push was sent to the user and the
	// action waits for the answer (seen only while it waits).
	CodeAwaitingVerification Code = "awaiting_verification"
	// CodeNotYetDue: the action waits for its run_at, moved by a
	// reschedule or set by a time-bound access (seen only while it
	// waits).
	CodeNotYetDue Code = "not_yet_due"
	// CodeAccessExpiring: detail of the reminder sent before a time-bound
	// access is removed.
	CodeAccessExpiring Code = "access_expiring"
)
