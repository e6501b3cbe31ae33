package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/tasks"
)

// TestDevConfirmsActions: in `oktaq dev` the simulator's event hook is
// registered on the demo API, so an action ends confirmed by its event.
func TestDevConfirmsActions(t *testing.T) {
	t.Setenv("OKTAQ_REDIS_URL", "")
	ports := freePorts(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := startDev(ctx, devFlags{apiAddr: ports[0], adminAddr: ports[1], simAddr: ports[2], redisAddr: ports[3]}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = d.wait(); d.close() })
	api := "http://" + ports[0]
	id := postSuspend(t, api, devToken, "alice@example.com")
	waitFor(t, "the action confirmed by its Okta event", func() bool {
		req, _ := http.NewRequest(http.MethodGet, api+"/v1/actions/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+devToken)
		var v struct {
			Result *tasks.Result `json:"result"`
		}
		doJSON(t, req, &v)
		return v.Result != nil && v.Result.Confirmation != nil && v.Result.Confirmation.State == tasks.ConfirmationConfirmed
	})
}

func postSuspend(t *testing.T, api, token, user string) string {
	t.Helper()
	body := fmt.Sprintf(`{"action":"user.suspend","user":%q,"requester":{"id":"agent-42","role":"it-admin"},"ticket":{"system":"dev-test","id":"REQ-1"}}`, user)
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/actions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	var out struct{ ID string }
	if status := doJSON(t, req, &out); status != http.StatusAccepted || out.ID == "" {
		t.Fatalf("POST /v1/actions for %s: status %d, id %q", user, status, out.ID)
	}
	return out.ID
}

func doJSON(t *testing.T, req *http.Request, out any) int {
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

// waitFor polls for an event; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("no %s", what)
}

func actionState(t *testing.T, api, token, id string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, api+"/v1/actions/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	var out struct{ State string }
	doJSON(t, req, &out)
	return out.State
}
