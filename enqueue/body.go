package enqueue

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// actionBody is one decoded POST /v1/actions body.
type actionBody struct {
	args     tasks.Args
	runAt    time.Time
	deadline time.Time
	// dryRun: answer what the action would do, enqueue nothing.
	dryRun bool
}

// bodyExtras are the fields of a body that are not payload fields: read
// here, or accepted and dropped: requester.email and ticket.url, for
// producers written before oktaq stopped keeping them (personal data the
// worker does not need stays out of the task and the dashboard).
var bodyExtras = map[string]bool{"action": true, "run_at": true, "deadline": true, "dry_run": true,
	"requester.email": true, "ticket.url": true}

// bodyEnvelope is what the API reads of a body before its payload: the
// action names the payload's type; "v" and "producer" are oktaq's to set.
type bodyEnvelope struct {
	Action   json.RawMessage `json:"action"`
	RunAt    json.RawMessage `json:"run_at"`
	Deadline json.RawMessage `json:"deadline"`
	DryRun   json.RawMessage `json:"dry_run"`
	V        json.RawMessage `json:"v"`
	Producer json.RawMessage `json:"producer"`
}

// decodeActionBody decodes the API's JSON for one action: the payload
// fields of the action's type (checked strictly, as tasks.Decode does)
// plus "action", "run_at", "deadline" and "dry_run". "v" and "producer"
// are oktaq's to set. A key given twice anywhere is refused. Every
// failure is a *tasks.ValidationError naming the field by its full path.
// The body is walked once (tasks.DecodeBody), not re-encoded as a
// payload and checked again: that second pass cost a fifth of the API's
// CPU (issue 19).
func decodeActionBody(body []byte) (actionBody, error) {
	var out actionBody
	var env bodyEnvelope
	if err := json.Unmarshal(body, &env); err != nil || !isObject(body) {
		if cerr := tasks.CheckJSON(body); cerr != nil {
			return out, cerr
		}
		return out, fieldError("payload", "must be a JSON object")
	}
	if env.Action == nil {
		return out, fieldError("action", "is required")
	}
	var name string
	if err := json.Unmarshal(env.Action, &name); err != nil {
		return out, fieldError("action", "must be a string")
	}
	action := tasks.Action(name)
	if !action.Known() {
		return out, fieldError("action", fmt.Sprintf("unknown action %q; known: %s", name, actionList()))
	}
	// The envelope's checks come before the walk: a payload field of the
	// same name (deadline) would otherwise be decoded first, with a less
	// helpful error.
	if env.V != nil {
		return out, fieldError("v", "is set by oktaq; leave it out")
	}
	if env.Producer != nil {
		return out, fieldError("producer", "is set by oktaq; leave it out")
	}
	var err error
	if out.runAt, err = parseTime("run_at", env.RunAt); err != nil {
		return out, err
	}
	if out.deadline, err = parseTime("deadline", env.Deadline); err != nil {
		return out, err
	}
	if env.DryRun != nil {
		if err := json.Unmarshal(env.DryRun, &out.dryRun); err != nil {
			return out, fieldError("dry_run", "must be true or false")
		}
	}
	args, err := tasks.DecodeBody(action, body, bodyExtras)
	if err != nil {
		if ve, ok := err.(*tasks.ValidationError); ok {
			for i := range ve.Fields {
				if ve.Fields[i].Field == "" {
					ve.Fields[i] = tasks.FieldError{Field: "payload", Reason: "has a field with an empty name"}
				}
			}
		}
		return out, err
	}
	r := args.Base()
	r.Version = tasks.PayloadVersion
	r.Deadline = time.Time{} // "deadline" is the envelope's, checked above
	out.args = args
	return out, nil
}

// isObject reports whether doc's first token opens an object.
func isObject(doc []byte) bool {
	for _, c := range doc {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '{'
	}
	return false
}

// parseTime reads an optional RFC 3339 time field.
func parseTime(name string, raw json.RawMessage) (time.Time, error) {
	if raw == nil {
		return time.Time{}, nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fieldError(name, "must be an RFC 3339 time string")
	}
	if s == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fieldError(name, "must be an RFC 3339 time, like 2025-01-02T15:04:05Z")
	}
	return t, nil
}

func fieldError(field, reason string) *tasks.ValidationError {
	return &tasks.ValidationError{Fields: []tasks.FieldError{{Field: field, Reason: reason}}}
}

func actionList() string {
	names := make([]string, 0, 12)
	for _, a := range tasks.Actions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}
