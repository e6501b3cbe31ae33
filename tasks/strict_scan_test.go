package tasks

import (
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
