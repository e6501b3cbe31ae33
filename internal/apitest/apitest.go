// Package apitest drives a running oktaq HTTP API from tests in other
// packages (cmd/oktaq, deploy): enqueue a suspend, read an action's state,
// wait for an event. Tests only; the product does not import it.
package apitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// HangGuard bounds WaitFor: it only stops a test that would hang, and is
// no bound on how fast a busy machine must be.
const HangGuard = 3 * time.Minute

// PostSuspend asks the API at api for user.suspend of user as it-admin,
// with token, and returns the action's id; anything but 202 fails t.
func PostSuspend(t testing.TB, api, token, user string) string {
	t.Helper()
	body := fmt.Sprintf(`{"action":"user.suspend","user":%q,"requester":{"id":"agent-42","role":"it-admin"},"ticket":{"system":"test","id":"REQ-%s"}}`, user, user)
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/actions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var out struct{ ID string }
	if status := DoJSON(t, req, &out); status != http.StatusAccepted || out.ID == "" {
		t.Fatalf("POST /v1/actions for %s: status %d, id %q", user, status, out.ID)
	}
	return out.ID
}

// ActionState is the state GET /v1/actions/{id} answers.
func ActionState(t testing.TB, api, token, id string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, api+"/v1/actions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	var out struct{ State string }
	DoJSON(t, req, &out)
	return out.State
}

// DoJSON sends req, decodes the JSON answer into out and returns the
// status.
func DoJSON(t testing.TB, req *http.Request, out any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode
}

// WaitFor polls ok until it holds (an event, not a speed).
func WaitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(HangGuard); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s: hung", what, HangGuard)
		}
	}
}
