package oktasim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/okta/okta-sdk-golang/v5/okta"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// hookReceiver answers the verification challenge and records deliveries;
// it answers status (default 200) to each POST, popping from fail first.
type hookReceiver struct {
	mu        sync.Mutex
	auth      string
	fail      []int
	posts     []hookEnvelope
	badAuth   int
	challenge string
	srv       *httptest.Server
}

type hookEnvelope struct {
	EventType string `json:"eventType"`
	Source    string `json:"source"`
	EventID   string `json:"eventId"`
	Data      struct {
		Events []oktasim.LogEvent `json:"events"`
	} `json:"data"`
}

func newHookReceiver(t *testing.T, auth string) *hookReceiver {
	r := &hookReceiver{auth: auth}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get("Authorization") != r.auth {
			r.badAuth++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if req.Method == http.MethodGet {
			r.challenge = req.Header.Get("x-okta-verification-challenge")
			_ = json.NewEncoder(w).Encode(map[string]string{"verification": r.challenge})
			return
		}
		var env hookEnvelope
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &env); err != nil {
			t.Errorf("delivery: %v", err)
		}
		r.posts = append(r.posts, env)
		if len(r.fail) > 0 {
			w.WriteHeader(r.fail[0])
			r.fail = r.fail[1:]
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func createHook(t *testing.T, api *okta.APIClient, uri, auth string, events ...string) *okta.EventHook {
	t.Helper()
	key, typ := "Authorization", "HEADER"
	hook := okta.EventHook{Name: "oktaq", Events: okta.EventSubscriptions{Type: "EVENT_TYPE", Items: events},
		Channel: okta.EventHookChannel{Type: "HTTP", Version: "1.0.0",
			Config: okta.EventHookChannelConfig{Uri: uri, AuthScheme: &okta.EventHookChannelConfigAuthScheme{Key: &key, Type: &typ, Value: &auth}}}}
	got, resp, err := api.EventHookAPI.CreateEventHook(context.Background()).EventHook(hook).Execute()
	if err != nil {
		status, code := errCode(t, resp, err)
		t.Fatalf("create event hook: %d %s", status, code)
	}
	return got
}

func TestEventHookLifecycleAndDeliveries(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	api := sswsClient(t, srv)
	ctx := context.Background()
	rcv := newHookReceiver(t, "hook-secret")
	hook := createHook(t, api, rcv.srv.URL, "hook-secret", "user.lifecycle.suspend", "user.lifecycle.unsuspend", "group.user_membership.add")
	if hook.GetStatus() != "ACTIVE" || hook.GetVerificationStatus() != "UNVERIFIED" {
		t.Fatalf("new hook %s/%s, want ACTIVE/UNVERIFIED", hook.GetStatus(), hook.GetVerificationStatus())
	}
	if v := hook.Channel.Config.AuthScheme.Value; v != nil && *v != "" {
		t.Errorf("the auth value is returned: %q", *v)
	}
	// Not verified: a change is logged but not delivered.
	if _, err := api.UserAPI.SuspendUser(ctx, "alice@example.com").Execute(); err != nil {
		t.Fatal(err)
	}
	if n := sim.PendingEvents(); n != 0 {
		t.Fatalf("%d events queued for an unverified hook", n)
	}
	verified, _, err := api.EventHookAPI.VerifyEventHook(ctx, hook.GetId()).Execute()
	if err != nil || verified.GetVerificationStatus() != "VERIFIED" || rcv.challenge == "" {
		t.Fatalf("verify: %v, status %s, challenge %q", err, verified.GetVerificationStatus(), rcv.challenge)
	}
	hooks, _, err := api.EventHookAPI.ListEventHooks(ctx).Execute()
	if err != nil || len(hooks) != 1 || hooks[0].GetId() != hook.GetId() {
		t.Fatalf("list: %v %d", err, len(hooks))
	}

	// Three changes; the first delivery attempt gets a 500 (one retry),
	// the order is reversed and every 2nd event is sent twice.
	sim.SetEventHookOptions(oktasim.EventHookOptions{Reverse: true, DuplicateEvery: 2})
	rcv.fail = []int{500}
	reqIDs := map[string]string{} // requestId -> eventType
	resp, err := api.UserAPI.UnsuspendUser(ctx, "alice@example.com").Execute()
	if err != nil {
		t.Fatal(err)
	}
	reqIDs[resp.Header.Get("X-Okta-Request-Id")] = "user.lifecycle.unsuspend"
	resp, err = api.UserAPI.SuspendUser(ctx, "bob@example.com").Execute()
	if err != nil {
		t.Fatal(err)
	}
	reqIDs[resp.Header.Get("X-Okta-Request-Id")] = "user.lifecycle.suspend"
	niaj, _ := sim.User("niaj@example.com")
	resp, err = api.GroupAPI.AssignUserToGroup(ctx, sim.GroupID("Engineering"), niaj.ID).Execute()
	if err != nil {
		t.Fatal(err)
	}
	reqIDs[resp.Header.Get("X-Okta-Request-Id")] = "group.user_membership.add"
	// Adding again changes nothing, so Okta logs nothing.
	if _, err := api.GroupAPI.AssignUserToGroup(ctx, sim.GroupID("Engineering"), niaj.ID).Execute(); err != nil {
		t.Fatal(err)
	}
	// expire_password is logged but not hook-eligible.
	if _, _, err := api.UserAPI.ExpirePassword(ctx, "carol+ops@example.com").Execute(); err != nil {
		t.Fatal(err)
	}

	sim.DeliverEvents(ctx)
	var got []oktasim.LogEvent
	seen := map[string]int{}
	for _, p := range rcv.posts {
		if p.EventType != "com.okta.event_hook" || p.Source != srv.URL+"/api/v1/eventHooks/"+hook.GetId() || p.EventID == "" {
			t.Errorf("envelope %+v", p)
		}
		got = append(got, p.Data.Events...)
	}
	for _, e := range got {
		seen[e.UUID]++
		want, ok := reqIDs[e.DebugContext.DebugData["requestId"]]
		if !ok || want != e.EventType {
			t.Errorf("event %s with requestId %s: want %q", e.EventType, e.DebugContext.DebugData["requestId"], want)
		}
		if len(e.Target) == 0 || e.Target[0].Type != "User" {
			t.Errorf("event %s targets %+v", e.EventType, e.Target)
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d distinct events delivered, want 3: %+v", len(seen), seen)
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	// The retried POST and the duplicate each repeat one event.
	if dups != 2 {
		t.Errorf("%d repeated events, want 2 (one retry after the 500, one duplicate)", dups)
	}
	first := got[0]
	if first.EventType != "group.user_membership.add" {
		t.Errorf("first delivered %s, want the newest (reversed)", first.EventType)
	}
	ds := sim.HookDeliveries()
	if len(ds) < 2 || ds[0].Status != 500 || !ds[1].Retry || ds[1].Status != 200 {
		t.Errorf("deliveries %+v: want a 500 then its one retry", ds)
	}
	log := sim.Events()
	if last := log[len(log)-1]; last.EventType != "user.account.expire_password" {
		t.Errorf("last logged %s, want the expire_password event", last.EventType)
	}
	if rcv.badAuth != 0 {
		t.Errorf("%d requests without the hook's Authorization", rcv.badAuth)
	}
}

func TestEventHookRefusals(t *testing.T) {
	_, srv := start(t, oktasim.Options{})
	api := sswsClient(t, srv)
	ctx := context.Background()
	key, typ, val := "Authorization", "HEADER", "x"
	hook := func(uri string, events ...string) okta.EventHook {
		return okta.EventHook{Name: "h", Events: okta.EventSubscriptions{Type: "EVENT_TYPE", Items: events},
			Channel: okta.EventHookChannel{Type: "HTTP", Version: "1.0.0",
				Config: okta.EventHookChannelConfig{Uri: uri, AuthScheme: &okta.EventHookChannelConfigAuthScheme{Key: &key, Type: &typ, Value: &val}}}}
	}
	for _, c := range []struct {
		name string
		h    okta.EventHook
	}{
		{"ineligible type", hook("https://example.com/h", "user.account.expire_password")},
		{"no types", hook("https://example.com/h")},
		{"plain http", hook("http://example.com/h", "user.lifecycle.suspend")},
	} {
		_, resp, err := api.EventHookAPI.CreateEventHook(ctx).EventHook(c.h).Execute()
		if status, code := errCode(t, resp, err); status != 400 || code != "E0000001" {
			t.Errorf("%s: %d %s, want 400 E0000001", c.name, status, code)
		}
	}
	for i := range oktasim.MaxActiveEventHooks {
		if _, _, err := api.EventHookAPI.CreateEventHook(ctx).EventHook(hook(fmt.Sprintf("https://example.com/%d", i), "user.lifecycle.suspend")).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	_, resp, err := api.EventHookAPI.CreateEventHook(ctx).EventHook(hook("https://example.com/last", "user.lifecycle.suspend")).Execute()
	if status, code := errCode(t, resp, err); status != 400 || code != "E0000001" {
		t.Errorf("hook %d: %d %s, want 400 E0000001", oktasim.MaxActiveEventHooks+1, status, code)
	}
	// Verification against a receiver that does not echo the challenge fails.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"verification":"wrong"}`))
	}))
	t.Cleanup(bad.Close)
	hs, _, _ := api.EventHookAPI.ListEventHooks(ctx).Execute()
	if _, _, err := api.EventHookAPI.DeactivateEventHook(ctx, hs[0].GetId()).Execute(); err != nil {
		t.Fatal(err)
	}
	h, _, err := api.EventHookAPI.CreateEventHook(ctx).EventHook(hook(bad.URL, "user.lifecycle.suspend")).Execute()
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err = api.EventHookAPI.VerifyEventHook(ctx, h.GetId()).Execute()
	if status, _ := errCode(t, resp, err); status != 400 {
		t.Errorf("verify against a wrong echo: %d, want 400", status)
	}
}
