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

// discarded are fields the API accepts, for producers written before
// oktaq stopped keeping them, and drops: personal data the worker does
// not need stays out of the task (and out of the dashboard).
var discarded = map[string]string{"requester": "email", "ticket": "url"}

// decodeActionBody decodes the API's JSON for one action: the payload
// fields of the action's type (decoded strictly by tasks.Decode) plus
// "action", "run_at" and "deadline". "v" and "producer" are oktaq's to
// set. A key given twice anywhere is refused. Every failure is a
// *tasks.ValidationError naming the field by its full path.
func decodeActionBody(body []byte) (actionBody, error) {
	if err := tasks.CheckJSON(body); err != nil {
		return actionBody{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return actionBody{}, fieldError("payload", "must be a JSON object")
	}
	var out actionBody
	raw, ok := fields["action"]
	if !ok {
		return out, fieldError("action", "is required")
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return out, fieldError("action", "must be a string")
	}
	action := tasks.Action(name)
	if !action.Known() {
		return out, fieldError("action", fmt.Sprintf("unknown action %q; known: %s", name, actionList()))
	}
	delete(fields, "action")
	if _, ok := fields[""]; ok {
		return out, fieldError("payload", "has a field with an empty name")
	}
	for _, k := range []string{"v", "producer"} {
		if _, ok := fields[k]; ok {
			return out, fieldError(k, "is set by oktaq; leave it out")
		}
	}
	var err error
	if out.runAt, err = takeTime(fields, "run_at"); err != nil {
		return out, err
	}
	if out.deadline, err = takeTime(fields, "deadline"); err != nil {
		return out, err
	}
	if raw, ok := fields["dry_run"]; ok {
		delete(fields, "dry_run")
		if err := json.Unmarshal(raw, &out.dryRun); err != nil {
			return out, fieldError("dry_run", "must be true or false")
		}
	}
	for parent, child := range discarded {
		if err := dropField(fields, parent, child); err != nil {
			return out, err
		}
	}
	fields["v"] = json.RawMessage(`1`)
	payload, err := json.Marshal(fields)
	if err != nil {
		return out, fieldError("payload", "cannot be re-encoded")
	}
	out.args, err = tasks.Decode(action, payload)
	if ve, ok := err.(*tasks.ValidationError); ok {
		for i := range ve.Fields {
			if ve.Fields[i].Field == "" {
				ve.Fields[i].Field = "payload"
			}
		}
	}
	return out, err
}

// takeTime removes an optional RFC 3339 time field from fields.
func takeTime(fields map[string]json.RawMessage, name string) (time.Time, error) {
	raw, ok := fields[name]
	if !ok {
		return time.Time{}, nil
	}
	delete(fields, name)
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

// dropField removes parent.child when parent is an object.
func dropField(fields map[string]json.RawMessage, parent, child string) error {
	raw, ok := fields[parent]
	if !ok {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil // tasks.Decode names the wrong kind
	}
	if _, ok := obj[child]; !ok {
		return nil
	}
	delete(obj, child)
	b, err := json.Marshal(obj)
	if err != nil {
		return fieldError(parent, "cannot be re-encoded")
	}
	fields[parent] = b
	return nil
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
