package okta_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

// sentRequest is what left the executor for the simulator.
type sentRequest struct {
	method, uri string
	header      http.Header
}

// recordingTransport passes every request on to the simulator and keeps
// what was sent.
type recordingTransport struct {
	mu   sync.Mutex
	sent []sentRequest
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.sent = append(rt.sent, sentRequest{r.Method, r.URL.RequestURI(), r.Header.Clone()})
	rt.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (rt *recordingTransport) find(method, uri string) []sentRequest {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []sentRequest
	for _, s := range rt.sent {
		if s.method == method && s.uri == uri {
			out = append(out, s)
		}
	}
	return out
}

// The action's user read is sent raw (rawread.go), not through the SDK's
// GetUser: it must leave exactly as the SDK's does (the user view still
// reads the user through the SDK), to the same URL, with the same headers.
func TestUserReadSentAsTheSDKSendsIt(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	rt := &recordingTransport{}
	e := newExecutor(t, sim, execOpts{transport: rt, scopes: append(allScopes, tasks.ScopeAppsRead)})
	ref := login("ACTIVE") // + and @ in it
	uri := "/api/v1/users/active+tag@example.com"
	if res, err := e.Execute(context.Background(), &tasks.ClearSessions{Request: req(e, ref)}); err != nil || res.Okta.Calls != 2 {
		t.Fatalf("clear sessions: %v %+v", err, res)
	}
	raw := rt.find(http.MethodGet, uri)
	if len(raw) != 1 {
		t.Fatalf("raw reads of %s: %d, want 1", uri, len(raw))
	}
	reader := okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{})
	if _, err := reader.ReadUser(context.Background(), "default", ref, true); err != nil {
		t.Fatalf("user view: %v", err)
	}
	both := rt.find(http.MethodGet, uri)
	if len(both) != 2 {
		t.Fatalf("reads of %s after the view: %d, want 2", uri, len(both))
	}
	sdk := both[1].header
	if ua := sdk.Get("User-Agent"); !strings.HasPrefix(ua, "okta-sdk-golang/") {
		t.Fatalf("the SDK's user agent is %q", ua)
	}
	if a := raw[0].header.Get("Authorization"); a == "" || a != sdk.Get("Authorization") {
		t.Error("the raw read's Authorization is not the SDK's")
	}
	if got, want := headerText(raw[0].header), headerText(sdk); got != want {
		t.Errorf("raw read headers\n%s\nthe SDK's\n%s", got, want)
	}
}

// headerText is every header but Authorization (a token), one a line.
func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.WriteSubset(&b, map[string]bool{"Authorization": true})
	return b.String()
}

// Every answer to the raw user read is classified as the SDK's was: from
// the call the transport recorded.
func TestUserReadClassified(t *testing.T) {
	for _, tc := range []struct {
		name  string
		user  string
		setup func(sim *oktasim.Sim)
		check func(t *testing.T, err error)
		calls int
	}{
		{name: "404 unknown user", user: "nobody+x@example.com", calls: 1, check: func(t *testing.T, err error) {
			var p *okta.PermanentError
			if !errors.As(err, &p) || p.Code != "E0000007" || p.Status != http.StatusNotFound || p.RequestID == "" {
				t.Fatalf("got %T %v", err, err)
			}
		}},
		{name: "429", user: login("ACTIVE"), calls: 1, setup: func(sim *oktasim.Sim) { sim.Drain("user-get") }, check: func(t *testing.T, err error) {
			var rl *okta.RateLimitedError
			if !errors.As(err, &rl) || rl.Bucket != ratelimit.BucketUsersGetOne || rl.Until.IsZero() {
				t.Fatalf("got %T %v", err, err)
			}
		}},
		{name: "503", user: login("ACTIVE"), calls: 1, setup: func(sim *oktasim.Sim) {
			sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 503, Match: "/api/v1/users/"})
		}, check: func(t *testing.T, err error) {
			var tr *okta.TransientError
			if !errors.As(err, &tr) || tr.Status != 503 {
				t.Fatalf("got %T %v", err, err)
			}
		}},
		{name: "answer lost", user: login("ACTIVE"), calls: 1, setup: func(sim *oktasim.Sim) {
			// Two: net/http sends a GET once more by itself when a kept
			// connection closes without an answer.
			sim.SetFaults(oktasim.Faults{DropAfter: 1, Match: "/api/v1/users/", MaxDrops: 2})
		}, check: func(t *testing.T, err error) {
			var tr *okta.TransientError
			if !errors.As(err, &tr) || tr.Status != 0 {
				t.Fatalf("got %T %v", err, err)
			}
		}},
		{name: "401 expired token: a new one, read again", user: login("ACTIVE"), calls: 3, setup: func(sim *oktasim.Sim) { sim.ExpireTokens() },
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}},
		{name: "401 revoked client", user: login("ACTIVE"), calls: 1, setup: func(sim *oktasim.Sim) { sim.RevokeClient(testClientID) },
			check: func(t *testing.T, err error) {
				if !errors.As(err, new(*okta.UnauthorizedError)) && !errors.As(err, new(*okta.ConnectionDownError)) {
					t.Fatalf("got %T %v", err, err)
				}
			}},
		{name: "user mismatch", user: "active+tag", calls: 1, check: func(t *testing.T, err error) {
			var p *okta.PermanentError
			if !errors.As(err, &p) || p.Code != tasks.CodeUserMismatch {
				t.Fatalf("got %T %v", err, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, oktasim.Options{})
			e := newExecutor(t, sim, execOpts{})
			// A token first, so that the fault meets the user read.
			if err := e.CheckCredentials(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(sim)
			}
			res, err := e.Execute(context.Background(), &tasks.Suspend{Request: req(e, tc.user)})
			tc.check(t, err)
			if res.Okta.Calls != tc.calls {
				t.Errorf("calls %d, want %d", res.Okta.Calls, tc.calls)
			}
			if err != nil {
				if u, _ := sim.User(login("ACTIVE")); u.Status != oktasim.StatusActive {
					t.Errorf("user is %s after a failed read", u.Status)
				}
			}
		})
	}
}

// A token without okta.users.read: Okta answers the read 403 (or 401)
// insufficient_scope, which names the scope.
func TestUserReadInsufficientScope(t *testing.T) {
	for _, status401 := range []bool{false, true} {
		sim := startSim(t, oktasim.Options{})
		sim.SetInsufficientScopeStatus401(status401)
		tok := sim.IssueToken(testClientID, tasks.ScopeGroupsManage)
		swap := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			return http.DefaultTransport.RoundTrip(r)
		})
		e := newExecutor(t, sim, execOpts{transport: swap})
		_, err := suspend(t, e, "ACTIVE")
		var p *okta.PermanentError
		if !errors.As(err, &p) || p.Code != tasks.CodeInsufficientScope || p.Scope != tasks.ScopeUsersRead {
			t.Errorf("401 instead of 403: %v: got %T %v", status401, err, err)
		}
	}
}
