package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta/ratelimit"
)

// Chaos (redis-kill row): calls that ended while Redis was down could not
// release their in-flight slots, which then held the connection's first
// calls out until their lease ended (35 s after Redis was back). The
// limiter keeps those releases and makes them once Redis answers again.
// Before the fix the first call after the restart was refused
// (IN_FLIGHT_CAP: both slots still taken).
func TestSlotsReleasedWhileRedisWasDownAreFreedWhenItIsBack(t *testing.T) {
	k := redistest.NewKillable(t)
	o := testLimits()
	o.MaxWait, o.Jitter = 0, 0
	o.MaxInFlight = 4 // first calls may take 2 slots
	lim, err := ratelimit.New(k.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := ratelimit.Call{Connection: "default", Bucket: ratelimit.BucketUsersGetOne, Method: "GET"}
	// One answered call teaches the bucket a large budget: only the
	// in-flight cap can stand in the way.
	done, err := lim.Acquire(ctx, call)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	done(ratelimit.Observation{Status: 200, HasLimit: true, Limit: 10000, Remaining: 9999, Reset: now.Add(time.Hour), Date: now})

	var inFlight []func(ratelimit.Observation)
	for range 2 {
		d, err := lim.Acquire(ctx, call)
		if err != nil {
			t.Fatalf("a first call under the cap: %v", err)
		}
		inFlight = append(inFlight, d)
	}
	if _, err := lim.Acquire(ctx, call); err == nil {
		t.Fatal("a third first call was granted over its 2 slots: the test shows nothing")
	}
	k.Kill()
	for _, d := range inFlight {
		d(ratelimit.Observation{Status: 200}) // Redis is down: the release is lost
	}
	k.Start()
	granted := 0
	for range 2 {
		if _, err := lim.Acquire(ctx, call); err == nil {
			granted++
		}
	}
	if granted != 2 {
		t.Errorf("after Redis came back, %d of 2 first calls granted: the slots of calls that ended while it was down are still held", granted)
	}
}

// Chaos (redis-rollback row): a rollback brought back the slots of calls
// that had ended (their releases were lost with the rolled-back seconds)
// under one 35 s lease, and they kept first calls out for half a minute.
// Slots now have a short lease that a call renews while it runs: a call
// longer than its lease keeps its slot, and a slot nobody renews frees
// itself within a lease. Before the fix the slot's expiry never moved.
func TestCallInFlightRenewsItsSlot(t *testing.T) {
	r := redistest.New(t)
	o := testLimits()
	o.Lease = 400 * time.Millisecond
	lim, err := ratelimit.New(r.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done, err := lim.Acquire(ctx, ratelimit.Call{Connection: "default", Bucket: ratelimit.BucketUsersGetOne, Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	inflight := ratelimit.KeyPrefix + "{default}:inflight"
	first, err := r.Client.ZRangeWithScores(ctx, inflight, 0, -1).Result()
	if err != nil || len(first) != 1 {
		t.Fatalf("slots held: %v %v; want 1", first, err)
	}
	renewed := false
	for range 200 { // the renewal is due after 200 ms; look at most 200 times
		s, err := r.Client.ZScore(ctx, inflight, first[0].Member.(string)).Result()
		if err == nil && s > first[0].Score {
			renewed = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !renewed {
		t.Fatal("the slot of a call still in flight was never renewed: it frees itself while the call runs")
	}
	done(ratelimit.Observation{Status: 200})
	if n, err := r.Client.ZCard(ctx, inflight).Result(); err != nil || n != 0 {
		t.Fatalf("%d slots held after the call ended (%v); want 0", n, err)
	}
	if ratelimit.DefaultConfig().Lease > 5*time.Second {
		t.Errorf("default slot lease %s: a slot nobody renews holds the cap longer than 5 s", ratelimit.DefaultConfig().Lease)
	}
}
