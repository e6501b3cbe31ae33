package tasks_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

func TestDecodeRoundTrip(t *testing.T) {
	in := &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{"Engineering"}}}
	b, err := tasks.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tasks.DecodeTask(in.Action().TypeName(), b)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*tasks.UpdateGroups)
	if got.User != in.User || got.Groups.Add[0] != "Engineering" || !got.RequestedAt.Equal(in.RequestedAt) {
		t.Fatalf("round trip changed the request: %+v", got)
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, action, payload, field string
	}{
		{"unknown field", "user.suspend", `{"v":1,"user":"a","requester":{"id":"x","role":"r"},"requested_at":"2026-11-28T12:00:00Z","colour":"red"}`, "colour"},
		{"unknown option", "user.reset_password", `{"v":1,"user":"a","options":{"send_email":false,"sms":true}}`, "options.sms"},
		{"unknown requester field", "user.suspend", `{"v":1,"user":"a","requester":{"id":"x","foo":1}}`, "requester.foo"},
		{"duplicate key", "user.suspend", `{"v":1,"user":"bob","user":"alice"}`, "user"},
		{"duplicate nested key", "user.suspend", `{"v":1,"user":"a","requester":{"role":"helpdesk","role":"it-admin"}}`, "requester.role"},
		{"duplicate key spelled with an escape", "user.suspend", `{"v":1,"user":"bob","us\u0065r":"alice"}`, "user"},
		{"key differing in case only", "user.suspend", `{"v":1,"user":"bob","User":"alice"}`, "User"},
		{"wrong type in a list", "user.groups.update", `{"v":1,"user":"a","groups":{"add":["Eng",7]}}`, "groups.add[1]"},
		{"object for a string", "user.suspend", `{"v":1,"user":{"id":"a"}}`, "user"},
		{"number for a time", "user.suspend", `{"v":1,"user":"a","requested_at":5}`, "requested_at"},
		{"options on an action without any", "user.suspend", `{"v":1,"user":"a","options":{}}`, "options"},
		{"missing version", "user.suspend", `{"user":"a"}`, "v"},
		{"unknown version", "user.suspend", `{"v":7,"user":"a"}`, "v"},
		{"wrong type", "user.reset_password", `{"v":1,"options":{"send_email":"no"}}`, "options.send_email"},
		{"trailing data", "user.suspend", `{"v":1,"user":"a"} {}`, "payload"},
		{"not json", "user.suspend", `{"v":1,`, "payload"},
		{"empty", "user.suspend", ``, "payload"},
		{"unknown action", "user.delete", `{"v":1}`, "action"},
		{"too large", "user.suspend", `{"v":1,"user":"` + strings.Repeat("a", tasks.MaxPayloadBytes) + `"}`, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tasks.Decode(tasks.Action(tt.action), []byte(tt.payload))
			var ve *tasks.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want *ValidationError, got %v", err)
			}
			if ve.Fields[0].Field != tt.field {
				t.Fatalf("field = %q, want %q (%v)", ve.Fields[0].Field, tt.field, err)
			}
		})
	}
}

// TestDecodeSyntaxErrorSaysWhere: a JSON syntax error names its byte
// offset, so a producer can find it in a large body.
func TestDecodeSyntaxErrorSaysWhere(t *testing.T) {
	_, err := tasks.Decode(tasks.ActionSuspend, []byte(`{"v":1,"user":"a",,}`))
	if err == nil || !strings.Contains(err.Error(), "at byte 18") {
		t.Fatalf("want the offset of the second comma (byte 18), got %v", err)
	}
}
