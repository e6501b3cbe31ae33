package tasks

import "time"

// PayloadVersion is the version of the task payload format. A payload with
// a missing or other version is refused, so that an old worker never
// guesses at a newer producer's fields.
const PayloadVersion = 1

// DefaultConnection is the connection used when a request names none.
const DefaultConnection = "default"

// Request holds the fields every action has. It is embedded in each action
// type, so its fields sit at the top level of the JSON payload.
type Request struct {
	// Version is the payload format; Marshal sets it.
	Version int `json:"v"`
	// Connection names the Okta org; empty means "default".
	Connection string `json:"connection,omitempty"`
	// User is the target: an Okta user id (00u...) or a login.
	User string `json:"user"`
	// Requester is the person on whose behalf the action runs.
	Requester Requester `json:"requester"`
	// Ticket is the help-desk request the action answers.
	Ticket Ticket `json:"ticket,omitzero"`
	// IdempotencyKey, when set, becomes the task id: a repeat is not a
	// second action.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// RequestedAt is when the requester asked; the enqueue client sets it
	// when it is zero.
	RequestedAt time.Time `json:"requested_at"`
	// Deadline, when set, is when the action is given up if it is not
	// done, rate-limit waits included; the enqueue client sets it. The
	// worker records a failed result with code deadline_exceeded.
	Deadline time.Time `json:"deadline,omitzero"`
	// Producer is the id of the ticketing system that enqueued the task,
	// set by the API from the caller's token.
	Producer string `json:"producer,omitempty"`
	// Bulk marks work that may wait behind interactive requests.
	Bulk bool `json:"bulk,omitempty"`
	// ResultKey is the producer's X25519 public key (base64, 32 bytes).
	// Secrets an action returns (a temporary password, a reset link, an
	// activation token) are sealed to it; without it such an action is
	// refused.
	ResultKey string `json:"result_key,omitempty"`
	// VerifyUser "push" asks the target user to confirm with an Okta
	// Verify push before the action runs; the connection may require it
	// anyway (OKTAQ_VERIFY_USER).
	VerifyUser string `json:"verify_user,omitempty"`
	// FollowUpOf is the id of the action whose time-bound access this one
	// removes; only the worker sets it (the task is signed).
	FollowUpOf string `json:"follow_up_of,omitempty"`
}

// Requester identifies who asked for the action. It holds no email or
// name: the task is readable by everyone who can read Redis or the
// dashboard, and the worker needs only the id (for the audit trail) and
// the role (for the policy); the producer maps the id back to a person.
type Requester struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// Ticket points at the help-desk request by system and id; its URL stays
// with the producer, for the same reason as the requester's email.
type Ticket struct {
	System string `json:"system,omitempty"`
	ID     string `json:"id,omitempty"`
}

// ConnectionName returns the connection, "default" when unset.
func (r *Request) ConnectionName() string {
	if r.Connection == "" {
		return DefaultConnection
	}
	return r.Connection
}

// Base returns the request itself; with it every action type satisfies the
// Base part of Args through embedding.
func (r *Request) Base() *Request { return r }
