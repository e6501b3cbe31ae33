package tasks

// A dry run's answer (POST /v1/playbooks/{name}/runs or POST /v1/actions
// with "dry_run": true): for each step the Okta calls it would make,
// their buckets, the share of the current budget they would use, and what
// would be refused or skipped and why. Nothing is changed; the reads are
// made (through the limiter), the writes are only listed.

// Plan is the dry run of a playbook, or of one action (one step).
type Plan struct {
	DryRun     bool   `json:"dry_run"`
	Playbook   string `json:"playbook,omitempty"`
	Connection string `json:"connection"`
	User       string `json:"user"`
	UserID     string `json:"user_id,omitempty"`
	Login      string `json:"login,omitempty"`
	Status     string `json:"status,omitempty"`
	// Snapshot lists the reads a run makes before its first step.
	Snapshot *PlanStep  `json:"snapshot,omitempty"`
	Steps    []PlanStep `json:"steps"`
	// Calls counts every call of the plan; Budget sums them per bucket.
	Calls  int           `json:"calls"`
	Budget []BucketShare `json:"budget"`
	// Error is set when the user could not be read at all.
	Error *ErrorInfo `json:"error,omitempty"`
}

// PlanStep is what one step would do.
type PlanStep struct {
	Action Action `json:"action,omitempty"`
	// Would is what the step would end as: succeeded, no_op, partial,
	// skipped, refused or failed.
	Would    string        `json:"would"`
	Priority string        `json:"priority"`
	Calls    []PlannedCall `json:"calls"`
	Budget   []BucketShare `json:"budget"`
	// Refused says why the step would be refused (role, scope, state,
	// provider...); Reason why it would be skipped or why it changes
	// nothing.
	Refused *ErrorInfo   `json:"refused,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	Targets []string     `json:"targets,omitempty"`
	Skipped []SkipReason `json:"skipped,omitempty"`
	Items   []ItemResult `json:"items,omitempty"`
	// StatusAfter is the user's status the step would leave.
	StatusAfter string `json:"status_after,omitempty"`
}

// PlannedCall is one call to Okta. Write calls are not sent in a dry run.
type PlannedCall struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Bucket string `json:"bucket"`
	Write  bool   `json:"write"`
}

// BucketShare is the cost of some calls in one rate-limit bucket, against
// what the limiter last learnt of that bucket.
type BucketShare struct {
	Bucket string `json:"bucket"`
	Calls  int    `json:"calls"`
	// Known is false before any call of the window showed the bucket's
	// figures; Limit, Remaining and Share are then zero.
	Known     bool `json:"known"`
	Limit     int  `json:"limit,omitempty"`
	Remaining int  `json:"remaining,omitempty"`
	// Usable is what calls of the step's priority may still spend (the
	// reserve and other classes' headroom left out); Share is Calls over
	// Usable (above 1: the calls would wait for the next window).
	Usable int     `json:"usable,omitempty"`
	Share  float64 `json:"share,omitempty"`
}

// PlanRequest asks an executor for a dry run: the steps and the request
// they would be made with (user, requester, connection).
type PlanRequest struct {
	Request
	Playbook string
	Steps    []PlaybookStep
	// Snapshot: plan the run's snapshot reads too (a playbook run makes
	// them; a single action does not).
	Snapshot bool
	// Refused holds, per step, a refusal the producer side already knows
	// (role, scope not enabled, producer bounds); the executor adds what
	// only Okta's answers show.
	Refused map[int]*ErrorInfo
}
