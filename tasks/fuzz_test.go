package tasks_test

import (
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

// FuzzDecodeVerify feeds arbitrary task types, payloads and MACs through
// verification and strict decoding: nothing may panic, a payload that
// verifies under a forged MAC is a failure, and whatever decodes must
// re-encode and decode to the same action.
func FuzzDecodeVerify(f *testing.F) {
	kr, _ := tasks.ParseKeyring("k1=fuzz-signing-key-0123456789")
	seeds := []string{
		`{"v":1,"user":"alice@example.com","requester":{"id":"a","role":"r"},"requested_at":"2026-11-28T12:00:00Z"}`,
		`{"v":1,"user":"a","groups":{"add":["Engineering"],"remove":["00g1abcdefghijklmnoP"]}}`,
		`{"v":1,"user":"a","options":{"send_email":false,"revoke_sessions":true}}`,
		`{"v":2}`, `{}`, `[]`, `null`, `{"v":1,"user":"\u0000"}`,
	}
	for _, s := range seeds {
		f.Add("okta:user.suspend", []byte(s), "")
		f.Add("okta:user.groups.update", []byte(s), "AAAA")
		f.Add("okta:user.reset_password", []byte(s), "")
	}
	f.Fuzz(func(t *testing.T, typ string, payload []byte, mac string) {
		env := tasks.Envelope{TaskID: "t1", Queue: "critical", Type: typ, Payload: payload}
		h := kr.Sign(env)
		if kr.Verify(env, h) != nil {
			t.Fatal("own signature rejected")
		}
		if mac != h[tasks.HeaderMAC] && kr.Verify(env, map[string]string{tasks.HeaderKeyID: "k1", tasks.HeaderMAC: mac}) == nil {
			t.Fatal("forged MAC accepted")
		}
		args, err := tasks.DecodeTask(typ, payload)
		if err != nil {
			return
		}
		b, err := tasks.Marshal(args)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		again, err := tasks.DecodeTask(typ, b)
		if err != nil || again.Action() != args.Action() {
			t.Fatalf("re-decode failed: %v", err)
		}
	})
}
