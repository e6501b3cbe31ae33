package tasks

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Every field a producer can set, each with a value, is taken by the
// byte scan: the payloads workers decode never need the token walk.
func TestScanCleanTakesEveryField(t *testing.T) {
	for _, a := range Actions() {
		args, _ := New(a)
		fill(reflect.ValueOf(args).Elem())
		args.Base().Version = PayloadVersion
		payload, err := Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		if !scanClean(payload, reflect.TypeOf(args).Elem()) {
			t.Errorf("%s: the scan leaves %s to the token walk", a, payload)
		}
		if _, err := Decode(a, payload); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}

// fill gives every exported field a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x\u00e9\"\\y")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-12)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(12)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5e3)
	}
}

// The scan may call a payload clean only where the token walk finds
// nothing wrong (bad syntax aside: json.Unmarshal refuses it after).
func FuzzScanClean(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"user":"a@b.c","requester":{"id":"x","role":"r"},"requested_at":"2026-11-28T12:00:00Z"}`,
		`{"v":1,"user":"bob","user":"alice"}`,
		`{"v":1,"user":"bob","us\u0065r":"alice"}`,
		`{"v":1,"user":"bob","User":"alice"}`,
		`{"v":1,"requester":{"role":"a","role":"b"}}`,
		`{"v":1,"groups":{"add":["a",7],"remove":[]}}`,
		`{"v":1,"options":{"send_email":"no"}}`,
		`{"v":1,"requested_at":5}`, `{"v":"1"}`, `{"v":1} {}`, `{"v":1,`, ``, `[]`, `null`,
		`{"v":1,"user":"a\"b"}`, `{"v":-1.5e3}`, `{"v":01}`, "{\"\xff\":1,\"\xfe\":2}",
	} {
		f.Add(string(ActionSuspend), []byte(s))
		f.Add(string(ActionUpdateGroups), []byte(s))
		f.Add(string(ActionResetPassword), []byte(s))
	}
	f.Fuzz(func(t *testing.T, action string, payload []byte) {
		args, ok := New(Action(action))
		if !ok {
			return
		}
		typ := reflect.TypeOf(args).Elem()
		if scanClean(payload, typ) && json.Valid(payload) {
			if err := checkJSON(payload, typ); err != nil {
				t.Fatalf("scan says clean, the walk says %v", err)
			}
		}
	})
}

// apiExtras are enqueue's body extras (bodyExtras): the envelope's fields
// and the two a producer may still send and oktaq drops.
var apiExtras = map[string]bool{"action": true, "run_at": true, "deadline": true, "dry_run": true,
	"requester.email": true, "ticket.url": true}

// Every field an API body can hold, each with a value, the envelope's
// and dropped ones beside the payload's, is taken by the byte scan, and
// decodes to what the token walk's path decodes.
func TestScanBodyCleanTakesEveryField(t *testing.T) {
	for _, a := range Actions() {
		args, _ := New(a)
		fill(reflect.ValueOf(args).Elem())
		payload, err := Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Replace(payload, []byte(`{`), []byte(`{"action":"`+a+`","run_at":"2026-11-28T12:00:00Z","dry_run":false,`), 1)
		body = bytes.Replace(body, []byte(`"requester":{`), []byte(`"requester":{"email":"a@b.c",`), 1)
		body = bytes.Replace(body, []byte(`"ticket":{`), []byte(`"ticket":{"url":{"any":["value",1]},`), 1)
		if !scanBodyClean(body, reflect.TypeOf(args).Elem(), apiExtras) {
			t.Errorf("%s: the scan leaves %s to the token walk", a, body)
		}
		fast, err := DecodeBody(a, body, apiExtras)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		fresh, _ := New(a)
		slow, err := decodeBodyWalk(fresh, body, apiExtras)
		if err != nil || !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: scan path %+v, walk path %+v (%v)", a, fast, slow, err)
		}
	}
}

// An extra is taken only at its own path and only where the struct has
// no field of that name: each body here must go to the walk and fail
// there, with the walk's own error.
func TestScanBodyCleanExtrasByPath(t *testing.T) {
	for _, body := range []string{
		`{"email":"a@b.c"}`,                         // requester.email, not email
		`{"requester":{"url":"x"}}`,                 // ticket.url, not requester.url
		`{"ticket":{"email":"x"}}`,                  // nor ticket.email
		`{"requester":{"requester":{"email":"x"}}}`, // nor requester.requester.email
		`{"deadline":5}`,                            // a field first: its kind is checked
		`{"action":"a","action":"b"}`,               // an extra given twice
		`{"dry_run":{"x":1,"x":2}}`,                 // a key twice inside an extra
		`{"groups":{"add":[{"email":1}]}}`,          // no extra inside a list
	} {
		typ := reflect.TypeOf(&UpdateGroups{}).Elem()
		if scanBodyClean([]byte(body), typ, apiExtras) {
			t.Errorf("the scan takes %s", body)
		}
		if _, err := DecodeBody(ActionUpdateGroups, []byte(body), apiExtras); err == nil {
			t.Errorf("DecodeBody takes %s", body)
		}
	}
}

// The scan may let DecodeBody decode a body at once only where the token
// walk takes it too, and then both decode the same value.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin","email":"a@b.c"},` +
			`"ticket":{"system":"helpdesk","id":"REQ-7","url":"https://x"},"idempotency_key":"bench-7","run_at":null,"dry_run":true}`,
		`{"action":"a","action":"b"}`, `{"deadline":"2026-11-28T12:00:00Z"}`, `{"deadline":7}`,
		`{"email":"x"}`, `{"requester":{"url":"x"}}`, `{"ticket":{"url":{"a":1,"a":2}}}`,
		`{"dry_run":[1,{"x":[]}]}`, `{"run_at":"x"} {}`, `{"action":`, `{"v":1.5}`, `{"v":1e400}`,
		`{"user":"bob","us\u0065r":"alice"}`, `{"requester":{"Email":"x"}}`, `{"Action":"x"}`,
		`{"groups":{"add":["a",{"email":1}],"remove":null}}`, `{"user":"\u0000","user2":1}`, `{"user":"a` + "\x01" + `"}`,
	} {
		f.Add(string(ActionSuspend), []byte(s))
		f.Add(string(ActionUpdateGroups), []byte(s))
	}
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		args, ok := New(Action(action))
		if !ok || !scanBodyClean(body, reflect.TypeOf(args).Elem(), apiExtras) || json.Unmarshal(body, args) != nil {
			return
		}
		fresh, _ := New(Action(action))
		slow, err := decodeBodyWalk(fresh, body, apiExtras)
		if err != nil {
			t.Fatalf("the scan takes %q, the walk says %v", body, err)
		}
		if !reflect.DeepEqual(args, slow) {
			t.Fatalf("%q: scan path %+v, walk path %+v", body, args, slow)
		}
	})
}
