package enqueue

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// auditLines are the JSON log lines with msg "audit".
func auditLines(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "audit" {
			out = append(out, m)
		}
	}
	return out
}

// field reads a dotted path of an audit line as a string.
func field(m map[string]any, path string) string {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// TestHoldAuditLines: approve, deny and cancel each log one audit line
// naming the decision, producer, requester, approver, action, user,
// ticket and task id; a refused approval logs the refusal with its code.
func TestHoldAuditLines(t *testing.T) {
	var logs bytes.Buffer
	s := startHoldAPI(t, &logs)
	enq := func(body map[string]any) string {
		a := s.post(t, "/v1/actions", body)
		if a.status != http.StatusAccepted {
			t.Fatalf("enqueue: %d %s", a.status, a.body)
		}
		return a.json(t)["id"].(string)
	}
	decide := func(id, verb string, body map[string]any) {
		if a := s.post(t, "/v1/actions/"+id+":"+verb, body); a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", verb, a.status, a.body)
		}
	}
	approver := map[string]any{"approver": map[string]any{"id": "agent-7", "role": "security"}}
	approved, denied := enq(suspendBody("alice@example.com", "")), enq(suspendBody("bob@example.com", ""))
	later := suspendBody("carol@example.com", "")
	later["action"], later["run_at"] = "user.unsuspend", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cancelled := enq(later)
	wantProblem(t, s.post(t, "/v1/actions/"+approved+":approve", map[string]any{"approver": map[string]any{"id": "agent-42", "role": "security"}}),
		http.StatusForbidden, "self_approval")
	decide(approved, "approve", approver)
	decide(denied, "deny", approver)
	decide(cancelled, "cancel", map[string]any{"requester": map[string]any{"id": "agent-9", "role": "helpdesk"}})

	want := []struct {
		decision, id, action, user, approver, code string
	}{
		{"refused", approved, "user.suspend", "alice@example.com", "agent-42", "self_approval"},
		{"approved", approved, "user.suspend", "alice@example.com", "agent-7", ""},
		{"denied", denied, "user.suspend", "bob@example.com", "agent-7", ""},
		{"cancelled", cancelled, "user.unsuspend", "carol@example.com", "agent-9", ""},
	}
	var lines []map[string]any
	for _, m := range auditLines(t, &logs) {
		if m["decision"] != "accepted" {
			lines = append(lines, m)
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("%d decision lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, w := range want {
		m := lines[i]
		for path, v := range map[string]string{"decision": w.decision, "task_id": w.id, "action": w.action, "user": w.user,
			"producer": "helpdesk-a", "requester.id": "agent-42", "requester.role": "it-admin", "approver.id": w.approver,
			"ticket.system": "helpdesk", "ticket.id": "REQ-1", "connection": "default", "code": w.code} {
			if got := field(m, path); got != v {
				t.Errorf("line %d (%s): %s = %q, want %q", i+1, w.decision, path, got, v)
			}
		}
	}
	if field(lines[0], "verb") != "approve" || !strings.Contains(field(lines[0], "reason"), "second person") {
		t.Errorf("refusal line %v: want verb approve and the reason", lines[0])
	}
}
