package main

import (
	"testing"
	"time"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// perWindow replays the simulator's windows: one starts at the first call
// after the last ended (a concurrency 429 starts none), and the last one
// is left out of the mean.
func TestPerWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int, status int) oktasim.Request {
		return oktasim.Request{Time: t0.Add(time.Duration(ms) * time.Millisecond), Status: status}
	}
	reqs := []oktasim.Request{
		at(0, 200), at(100, 204), at(900, 429), // window 1: 2 answered
		at(1500, 429), at(1600, 200), at(1700, 200), at(2000, 200), // window 2 from 1600: 3
		at(2700, 200), // window 3 (the tail)
	}
	n, mean, counts := perWindow(reqs, time.Second)
	if n != 2 || mean != 2.5 {
		t.Fatalf("%d windows, mean %v (%v); want 2 and 2.5", n, mean, counts)
	}
	if got := counts[1]; got != "+600ms" {
		t.Errorf("idle before window 2: %s, want +600ms", got)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(d, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("empty p99 %v", p)
	}
}
