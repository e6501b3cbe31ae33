package enqueue

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/tasks"
)

const testHookSecret = "okta-hook-secret-9f8e7d"

func hookAPI(t *testing.T, secret string) (*httptest.Server, *Client) {
	c, _ := newTestClient(t)
	srv := httptest.NewServer(recordStatuses(NewAPI(c, nil, APIOptions{EventHookSecret: secret})))
	t.Cleanup(srv.Close)
	return srv, c
}

func hookDo(t *testing.T, srv *httptest.Server, method, path, auth string, hdr map[string]string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestOktaEventHookVerification(t *testing.T) {
	srv, _ := hookAPI(t, testHookSecret)
	challenge := map[string]string{"x-okta-verification-challenge": "ch-123"}
	status, body := hookDo(t, srv, "GET", "/v1/okta/events/default", testHookSecret, challenge, nil)
	var v struct{ Verification string }
	if status != 200 || json.Unmarshal(body, &v) != nil || v.Verification != "ch-123" {
		t.Fatalf("verification: %d %s", status, body)
	}
	for _, c := range []struct {
		name, path, auth string
		hdr              map[string]string
		want             int
	}{
		{"wrong secret", "/v1/okta/events/default", "Bearer " + testHookSecret, challenge, 401},
		{"no secret", "/v1/okta/events/default", "", challenge, 401},
		{"unknown connection", "/v1/okta/events/other", testHookSecret, challenge, 404},
		{"no challenge", "/v1/okta/events/default", testHookSecret, nil, 400},
	} {
		if status, body := hookDo(t, srv, "GET", c.path, c.auth, c.hdr, nil); status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.want)
		}
	}
	off, _ := hookAPI(t, "")
	if status, _ := hookDo(t, off, "GET", "/v1/okta/events/default", "", challenge, nil); status != 404 {
		t.Errorf("receiver off: %d, want 404", status)
	}
}

func TestOktaEventHookStoresEachEventOnce(t *testing.T) {
	srv, c := hookAPI(t, testHookSecret)
	delivery := func(uuids ...string) []byte {
		var evs []map[string]any
		for _, u := range uuids {
			evs = append(evs, map[string]any{"uuid": u, "eventType": "user.lifecycle.suspend",
				"debugContext": map[string]any{"debugData": map[string]any{"requestId": "req-" + u}}})
		}
		b, _ := json.Marshal(map[string]any{"eventType": "com.okta.event_hook", "eventId": "d1", "data": map[string]any{"events": evs}})
		return b
	}
	if status, body := hookDo(t, srv, "POST", "/v1/okta/events/default", testHookSecret, nil, delivery("e1", "e2")); status != 204 {
		t.Fatalf("delivery: %d %s", status, body)
	}
	// Okta delivers e2 again (at least once), with a new one.
	if status, body := hookDo(t, srv, "POST", "/v1/okta/events/default", testHookSecret, nil, delivery("e2", "e3")); status != 204 {
		t.Fatalf("second delivery: %d %s", status, body)
	}
	pending, err := c.inspector.ListPendingTasks(tasks.QueueEvents, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 {
		t.Fatalf("%d event tasks, want 3 (e2 once)", len(pending))
	}
	for _, ti := range pending {
		if err := c.opts.Keyring.Verify(tasks.Envelope{TaskID: ti.ID, Queue: ti.Queue, Type: ti.Type, Payload: ti.Payload}, ti.Headers); err != nil {
			t.Errorf("event task %s not signed: %v", ti.ID, err)
		}
		var et tasks.OktaEventTask
		if json.Unmarshal(ti.Payload, &et) != nil || et.Connection != "default" || len(et.Event) == 0 {
			t.Errorf("event task %s payload %s", ti.ID, ti.Payload)
		}
	}
	if status, _ := hookDo(t, srv, "POST", "/v1/okta/events/default", "wrong", nil, delivery("e4")); status != 401 {
		t.Errorf("wrong secret: %d, want 401", status)
	}
	if status, _ := hookDo(t, srv, "POST", "/v1/okta/events/default", testHookSecret, nil, []byte(`{"data":{"events":[{"eventType":"x"}]}}`)); status != 400 {
		t.Errorf("event without uuid: %d, want 400", status)
	}
}

// BenchmarkOktaEventHookDelivery: one POST of 50 new events (Okta's 3 s
// budget is what matters): go test -run X -bench OktaEventHook ./enqueue
func BenchmarkOktaEventHookDelivery(b *testing.B) {
	c, _ := newTestClient(b)
	srv := httptest.NewServer(NewAPI(c, nil, APIOptions{EventHookSecret: testHookSecret}))
	b.Cleanup(srv.Close)
	n := 0
	for b.Loop() {
		var evs []map[string]any
		for range 50 {
			n++
			evs = append(evs, map[string]any{"uuid": "bench-" + strconv.Itoa(n), "eventType": "user.lifecycle.suspend"})
		}
		body, _ := json.Marshal(map[string]any{"data": map[string]any{"events": evs}})
		req, _ := http.NewRequest("POST", srv.URL+"/v1/okta/events/default", bytes.NewReader(body))
		req.Header.Set("Authorization", testHookSecret)
		resp, err := srv.Client().Do(req)
		if err != nil || resp.StatusCode != 204 {
			b.Fatalf("delivery: %v %v", err, resp)
		}
		resp.Body.Close()
	}
}
