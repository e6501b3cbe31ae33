package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

func apiCalls(sim *oktasim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// "dry_run": true on POST /v1/actions changes nothing and predicts the
// calls the action then makes when it is enqueued for real (the
// simulator's request log), with their buckets and budget shares, and
// what Okta would refuse (an APP_GROUP membership) and why.
func TestActionDryRunMatchesRealRun(t *testing.T) {
	h, c := pbHarness(t, []oktasim.SeedUser{pbUser("dry1@example.com", "ACTIVE"), pbUser("dry2@example.com", "ACTIVE"),
		pbUser("dry3@example.com", "ACTIVE"),
		pbUser("dry4@example.com", "STAGED")})
	const token = "dry-run-token"
	api := httptest.NewServer(enqueue.NewAPI(c, []enqueue.Producer{enqueue.NewProducer("helpdesk-a", token)},
		enqueue.APIOptions{Planners: map[string]enqueue.Planner{"default": h.exec}}))
	defer api.Close()
	post := func(path string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, api.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return resp.StatusCode, out.Bytes()
	}
	requester := map[string]string{"id": "agent-42", "role": "it-admin"}
	tests := []struct {
		name  string
		body  map[string]any
		would string
	}{
		{"suspend", map[string]any{"action": "user.suspend", "user": "dry1@example.com"}, "succeeded"},
		{"clear sessions", map[string]any{"action": "user.clear_sessions", "user": "dry2@example.com", "options": map[string]any{"oauth_tokens": true}}, "succeeded"},
		{"groups with an APP_GROUP", map[string]any{"action": "user.groups.update", "user": "dry3@example.com",
			"groups": map[string]any{"remove": []string{"Engineering"}, "add": []string{"Engineering-App"}}}, "partial"},
		{"suspend of a STAGED user", map[string]any{"action": "user.suspend", "user": "dry4@example.com"}, "failed"},
		{"reset MFA of a STAGED user", map[string]any{"action": "user.reset_mfa", "user": "dry4@example.com"}, "failed"},
		{"unsuspend of the user suspended above", map[string]any{"action": "user.unsuspend", "user": "dry1@example.com"}, "succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.body["requester"] = requester
			tt.body["dry_run"] = true
			h.sim.ResetRequests()
			code, raw := post("/v1/actions", tt.body)
			var plan tasks.Plan
			if code != http.StatusOK || json.Unmarshal(raw, &plan) != nil || len(plan.Steps) != 1 {
				t.Fatalf("dry run: %d %s", code, raw)
			}
			if w := writes(h.sim); len(w) != 0 {
				t.Fatalf("the dry run wrote: %v", w)
			}
			s := plan.Steps[0]
			if s.Would != tt.would || len(s.Budget) == 0 || plan.Calls != len(s.Calls) {
				t.Errorf("plan step: %+v", s)
			}
			var predicted []string
			for _, call := range s.Calls {
				if call.Bucket == "" {
					t.Errorf("call %s %s has no bucket", call.Method, call.Path)
				}
				predicted = append(predicted, call.Method+" "+call.Path)
			}
			delete(tt.body, "dry_run")
			h.sim.ResetRequests()
			code, raw = post("/v1/actions", tt.body)
			var ref struct{ ID string }
			if code != http.StatusAccepted || json.Unmarshal(raw, &ref) != nil {
				t.Fatalf("enqueue: %d %s", code, raw)
			}
			info, err := c.Wait(context.Background(), ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			if string(info.Result.Outcome) != tt.would {
				t.Errorf("the action ended %s; the dry run said %s", info.Result.Outcome, tt.would)
			}
			if e := info.Result.Error; tt.would == "failed" && (e == nil || s.Refused == nil || s.Refused.Code != e.Code) {
				t.Errorf("the action failed with %+v; the dry run said %+v", e, s.Refused)
			}
			if real := apiCalls(h.sim); !slices.Equal(predicted, real) {
				t.Fatalf("predicted %d calls:\n%s\nthe action made %d:\n%s", len(predicted), strings.Join(predicted, "\n"), len(real), strings.Join(real, "\n"))
			}
			if tt.would == "partial" {
				var refused *tasks.ItemResult
				for i := range s.Items {
					if s.Items[i].Outcome != tasks.OutcomeSucceeded {
						refused = &s.Items[i]
					}
				}
				if refused == nil || refused.Error == nil || refused.Error.Code != tasks.CodeNotOktaGroup {
					t.Errorf("the APP_GROUP item: %+v", s.Items)
				}
			}
		})
	}
	// In a batch, each dry run is answered with its plan; a role the
	// connection does not allow is the plan's refusal, not an error.
	h.conn.Policy.Roles[tasks.ActionSuspend] = []string{"someone-else"}
	h.sim.ResetRequests()
	code, raw := post("/v1/actions:batch", map[string]any{"actions": []any{
		map[string]any{"action": "user.suspend", "user": "dry2@example.com", "requester": requester, "dry_run": true},
		map[string]any{"action": "user.reset_mfa", "user": "dry2@example.com", "requester": requester, "dry_run": true},
	}})
	var batch struct {
		Results []struct {
			Status int
			Plan   *tasks.Plan
		}
	}
	if code != http.StatusOK || json.Unmarshal(raw, &batch) != nil || len(batch.Results) != 2 {
		t.Fatalf("batch: %d %s", code, raw)
	}
	if r := batch.Results[0]; r.Status != 200 || r.Plan == nil || r.Plan.Steps[0].Would != "refused" ||
		r.Plan.Steps[0].Refused.Code != tasks.CodeRoleNotAllowed || len(r.Plan.Steps[0].Calls) != 0 {
		t.Errorf("refused suspend: %s", raw)
	}
	if r := batch.Results[1]; r.Status != 200 || r.Plan == nil || r.Plan.Steps[0].Would != "succeeded" {
		t.Errorf("reset mfa: %s", raw)
	}
	if w := writes(h.sim); len(w) != 0 {
		t.Fatalf("the batch's dry runs wrote: %v", w)
	}
	// Without a planner for the connection: 501.
	bare := httptest.NewServer(enqueue.NewAPI(c, []enqueue.Producer{enqueue.NewProducer("helpdesk-a", token)}, enqueue.APIOptions{}))
	defer bare.Close()
	b, _ := json.Marshal(map[string]any{"action": "user.suspend", "user": "dry1@example.com", "requester": requester, "dry_run": true})
	req, _ := http.NewRequest(http.MethodPost, bare.URL+"/v1/actions", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("no planner: %d", resp.StatusCode)
	}
}
