package enqueue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

const tokenC = "token-of-unlisted-producer-c"

// startTrustAPI serves producers helpdesk-a (it-admin, helpdesk; every
// connection), helpdesk-b (helpdesk; only "eu") and unlisted-c (no roles
// at all), with two connections.
func startTrustAPI(tb testing.TB) *testAPI {
	db := redistest.New(tb)
	conns := testConnections()
	eu := *conns["default"]
	eu.Name = "eu"
	conns["eu"] = &eu
	opts := testOptions(tb)
	opts.Connections = conns
	opts.Producers.Connections = map[string][]string{"helpdesk-a": {"*"}, "helpdesk-b": {"eu"}, "unlisted-c": {"*"}}
	c := NewFromRedisClient(db.Client, opts)
	producers := []Producer{NewProducer("helpdesk-a", tokenA), NewProducer("helpdesk-b", tokenB), NewProducer("unlisted-c", tokenC)}
	srv := httptest.NewServer(recordStatuses(NewAPI(c, producers, APIOptions{})))
	tb.Cleanup(func() { srv.Close(); c.Close() })
	return &testAPI{Server: srv, c: c, db: db}
}

func (s *testAPI) postAs(tb testing.TB, token string, body any) answer {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	return s.do(tb, "POST", "/v1/actions", token, "application/json", b)
}

func resetBody(user, role, connection, key string) map[string]any {
	m := map[string]any{"action": "user.reset_password", "user": user, "connection": connection,
		"requester": map[string]any{"id": "agent-7", "role": role}}
	if key != "" {
		m["idempotency_key"] = key
	}
	return m
}

// TestProducerBounds: a producer asserts only the roles and connections it
// is given (the door: any token could claim "it-admin"). Refusals are 403
// problems naming producer and role or connection, and enqueue nothing.
func TestProducerBounds(t *testing.T) {
	s := startTrustAPI(t)
	tests := []struct {
		name, token string
		body        map[string]any
		status      int
		code        string
		producer    string
	}{
		{"B claims it-admin", tokenB, withRole(suspendBody("alice@example.com", ""), "it-admin", "eu"), 403, "producer_role_not_allowed", "helpdesk-b"},
		{"B names a connection not its own", tokenB, resetBody("alice@example.com", "helpdesk", "default", ""), 403, "producer_connection_not_allowed", "helpdesk-b"},
		{"C is not in OKTAQ_PRODUCER_ROLES", tokenC, resetBody("alice@example.com", "helpdesk", "default", ""), 403, "producer_role_not_allowed", "unlisted-c"},
		{"B within its bounds", tokenB, resetBody("alice@example.com", "helpdesk", "eu", ""), 202, "", ""},
		{"A claims it-admin", tokenA, suspendBody("alice@example.com", ""), 202, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countTasks(t, s.db)
			a := s.postAs(t, tt.token, tt.body)
			if tt.status != 403 {
				if a.status != tt.status {
					t.Fatalf("%d %s", a.status, a.body)
				}
				return
			}
			p := wantProblem(t, a, tt.status, tt.code)
			if p["producer"] != tt.producer || !strings.Contains(p["detail"].(string), tt.producer) {
				t.Errorf("problem does not name producer %s: %v", tt.producer, p)
			}
			if n := countTasks(t, s.db); n != before {
				t.Errorf("a refused request enqueued a task (%d -> %d)", before, n)
			}
		})
	}
}

func withRole(m map[string]any, role, connection string) map[string]any {
	m["requester"] = map[string]any{"id": "agent-7", "role": role}
	m["connection"] = connection
	return m
}

// TestCapabilitiesPerProducer: capabilities answer for the calling
// producer and validate the role as POST does.
func TestCapabilitiesPerProducer(t *testing.T) {
	s := startTrustAPI(t)
	var got struct {
		Producer string
		Actions  []capability
	}
	a := s.get(t, "/v1/capabilities?role=it-admin&connection=eu", tokenB)
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != 200 || got.Producer != "helpdesk-b" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	for _, c := range got.Actions {
		if c.Allowed || c.Code != string(tasks.CodeProducerRole) {
			t.Errorf("B may not assert it-admin, yet %+v", c)
		}
	}
	a = s.get(t, "/v1/capabilities?role=it-admin", tokenA)
	if !strings.Contains(string(a.body), `"action":"user.suspend","allowed":true`) {
		t.Errorf("A may have it-admin suspend: %s", a.body)
	}
	for _, q := range []string{"role=%00", "role=it%20admin", "role=" + strings.Repeat("r", 65), "role=x&connection=EU%00"} {
		wantProblem(t, s.get(t, "/v1/capabilities?"+q, tokenA), 400, "invalid_request")
	}
}

// TestTokenRotation: a producer listed with two tokens is the same
// producer under either, and sees its own tasks under both.
func TestTokenRotation(t *testing.T) {
	ps, err := ParseProducers("helpdesk=" + HashToken("old-token") + ",helpdesk=" + HashToken("new-token") + ",jira=" + HashToken("jira-token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"old-token", "new-token"} {
		if id, ok := matchProducer(ps, tok); !ok || id != "helpdesk" {
			t.Errorf("%s: %q %v", tok, id, ok)
		}
	}
	if _, err := ParseProducers("a=" + HashToken("t") + ",b=" + HashToken("t")); err == nil {
		t.Error("one token for two producers was accepted")
	}
}

// TestKeysPerProducer: the same idempotency key from two producers makes
// two tasks; B can neither squat A's key nor learn A's action from a 409.
func TestKeysPerProducer(t *testing.T) {
	s := startTrustAPI(t)
	// B takes A's predictable key first.
	b := s.postAs(t, tokenB, resetBody("bob@example.com", "helpdesk", "eu", "REQ-9999-suspend"))
	if b.status != 202 {
		t.Fatalf("B: %d %s", b.status, b.body)
	}
	a := s.postAs(t, tokenA, suspendBody("alice@example.com", "REQ-9999-suspend"))
	if a.status != 202 {
		t.Fatalf("A's key was squatted by B: %d %s", a.status, a.body)
	}
	if a.json(t)["id"] == b.json(t)["id"] {
		t.Fatal("two producers' keys share a task id")
	}
	// B's conflicting reuse of its own key names only its own action.
	c := s.postAs(t, tokenB, resetBody("carol@example.com", "helpdesk", "eu", "REQ-9999-suspend"))
	p := wantProblem(t, c, 409, "key_conflict")
	if strings.Contains(p["detail"].(string), "suspend") && !strings.Contains(p["detail"].(string), "reset_password") {
		t.Errorf("B's 409 names A's action: %s", p["detail"])
	}
	if n := countTasks(t, s.db); n != 2 {
		t.Errorf("%d tasks, want 2", n)
	}
	// Every claim key expires.
	keys, _ := s.db.Client.Keys(t.Context(), "oktaq:idem:*").Result()
	for _, k := range keys {
		if ttl := s.db.Client.TTL(t.Context(), k).Val(); ttl <= 0 {
			t.Errorf("%s has no expiry (%v)", k, ttl)
		}
	}
	if len(keys) != 2 {
		t.Errorf("claim keys %v, want 2", keys)
	}
}

// TestSameKeyAcrossQueuesConcurrently: 20 pairs of requests, each pair
// one key for a suspend (critical queue) and an unlock (default queue),
// sent at once: exactly one task per key (wave 1: 3 of 20 pairs both ran).
func TestSameKeyAcrossQueuesConcurrently(t *testing.T) {
	c, db := newTestClient(t)
	const pairs = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, conflicts := map[string]int{}, 0
	start := make(chan struct{})
	for i := range pairs {
		key := fmt.Sprintf("REQ-%d", i)
		for _, a := range []tasks.Args{suspend("alice@example.com", key),
			&tasks.Unlock{Request: suspend("alice@example.com", key).Request}} {
			wg.Go(func() {
				<-start
				info, err := c.Enqueue(t.Context(), a)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && !info.Existing:
					accepted[key]++
				case errors.Is(err, ErrKeyConflict):
					conflicts++
				default:
					t.Errorf("%s %s: %+v %v", key, a.Action(), info, err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for i := range pairs {
		if n := accepted[fmt.Sprintf("REQ-%d", i)]; n != 1 {
			t.Errorf("REQ-%d: %d tasks accepted, want 1", i, n)
		}
	}
	if conflicts != pairs {
		t.Errorf("%d conflicts, want %d", conflicts, pairs)
	}
	if n := countTasks(t, db); n != pairs {
		t.Errorf("%d tasks in Redis, want %d", n, pairs)
	}
}

// TestStrictRequests: duplicate keys, syntax errors and bad fields are
// 400s naming the full path; a deadline past OKTAQ_TASK_DEADLINE is
// refused; unknown routes and methods answer problem+json.
func TestStrictRequests(t *testing.T) {
	s := startAPI(t)
	raw := func(body string) answer {
		return s.do(t, "POST", "/v1/actions", tokenA, "application/json", []byte(body))
	}
	base := `"action":"user.suspend","requester":{"id":"a","role":"it-admin"}`
	tests := []struct {
		name, body, field, reason string
	}{
		{"duplicate user", `{` + base + `,"user":"bob@example.com","user":"alice@example.com"}`, "user", "twice"},
		{"duplicate role", `{"action":"user.suspend","user":"a@example.com","requester":{"id":"a","role":"helpdesk","role":"it-admin"}}`, "requester.role", "twice"},
		{"duplicate action", `{` + base + `,"user":"a@example.com","action":"user.deactivate"}`, "action", "twice"},
		{"unknown nested field", `{"action":"user.suspend","user":"a@example.com","requester":{"id":"a","role":"it-admin","foo":1}}`, "requester.foo", "not a known field"},
		{"wrong type in a list", `{"action":"user.groups.update","user":"a@example.com","requester":{"id":"a","role":"it-admin"},"groups":{"add":[7]}}`, "groups.add[0]", "must be a string"},
		{"syntax error", `{` + base + `,"user":"a@example.com",}`, "payload", fmt.Sprintf("at byte %d", len(base)+len(`{,"user":"a@example.com",}`)-1)},
		{"deadline past the maximum", `{` + base + `,"user":"a@example.com","deadline":"` + time.Now().Add(3*time.Hour).UTC().Format(time.RFC3339) + `"}`, "deadline", "OKTAQ_TASK_DEADLINE"},
		{"deadline not a time", `{` + base + `,"user":"a@example.com","deadline":"soon"}`, "deadline", "RFC 3339"},
		// The body is walked once, with the envelope's fields allowed
		// beside the payload's (issue 19): they stay checked.
		{"deadline a number", `{` + base + `,"user":"a@example.com","deadline":5}`, "deadline", "RFC 3339"},
		{"duplicate dropped field", `{"action":"user.suspend","user":"a@example.com","requester":{"id":"a","role":"it-admin","email":"x@example.com","email":"y@example.com"}}`, "requester.email", "twice"},
		{"duplicate run_at", `{` + base + `,"user":"a@example.com","run_at":null,"run_at":null}`, "run_at", "twice"},
		{"field in another case", `{` + base + `,"User":"a@example.com"}`, "User", "not a known field"},
		{"empty field name", `{` + base + `,"user":"a@example.com","":1}`, "payload", "empty name"},
		{"version set", `{` + base + `,"user":"a@example.com","v":1}`, "v", "set by oktaq"},
		{"not an object", `["user.suspend"]`, "payload", "JSON object"},
		{"trailing data", `{` + base + `,"user":"a@example.com"} {}`, "payload", "after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, raw(tt.body), 400, "invalid_request")
			errs := p["errors"].([]any)
			e := errs[0].(map[string]any)
			if e["field"] != tt.field || !strings.Contains(e["reason"].(string), tt.reason) {
				t.Errorf("error %v, want field %s with %q", e, tt.field, tt.reason)
			}
		})
	}
	if n := countTasks(t, s.db); n != 0 {
		t.Errorf("%d tasks enqueued by refused requests", n)
	}
	// A deadline within the maximum travels in the signed payload.
	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	a := raw(`{` + base + `,"user":"a@example.com","deadline":"` + deadline.Format(time.RFC3339) + `"}`)
	if a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	ti, err := asynq.NewInspectorFromRedisClient(s.db.Client).GetTaskInfo(tasks.QueueCritical, a.json(t)["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	args, _ := tasks.DecodeTask(ti.Type, ti.Payload)
	if !args.Base().Deadline.Equal(deadline) {
		t.Errorf("deadline %v, want %v", args.Base().Deadline, deadline)
	}
	wantProblem(t, s.get(t, "/v2/nothing", tokenA), 404, "not_found")
	m := s.do(t, "DELETE", "/v1/actions", tokenA, "", nil)
	wantProblem(t, m, 405, "method_not_allowed")
	if m.header.Get("Allow") == "" {
		t.Error("405 lost its Allow header")
	}
}

// TestNoPersonalDataInTasks: requester email and ticket URL are accepted
// (producers of wave 1 send them) and never stored in the task.
func TestNoPersonalDataInTasks(t *testing.T) {
	s := startAPI(t)
	body := suspendBody("alice@example.com", "")
	body["requester"] = map[string]any{"id": "agent-42", "role": "it-admin", "email": "agent42@example.com"}
	body["ticket"] = map[string]any{"system": "helpdesk", "id": "REQ-1", "url": "https://help.example.com/REQ-1"}
	a := s.post(t, "/v1/actions", body)
	if a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	ti, err := asynq.NewInspectorFromRedisClient(s.db.Client).GetTaskInfo(tasks.QueueCritical, a.json(t)["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, pii := range []string{"agent42@example.com", "help.example.com"} {
		if bytes.Contains(ti.Payload, []byte(pii)) {
			t.Errorf("task payload holds %s: %s", pii, ti.Payload)
		}
	}
}
