package okta_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// gate holds every API request until want of them are in flight together,
// and records the most that were. A reader that read one after another
// would never reach want: the hang guard then lets the requests go and
// the test fails on the count, not on time.
type gate struct {
	base http.RoundTripper
	mu   sync.Mutex
	cond *sync.Cond
	want int
	now  int
	most int
	open bool // want were in flight together: let every one go
}

func newGate(want int) *gate {
	g := &gate{base: http.DefaultTransport, want: want, open: want <= 1}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return g.base.RoundTrip(r)
	}
	g.mu.Lock()
	g.now++
	g.most = max(g.most, g.now)
	if g.now >= g.want {
		g.open = true
		g.cond.Broadcast()
	}
	const hangGuard = time.Minute
	deadline := time.AfterFunc(hangGuard, func() { g.mu.Lock(); g.open = true; g.cond.Broadcast(); g.mu.Unlock() })
	for !g.open {
		g.cond.Wait()
	}
	deadline.Stop()
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.now--; g.mu.Unlock() }()
	return g.base.RoundTrip(r)
}

func (g *gate) expect(want int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	most := g.most
	g.want, g.most, g.open = want, 0, want <= 1
	return most
}

// The view's five reads are in flight together: by id at once; by a
// login, once the user read has named its id (remembered for later reads)
// at once as well.
func TestUserViewReadsInParallel(t *testing.T) {
	sim := startSim(t, oktasim.Options{RateLimits: roomyLimits()})
	g := newGate(1) // no holding while the limiter learns the buckets
	rdb, _ := testRedis(t)
	e := newExecutor(t, sim, execOpts{rdb: rdb, scopes: append(allScopes, tasks.ScopeAppsRead), transport: g})
	r := okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{Redis: rdb})
	ctx := context.Background()
	read := func(ref string) {
		t.Helper()
		if _, err := r.ReadUser(ctx, "default", ref, true); err != nil {
			t.Fatal(err)
		}
	}
	read(login(oktasim.StatusStaged))
	g.expect(5)
	u, _ := sim.User(login(oktasim.StatusActive))
	read(u.ID)
	if most := g.expect(5); most != 5 {
		t.Fatalf("by id: %d reads in flight at most, want 5", most)
	}
	read(login(oktasim.StatusActive)) // its id is remembered from the read by id
	if most := g.expect(1); most != 5 {
		t.Fatalf("by a remembered login: %d in flight at most, want 5", most)
	}
	sim.ResetRequests()
	other := login(oktasim.StatusSuspended)
	read(other) // new: the user read comes first
	if reqs := sim.Requests(); len(reqs) != 5 || !strings.HasSuffix(reqs[0].Path, "/"+other) && reqs[0].Path != "/api/v1/users/"+other {
		t.Fatalf("a new login: %d calls, first %v", len(reqs), reqs)
	}
	g.expect(5)
	read(other)
	if most := g.expect(1); most != 5 {
		t.Fatalf("by that login again: %d in flight at most, want 5", most)
	}
}

// Concurrent asks of one cold view share one set of calls.
func TestUserViewConcurrentAsksShareOneRead(t *testing.T) {
	sim := startSim(t, oktasim.Options{RateLimits: roomyLimits()})
	rdb, _ := testRedis(t)
	e := newExecutor(t, sim, execOpts{rdb: rdb, scopes: append(allScopes, tasks.ScopeAppsRead)})
	r := okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{Redis: rdb})
	u, _ := sim.User(login(oktasim.StatusActive))
	sim.ResetRequests()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := r.ReadUser(context.Background(), "default", u.ID, false); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := oktaCalls(sim); n%5 != 0 || n > 10 {
		// One flight, or (if a late ask came after it ended and found the
		// cache not yet written) never more than two.
		t.Fatalf("8 concurrent asks made %d Okta calls", n)
	}
}

// What the connection's scopes cannot read is left out and said so; the
// rest is answered.
func TestUserViewOmitsAppsWithoutTheScope(t *testing.T) {
	sim := startSim(t, oktasim.Options{RateLimits: roomyLimits()})
	e := newExecutor(t, sim, execOpts{scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage}})
	r := okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{TTL: -1})
	v, err := r.ReadUser(context.Background(), "default", login(oktasim.StatusActive), true)
	if err != nil {
		t.Fatal(err)
	}
	if v.Apps != nil || len(v.Omitted) != 1 || v.Omitted[0].Section != "apps" || v.Omitted[0].Scope != tasks.ScopeAppsRead {
		t.Fatalf("apps %v omitted %+v", v.Apps, v.Omitted)
	}
	for _, req := range sim.Requests() {
		if strings.HasPrefix(req.Path, "/api/v1/apps") {
			t.Fatalf("read apps without the scope: %s", req.Path)
		}
	}
	if len(v.Factors) != 1 || v.Status != oktasim.StatusActive {
		t.Fatalf("the rest: %+v", v)
	}
}

func TestUserViewNotFound(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	e := newExecutor(t, sim, execOpts{})
	r := okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{TTL: -1})
	for _, ref := range []string{"nobody@example.com", "00u00000000000000000"} {
		_, err := r.ReadUser(context.Background(), "default", ref, false)
		var ve *tasks.ViewError
		if !errors.As(err, &ve) || ve.Code != tasks.CodeNotFound {
			t.Errorf("%s: %v", ref, err)
		}
	}
}
