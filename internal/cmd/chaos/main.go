// Command chaos injects faults into a running oktaq, every part a process
// of its own (redis-server with AOF, `oktaq sim --faults`, two `oktaq
// worker`s, `oktaq api`), and prints one table row per experiment: lost
// actions, duplicated side effects (applied calls per user beyond one,
// from the simulator's request log), stuck actions, and the time to
// recover after the fault ended. `make chaos`; not part of `make test`.
// Loopback only; every wait is bounded by a count.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	only := flag.String("only", "", "run only the experiments whose names contain this")
	users := flag.Int("users", 60, "users in the load (one action each, or copies for duplicates)")
	capAfter := flag.Duration("cap", 3*time.Minute, "longest wait for the load to finish after a fault ends")
	keep := flag.Bool("keep", false, "keep the work directory (logs, AOF) of each experiment")
	flag.Parse()
	if err := run(*only, *users, *capAfter, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run(only string, users int, capAfter time.Duration, keep bool) error {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return fmt.Errorf("redis-server is not installed (apt-get install redis-server)")
	}
	root, err := os.MkdirTemp("", "oktaq-chaos-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(root)
	}
	bin := filepath.Join(root, "oktaq")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/oktaq").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/oktaq: %v\n%s", err, out)
	}
	fmt.Printf("work directory %s\n\n", root)
	fmt.Println("| experiment | load | faults | lost | duplicated | stuck | failed | recovery after the fault ended |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, e := range experiments() {
		if only != "" && !strings.Contains(e.name, only) {
			continue
		}
		dir := filepath.Join(root, e.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		r, err := runExperiment(e, bin, dir, users, capAfter)
		if err != nil {
			fmt.Printf("| %s | | %s | error: %v | | | | |\n", e.name, e.fault, err)
			continue
		}
		fmt.Println(r)
	}
	return nil
}

type row struct {
	e                        experiment
	load                     string
	lost, dup, stuck, failed int
	recovery                 string
}

func (r row) String() string {
	return fmt.Sprintf("| %s | %s | %s | %d | %d | %d | %d | %s |", r.e.name, r.load, r.e.fault, r.lost, r.dup, r.stuck, r.failed, r.recovery)
}

func runExperiment(e experiment, bin, dir string, users int, capAfter time.Duration) (row, error) {
	s, err := newSystem(bin, dir, users)
	if err != nil {
		return row{}, err
	}
	defer s.stop()
	if e.before != nil {
		if err := e.before(s); err != nil {
			return row{}, err
		}
	}
	if err := s.start(e.faults); err != nil {
		return row{}, err
	}
	copies := max(e.copies, 1)
	t := &tracker{s: s}
	for i, u := range s.users {
		for c := range copies {
			t.actions = append(t.actions, &action{user: u, kind: e.kind, key: fmt.Sprintf("%s-%d-%d", e.name, i, c)})
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var postErr error
	var mu sync.Mutex
	sem := make(chan struct{}, 3*copies) // copies of one user go out at once
	for _, a := range t.actions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.post(a); err != nil {
				mu.Lock()
				postErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if postErr != nil {
		fmt.Fprintf(os.Stderr, "%s: an action was not accepted: %v\n", e.name, postErr)
	}
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			t.poll()
			time.Sleep(250 * time.Millisecond)
		}
	}()
	faultEnd, err := e.inject(s, t, len(t.actions))
	if err != nil {
		close(stop)
		<-polled
		return row{}, err
	}
	// Wait for every action, at most capAfter (counted in polls).
	for range int(capAfter / (250 * time.Millisecond)) {
		if t.doneCount() == len(t.actions) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	close(stop)
	<-polled
	t.poll()
	effects, err := s.sideEffects()
	if err != nil {
		return row{}, err
	}
	r := row{e: e, load: fmt.Sprintf("%d %s", len(t.actions), e.kind)}
	if copies > 1 {
		r.load = fmt.Sprintf("%d %s (%d users x %d)", len(t.actions), e.kind, len(s.users), copies)
	}
	var last time.Time
	for _, a := range t.actions {
		switch {
		case a.id == "" || a.state == "missing":
			r.lost++
		case a.doneAt.IsZero():
			r.stuck++
		default:
			if a.doneAt.After(last) {
				last = a.doneAt
			}
			if a.outcome != "succeeded" && a.outcome != "no_op" {
				r.failed++
			}
		}
	}
	for _, u := range s.users {
		switch n := effects[u]; {
		case n == 0 && reportedDone(t, u):
			r.lost++ // reported succeeded, yet Okta never applied it
		case n > 1:
			r.dup += n - 1
		}
	}
	switch {
	case r.stuck > 0:
		r.recovery = fmt.Sprintf("not all done %s after", capAfter)
	case last.Before(faultEnd):
		r.recovery = "0 s (all done before it ended)"
	default:
		r.recovery = fmt.Sprintf("%.1f s", last.Sub(faultEnd).Seconds())
	}
	if e.name == "okta-flaky" || e.name == "concurrent-duplicates" {
		r.recovery = fmt.Sprintf("all done %.1f s after the load started", last.Sub(start).Seconds())
		if r.stuck > 0 || last.IsZero() {
			r.recovery = fmt.Sprintf("not all done %s after", capAfter)
		}
	}
	return r, nil
}

// reportedDone: an action of the user is final with outcome succeeded.
func reportedDone(t *tracker, user string) bool {
	for _, a := range t.actions {
		if a.user == user && !a.doneAt.IsZero() && a.outcome == "succeeded" {
			return true
		}
	}
	return false
}
