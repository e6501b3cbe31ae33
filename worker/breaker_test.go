package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
)

// Issue 14 item 6: transient failures retry within seconds at first
// (they made a 16-minute tail at 25% 5xx: 10 s, 20 s, 40 s...), and the
// fast phase is bounded; the last retries slow down.
func TestRetryScheduleIsFastThenBounded(t *testing.T) {
	p := DefaultRetryPolicy()
	want := []time.Duration{1, 2, 4, 5, 5, 5, 5, 5, 5}
	fast := time.Duration(0)
	for n, w := range want {
		if got := p.TransientCeiling(n); got != w*time.Second {
			t.Errorf("retry %d: ceiling %v, want %v", n+1, got, w*time.Second)
		}
		fast += p.TransientCeiling(n)
		for range 20 {
			d := p.Delay(n, &okta.TransientError{Status: 503, Err: errors.New("x")}, nil)
			if d < w*time.Second/2 || d > w*time.Second {
				t.Fatalf("retry %d: delay %v outside [%v, %v]", n+1, d, w*time.Second/2, w*time.Second)
			}
		}
	}
	if fast > time.Minute {
		t.Errorf("the fast retries take up to %v, want under a minute", fast)
	}
	total := fast
	for n := len(want); n < 11; n++ {
		c := p.TransientCeiling(n)
		if c < p.TransientCeiling(n-1) || c > p.Cap {
			t.Errorf("retry %d: ceiling %v (previous %v, cap %v)", n+1, c, p.TransientCeiling(n-1), p.Cap)
		}
		total += c
	}
	// The last retries wait minutes, for a failure that lasts.
	if total < 5*time.Minute || total > 10*time.Minute {
		t.Errorf("12 attempts span up to %v", total)
	}
	held := &HeldError{Until: p.Now().Add(3 * time.Second)}
	if IsFailure(held) || IsFailure(&okta.RateLimitedError{}) || !IsFailure(&okta.TransientError{}) {
		t.Error("held and rate-limited attempts must not spend an attempt; transient ones must")
	}
}

// Issue 14 item 6: the breaker opens when most attempts of a connection
// fail (counted in Redis for all workers), holds every task for Hold,
// then lets exactly one probe through; a failed probe doubles the hold, a
// successful one closes it.
func TestBreakerOpensAndProbes(t *testing.T) {
	ctx := context.Background()
	p := DefaultBreakerPolicy()
	b := &breaker{rdb: redistest.New(t).Client, p: p}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	admit := func() admission {
		t.Helper()
		a, err := b.admit(ctx, "acme", now)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	report := func(probe string, o outcome) {
		t.Helper()
		if _, err := b.report(ctx, "acme", probe, o, now); err != nil {
			t.Fatal(err)
		}
	}
	// A flaky Okta (25% failed) never opens it.
	for i := range 100 {
		o := succeeded
		if i%4 == 0 {
			o = failed
		}
		report("", o)
	}
	if a := admit(); !a.Until.IsZero() || a.Probe != "" {
		t.Fatalf("open at 25%% failures: %+v", a)
	}
	// Failures slide out of the window.
	now = now.Add(p.Window + p.Window/time.Duration(p.Slots))
	for range p.MinAttempts - 1 {
		report("", failed)
	}
	if a := admit(); !a.Until.IsZero() {
		t.Fatalf("open after %d failures, under MinAttempts %d", p.MinAttempts-1, p.MinAttempts)
	}
	report("", failed) // the MinAttempts-th: all of the window failed
	a := admit()
	if !a.Until.Equal(now.Add(p.Hold)) {
		t.Fatalf("after %d failures: %+v, want held until %v", p.MinAttempts, a, now.Add(p.Hold))
	}
	now = now.Add(p.Hold)
	probe := admit()
	if probe.Probe == "" || !probe.Until.IsZero() {
		t.Fatalf("hold over: %+v, want a probe", probe)
	}
	probes := 1
	for range 10 {
		if a := admit(); a.Probe != "" || a.Until.IsZero() {
			t.Fatalf("a second attempt went while one probes: %+v", a)
		}
	}
	report(probe.Probe, failed)
	if a := admit(); !a.Until.Equal(now.Add(2 * p.Hold)) {
		t.Fatalf("after a failed probe: %+v, want held until %v", a, now.Add(2*p.Hold))
	}
	now = now.Add(2 * p.Hold)
	probe = admit()
	probes++
	report(probe.Probe, succeeded)
	for range 10 {
		if a := admit(); !a.Until.IsZero() || a.Probe != "" {
			t.Fatalf("after a good probe: %+v, want closed", a)
		}
	}
	if probes != 2 {
		t.Errorf("probes %d", probes)
	}
	// A probe whose worker died frees its place after ProbeLease.
	for range p.MinAttempts {
		report("", failed)
	}
	now = now.Add(p.Hold)
	if a := admit(); a.Probe == "" {
		t.Fatalf("no probe: %+v", a)
	}
	if a := admit(); a.Until.IsZero() {
		t.Fatalf("second probe while the first holds its lease: %+v", a)
	}
	now = now.Add(p.ProbeLease)
	if a := admit(); a.Probe == "" {
		t.Fatalf("the lease of a dead probe did not end: %+v", a)
	}
}
