package tasks

import (
	"strings"
	"time"
)

// The closed loop: names the API (which receives Okta's event hooks) and
// the worker (which processes them and calls producers back) share.
const (
	// QueueCallbacks holds deliveries to producers' callback URLs.
	QueueCallbacks = "callbacks"
	// QueueEvents holds the Okta events received through event hooks.
	QueueEvents = "events"
	// TypeOktaEvent is the asynq task type of one received Okta event.
	TypeOktaEvent = "oktaq:okta_event"
)

// OktaEventTask is the payload of a TypeOktaEvent task: one System Log
// event as Okta delivered it, and the connection whose hook received it.
type OktaEventTask struct {
	Connection string `json:"connection"`
	// Event is the LogEvent, unchanged.
	Event []byte `json:"event"`
}

// OktaEventTaskID is the task id of an event: a duplicate delivery of the
// same event (same uuid) is the same task, so it is processed once.
func OktaEventTaskID(connection, uuid string) string { return "ev-" + connection + "-" + uuid }

// Confirmation says whether Okta's own events confirm an action
// (Result.Confirmation).
type Confirmation struct {
	// State is one of the Confirmation* constants.
	State string `json:"state"`
	// EventID is the uuid of the Okta event that confirmed the action.
	EventID string `json:"event_id,omitempty"`
	// At is when Okta published that event, or when the action was found
	// unconfirmed.
	At time.Time `json:"at,omitzero"`
}

// Confirmation states.
const (
	ConfirmationConfirmed     = "confirmed"
	ConfirmationPending       = "pending"
	ConfirmationUnconfirmed   = "unconfirmed"
	ConfirmationNotApplicable = "not_applicable"
)

// ConfirmationKey is the Redis key of an action's settled confirmation,
// written by the worker after the result, read by Status.
func ConfirmationKey(actionID string) string { return "oktaq:confirmation:{" + actionID + "}" }

// TypeCallbackRequest asks a worker to tell a producer of a state its
// action reached outside a worker (scheduled for later, at enqueue).
const TypeCallbackRequest = "oktaq:callback_request"

// CallbackRequest is the payload of a TypeCallbackRequest task.
type CallbackRequest struct {
	Producer string `json:"producer"`
	ActionID string `json:"action_id"`
	Queue    string `json:"queue"`
	// Type is the callback type, e.g. action.scheduled.
	Type string `json:"type"`
	// Sequence is the number the API took for this delivery
	// (CallbackSeqKey); 0: the worker takes one.
	Sequence int64 `json:"sequence,omitempty"`
	// Due is when the action is due: its callback keys live until then
	// and CallbackKeep after.
	Due time.Time `json:"due,omitzero"`
}

// CallbackSeqKey is the counter of an action's callback sequence numbers
// and CallbackPendingKey the sorted set (by sequence number) of its
// deliveries not yet done: the API takes a number and marks its request
// pending there when a state is reached at enqueue, so that a later state
// reached in a worker is numbered, and delivered, after it. The braces
// keep an action's keys on one cluster slot.
func CallbackSeqKey(actionID string) string     { return "oktaq:cb:{" + actionID + "}:seq" }
func CallbackPendingKey(actionID string) string { return "oktaq:cb:{" + actionID + "}:pending" }

// CallbackRequestID is the task id of the request to call back state
// typ of an action (one per action and state).
func CallbackRequestID(actionID, typ string) string {
	return "cbr-" + actionID + "-" + strings.ReplaceAll(typ, ".", "-")
}

// CallbackKeep is how long an action's callback keys live past the time
// it is due: the longest a delivery is retried and then kept (the
// worker's defaults, 25 h and 24 h).
const CallbackKeep = 49 * time.Hour
