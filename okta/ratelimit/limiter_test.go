package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

const testAPIToken = "00SSWS-secret-api-token-0123456789"

var allScopes = []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage, tasks.ScopeGroupsManage, tasks.ScopeAppsManage}

// simClock is the simulator's clock: it stands still until the test moves
// it, so that Okta's windows end when the test says, not when the machine
// gets round to it.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// limitedSim serves an org of n users of status (u0@example.com...), all
// in no group, with rl as its rate limits; calls use an API token.
func limitedSim(t *testing.T, rl oktasim.RateLimits, n int, status string) *oktasim.Sim {
	return limitedSimAt(t, rl, n, status, nil)
}

// limitedSimAt is limitedSim on the simulator clock clock (nil: time.Now).
func limitedSimAt(t *testing.T, rl oktasim.RateLimits, n int, status string, clock *simClock) *oktasim.Sim {
	t.Helper()
	opts := oktasim.Options{RateLimits: rl}
	if clock != nil {
		opts.Clock = clock.Now
	}
	sim := oktasim.New(opts)
	srv := sim.Start()
	t.Cleanup(srv.Close)
	seed := oktasim.Seed{Groups: []oktasim.SeedGroup{{Name: "Engineering"}}, APITokens: []string{testAPIToken}}
	for i := range n {
		seed.Users = append(seed.Users, oktasim.SeedUser{Login: fmt.Sprintf("u%d@example.com", i), Status: status, Sessions: 1})
	}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	return sim
}

// testLimits are the defaults with short waits.
func testLimits() ratelimit.Config {
	o := ratelimit.DefaultConfig()
	o.MaxWait, o.Jitter = 200*time.Millisecond, 50*time.Millisecond
	return o
}

// limitedExec is one worker's executor on connection "default" with a
// limiter of its own on rdb; clock is its local clock (nil: time.Now).
func limitedExec(t *testing.T, sim *oktasim.Sim, rdb redis.UniversalClient, o ratelimit.Config, clock func() time.Time, base http.RoundTripper) *okta.Executor {
	t.Helper()
	o.Clock = clock
	lim, err := ratelimit.New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	conn := &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: allScopes}, BaseURL: sim.URL(),
		Credentials: okta.Credentials{APIToken: testAPIToken}}
	e, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Clock: clock, Limiter: lim, Transport: base,
		RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func clearSessions(i int) tasks.Args {
	return &tasks.ClearSessions{Request: tasks.Request{User: fmt.Sprintf("u%d@example.com", i),
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
}

// noop reads a SUSPENDED user and finds nothing to do: one call, in the
// users-get-one bucket.
func noop(i int) tasks.Args {
	return &tasks.Suspend{Request: tasks.Request{User: fmt.Sprintf("u%d@example.com", i),
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
}

// calls counts the simulator's answers in a bucket: granted and 429.
func calls(sim *oktasim.Sim, bucket string) (ok, limited int) {
	for _, r := range sim.Requests() {
		if sim.BucketFor(r.Method, r.Path) != bucket {
			continue
		}
		if r.Status == http.StatusTooManyRequests {
			limited++
		} else {
			ok++
		}
	}
	return ok, limited
}

func all429(sim *oktasim.Sim) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

func rateLimited(err error) (*okta.RateLimitedError, bool) {
	var rl *okta.RateLimitedError
	return rl, errors.As(err, &rl)
}

// spend runs next() until the limiter refuses for longer than far,
// waiting out short refusals, and returns how many succeeded and the last
// refusal.
func spend(t *testing.T, e *okta.Executor, ctx context.Context, clock func() time.Time, far time.Duration, next func() tasks.Args) (int, *okta.RateLimitedError) {
	t.Helper()
	n := 0
	for range 500 {
		_, err := e.Execute(ctx, next())
		if err == nil {
			n++
			continue
		}
		rl, ok := rateLimited(err)
		if !ok {
			t.Fatalf("execute: %T %v", err, err)
		}
		if wait := rl.Until.Sub(clock()); wait > far {
			return n, rl
		}
		time.Sleep(rl.Until.Sub(clock()))
	}
	t.Fatal("never refused")
	return 0, nil
}

// One worker learns a 429; the other then does not call Okta on that
// bucket, neither at the gate (Blocked) nor when executing.
func TestLimiterSharesA429(t *testing.T) {
	sim := limitedSim(t, oktasim.RateLimits{Window: 3 * time.Second, PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: oktasim.ActionBucket, Limit: 20}}}, 4, oktasim.StatusActive)
	r := redistest.New(t)
	a := limitedExec(t, sim, r.Client, testLimits(), nil, nil)
	b := limitedExec(t, sim, r.Client, testLimits(), nil, nil)
	ctx := context.Background()
	sim.Drain(oktasim.ActionBucket)
	_, err := a.Execute(ctx, clearSessions(0))
	learnt, ok := rateLimited(err)
	if !ok || learnt.Bucket != ratelimit.BucketUsers {
		t.Fatalf("first worker: %T %v; want a 429 on %s", err, err, ratelimit.BucketUsers)
	}
	if _, n := calls(sim, oktasim.ActionBucket); n != 1 {
		t.Fatalf("%d 429s, want 1", n)
	}
	requests := len(sim.Requests())
	until, bucket, err := b.Blocked(ctx, clearSessions(1))
	if err != nil || bucket != ratelimit.BucketUsers || until.IsZero() {
		t.Fatalf("second worker's gate: %v %q %v; want blocked on %s", until, bucket, err, ratelimit.BucketUsers)
	}
	if d := until.Sub(learnt.Until); d < -time.Second || d > time.Second {
		t.Errorf("gate waits until %v, the 429 said %v", until, learnt.Until)
	}
	// The same look sent in the worker's own pipeline (its lease's round
	// trip) answers the same.
	pipe := r.Client.Pipeline()
	answer, ok := b.GateIn(ctx, pipe, r.Client, clearSessions(1), nil)
	if !ok {
		t.Fatal("GateIn refused the limiter's own Redis client")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if pu, pb, perr := answer(); perr != nil || pb != bucket || pu.Sub(learnt.Until).Abs() > time.Second {
		t.Fatalf("gate in a pipeline: %v %q %v; want blocked on %s until about %v", pu, pb, perr, bucket, learnt.Until)
	}
	if n := len(sim.Requests()); n != requests {
		t.Fatalf("the gate called Okta %d times", n-requests)
	}
	_, err = b.Execute(ctx, clearSessions(1))
	if _, ok := rateLimited(err); !ok {
		t.Fatalf("second worker: %T %v; want rate limited", err, err)
	}
	if ok, n := calls(sim, oktasim.ActionBucket); ok != 0 || n != 1 {
		t.Fatalf("second worker called the empty bucket: %d answered, %d 429s", ok, n)
	}
	time.Sleep(time.Until(until))
	if _, err := b.Execute(ctx, clearSessions(1)); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
}

// Two workers hammering one bucket together spend its limit less the
// reserve, exactly, and never meet a 429.
func TestLimiterKeepsTheReserve(t *testing.T) {
	sim := limitedSim(t, oktasim.RateLimits{Window: time.Minute, PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: oktasim.ActionBucket, Limit: 20}}}, 8, oktasim.StatusActive)
	r := redistest.New(t)
	o := testLimits()
	o.Reserve, o.CriticalHeadroom, o.BulkHeadroom = 0.25, 0, 0
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 2 {
		e := limitedExec(t, sim, r.Client, o, nil, nil)
		for g := range 6 {
			wg.Go(func() {
				i := w*6 + g
				spend(t, e, ctx, time.Now, 10*time.Second, func() tasks.Args { i++; return clearSessions(i % 8) })
			})
		}
	}
	wg.Wait()
	ok, limited := calls(sim, oktasim.ActionBucket)
	if ok != 15 || limited != 0 {
		t.Fatalf("bucket of 20 with a 25%% reserve: %d calls answered, %d 429s; want 15 and 0", ok, limited)
	}
}

// inflight counts requests under way at the simulator.
type inflight struct {
	now, peak atomic.Int64
}

func (f *inflight) RoundTrip(r *http.Request) (*http.Response, error) {
	n := f.now.Add(1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	defer f.now.Add(-1)
	return http.DefaultTransport.RoundTrip(r)
}

// Calls in flight across workers never pass MaxInFlight, so Okta's
// concurrency limit is never met.
func TestLimiterCapsCallsInFlight(t *testing.T) {
	sim := limitedSim(t, oktasim.RateLimits{Concurrency: 4}, 8, oktasim.StatusActive)
	sim.SetFaults(oktasim.Faults{Latency: 50 * time.Millisecond, Match: "/api/"})
	r := redistest.New(t)
	o := testLimits()
	o.MaxInFlight = 3
	count := &inflight{}
	ctx := context.Background()
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := range 2 {
		e := limitedExec(t, sim, r.Client, o, nil, count)
		for g := range 6 {
			wg.Go(func() {
				for i := range 3 {
					for {
						_, err := e.Execute(ctx, clearSessions((w*6+g+i)%8))
						rl, limited := rateLimited(err)
						if !limited {
							if err != nil {
								t.Error(err)
							}
							break
						}
						time.Sleep(time.Until(rl.Until))
					}
					done.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if done.Load() != 36 {
		t.Fatalf("%d actions done, want 36", done.Load())
	}
	if p := count.peak.Load(); p > 3 {
		t.Errorf("%d calls in flight at once; the cap is 3", p)
	}
	if n := all429(sim); n != 0 {
		t.Errorf("%d 429s", n)
	}
}

// A worker killed mid-call holds its slot only until the lease ends: the
// slot's lease is set to Lease on Redis's clock, and once it is over the
// next call gets the slot. The test ends the lease by moving its expiry to
// the past rather than by sleeping past it.
func TestLimiterLeaseFreesADeadWorkersSlot(t *testing.T) {
	r := redistest.New(t)
	o := testLimits()
	o.MaxInFlight, o.MaxWait = 1, 0
	lim, err := ratelimit.New(r.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := ratelimit.Call{Connection: "default", Bucket: ratelimit.BucketUsersGetOne, Method: "GET"}
	if _, err := lim.Acquire(ctx, call); err != nil { // never done: the worker died
		t.Fatal(err)
	}
	inflight := ratelimit.KeyPrefix + "{default}:inflight"
	held, err := r.Client.ZRangeWithScores(ctx, inflight, 0, -1).Result()
	if err != nil || len(held) != 1 {
		t.Fatalf("slots held: %v %v; want 1", held, err)
	}
	now, err := r.Client.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if exp := time.UnixMilli(int64(held[0].Score)); !exp.After(now) || exp.After(now.Add(o.Lease)) {
		t.Fatalf("lease ends at %v; want after Redis's now %v, within the %v lease", exp, now, o.Lease)
	}
	_, err = lim.Acquire(ctx, call)
	var w *ratelimit.WaitError
	if !errors.As(err, &w) || !w.Concurrency {
		t.Fatalf("second call while the slot is held: %v", err)
	}
	// The lease ends.
	if err := r.Client.ZAddXX(ctx, inflight, redis.Z{Score: 1, Member: held[0].Member}).Err(); err != nil {
		t.Fatal(err)
	}
	done, err := lim.Acquire(ctx, call)
	if err != nil {
		t.Fatalf("after the lease: %v", err)
	}
	done(ratelimit.Observation{})
	if n, err := r.Client.ZCard(ctx, inflight).Result(); err != nil || n != 0 {
		t.Fatalf("%d slots held after the call ended (%v); want 0", n, err)
	}
}

// Bulk leaves headroom for default and critical work, default for
// critical, and nobody spends the reserve: with a limit of 40 and 10% of
// each, bulk gets 28 calls, default 4 more, critical 4 more, and 4 stay.
// Bulk is told to come back in the window's last quarter, when the
// headroom no critical call took is released.
//
// Okta's clock stands still, so the window never ends under the test
// however slow the machine: the waits are measured from the refusal.
func TestLimiterServesCriticalFirst(t *testing.T) {
	clock := &simClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	sim := limitedSimAt(t, oktasim.RateLimits{Window: time.Minute, PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: "user-get", Limit: 40}}}, 4, oktasim.StatusSuspended, clock)
	r := redistest.New(t)
	e := limitedExec(t, sim, r.Client, testLimits(), nil, nil)
	bulk := ratelimit.WithPriority(context.Background(), ratelimit.PriorityBulk)
	def := ratelimit.WithPriority(context.Background(), ratelimit.PriorityDefault)
	crit := ratelimit.WithPriority(context.Background(), ratelimit.PriorityCritical)
	i := 0
	next := func() tasks.Args { i++; return noop(i % 4) }
	// The window starts at the first call, after start and before the
	// refusal: bounds on both sides hold however slow the machine is.
	start := time.Now()
	n, rl := spend(t, e, bulk, time.Now, 10*time.Second, next)
	refused := time.Now()
	if n != 28 {
		t.Fatalf("bulk got %d calls, want 28", n)
	}
	if rl.Until.Sub(start) < 40*time.Second || rl.Until.Sub(refused) > 55*time.Second {
		t.Errorf("bulk told to wait until %v after the start; want the last quarter of the minute", rl.Until.Sub(start))
	}
	if n, _ := spend(t, e, def, time.Now, 10*time.Second, next); n != 4 {
		t.Fatalf("default got %d more calls, want 4", n)
	}
	if _, err := e.Execute(bulk, next()); err == nil {
		t.Fatal("bulk got a call while default waits")
	}
	n, rl = spend(t, e, crit, time.Now, 10*time.Second, next)
	if n != 4 {
		t.Fatalf("critical got %d more calls, want 4", n)
	}
	if wait := rl.Until.Sub(start); wait < 55*time.Second {
		t.Errorf("critical told to wait until %v after the start; want the window's end", wait)
	}
	if ok, limited := calls(sim, "user-get"); ok != 36 || limited != 0 {
		t.Fatalf("%d calls answered, %d 429s; want 36 and none", ok, limited)
	}
}

// Workers whose clocks are minutes off agree with a right one: they spend
// the same budget, and each is told to wait the right time on its own
// clock.
//
// Okta's clock stands still until the test moves it to the next window,
// so the first window cannot end under the test on a slow machine.
func TestLimiterIgnoresASkewedClock(t *testing.T) {
	okta0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := &simClock{t: okta0}
	sim := limitedSimAt(t, oktasim.RateLimits{Window: 3 * time.Second, PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: oktasim.ActionBucket, Limit: 20}}}, 8, oktasim.StatusActive, clock)
	r := redistest.New(t)
	o := testLimits()
	o.Reserve, o.CriticalHeadroom, o.BulkHeadroom = 0.25, 0, 0
	ahead := func() time.Time { return time.Now().Add(7 * time.Minute) }
	behind := func() time.Time { return time.Now().Add(-5 * time.Minute) }
	right := limitedExec(t, sim, r.Client, o, nil, nil)
	fast := limitedExec(t, sim, r.Client, o, ahead, nil)
	slow := limitedExec(t, sim, r.Client, o, behind, nil)
	ctx := context.Background()
	i := 0
	next := func() tasks.Args { i++; return clearSessions(i % 8) }

	n, rl := spend(t, fast, ctx, ahead, time.Second, next)
	if n != 15 {
		t.Fatalf("the fast clock got %d calls, want 15", n)
	}
	// Until a Date header ticks, Okta's clock is known to a second, and
	// Reset is rounded up: the wait may be the window plus up to 2 s.
	const most = 5100 * time.Millisecond
	if wait := rl.Until.Sub(ahead()); wait <= 0 || wait > most {
		t.Fatalf("the fast clock waits %v on its clock; want at most the 3 s window + 2 s", wait)
	}
	for _, w := range []struct {
		e     *okta.Executor
		clock func() time.Time
	}{{right, time.Now}, {slow, behind}} {
		_, err := w.e.Execute(ctx, next())
		rl, ok := rateLimited(err)
		if !ok {
			t.Fatalf("a spent budget granted again: %v", err)
		}
		if wait := rl.Until.Sub(w.clock()); wait <= 0 || wait > most {
			t.Errorf("waits %v on its own clock; want at most the 3 s window + 2 s", wait)
		}
	}
	// The next window: Okta's clock passes the reset, and the limiter's
	// record of the old window ends as its TTL would once Redis's clock
	// passed it too (the limiter cannot learn of a window no call showed).
	clock.Add(4 * time.Second)
	records, err := r.Client.Keys(ctx, ratelimit.KeyPrefix+"{default}:b:*").Result()
	if err != nil || len(records) == 0 {
		t.Fatalf("bucket records: %v %v", records, err)
	}
	if err := r.Client.Del(ctx, records...).Err(); err != nil {
		t.Fatal(err)
	}
	n, _ = spend(t, slow, ctx, behind, time.Second, next)
	if n != 15 {
		t.Errorf("the slow clock got %d calls in the next window, want 15", n)
	}
	if c := all429(sim); c != 0 {
		t.Errorf("%d 429s", c)
	}
}

// Okta counts lifecycle calls against /api/v1/users, the bucket every
// client listing users spends too (terraform-provider-okta's table): once
// another integration has spent it, our suspend waits instead of meeting a
// 429 on every try.
func TestAnotherClientsUserListingDrainsOurSuspends(t *testing.T) {
	sim := limitedSim(t, oktasim.RateLimits{Window: time.Minute, PrincipalShare: 1,
		Buckets: []oktasim.Bucket{{Name: oktasim.UsersBucket, Limit: 20}}}, 4, oktasim.StatusActive)
	sim.AddAPIToken("other-integration")
	for range 20 {
		req, _ := http.NewRequest("GET", sim.URL()+"/api/v1/users", nil)
		req.Header.Set("Authorization", "SSWS other-integration")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("listing: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	r := redistest.New(t)
	e := limitedExec(t, sim, r.Client, testLimits(), nil, nil)
	ctx := context.Background()
	suspend := &tasks.Suspend{Request: tasks.Request{User: "u0@example.com",
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
	_, err := e.Execute(ctx, suspend)
	rl, ok := rateLimited(err)
	if !ok || rl.Bucket != ratelimit.BucketUsers {
		t.Fatalf("suspend: %T %v; want rate limited on %s", err, err, ratelimit.BucketUsers)
	}
	// The gate now holds the next suspend back without calling Okta.
	if until, bucket, err := e.Blocked(ctx, suspend); err != nil || until.IsZero() || bucket != ratelimit.BucketUsers {
		t.Fatalf("gate: %v %q %v", until, bucket, err)
	}
	if _, n := calls(sim, oktasim.UsersBucket); n != 1 {
		t.Fatalf("%d 429s, want the one that taught the limiter", n)
	}
}

// Under a principal share Okta's X-Rate-Limit-Limit is undocumented: it
// may show the share and what is left of it, or the org's figure and what
// the org has left. Either way workers stay within the share: with the
// share shown they never meet a 429; with the org's figure the first 429
// teaches the limiter what the headers hide, and no other follows.
func TestLimiterSafeWithEitherLimitHeader(t *testing.T) {
	const limit, share = 40, 20
	for _, style := range []string{oktasim.LimitHeaderShare, oktasim.LimitHeaderOrg} {
		t.Run(style, func(t *testing.T) {
			sim := limitedSim(t, oktasim.RateLimits{Window: 3 * time.Second, PrincipalShare: 0.5, LimitHeader: style,
				Buckets: []oktasim.Bucket{{Name: oktasim.UsersBucket, Limit: limit}}}, 8, oktasim.StatusActive)
			r := redistest.New(t)
			ctx := context.Background()
			// One worker alone until the first refusal.
			e := limitedExec(t, sim, r.Client, testLimits(), nil, nil)
			var first *okta.RateLimitedError
			for i := 0; first == nil; i++ {
				if i > limit {
					t.Fatal("never refused")
				}
				_, err := e.Execute(ctx, clearSessions(i%8))
				if err != nil {
					var ok bool
					if first, ok = rateLimited(err); !ok {
						t.Fatalf("execute: %T %v", err, err)
					}
				}
			}
			ok1, limited1 := calls(sim, oktasim.UsersBucket)
			want429 := map[string]int{oktasim.LimitHeaderShare: 0, oktasim.LimitHeaderOrg: 1}[style]
			if ok1 > share || limited1 != want429 {
				t.Fatalf("first window: %d calls answered, %d 429s; want at most %d and %d", ok1, limited1, share, want429)
			}
			// The next window: six workers of two processes at once.
			time.Sleep(time.Until(first.Until))
			sim.ResetRequests()
			var wg sync.WaitGroup
			for w := range 2 {
				e := limitedExec(t, sim, r.Client, testLimits(), nil, nil)
				for g := range 3 {
					wg.Go(func() {
						for i := w*3 + g; ; i += 6 {
							if _, err := e.Execute(ctx, clearSessions(i%8)); err != nil {
								if _, ok := rateLimited(err); !ok {
									t.Errorf("execute: %T %v", err, err)
								}
								return
							}
						}
					})
				}
			}
			wg.Wait()
			ok2, limited2 := calls(sim, oktasim.UsersBucket)
			t.Logf("%s: first window %d calls, next window %d calls, %d 429s", style, ok1, ok2, limited2)
			if ok2 > share || ok2 == 0 || limited2 != 0 {
				t.Fatalf("next window: %d calls answered, %d 429s; want 1..%d and none", ok2, limited2, share)
			}
		})
	}
}
