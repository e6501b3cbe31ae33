package enqueue

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// The receiver of Okta's event hooks: GET answers the one-time
// verification, POST stores each event as a task and answers at once
// (Okta waits 3 s); the worker matches the events to actions later.

// maxEventHookBody bounds one delivery (Okta batches events).
const maxEventHookBody = 4 << 20

// eventTaskRetention keeps a processed event's task, and so its id: a
// duplicate delivery within it is recognised and not processed again.
const eventTaskRetention = 72 * time.Hour

// hookAuthorized compares the Authorization header with the secret in
// constant time (over digests, so the length does not leak either).
func (a *api) hookAuthorized(r *http.Request) bool {
	if a.opts.EventHookSecret == "" {
		return false
	}
	got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	want := sha256.Sum256([]byte(a.opts.EventHookSecret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// hookConnection checks the secret and the connection; it writes the
// problem and returns false when either is wrong.
func (a *api) hookConnection(w http.ResponseWriter, r *http.Request) (string, bool) {
	if a.opts.EventHookSecret == "" {
		writeProblem(w, newProblem(http.StatusNotFound, "event_hooks_off", "the event hook receiver is off: set OKTAQ_EVENT_HOOK_SECRET"))
		return "", false
	}
	if !a.hookAuthorized(r) {
		writeProblem(w, newProblem(http.StatusUnauthorized, "unauthorized", "the Authorization header is not the event hook secret"))
		return "", false
	}
	name := r.PathValue("connection")
	if _, known := a.c.Connection(name); !known || name == "" {
		writeProblem(w, newProblem(http.StatusNotFound, "unknown_connection", fmt.Sprintf("connection %q is not configured", name)))
		return "", false
	}
	return name, true
}

// verifyOktaHook answers Okta's one-time verification request.
func (a *api) verifyOktaHook(w http.ResponseWriter, r *http.Request, _ string) {
	if _, ok := a.hookConnection(w, r); !ok {
		return
	}
	challenge := r.Header.Get("x-okta-verification-challenge")
	if challenge == "" {
		writeProblem(w, fieldProblem("x-okta-verification-challenge", "header is missing; Okta sends it once when the hook is verified"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"verification": challenge})
}

// hookDelivery is the part of Okta's envelope oktaq reads.
type hookDelivery struct {
	EventID string `json:"eventId"`
	Data    struct {
		Events []json.RawMessage `json:"events"`
	} `json:"data"`
}

// receiveOktaEvents stores each event of a delivery as a task whose id is
// the event's uuid: a duplicate delivery finds the task and adds nothing.
func (a *api) receiveOktaEvents(w http.ResponseWriter, r *http.Request, _ string) {
	conn, ok := a.hookConnection(w, r)
	if !ok {
		return
	}
	// Whatever Content-Type Okta sends: a 4xx here would lose the events
	// (Okta retries only after a 5xx).
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventHookBody))
	if err != nil {
		writeProblem(w, newProblem(http.StatusRequestEntityTooLarge, "too_large", "the delivery is larger than 4 MiB or was cut short"))
		return
	}
	var d hookDelivery
	if err := json.Unmarshal(body, &d); err != nil {
		writeProblem(w, fieldProblem("body", "is not an Okta event hook delivery (JSON with data.events)"))
		return
	}
	stored, dup := 0, 0
	for i, raw := range d.Data.Events {
		var ev struct {
			UUID string `json:"uuid"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil || ev.UUID == "" {
			writeProblem(w, fieldProblem(fmt.Sprintf("data.events[%d].uuid", i), "is missing"))
			return
		}
		payload, _ := json.Marshal(tasks.OktaEventTask{Connection: conn, Event: raw})
		env := tasks.Envelope{TaskID: tasks.OktaEventTaskID(conn, ev.UUID), Queue: tasks.QueueEvents, Type: tasks.TypeOktaEvent, Payload: payload}
		task := asynq.NewTaskWithHeaders(tasks.TypeOktaEvent, payload, a.c.opts.Keyring.Sign(env))
		_, err := a.c.asynq.EnqueueContext(r.Context(), task, asynq.Queue(env.Queue),
			asynq.TaskID(env.TaskID), asynq.MaxRetry(10), asynq.Retention(eventTaskRetention))
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
			dup++
		case err != nil:
			// Okta retries once after a 5xx: the events are not lost yet.
			writeProblem(w, newProblem(http.StatusServiceUnavailable, "unavailable", "the event store (Redis) did not answer"))
			return
		default:
			stored++
		}
	}
	a.log.Info("okta events received", "connection", conn, "delivery", d.EventID, "stored", stored, "duplicates", dup)
	w.WriteHeader(http.StatusNoContent)
}
