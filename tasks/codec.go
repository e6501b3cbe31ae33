package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// MaxPayloadBytes bounds a task payload; larger payloads are refused before
// decoding.
const MaxPayloadBytes = 64 << 10

// Normalize fills the defaults a producer may leave out: the payload
// version and the time of the request.
func Normalize(a Args, now time.Time) {
	r := a.Base()
	if r.Version == 0 {
		r.Version = PayloadVersion
	}
	if r.RequestedAt.IsZero() {
		r.RequestedAt = now.UTC()
	}
}

// Marshal encodes the action as a task payload.
func Marshal(a Args) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", a.Action(), err)
	}
	return b, nil
}

// Decode parses a task payload of the given action strictly: unknown
// fields, trailing data and a missing or unknown version are errors,
// reported as a *ValidationError naming the field.
func Decode(a Action, payload []byte) (Args, error) {
	args, ok := New(a)
	if !ok {
		return nil, &ValidationError{Fields: []FieldError{{Field: "action", Reason: fmt.Sprintf("unknown action %q", a)}}}
	}
	if len(payload) > MaxPayloadBytes {
		return nil, &ValidationError{Fields: []FieldError{{Field: "payload", Reason: fmt.Sprintf("is %d bytes; at most %d allowed", len(payload), MaxPayloadBytes)}}}
	}
	t := reflect.TypeOf(args).Elem()
	if !scanClean(payload, t) {
		if err := checkJSON(payload, t); err != nil {
			return nil, err
		}
	}
	// The walk refused every key that is not exactly a field, and data
	// after the object, so a plain decode reads exactly what it checked.
	if err := json.Unmarshal(payload, args); err != nil {
		if err := checkJSON(payload, t); err != nil {
			return nil, err // bad syntax scanClean let by: said as before
		}
		return nil, decodeError(err)
	}
	switch v := args.Base().Version; v {
	case PayloadVersion:
	case 0:
		return nil, &ValidationError{Fields: []FieldError{{Field: "v", Reason: "payload version is missing"}}}
	default:
		return nil, &ValidationError{Fields: []FieldError{{Field: "v", Reason: fmt.Sprintf("payload version %d is not supported; want %d", v, PayloadVersion)}}}
	}
	return args, nil
}

// DecodeTask decodes a payload by its asynq task type.
func DecodeTask(typeName string, payload []byte) (Args, error) {
	a, ok := ActionFromType(typeName)
	if !ok {
		return nil, &ValidationError{Fields: []FieldError{{Field: "type", Reason: fmt.Sprintf("unknown task type %q", typeName)}}}
	}
	return Decode(a, payload)
}

// decodeError turns encoding/json's errors into field errors.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "payload"
		}
		return &ValidationError{Fields: []FieldError{{Field: field, Reason: fmt.Sprintf("must be %s, not a JSON %s", jsonKind(typeErr.Type), typeErr.Value)}}}
	case errors.As(err, &syntaxErr):
		return &ValidationError{Fields: []FieldError{{Field: "payload", Reason: fmt.Sprintf("is not valid JSON at byte %d", syntaxErr.Offset)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ValidationError{Fields: []FieldError{{Field: name, Reason: "is not a known field of this action"}}}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Fields: []FieldError{{Field: "payload", Reason: "is empty or cut short"}}}
	default:
		return &ValidationError{Fields: []FieldError{{Field: "payload", Reason: err.Error()}}}
	}
}

func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "a number"
	}
}
