package tasks

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// checkJSON walks a payload's tokens beside the Go type it decodes into
// and reports, with the full path of the field (requester.role,
// groups.add[0]): a key given twice (encoding/json keeps the last, so
// "user":"bob","user":"alice" would act on alice while a reviewer reads
// bob), a field the type does not have, a value of the wrong JSON kind,
// and a syntax error with its byte offset. A nil error means
// json.Decoder will decode the payload without surprise.
func checkJSON(payload []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	w := &jsonWalker{dec: dec}
	err := w.value(t, "")
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = fieldErr("payload", fmt.Sprintf("has data after the JSON object, at byte %d", dec.InputOffset()))
		}
	}
	return err
}

type jsonWalker struct {
	dec *json.Decoder
	// extra are full paths of fields a struct does not have that are
	// allowed anyway, with any value (DecodeBody).
	extra map[string]bool
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func fieldErr(field, reason string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Reason: reason}}}
}

func (w *jsonWalker) token(path string) (json.Token, error) {
	tok, err := w.dec.Token()
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, fieldErr("payload", fmt.Sprintf("is not valid JSON at byte %d: %s", se.Offset, se.Error()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fieldErr("payload", fmt.Sprintf("is empty or cut short at byte %d", w.dec.InputOffset()))
	case err != nil:
		return nil, fieldErr(orPayload(path), err.Error())
	}
	return tok, nil
}

func orPayload(path string) string {
	if path == "" {
		return "payload"
	}
	return path
}

// value reads one value at path, which t (nil: anything) must accept.
func (w *jsonWalker) value(t reflect.Type, path string) error {
	tok, err := w.token(path)
	if err != nil {
		return err
	}
	if tok == nil { // null is every type's zero value
		return nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(textUnmarshaler) {
		if _, ok := tok.(string); !ok {
			w.skip(tok)
			return fieldErr(orPayload(path), "must be a string")
		}
		return nil
	}
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			if t != nil && t.Kind() != reflect.Struct && t.Kind() != reflect.Map && t.Kind() != reflect.Interface {
				return w.wrongKind(t, path, "an object", tok)
			}
			return w.object(t, path)
		}
		if t != nil && t.Kind() != reflect.Slice && t.Kind() != reflect.Array && t.Kind() != reflect.Interface {
			return w.wrongKind(t, path, "a list", tok)
		}
		return w.array(t, path)
	case string:
		if t != nil && t.Kind() != reflect.String && t.Kind() != reflect.Interface {
			return fieldErr(orPayload(path), fmt.Sprintf("must be %s, not a JSON string", jsonKind(t)))
		}
	case bool:
		if t != nil && t.Kind() != reflect.Bool && t.Kind() != reflect.Interface {
			return fieldErr(orPayload(path), fmt.Sprintf("must be %s, not a JSON bool", jsonKind(t)))
		}
	case json.Number:
		if t != nil && !isNumber(t.Kind()) && t.Kind() != reflect.Interface {
			return fieldErr(orPayload(path), fmt.Sprintf("must be %s, not a JSON number", jsonKind(t)))
		}
	}
	return nil
}

func isNumber(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Float64
}

func (w *jsonWalker) wrongKind(t reflect.Type, path, got string, open json.Delim) error {
	w.skip(open)
	return fieldErr(orPayload(path), fmt.Sprintf("must be %s, not %s", jsonKind(t), got))
}

// skip consumes the rest of a value whose first token was tok.
func (w *jsonWalker) skip(tok json.Token) {
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		for depth := 1; depth > 0; {
			next, err := w.dec.Token()
			if err != nil {
				return
			}
			switch next {
			case json.Delim('{'), json.Delim('['):
				depth++
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
	}
}

func (w *jsonWalker) object(t reflect.Type, path string) error {
	seen := map[string]bool{}
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = cachedFields(t)
	}
	for w.dec.More() {
		tok, err := w.token(path)
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		field := key
		if path != "" {
			field = path + "." + key
		}
		if seen[key] {
			return fieldErr(field, "is given twice; send each field once")
		}
		seen[key] = true
		var ft reflect.Type
		switch {
		case fields != nil:
			var ok bool
			if ft, ok = fields[key]; !ok && !w.extra[field] {
				return fieldErr(field, "is not a known field of this action")
			}
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
		}
		if err := w.value(ft, field); err != nil {
			return err
		}
	}
	_, err := w.token(path) // '}'
	return err
}

func (w *jsonWalker) array(t reflect.Type, path string) error {
	var et reflect.Type
	if t != nil && t.Kind() != reflect.Interface {
		et = t.Elem()
	}
	for i := 0; w.dec.More(); i++ {
		if err := w.value(et, fmt.Sprintf("%s[%d]", orPayload(path), i)); err != nil {
			return err
		}
	}
	_, err := w.token(path) // ']'
	return err
}

// fieldsByType caches jsonFields per struct type: the walk of every
// request would otherwise rebuild the same maps (the API's largest
// allocation before issue 19).
var fieldsByType sync.Map // reflect.Type -> map[string]reflect.Type

func cachedFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsByType.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f := jsonFields(t)
	fieldsByType.Store(t, f)
	return f
}

// jsonFields maps a struct's JSON names to field types, embedded structs
// without a tag promoted, as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// CheckJSON reports a key given twice anywhere in a JSON document, with
// its full path, or a syntax error with its byte offset. The API runs it
// on a request body before reading it into a map, which would keep only
// the last of two keys.
func CheckJSON(doc []byte) error { return checkJSON(doc, nil) }

// DecodeBody decodes doc, a JSON object holding the payload fields of
// action a beside fields the caller reads itself (extra, by full path:
// "run_at", "requester.email"), in one strict walk and one decode: the
// checks of Decode (a key given twice, an unknown field, a wrong kind, a
// syntax error, each by full path) without first re-encoding the
// caller's fields away. Extra fields are checked for nothing but
// duplicates. The version is not read: the caller sets it. A body the
// byte scan calls clean is decoded at once; any other takes the walk,
// which names what is wrong.
func DecodeBody(a Action, doc []byte, extra map[string]bool) (Args, error) {
	args, ok := New(a)
	if !ok {
		return nil, fieldErr("action", fmt.Sprintf("unknown action %q", a))
	}
	if len(doc) > MaxPayloadBytes {
		return nil, fieldErr("payload", fmt.Sprintf("is %d bytes; at most %d allowed", len(doc), MaxPayloadBytes))
	}
	if scanBodyClean(doc, reflect.TypeOf(args).Elem(), extra) && json.Unmarshal(doc, args) == nil {
		return args, nil
	}
	// Bad syntax or a number the field cannot hold gets here too: the
	// walk says it as before, into a value Unmarshal has not half filled.
	args, _ = New(a)
	return decodeBodyWalk(args, doc, extra)
}

// decodeBodyWalk is DecodeBody's strict token walk, then the decode.
func decodeBodyWalk(args Args, doc []byte, extra map[string]bool) (Args, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	w := &jsonWalker{dec: dec, extra: extra}
	err := w.value(reflect.TypeOf(args).Elem(), "")
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = fieldErr("payload", fmt.Sprintf("has data after the JSON object, at byte %d", dec.InputOffset()))
		}
	}
	if err != nil {
		return nil, err
	}
	// The walk refused every key that is neither an exact field nor an
	// extra, so a plain decode reads exactly the fields it checked.
	if err := json.Unmarshal(doc, args); err != nil {
		return nil, decodeError(err)
	}
	return args, nil
}
