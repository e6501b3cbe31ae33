package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// action is one request of the load and what became of it.
type action struct {
	user, kind, key string
	id              string // task id from 202; "" when the API refused it
	state, outcome  string // last seen
	doneAt          time.Time
}

// post enqueues an action through the HTTP API, as a ticketing system
// would (retrying a refused or unanswered POST a few times: the
// idempotency key makes that safe).
func (s *system) post(a *action) error {
	body := fmt.Sprintf(`{"action":%q,"user":%q,"requester":{"id":"agent-7","role":"it-admin"},`+
		`"ticket":{"system":"chaos","id":%q},"idempotency_key":%q}`, a.kind, a.user, a.key, a.key)
	var last error
	for range 5 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr(s.apiPort)+"/v1/actions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct{ ID string }
		_ = json.Unmarshal(b, &out)
		if (resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK) && out.ID != "" {
			a.id = out.ID
			return nil
		}
		last = fmt.Errorf("POST /v1/actions: %s %s", resp.Status, b)
		if resp.StatusCode < 500 {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

// refresh reads the action's state through the API; final reports
// completed or archived. A task the API no longer knows is "missing".
func (s *system) refresh(a *action) (final bool) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr(s.apiPort)+"/v1/actions/"+a.id, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		a.state = "missing"
		return false
	}
	var out struct {
		State  string
		Result *struct{ Outcome string }
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return false
	}
	a.state = out.State
	if out.Result != nil {
		a.outcome = out.Result.Outcome
	}
	return a.state == "completed" || a.state == "archived"
}

// tracker polls every action until all are final or the cap is reached.
type tracker struct {
	s       *system
	actions []*action
	mu      sync.Mutex
	done    int
}

func (t *tracker) doneCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// poll refreshes the unfinished actions once and counts the final ones;
// a final action may come back (a Redis rollback), so all are read.
func (t *tracker) poll() int {
	n := 0
	for _, a := range t.actions {
		if a.id == "" {
			continue
		}
		if t.s.refresh(a) {
			if a.doneAt.IsZero() {
				a.doneAt = time.Now()
			}
			n++
		} else {
			a.doneAt = time.Time{}
		}
	}
	t.mu.Lock()
	t.done = n
	t.mu.Unlock()
	return n
}

// waitDone blocks until n actions are final (at most cap polls).
func (t *tracker) waitDone(n, polls int) {
	for range polls {
		if t.doneCount() >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sideEffects counts, per user, the side-effect calls Okta applied (from
// the simulator's request log), whether or not their answer arrived.
func (s *system) sideEffects() (map[string]int, error) {
	resp, err := http.Get("http://" + s.addr(s.simPort) + "/__sim/requests")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r oktasim.Request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		if r.Method == http.MethodGet || !r.Applied || !strings.HasPrefix(r.Path, "/api/v1/users/") {
			continue
		}
		ref := strings.Split(strings.TrimPrefix(r.Path, "/api/v1/users/"), "/")[0]
		if login, ok := s.logins[ref]; ok {
			ref = login
		}
		out[ref]++
	}
	return out, sc.Err()
}

func (s *system) setFaults(spec string) error {
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.addr(s.simPort)+"/__sim/faults", strings.NewReader(spec))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT /__sim/faults %q: %s %s", spec, resp.Status, b)
	}
	return nil
}
