package worker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

// oktaUserCalls counts the simulator's requests to the users API (token
// requests aside): a refused task must make none.
func (h *harness) oktaUserCalls() int {
	n := 0
	for _, r := range h.sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/v1/") {
			n++
		}
	}
	return n
}

// TestReplayRejected: a signed payload copied under a new task id, or into
// another queue, is refused with code signature and no Okta call (wave 1:
// a replayed unsuspend undid a later suspend).
func TestReplayRejected(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("victim@example.com", "SUSPENDED")))
	// The original is due tomorrow: only the copies can run now.
	orig := h.enqueue(&tasks.Unsuspend{Request: request("victim@example.com")}, asynq.ProcessIn(24*time.Hour))
	ti, err := h.inspect.GetTaskInfo(tasks.QueueDefault, orig)
	if err != nil {
		t.Fatal(err)
	}
	replay := func(queue string) string {
		id := uuid.NewString()
		if _, err := h.client.Enqueue(asynq.NewTaskWithHeaders(ti.Type, ti.Payload, ti.Headers), asynq.Queue(queue), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for name, id := range map[string]string{"new id": replay(tasks.QueueDefault), "other queue": replay(tasks.QueueCritical)} {
		r := result(t, h.wait(id))
		if r.Outcome != tasks.OutcomeRejected || r.Error == nil || r.Error.Code != tasks.CodeSignature {
			t.Errorf("%s: outcome %s error %+v, want rejected signature", name, r.Outcome, r.Error)
		}
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Errorf("replayed tasks made %d Okta calls, want 0", n)
	}
	if u, _ := h.sim.User("victim@example.com"); u.Status != "SUSPENDED" {
		t.Errorf("a replay changed the user to %s", u.Status)
	}
}

// TestProducerBoundsInWorker: a task validly signed (by anyone holding the
// signing key) is still refused when its producer may not assert its role
// or is not listed, with no Okta call.
func TestProducerBoundsInWorker(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("target@example.com", "ACTIVE")))
	bClaimsAdmin := request("target@example.com")
	bClaimsAdmin.Producer = "helpdesk-b"
	unlisted := request("target@example.com")
	unlisted.Producer = "mallory"
	none := request("target@example.com")
	none.Producer = ""
	for name, req := range map[string]tasks.Request{"B claims it-admin": bClaimsAdmin, "unlisted producer": unlisted, "no producer": none} {
		r := result(t, h.wait(h.enqueue(&tasks.Suspend{Request: req})))
		if r.Outcome != tasks.OutcomeRejected || r.Error == nil || r.Error.Code != tasks.CodeProducerRole {
			t.Errorf("%s: outcome %s error %+v, want rejected %s", name, r.Outcome, r.Error, tasks.CodeProducerRole)
		}
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Errorf("refused tasks made %d Okta calls, want 0", n)
	}
	if u, _ := h.sim.User("target@example.com"); u.Status != "ACTIVE" {
		t.Errorf("status changed to %s", u.Status)
	}
}

// TestAuditLines: every decision is one JSON line with the fields a SIEM
// query needs.
func TestAuditLines(t *testing.T) {
	h := newHarness(t, withUsers(seedUser("alice@example.com", "ACTIVE")))
	done := h.enqueue(&tasks.Suspend{Request: request("alice@example.com")})
	h.wait(done)
	refusedReq := request("alice@example.com")
	refusedReq.Producer = "helpdesk-b"
	refused := h.enqueue(&tasks.Unsuspend{Request: refusedReq})
	h.wait(refused)
	lines := map[string]map[string]any{}
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "audit" {
			lines[m["task_id"].(string)] = m
		}
	}
	perf, ref := lines[done], lines[refused]
	if perf == nil || ref == nil {
		t.Fatalf("audit lines missing: %v", lines)
	}
	want := map[string]any{"decision": "performed", "producer": "helpdesk-a", "action": "user.suspend",
		"user": "alice@example.com", "login": "alice@example.com", "outcome": "succeeded"}
	for k, v := range want {
		if perf[k] != v {
			t.Errorf("performed line %s = %v, want %v", k, perf[k], v)
		}
	}
	if rq, _ := perf["requester"].(map[string]any); rq["id"] != "agent-42" || rq["role"] != "it-admin" {
		t.Errorf("requester %v", perf["requester"])
	}
	if tk, _ := perf["ticket"].(map[string]any); tk["system"] != "helpdesk" || tk["id"] != "REQ-1" {
		t.Errorf("ticket %v", perf["ticket"])
	}
	if ids, _ := perf["okta_request_ids"].([]any); len(ids) == 0 {
		t.Errorf("performed line has no Okta request ids: %v", perf)
	}
	if ref["decision"] != "refused" || ref["code"] != string(tasks.CodeProducerRole) || ref["producer"] != "helpdesk-b" ||
		!strings.Contains(ref["error"].(string), "helpdesk-b") {
		t.Errorf("refused line %v", ref)
	}
}
