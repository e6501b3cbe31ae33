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
	// OutcomeRejected: oktaq refused the task before calling Okta (bad
	// signature, invalid payload, role or scope not allowed).
	OutcomeRejected Outcome = "rejected"
)

// Result is the record a worker writes for a task (asynq's ResultWriter),
// read back by GET /v1/actions/{id} and `oktaq status`. It never holds a
// secret in clear: see Sealed.
type Result struct {
	Outcome    Outcome   `json:"outcome"`
	Action     Action    `json:"action"`
	Connection string    `json:"connection"`
	UserID     string    `json:"user_id,omitempty"`
	Okta       OktaTrace `json:"okta"`
	// Reason says why an action ended no_op when its status alone does
	// not show it.
	Reason string `json:"reason,omitempty"`
	// Items reports each group or app of an update on its own.
	Items      []ItemResult `json:"items,omitempty"`
	Error      *ErrorInfo   `json:"error,omitempty"`
	Sealed     *Sealed      `json:"sealed,omitempty"`
	Attempts   int          `json:"attempts"`
	StartedAt  time.Time    `json:"started_at"`
	FinishedAt time.Time    `json:"finished_at"`
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
}
