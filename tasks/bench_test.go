package tasks_test

import (
	"testing"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// The per-task work of a worker before it calls Okta: verify the MAC,
// decode strictly, validate. Compare with the Okta calls an action makes.
func BenchmarkVerifyDecodeValidate(b *testing.B) {
	kr, _ := tasks.ParseKeyring("k1=bench-signing-key-0123456789")
	a := &tasks.UpdateGroups{Request: base("alice@example.com"), Groups: tasks.GroupChanges{Add: []string{"Engineering", "Sales"}}}
	payload, _ := tasks.Marshal(a)
	typ := a.Action().TypeName()
	env := tasks.Envelope{TaskID: "bench", Queue: a.Action().Queue(false), Type: typ, Payload: payload}
	h := kr.Sign(env)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := kr.Verify(env, h); err != nil {
			b.Fatal(err)
		}
		args, err := tasks.DecodeTask(typ, payload)
		if err != nil {
			b.Fatal(err)
		}
		if err := tasks.Validate(args, now); err != nil {
			b.Fatal(err)
		}
	}
}

// The API's strict read of one POST /v1/actions body (enqueue's body
// and extras): its largest own cost before the byte scan (issue 19).
func BenchmarkDecodeBody(b *testing.B) {
	body := []byte(`{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},` +
		`"ticket":{"system":"helpdesk","id":"REQ-7"},"idempotency_key":"bench-7"}`)
	extra := map[string]bool{"action": true, "run_at": true, "deadline": true, "dry_run": true,
		"requester.email": true, "ticket.url": true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tasks.DecodeBody(tasks.ActionSuspend, body, extra); err != nil {
			b.Fatal(err)
		}
	}
}
