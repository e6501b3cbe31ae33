package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// experiment is one fault and the load it meets. inject runs while the
// load is under way and returns when the fault ended.
type experiment struct {
	name   string
	kind   string // the action every user gets
	copies int    // requests per user, sent at once (distinct idempotency keys)
	faults string // the simulator's faults for the whole run
	fault  string // what the table says about the fault
	before func(s *system) error
	inject func(s *system, t *tracker, n int) (faultEnd time.Time, err error)
}

// baseLatency makes each Okta call take a while, so that a fault meets
// actions in flight.
const baseLatency = "latency=150ms-300ms"

func experiments() []experiment {
	return []experiment{
		{name: "redis-kill", kind: "user.reset_password", faults: baseLatency,
			fault: "Redis kill -9 at 30% done, restarted 3 s later (same AOF)",
			inject: func(s *system, t *tracker, n int) (time.Time, error) {
				t.waitDone(n*3/10, 1200)
				s.signal("redis", syscall.SIGKILL)
				time.Sleep(3 * time.Second)
				return time.Now(), s.startRedis()
			}},
		{name: "redis-rollback", kind: "user.reset_password", faults: baseLatency,
			fault: "Redis restarted from the AOF of 20% done, at 70% done",
			inject: func(s *system, t *tracker, n int) (time.Time, error) {
				aof := filepath.Join(s.dir, "appendonlydir")
				t.waitDone(n*2/10, 1200)
				if out, err := exec.Command("cp", "-r", aof, aof+".old").CombinedOutput(); err != nil {
					return time.Now(), fmt.Errorf("copy AOF: %v %s", err, out)
				}
				t.waitDone(n*7/10, 1200)
				s.signal("redis", syscall.SIGKILL)
				if err := os.RemoveAll(aof); err != nil {
					return time.Now(), err
				}
				if err := os.Rename(aof+".old", aof); err != nil {
					return time.Now(), err
				}
				return time.Now(), s.startRedis()
			}},
		{name: "okta-flaky", kind: "user.reset_password", faults: "5xx=0.25,drop_after=0.15,latency=50ms-200ms",
			fault:  "Okta 5xx=0.25, drop_after=0.15, latency 50-200 ms, throughout (recovery: from the load's start)",
			inject: func(*system, *tracker, int) (time.Time, error) { return time.Now(), nil }},
		{name: "token-down", kind: "user.suspend", faults: baseLatency + ",token_5xx=1",
			fault: "token endpoint answers 5xx for 15 s from the start, then recovers",
			inject: func(s *system, _ *tracker, _ int) (time.Time, error) {
				time.Sleep(15 * time.Second)
				return time.Now(), s.setFaults(baseLatency)
			}},
		{name: "wrong-secret", kind: "user.suspend", faults: baseLatency,
			fault:  "wrong client secret (_FILE) for 15 s, then the file is fixed",
			before: func(s *system) error { return s.writeSecret("not-the-secret") },
			inject: func(s *system, _ *tracker, _ int) (time.Time, error) {
				time.Sleep(15 * time.Second)
				return time.Now(), s.writeSecret(clientSecret)
			}},
		{name: "worker-kill", kind: "user.reset_password", faults: baseLatency,
			fault: "worker 1 of 2 kill -9 at 30% done (not restarted)",
			inject: func(s *system, t *tracker, n int) (time.Time, error) {
				t.waitDone(n*3/10, 1200)
				s.signal("worker1", syscall.SIGKILL)
				return time.Now(), nil
			}},
		{name: "worker-sigterm", kind: "user.reset_password", faults: baseLatency,
			fault: "worker 1 of 2 SIGTERM at 30% done (not restarted)",
			inject: func(s *system, t *tracker, n int) (time.Time, error) {
				t.waitDone(n*3/10, 1200)
				at := time.Now()
				s.signal("worker1", syscall.SIGTERM)
				return at, nil
			}},
		{name: "concurrent-duplicates", kind: "user.suspend", copies: 3, faults: baseLatency,
			fault:  "3 suspends of each user sent at once (distinct idempotency keys)",
			inject: func(*system, *tracker, int) (time.Time, error) { return time.Now(), nil }},
	}
}
