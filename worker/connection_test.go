package worker_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// A wrong client secret: the tasks wait for the connection without
// spending attempts, the token endpoint is asked once (one probe) however
// many tasks there are, the connection shows down; fixing the secret file
// brings the next probe through and every task runs, attempts unspent.
func TestCredentialOutageWaitsForTheConnection(t *testing.T) {
	const n = 12
	file := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(file, []byte("wrong-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var users []oktasim.SeedUser
	for i := range n {
		users = append(users, seedUser(fmt.Sprintf("outage%d@example.com", i), "ACTIVE"))
	}
	h := newHarness(t, withUsers(users...),
		// A probe interval longer than the test: every token request
		// beyond the first would be a task asking on its own.
		withExecutor(func(o *okta.ExecutorOptions) { o.ProbeInterval = time.Hour }),
		withConnection(func(c *okta.Connection) {
			c.Credentials.ClientSecret, c.Credentials.ClientSecretFile = "wrong-secret", file
		}))
	var ids []string
	for i := range n {
		ids = append(ids, h.enqueue(&tasks.Suspend{Request: request(fmt.Sprintf("outage%d@example.com", i))}))
	}
	// Every task has run once and is waiting (retry set) for the connection.
	waitFor(t, func() bool {
		for _, id := range ids {
			info, err := h.inspect.GetTaskInfo(tasks.QueueCritical, id)
			if err != nil || info.State != asynq.TaskStateRetry || !strings.Contains(info.LastErr, "is down") {
				return false
			}
		}
		return true
	})
	if got := h.sim.TokenRequests(); got != 1 {
		t.Fatalf("token requests for %d waiting tasks: %d, want 1", n, got)
	}
	for _, id := range ids {
		if info, _ := h.inspect.GetTaskInfo(tasks.QueueCritical, id); info.Retried != 0 {
			t.Fatalf("task %s spent %d attempts on a down connection", id, info.Retried)
		}
	}
	if v := testutil.ToFloat64(metric(t, h, "oktaq_connection_up", "default")); v != 0 {
		t.Fatalf("oktaq_connection_up = %v while the secret is wrong", v)
	}
	if err := h.worker.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("Ready = %v, want the refusal named", err)
	}

	// The secret file is fixed (a rotated Kubernetes secret); the waiting
	// tasks come due (asynq would wake them at the next probe).
	if err := os.WriteFile(file, []byte(clientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.inspect.RunAllRetryTasks(tasks.QueueCritical); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		info := h.wait(id)
		if r := result(t, info); info.State != asynq.TaskStateCompleted || r.Outcome != tasks.OutcomeSucceeded || info.Retried != 0 {
			t.Fatalf("task %s: state %s outcome %s retried %d", id, info.State, r.Outcome, info.Retried)
		}
	}
	if got := h.sim.TokenRequests(); got != 2 {
		t.Errorf("token requests: %d, want 2 (the failed probe, the good one)", got)
	}
	waitFor(t, func() bool { return testutil.ToFloat64(metric(t, h, "oktaq_connection_up", "default")) == 1 })
	if strings.Contains(h.logs.String(), clientSecret) || strings.Contains(h.logs.String(), "wrong-secret") {
		t.Fatal("a secret reached the logs")
	}
}

// A token endpoint answering 5xx turns the connection down too.
func TestTokenEndpoint5xxIsDown(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 503, Match: "/oauth2/"})
	h.sim.ExpireTokens()
	waitFor(t, func() bool { return testutil.ToFloat64(metric(t, h, "oktaq_connection_up", "default")) == 0 })
	if err := h.worker.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "http_503") {
		t.Fatalf("Ready = %v", err)
	}
}

// Enabled scopes Okta does not grant show in the metric and /readyz
// detail, by name, without making the worker unready.
func TestUngrantedScopeReported(t *testing.T) {
	h := newHarness(t)
	h.stopWorker()
	if err := h.sim.AddClient(oktasim.SeedClient{ClientID: clientID, ClientSecret: clientSecret,
		Scopes: []string{"okta.users.read", "okta.users.manage", "okta.groups.manage"}}); err != nil {
		t.Fatal(err)
	}
	h.start()
	waitFor(t, func() bool {
		return testutil.CollectAndCount(metric(t, h, "oktaq_connection_scope_granted", "default", "okta.apps.manage")) == 1
	})
	if v := testutil.ToFloat64(metric(t, h, "oktaq_connection_scope_granted", "default", "okta.apps.manage")); v != 0 {
		t.Fatalf("okta.apps.manage granted = %v", v)
	}
	if v := testutil.ToFloat64(metric(t, h, "oktaq_connection_scope_granted", "default", "okta.users.manage")); v != 1 {
		t.Fatalf("okta.users.manage granted = %v", v)
	}
	mux := http.NewServeMux()
	worker.HealthHandlers(mux, h.worker.Ready, h.worker.ReadyNotes)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "okta.apps.manage") {
		t.Fatalf("/readyz %d %q", rec.Code, rec.Body.String())
	}
}

// waitFor polls cond; the bound is only a safety net for a broken build.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}
