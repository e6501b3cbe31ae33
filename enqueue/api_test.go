package enqueue

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPostActionAccepted(t *testing.T) {
	s := startAPI(t)
	a := s.post(t, "/v1/actions", suspendBody("alice@example.com", "REQ-1-suspend"))
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := a.json(t)
	id := TaskID("helpdesk-a", "REQ-1-suspend")
	if m["id"] != id || m["action"] != "user.suspend" || m["state"] != "pending" ||
		m["links"].(map[string]any)["self"] != "/v1/actions/"+id {
		t.Errorf("answer %s", a.body)
	}
	if loc := a.header.Get("Location"); loc != "/v1/actions/"+id {
		t.Errorf("Location %q", loc)
	}
	st := s.get(t, "/v1/actions/"+id, tokenA)
	if st.status != http.StatusOK {
		t.Fatalf("GET: %d %s", st.status, st.body)
	}
	got := st.json(t)
	for _, k := range []string{"id", "action", "state", "attempts", "max_attempts", "last_error", "result"} {
		if _, ok := got[k]; !ok {
			t.Errorf("status lacks %q: %s", k, st.body)
		}
	}
	if got["state"] != "pending" || got["attempts"] != 0.0 || got["max_attempts"] != 5.0 || got["result"] != nil {
		t.Errorf("status %s", st.body)
	}
	info, err := s.c.Status(t.Context(), id)
	if err != nil || info.Producer != "helpdesk-a" || info.Queue != "critical" {
		t.Errorf("Status = %+v, %v; want producer helpdesk-a on critical", info, err)
	}
}

func TestPostActionWithoutKeyAndScheduled(t *testing.T) {
	s := startAPI(t)
	body := suspendBody("bob@example.com", "")
	body["action"] = "user.unlock"
	body["run_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	body["bulk"] = true
	a := s.post(t, "/v1/actions", body)
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := a.json(t)
	if m["state"] != "scheduled" || len(m["id"].(string)) != 36 {
		t.Errorf("answer %s; want a scheduled task with a uuid", a.body)
	}
	info, err := s.c.Status(t.Context(), m["id"].(string))
	if err != nil || info.Queue != "low" || info.State != "scheduled" {
		t.Errorf("Status = %+v, %v; want scheduled on low", info, err)
	}
}

func TestPostActionIdempotent(t *testing.T) {
	s := startAPI(t)
	body := suspendBody("alice@example.com", "REQ-2")
	body["requested_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	if a := s.post(t, "/v1/actions", body); a.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	// A retry stamps a new requested_at: still the same request.
	body["requested_at"] = time.Now().UTC().Format(time.RFC3339)
	a := s.post(t, "/v1/actions", body)
	if a.status != http.StatusOK || a.json(t)["id"] != TaskID("helpdesk-a", "REQ-2") {
		t.Fatalf("repeat: %d %s; want 200 with the existing task", a.status, a.body)
	}
	body["user"] = "mallory@example.com"
	p := wantProblem(t, s.post(t, "/v1/actions", body), http.StatusConflict, "key_conflict")
	if !strings.Contains(p["detail"].(string), "REQ-2") {
		t.Errorf("detail %q does not name the key", p["detail"])
	}
	// The same key for an action of another queue is a conflict too.
	groups := map[string]any{"action": "user.groups.update", "user": "alice@example.com", "idempotency_key": "REQ-2",
		"requester": map[string]any{"id": "agent-42", "role": "it-admin"}, "groups": map[string]any{"add": []string{"Engineering"}}}
	wantProblem(t, s.post(t, "/v1/actions", groups), http.StatusConflict, "key_conflict")
	if n := countTasks(t, s.db); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}
}

func TestPostActionSameKeyConcurrently(t *testing.T) {
	s := startAPI(t)
	b, _ := json.Marshal(suspendBody("alice@example.com", "REQ-race"))
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			a := s.do(t, "POST", "/v1/actions", tokenA, "application/json", b)
			mu.Lock()
			statuses[a.status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if statuses[http.StatusAccepted] != 1 || statuses[http.StatusOK] != 49 {
		t.Errorf("statuses %v; want one 202 and 49 200", statuses)
	}
	if n := countTasks(t, s.db); n != 1 {
		t.Errorf("%d tasks, want exactly 1", n)
	}
}

func TestPostActionBadInput(t *testing.T) {
	s := startAPI(t)
	cases := []struct {
		name  string
		body  string
		field string
	}{
		{"not json", `{"action":`, "payload"},
		{"not an object", `[1]`, "payload"},
		{"no action", `{"user":"a@example.com"}`, "action"},
		{"unknown action", `{"action":"user.delete","user":"a@example.com"}`, "action"},
		{"unknown field", `{"action":"user.suspend","user":"a@example.com","requester":{"id":"x","role":"it-admin"},"colour":"red"}`, "colour"},
		{"option of another action", `{"action":"user.suspend","user":"a@example.com","requester":{"id":"x","role":"it-admin"},"options":{"oauth_tokens":true}}`, "options"},
		{"missing requester", `{"action":"user.suspend","user":"alice@example.com"}`, "requester.id"},
		{"producer set", `{"action":"user.suspend","user":"a@example.com","producer":"x"}`, "producer"},
		{"version set", `{"action":"user.suspend","user":"a@example.com","v":2}`, "v"},
		{"bad run_at", `{"action":"user.suspend","user":"a@example.com","run_at":"tomorrow"}`, "run_at"},
		{"wrong type", `{"action":"user.suspend","user":5}`, "user"},
		{"empty groups", `{"action":"user.groups.update","user":"a@example.com","requester":{"id":"x","role":"it-admin"},"groups":{}}`, "groups"},
		{"unknown connection", `{"action":"user.suspend","user":"a@example.com","connection":"other","requester":{"id":"x","role":"it-admin"}}`, "connection"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := wantProblem(t, s.post(t, "/v1/actions", []byte(tc.body)), http.StatusBadRequest, "invalid_request")
			if fields := fieldsOf(p); !slices.Contains(fields, tc.field) {
				t.Errorf("errors name %v, want %q", fields, tc.field)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	s := startAPI(t)
	b, _ := json.Marshal(suspendBody("alice@example.com", ""))
	for _, token := range []string{"", "wrong-token"} {
		a := s.do(t, "POST", "/v1/actions", token, "application/json", b)
		wantProblem(t, a, http.StatusUnauthorized, "unauthorized")
		if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
		}
	}
	wantProblem(t, s.get(t, "/v1/actions/x", ""), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, s.get(t, "/v1/capabilities?role=it-admin", "nope"), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, s.do(t, "POST", "/v1/actions:batch", "", "application/json", []byte(`{}`)), http.StatusUnauthorized, "unauthorized")
}

func TestForbidden(t *testing.T) {
	s := startAPI(t)
	body := suspendBody("alice@example.com", "")
	body["requester"] = map[string]any{"id": "agent-7", "role": "helpdesk"}
	p := wantProblem(t, s.post(t, "/v1/actions", body), http.StatusForbidden, "role_not_allowed")
	if p["role"] != "helpdesk" {
		t.Errorf("problem %v does not name the role", p)
	}
	apps := map[string]any{"action": "user.apps.update", "user": "alice@example.com",
		"requester": map[string]any{"id": "agent-42", "role": "it-admin"}, "apps": map[string]any{"assign": []string{"Slack"}}}
	p = wantProblem(t, s.post(t, "/v1/actions", apps), http.StatusForbidden, "scope_not_enabled")
	if p["scope"] != "okta.apps.manage" {
		t.Errorf("problem %v does not name the scope", p)
	}
}

func TestTooLargeAndMediaType(t *testing.T) {
	s := startAPI(t)
	big := bytes.Repeat([]byte(" "), 64<<10+1)
	wantProblem(t, s.post(t, "/v1/actions", big), http.StatusRequestEntityTooLarge, "too_large")
	b, _ := json.Marshal(suspendBody("alice@example.com", ""))
	wantProblem(t, s.do(t, "POST", "/v1/actions", tokenA, "text/plain", b), http.StatusUnsupportedMediaType, "unsupported_media_type")
	wantProblem(t, s.do(t, "POST", "/v1/actions", tokenA, "", b), http.StatusUnsupportedMediaType, "unsupported_media_type")
	wantProblem(t, s.do(t, "POST", "/v1/actions:batch", tokenA, "text/plain", b), http.StatusUnsupportedMediaType, "unsupported_media_type")
	wantProblem(t, s.do(t, "POST", "/v1/actions:batch", tokenA, "application/json", bytes.Repeat([]byte(" "), 4<<20+1)),
		http.StatusRequestEntityTooLarge, "too_large")
	if a := s.do(t, "POST", "/v1/actions", tokenA, "application/json; charset=utf-8", b); a.status != http.StatusAccepted {
		t.Errorf("JSON with charset: %d %s", a.status, a.body)
	}
}

func TestRedisDown(t *testing.T) {
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond,
		DialerRetries: 1, MaxRetries: -1})
	defer rc.Close()
	c := NewFromRedisClient(rc, testOptions(t))
	s := newTestAPI(t, c, nil)
	a := s.post(t, "/v1/actions", suspendBody("alice@example.com", "REQ-down"))
	wantProblem(t, a, http.StatusServiceUnavailable, "unavailable")
	if a.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	a = s.post(t, "/v1/actions", suspendBody("alice@example.com", ""))
	wantProblem(t, a, http.StatusServiceUnavailable, "unavailable")
	wantProblem(t, s.get(t, "/v1/actions/REQ-down", tokenA), http.StatusServiceUnavailable, "unavailable")
	wantProblem(t, s.get(t, "/readyz", ""), http.StatusServiceUnavailable, "unavailable")
	if a := s.get(t, "/healthz", ""); a.status != http.StatusOK {
		t.Errorf("healthz %d", a.status)
	}
	a = s.post(t, "/v1/actions:batch", map[string]any{"actions": []any{suspendBody("a@example.com", "")}})
	if a.status != http.StatusOK || !strings.Contains(string(a.body), `"status":503`) {
		t.Errorf("batch with Redis down: %d %s", a.status, a.body)
	}
}

func TestGetActionNotFoundAndIsolation(t *testing.T) {
	s := startAPI(t)
	wantProblem(t, s.get(t, "/v1/actions/no-such-task", tokenA), http.StatusNotFound, "not_found")
	if a := s.post(t, "/v1/actions", suspendBody("alice@example.com", "REQ-mine")); a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	// Producer B gets the same answer as for an id that does not exist.
	mine := "/v1/actions/" + TaskID("helpdesk-a", "REQ-mine")
	other := s.get(t, mine, tokenB)
	unknown := s.get(t, "/v1/actions/no-such-task", tokenB)
	wantProblem(t, other, http.StatusNotFound, "not_found")
	if string(other.body) != string(unknown.body) {
		t.Errorf("another producer's task answers %s, an unknown one %s", other.body, unknown.body)
	}
	if a := s.get(t, mine, tokenA); a.status != http.StatusOK {
		t.Errorf("owner: %d", a.status)
	}
}

func TestBatchPartialFailure(t *testing.T) {
	s := startAPI(t)
	bad := suspendBody("", "")
	forbidden := suspendBody("carol@example.com", "")
	forbidden["requester"] = map[string]any{"id": "x", "role": "helpdesk"}
	a := s.post(t, "/v1/actions:batch", map[string]any{"actions": []any{
		suspendBody("alice@example.com", "B-1"), bad, suspendBody("bob@example.com", ""), forbidden,
		suspendBody("alice@example.com", "B-1"), "not an object",
	}})
	if a.status != http.StatusOK {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var got struct {
		Results []batchItem `json:"results"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	want := []int{202, 400, 202, 403, 200, 400}
	if len(got.Results) != len(want) {
		t.Fatalf("results %s", a.body)
	}
	for i, r := range got.Results {
		if r.Index != i || r.Status != want[i] {
			t.Errorf("item %d: index %d status %d, want %d", i, r.Index, r.Status, want[i])
		}
		if (r.Status >= 400) != (r.Problem != nil) || (r.Status < 400) != (r.ID != "") {
			t.Errorf("item %d: %+v", i, r)
		}
	}
	if n := countTasks(t, s.db); n != 2 {
		t.Errorf("%d tasks, want 2", n)
	}
	wantProblem(t, s.post(t, "/v1/actions:batch", map[string]any{"actions": []any{}}), 400, "invalid_request")
	wantProblem(t, s.post(t, "/v1/actions:batch", map[string]any{"items": []any{}}), 400, "invalid_request")
	many := make([]any, MaxBatch+1)
	for i := range many {
		many[i] = map[string]any{}
	}
	wantProblem(t, s.post(t, "/v1/actions:batch", map[string]any{"actions": many}), 400, "invalid_request")
}

func TestCapabilities(t *testing.T) {
	s := startAPI(t)
	a := s.get(t, "/v1/capabilities?role=helpdesk", tokenA)
	if a.status != http.StatusOK {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var got struct {
		Connection, Role string
		Actions          []capability
	}
	json.Unmarshal(a.body, &got)
	if got.Connection != "default" || got.Role != "helpdesk" || len(got.Actions) != 12 {
		t.Fatalf("answer %s", a.body)
	}
	for _, c := range got.Actions {
		switch c.Action {
		case "user.reset_password":
			if !c.Allowed {
				t.Errorf("helpdesk may reset passwords: %+v", c)
			}
		case "user.apps.update":
			if c.Allowed || c.MissingScope != "okta.apps.manage" {
				t.Errorf("apps: %+v, want missing scope okta.apps.manage", c)
			}
		default:
			if c.Allowed || c.Code != "role_not_allowed" || c.Reason == "" {
				t.Errorf("%+v, want role_not_allowed", c)
			}
		}
	}
	wantProblem(t, s.get(t, "/v1/capabilities", tokenA), 400, "invalid_request")
	wantProblem(t, s.get(t, "/v1/capabilities?role=x&connection=nope", tokenA), 400, "invalid_request")
}

func TestOperationalRoutes(t *testing.T) {
	s := startAPI(t)
	s.post(t, "/v1/actions", suspendBody("alice@example.com", ""))
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
		a := s.get(t, path, "")
		if a.status != http.StatusOK {
			t.Errorf("%s: %d", path, a.status)
		}
		if path == "/openapi.yaml" && !bytes.Equal(a.body, OpenAPI) {
			t.Error("openapi.yaml is not the embedded document")
		}
	}
	// The producer API serves no /metrics; the admin address does.
	wantProblem(t, s.get(t, "/metrics", tokenA), http.StatusNotFound, "not_found")
	admin := httptest.NewServer(NewAdminHandler(s.c, APIOptions{}))
	defer admin.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/v1/actions/x": 404} {
		resp, err := admin.Client().Get(admin.URL + path)
		if err != nil || resp.StatusCode != want {
			t.Errorf("admin %s: %v %v, want %d", path, resp.StatusCode, err, want)
		}
	}
}

// TestOpenAPIRoutes: every route the API serves is documented with its
// method, and every documented operation is served.
func TestOpenAPIRoutes(t *testing.T) {
	spec := openAPISpec(t)
	served := map[string]bool{}
	for _, rt := range routes {
		served[rt.pattern] = true
	}
	for p := range served {
		method, path, _ := strings.Cut(p, " ")
		if spec[path][method] == nil {
			t.Errorf("%s is served but not in openapi.yaml", p)
		}
	}
	for path, ops := range spec {
		for method := range ops {
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which is not served", method, path)
			}
		}
	}
	// The :batch pattern is a literal, not a wildcard: it must not
	// swallow POST /v1/actions or GET /v1/actions/{id}.
	s := startAPI(t)
	if a := s.post(t, "/v1/actions:batchx", map[string]any{}); a.status != http.StatusNotFound && a.status != http.StatusMethodNotAllowed {
		t.Errorf("/v1/actions:batchx answered %d", a.status)
	}
}
