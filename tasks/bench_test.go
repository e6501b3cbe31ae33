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
