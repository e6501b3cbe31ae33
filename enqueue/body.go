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
	args  tasks.Args
	runAt time.Time
}

// decodeActionBody decodes the API's JSON for one action: the payload
// fields of the action's type (decoded strictly by tasks.Decode) plus
// "action" and "run_at". "v" and "producer" are oktaq's to set. Every
// failure is a *tasks.ValidationError naming the field.
func decodeActionBody(body []byte) (actionBody, error) {
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
	if raw, ok := fields["run_at"]; ok {
		delete(fields, "run_at")
		var s *string
		if err := json.Unmarshal(raw, &s); err != nil {
			return out, fieldError("run_at", "must be an RFC 3339 time string")
		}
		if s != nil {
			t, err := time.Parse(time.RFC3339Nano, *s)
			if err != nil {
				return out, fieldError("run_at", "must be an RFC 3339 time, like 2025-01-02T15:04:05Z")
			}
			out.runAt = t
		}
	}
	fields["v"] = json.RawMessage(`1`)
	payload, err := json.Marshal(fields)
	if err != nil {
		return out, fieldError("payload", "cannot be re-encoded")
	}
	out.args, err = tasks.Decode(action, payload)
	if ve, ok := err.(*tasks.ValidationError); ok {
		// encoding/json names a field of the embedded Request by its Go path.
		for i := range ve.Fields {
			ve.Fields[i].Field = strings.TrimPrefix(ve.Fields[i].Field, "Request.")
			if ve.Fields[i].Field == "" {
				ve.Fields[i].Field = "payload"
			}
		}
	}
	return out, err
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
