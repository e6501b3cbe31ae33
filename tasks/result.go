package tasks

import "time"

// Outcome is how an action ended.
type Outcome string

// Outcomes of an action.
const (
	// OutcomeSucceeded: Okta made the change.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeNoOp: the end state already held; nothing was changed.
	OutcomeNoOp Outcome = "no_op"
	// OutcomeFailed: Okta refused or the attempts ran out.
	OutcomeFailed Outcome = "failed"
	// OutcomePartial: an update of several groups or apps (or a playbook
	// run of several steps) did some and failed others; Items (or the
	// steps) say which, Error names the first failure.
	OutcomePartial Outcome = "partial"
	// OutcomeRejected: oktaq refused the task before calling Okta (bad
	// signature, invalid payload, role or scope not allowed).
	OutcomeRejected Outcome = "rejected"
)

// Result is the record a worker writes for a task (asynq's ResultWriter),
// read back by GET /v1/actions/{id} and `oktaq status`. It never holds a
// secret in clear: see Sealed.
type Result struct {
	Outcome    Outcome `json:"outcome"`
	Action     Action  `json:"action"`
	Connection string  `json:"connection"`
	UserID     string  `json:"user_id,omitempty"`
	// Login is the login of the user Okta resolved the request to.
	Login string    `json:"login,omitempty"`
	Okta  OktaTrace `json:"okta"`
	// Detail says why a no_op changed nothing, or what else the agent must
	// know about the outcome (a call Okta was asked instead, what Okta
	// leaves in place).
	Detail *Detail `json:"detail,omitempty"`
	// Items reports each group or app of an update on its own.
	Items  []ItemResult `json:"items,omitempty"`
	Error  *ErrorInfo   `json:"error,omitempty"`
	Sealed *Sealed      `json:"sealed,omitempty"`
	// Confirmation: whether Okta's events confirm the change (loop.go).
	Confirmation *Confirmation `json:"confirmation,omitempty"`
	// FollowUp is the id of the action that removes a time-bound access
	// at its until time.
	FollowUp string `json:"follow_up,omitempty"`
	// Approval is the second person's decision, for an action that
	// needed one (or who cancelled it).
	Approval *DecisionInfo `json:"approval,omitempty"`
	// Verification is how the user confirmed (or did not) the caller.
	Verification *Verification `json:"verification,omitempty"`
	Attempts     int           `json:"attempts"`
	StartedAt    time.Time     `json:"started_at"`
	FinishedAt   time.Time     `json:"finished_at"`
}

// OktaTrace is what Okta said: the user's status around the action and the
// request ids Okta support asks for.
type OktaTrace struct {
	StatusBefore string   `json:"status_before,omitempty"`
	StatusAfter  string   `json:"status_after,omitempty"`
	RequestIDs   []string `json:"request_ids,omitempty"`
	Calls        int      `json:"calls"`
}

// ErrorInfo says why an action failed or was rejected.
type ErrorInfo struct {
	// Code is oktaq's own (the Code constants) or what Okta said
	// (E0000038, invalid_client): see Code.
	Code    Code   `json:"code"`
	Summary string `json:"summary"`
	// Scope is the Okta scope that was missing, if that was the cause.
	Scope string `json:"scope,omitempty"`
	// Hint is one line a help-desk agent can act on.
	Hint string `json:"hint,omitempty"`
	// Fields lists bad fields of a rejected request.
	Fields []FieldError `json:"fields,omitempty"`
}

// ItemResult is one group or app of UpdateGroups / UpdateApps.
type ItemResult struct {
	// Op is add, remove, assign or unassign.
	Op string `json:"op"`
	// Ref is the name or id the request gave; ID is what it resolved to.
	Ref     string     `json:"ref"`
	ID      string     `json:"id,omitempty"`
	Outcome Outcome    `json:"outcome"`
	Error   *ErrorInfo `json:"error,omitempty"`
	// Detail says why a no_op changed nothing, or what the item could not
	// change (CodeAppGroupSameName).
	Detail *Detail `json:"detail,omitempty"`
	// Unchanged lists memberships of the same name the action cannot
	// change: directory (APP_GROUP) groups named like the OKTA_GROUP.
	Unchanged []GroupRef `json:"unchanged,omitempty"`
}

// Detail is a named note on an outcome: Code is one of the detail codes
// (CodeAlreadyDone, CodeAppGroupSameName...), Reason the sentence for a
// person.
type Detail struct {
	Code   Code   `json:"code"`
	Reason string `json:"reason"`
}

// GroupRef names an Okta group.
type GroupRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// DecisionInfo is the public part of a Decision: who decided what, when.
type DecisionInfo struct {
	Verdict string    `json:"verdict"`
	By      Requester `json:"by"`
	At      time.Time `json:"at"`
}

// Verification is the Okta Verify push sent to the user.
type Verification struct {
	Method   string `json:"method"`
	FactorID string `json:"factor_id,omitempty"`
	// Result is Okta's factorResult: SUCCESS, REJECTED or TIMEOUT.
	Result string `json:"result"`
	Polls  int    `json:"polls"`
}
