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
//
// The envelope's fields are found by a byte scan of the top level
// (scanEnvelope); json.Unmarshal into a bodyEnvelope cost 11
// allocations and ~2.5 µs a request. The scan only ever answers a
// body that decodes: every refusal, and every body the scan does not
// take, is decoded again with json.Unmarshal, so that what is refused,
// and the words of the refusal, are as they were.
func decodeActionBody(body []byte) (actionBody, error) {
	if env, ok := scanEnvelope(body); ok {
		if out, err := decodeEnvelope(body, env); err == nil {
			return out, nil
		}
	}
	return decodeActionBodyUnmarshal(body)
}

// decodeActionBodyUnmarshal is decodeActionBody with the envelope read
// by json.Unmarshal.
func decodeActionBodyUnmarshal(body []byte) (actionBody, error) {
	var env bodyEnvelope
	if err := json.Unmarshal(body, &env); err != nil || !isObject(body) {
		if cerr := tasks.CheckJSON(body); cerr != nil {
			return actionBody{}, nameEmptyFields(cerr)
		}
		return actionBody{}, fieldError("payload", "must be a JSON object")
	}
	return decodeEnvelope(body, env)
}

// decodeEnvelope checks the envelope's fields and decodes the payload.
func decodeEnvelope(body []byte, env bodyEnvelope) (actionBody, error) {
	var out actionBody
	if env.Action == nil {
		return out, fieldError("action", "is required")
	}
	name, ok := stringValue(env.Action)
	if !ok {
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
	switch string(env.DryRun) {
	case "", "false":
	case "true":
		out.dryRun = true
	default:
		if err := json.Unmarshal(env.DryRun, &out.dryRun); err != nil {
			return out, fieldError("dry_run", "must be true or false")
		}
	}
	args, err := tasks.DecodeBody(action, body, bodyExtras)
	if err != nil {
		return out, nameEmptyFields(err)
	}
	r := args.Base()
	r.Version = tasks.PayloadVersion
	r.Deadline = time.Time{} // "deadline" is the envelope's, checked above
	out.args = args
	return out, nil
}

// nameEmptyFields names the field of an error about a key "": a
// refusal always names a field.
func nameEmptyFields(err error) error {
	if ve, ok := err.(*tasks.ValidationError); ok {
		for i := range ve.Fields {
			if ve.Fields[i].Field == "" {
				ve.Fields[i] = tasks.FieldError{Field: "payload", Reason: "has a field with an empty name"}
			}
		}
	}
	return err
}

// stringValue reads a JSON value as json.Unmarshal reads it into a
// string: a plain string (no escape, printable ASCII) directly, any
// other through Unmarshal; null leaves it empty.
func stringValue(raw []byte) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && plainASCII(raw[1:len(raw)-1]) {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// plainASCII: printable ASCII without '"' or '\\', which a JSON string
// holds as it is.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// scanEnvelope finds the envelope's fields at the top level of body as
// json.Unmarshal into a bodyEnvelope would, for a body that is valid
// JSON; ok is false where it would not be sure to: a body that does not
// open an object, a top-level key with an escape or a byte outside
// ASCII, an envelope key given twice, or one in other letter case
// (which json.Unmarshal takes for it). The values are skipped, not
// checked: what is not valid JSON fails in tasks.DecodeBody after.
func scanEnvelope(body []byte) (env bodyEnvelope, ok bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return env, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return env, true
	}
	for i < len(body) {
		if body[i] != '"' {
			return env, false
		}
		end := i + 1
		for end < len(body) && body[end] != '"' {
			if c := body[end]; c == '\\' || c >= 0x80 {
				return env, false
			}
			end++
		}
		if end >= len(body) {
			return env, false
		}
		key := body[i+1 : end]
		i = skipSpace(body, end+1)
		if i >= len(body) || body[i] != ':' {
			return env, false
		}
		start := skipSpace(body, i+1)
		if i = skipValue(body, start); i < 0 {
			return env, false
		}
		if field := env.field(key); field != nil {
			if *field != nil {
				return env, false
			}
			*field = body[start:i]
		} else if env.foldsTo(key) {
			return env, false
		}
		i = skipSpace(body, i)
		if i >= len(body) {
			return env, false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			return env, true
		default:
			return env, false
		}
	}
	return env, false
}

// field is the envelope field of a top-level key, or nil.
func (env *bodyEnvelope) field(key []byte) *json.RawMessage {
	switch string(key) {
	case "action":
		return &env.Action
	case "run_at":
		return &env.RunAt
	case "deadline":
		return &env.Deadline
	case "dry_run":
		return &env.DryRun
	case "v":
		return &env.V
	case "producer":
		return &env.Producer
	}
	return nil
}

// foldsTo reports a key json.Unmarshal would take for an envelope field
// though it is not its exact name (an ASCII key: no other folding).
func (env *bodyEnvelope) foldsTo(key []byte) bool {
	for _, name := range [...]string{"action", "run_at", "deadline", "dry_run", "v", "producer"} {
		if len(key) == len(name) && strings.EqualFold(string(key), name) {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index after the value that starts at i, or -1;
// it follows strings (and their escapes) and nesting, nothing more.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return -1
			}
			i++
		case c == '{' || c == '[':
			depth++
			i++
			continue
		case c == '}' || c == ']':
			if depth == 0 {
				return i // the end of the enclosing object
			}
			depth--
			i++
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return i
		default:
			i++
			continue
		}
		if depth == 0 { // after a string or a closing bracket
			return i
		}
	}
	if depth != 0 {
		return -1
	}
	return i
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
	if raw == nil || string(raw) == "null" {
		return time.Time{}, nil
	}
	s, ok := stringValue(raw)
	if !ok {
		return time.Time{}, fieldError(name, "must be an RFC 3339 time string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
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
