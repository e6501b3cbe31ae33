package enqueue

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// startHoldAPI is an API whose default connection makes user.suspend wait
// for a second person of role security.
func startHoldAPI(t *testing.T, logs *bytes.Buffer) *testAPI {
	t.Helper()
	opts := testOptions(t)
	opts.Producers.Roles["helpdesk-a"] = append(opts.Producers.Roles["helpdesk-a"], "security")
	opts.Connections["default"].Approvals, _ = tasks.ParseRoles("user.suspend=security")
	c, db := newTestClient(t)
	c.opts = opts
	c.opts.Retention, c.opts.Deadline, c.opts.Clock, c.opts.ApprovalTTL = tasks.DefaultResultRetention, tasks.DefaultTaskDeadline, time.Now, tasks.DefaultApprovalTTL
	producers := []Producer{NewProducer("helpdesk-a", tokenA), NewProducer("helpdesk-b", tokenB)}
	srv := httptest.NewServer(recordStatuses(NewAPI(c, producers, APIOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})))
	t.Cleanup(srv.Close)
	return &testAPI{Server: srv, c: c, db: db}
}

// TestHoldRoutes: approve, deny, cancel and reschedule over HTTP: the
// states they show, the refusals with their codes and statuses, and the
// audit line naming the approver.
func TestHoldRoutes(t *testing.T) {
	var logs bytes.Buffer
	s := startHoldAPI(t, &logs)
	a := s.post(t, "/v1/actions", suspendBody("alice@example.com", "hold-1"))
	if a.status != http.StatusAccepted || a.json(t)["state"] != "awaiting_approval" {
		t.Fatalf("enqueue: %d %s", a.status, a.body)
	}
	id := a.json(t)["id"].(string)
	if v := s.get(t, "/v1/actions/"+id, tokenA).json(t); v["state"] != "awaiting_approval" || v["approval_expires_at"] == nil {
		t.Fatalf("GET: %v", v)
	}
	approve := func(id, who, role string) answer {
		return s.post(t, "/v1/actions/"+id+":approve", map[string]any{"approver": map[string]any{"id": who, "role": role}})
	}
	wantProblem(t, approve(id, "agent-42", "security"), http.StatusForbidden, "self_approval")
	wantProblem(t, approve(id, "agent-7", "helpdesk"), http.StatusForbidden, "approver_role_not_allowed")
	wantProblem(t, approve("nope", "agent-7", "security"), http.StatusNotFound, "not_found")
	wantProblem(t, s.post(t, "/v1/actions/"+id+":approve", map[string]any{"approver": map[string]any{"id": "agent-7", "role": "security"}, "extra": 1}),
		http.StatusBadRequest, "invalid_request")
	wantProblem(t, s.post(t, "/v1/actions/"+id+":frobnicate", map[string]any{}), http.StatusNotFound, "not_found")
	if a := approve(id, "agent-7", "security"); a.status != http.StatusOK {
		t.Fatalf("approve: %d %s", a.status, a.body)
	}
	wantProblem(t, s.post(t, "/v1/actions/"+id+":deny", map[string]any{"approver": map[string]any{"id": "agent-8", "role": "security"}}),
		http.StatusConflict, "not_awaiting_approval")
	if !strings.Contains(logs.String(), `"decision":"approved"`) || !strings.Contains(logs.String(), `"approver":{"id":"agent-7","role":"security"}`) {
		t.Errorf("no audit line for the approval:\n%s", logs.String())
	}

	// A scheduled action: reschedule, then cancel; both again refused.
	body := suspendBody("bob@example.com", "")
	body["action"] = "user.unsuspend"
	body["run_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	id = s.post(t, "/v1/actions", body).json(t)["id"].(string)
	later := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	r := s.post(t, "/v1/actions/"+id+":reschedule", map[string]any{"run_at": later.Format(time.RFC3339)})
	if v := r.json(t); r.status != http.StatusOK || v["state"] != "scheduled" || v["run_at"] != later.Format(time.RFC3339) {
		t.Fatalf("reschedule: %d %s", r.status, r.body)
	}
	wantProblem(t, s.post(t, "/v1/actions/"+id+":reschedule", map[string]any{"run_at": "2001-01-01T00:00:00Z"}), http.StatusBadRequest, "invalid_request")
	wantProblem(t, s.post(t, "/v1/actions/"+id+":reschedule", map[string]any{}), http.StatusBadRequest, "invalid_request")
	if c := s.do(t, "POST", "/v1/actions/"+id+":cancel", tokenA, "", nil); c.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", c.status, c.body)
	}
	wantProblem(t, s.do(t, "POST", "/v1/actions/"+id+":cancel", tokenA, "", nil), http.StatusConflict, "cancelled")
	wantProblem(t, s.post(t, "/v1/actions/"+id+":reschedule", map[string]any{"run_at": later.Add(time.Hour).Format(time.RFC3339)}), http.StatusConflict, "cancelled")
	// Another producer sees none of it.
	if a := s.do(t, "POST", "/v1/actions/"+id+":cancel", tokenB, "", nil); a.status != http.StatusNotFound {
		t.Fatalf("other producer's cancel: %d", a.status)
	}
}
