package enqueue

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPostActionAuditLines: an accepted action logs one audit line with
// its task id and request, a refused one its code; a logger at warn
// level gets the refusal alone.
func TestPostActionAuditLines(t *testing.T) {
	for _, tc := range []struct {
		level     slog.Level
		decisions []string
	}{{slog.LevelInfo, []string{"accepted", "refused"}}, {slog.LevelWarn, []string{"refused"}}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			var logs bytes.Buffer
			c, db := newTestClient(t)
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: tc.level}))
			srv := httptest.NewServer(recordStatuses(NewAPI(c, []Producer{NewProducer("helpdesk-a", tokenA)}, APIOptions{Logger: log})))
			t.Cleanup(srv.Close)
			s := &testAPI{Server: srv, c: c, db: db}
			a := s.post(t, "/v1/actions", suspendBody("alice@example.com", "AUDIT-1"))
			if a.status != http.StatusAccepted {
				t.Fatalf("%d %s", a.status, a.body)
			}
			refused := suspendBody("alice@example.com", "AUDIT-2")
			refused["requester"] = map[string]any{"id": "agent-42", "role": "helpdesk"}
			wantProblem(t, s.post(t, "/v1/actions", refused), http.StatusForbidden, "role_not_allowed")
			lines := auditLines(t, &logs)
			if len(lines) != len(tc.decisions) {
				t.Fatalf("%d audit lines, want %d: %v", len(lines), len(tc.decisions), lines)
			}
			for i, d := range tc.decisions {
				m := lines[i]
				want := map[string]string{"decision": d, "producer": "helpdesk-a", "action": "user.suspend", "user": "alice@example.com",
					"requester.id": "agent-42", "ticket.system": "helpdesk", "ticket.id": "REQ-1", "connection": "default"}
				if d == "accepted" {
					want["task_id"], want["state"], want["level"] = TaskID("helpdesk-a", "AUDIT-1"), "pending", "INFO"
				} else {
					want["code"], want["level"] = "role_not_allowed", "WARN"
				}
				for path, v := range want {
					if got := field(m, path); got != v {
						t.Errorf("%s line: %s = %q, want %q", d, path, got, v)
					}
				}
			}
		})
	}
}
