package okta_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// BenchmarkUserView: the user view against the simulator with 50 ms of
// latency on every call, through the real SDK, the shared limiter and the
// Redis cache. Reported per sub-benchmark: p50 and p99 latency, Okta calls
// per view, the slowest single Okta call seen, and views/s. Goal: cold p99
// under 2x the slowest single call (the reads run in parallel), cached p99
// under 5 ms. `make bench` runs it.
func BenchmarkUserView(b *testing.B) {
	const latency = 50 * time.Millisecond
	sim := startSim(b, oktasim.Options{RateLimits: roomyLimits()})
	if err := sim.Load(oktasim.Seed{
		Groups: []oktasim.SeedGroup{{Name: "Sales"}, {Name: "VPN"}},
		Apps:   []oktasim.SeedApp{{Label: "Zoom"}},
		Users: []oktasim.SeedUser{{Login: "bench@example.com", FirstName: "Ben", LastName: "Ch",
			Groups: []string{"Engineering", "Sales", "VPN"}, Factors: []string{"sms", "push"}, Apps: []string{"Slack", "Zoom"}, Password: true}},
	}); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var slowest time.Duration
	db := redistest.New(b)
	e := newExecutor(b, sim, execOpts{rdb: db.Client, name: "default", scopes: append(allScopes, tasks.ScopeAppsRead),
		onCall: func(c okta.CallInfo) {
			mu.Lock()
			if c.Bucket != "oauth2-token" && c.Duration > slowest {
				slowest = c.Duration
			}
			mu.Unlock()
		}})
	reader := okta.NewUserReader(map[string]*okta.Executor{"default": e}, okta.UserReaderOptions{Redis: db.Client})
	ctx := context.Background()
	// Warm the token and learn the id, without latency.
	v, err := reader.ReadUser(ctx, "default", "bench@example.com", true)
	if err != nil {
		b.Fatal(err)
	}
	id := v.ID
	sim.SetFaults(oktasim.Faults{Latency: latency, Match: "/api/v1/"})

	run := func(b *testing.B, ref string, fresh bool) {
		sim.ResetRequests()
		mu.Lock()
		slowest = 0
		mu.Unlock()
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		start := time.Now()
		for b.Loop() {
			t0 := time.Now()
			if _, err := reader.ReadUser(ctx, "default", ref, fresh); err != nil {
				b.Fatal(err)
			}
			samples = append(samples, time.Since(t0))
		}
		elapsed := time.Since(start)
		b.StopTimer()
		report(b, samples, elapsed, oktaCalls(sim))
		mu.Lock()
		if slowest > 0 {
			b.ReportMetric(ms(slowest), "slowest-call-ms")
		}
		mu.Unlock()
	}
	b.Run("cold-by-id", func(b *testing.B) { run(b, id, true) })
	b.Run("cold-by-login", func(b *testing.B) { run(b, "bench@example.com", true) })
	b.Run("cached", func(b *testing.B) { run(b, "bench@example.com", false) })
	b.Run("cached-parallel", func(b *testing.B) {
		sim.ResetRequests()
		b.SetParallelism(4)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := reader.ReadUser(ctx, "default", "bench@example.com", false); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "views/s")
	})
}

func report(b *testing.B, samples []time.Duration, elapsed time.Duration, calls int) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	pct := func(p float64) time.Duration { return samples[min(len(samples)-1, int(p*float64(len(samples))))] }
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.99)), "p99-ms")
	b.ReportMetric(float64(calls)/float64(len(samples)), "okta-calls/view")
	b.ReportMetric(float64(len(samples))/elapsed.Seconds(), "views/s")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func oktaCalls(sim *oktasim.Sim) int {
	n := 0
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Path, "/api/") {
			n++
		}
	}
	return n
}
