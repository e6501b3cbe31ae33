package oktasim_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta/oktasim"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRateLimitHeadersAnd429(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 2, 2, 11, 15, 22, 0, time.UTC)}
	sim, srv := start(t, oktasim.Options{Clock: clock.Now, RateLimits: oktasim.RateLimits{
		Buckets: []oktasim.Bucket{{Name: oktasim.ActionBucket, Limit: 4}}}})
	if b := sim.BucketFor("POST", "/api/v1/users/x/lifecycle/suspend"); b != oktasim.ActionBucket {
		t.Fatalf("bucket %s", b)
	}
	reset := strconv.FormatInt(clock.Now().Add(time.Minute).Unix(), 10)
	for i, wantRemaining := range []string{"1", "0"} {
		r := do(t, srv, "DELETE", "/api/v1/users/alice@example.com/sessions")
		h := r.Header
		if r.StatusCode != 204 || h.Get("X-Rate-Limit-Limit") != "2" || h.Get("X-Rate-Limit-Remaining") != wantRemaining ||
			h.Get("X-Rate-Limit-Reset") != reset || h.Get("X-Okta-Request-Id") == "" || h.Get("Date") == "" {
			t.Fatalf("call %d: %d %v", i, r.StatusCode, h)
		}
	}
	r := do(t, srv, "POST", "/api/v1/users/alice@example.com/lifecycle/suspend")
	var e map[string]any
	_ = json.NewDecoder(r.Body).Decode(&e)
	if r.StatusCode != 429 || e["errorCode"] != "E0000047" || r.Header.Get("X-Rate-Limit-Remaining") != "0" ||
		r.Header.Get("X-Rate-Limit-Reset") != reset || r.Header.Get("Date") != clock.Now().Format("Mon, 02 Jan 2006 15:04:05 GMT") {
		t.Fatalf("429: %d %v %v", r.StatusCode, e, r.Header)
	}
	if u, _ := sim.User("alice@example.com"); u.Status != "ACTIVE" {
		t.Fatal("a 429 must not apply the change")
	}
	// Another principal still has its share of the org bucket.
	sim.AddAPIToken("second")
	if r := do(t, srv, "DELETE", "/api/v1/users/alice@example.com/sessions", "Authorization", "SSWS second"); r.StatusCode != 204 {
		t.Fatalf("second principal: %d", r.StatusCode)
	}
	clock.Add(time.Minute)
	if r := do(t, srv, "POST", "/api/v1/users/alice@example.com/lifecycle/suspend"); r.StatusCode != 200 {
		t.Fatalf("after the window: %d", r.StatusCode)
	}
	if !sim.Drain("user-get") {
		t.Fatal("drain")
	}
	_, resp, err := sswsClient(t, srv).UserAPI.GetUser(context.Background(), "alice@example.com").Execute()
	if err == nil || (resp != nil && resp.Response != nil) {
		t.Fatalf("SDK with MaxRetries=0 returns a 429 without a response: %v", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	sim, srv := start(t, oktasim.Options{RateLimits: oktasim.RateLimits{Concurrency: 2}})
	// The two group reads are held long enough for the third request to
	// arrive once the simulator counts them in flight (an event, not a
	// guess at how long starting them takes).
	sim.SetFaults(oktasim.Faults{Latency: 2 * time.Second, Match: "/groups"})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do(t, srv, "GET", "/api/v1/groups")
		}()
	}
	for guard := time.Now().Add(time.Minute); sim.InFlight() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(guard) {
			t.Fatal("the two group reads never reached the simulator")
		}
	}
	r := do(t, srv, "GET", "/api/v1/users/alice@example.com")
	wg.Wait()
	if r.StatusCode != 429 || r.Header.Get("X-Rate-Limit-Limit") != "0" || r.Header.Get("X-Rate-Limit-Remaining") != "0" {
		t.Fatalf("concurrency: %d %v", r.StatusCode, r.Header)
	}
}

func TestDropAfterApplies(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	sim.SetFaults(oktasim.Faults{DropAfter: 1, DropAfterMatch: "/lifecycle/suspend", MaxDrops: 1})
	// The SDK replays a POST after io.EOF: the change happened, the replay sees the new state.
	resp, err := sswsClient(t, srv).UserAPI.SuspendUser(context.Background(), "alice@example.com").Execute()
	if st, code := errCode(t, resp, err); st != 400 || code != "E0000001" {
		t.Fatalf("replayed suspend: %d %s", st, code)
	}
	if u, _ := sim.User("alice@example.com"); u.Status != "SUSPENDED" || sim.Drops() != 1 {
		t.Fatalf("status %s drops %d", u.Status, sim.Drops())
	}
	sim.SetFaults(oktasim.Faults{DropAfter: 1, MaxDrops: 1})
	if _, err := srv.Client().Post(srv.URL+"/api/v1/users/bob@example.com/lifecycle/suspend", "", nil); err == nil {
		t.Fatal("a plain client sees the dropped connection")
	}
}

func TestServerErrorsAndStuckTransition(t *testing.T) {
	sim, srv := start(t, oktasim.Options{})
	sim.SetFaults(oktasim.Faults{ErrorRate: 1, ErrorStatus: 502})
	if r := do(t, srv, "GET", "/api/v1/users/alice@example.com"); r.StatusCode != 502 || r.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("502: %d", r.StatusCode)
	}
	sim.SetFaults(oktasim.Faults{})
	c := sswsClient(t, srv)
	ctx := context.Background()
	sim.StickTransition("alice@example.com", time.Hour)
	if _, err := c.UserAPI.DeactivateUser(ctx, "alice@example.com").Execute(); err != nil {
		t.Fatal(err)
	}
	u, _, err := c.UserAPI.GetUser(ctx, "alice@example.com").Execute()
	if err != nil || u.GetStatus() != "ACTIVE" || u.GetTransitioningToStatus() != "DEPROVISIONED" {
		t.Fatalf("stuck: %v %s %s", err, u.GetStatus(), u.GetTransitioningToStatus())
	}
	resp, err := c.UserAPI.DeactivateUser(ctx, "alice@example.com").Execute()
	if st, code := errCode(t, resp, err); st != 409 || code != "E0000112" {
		t.Fatalf("while transitioning: %d %s", st, code)
	}
}
