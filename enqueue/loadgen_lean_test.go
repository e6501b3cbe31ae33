package enqueue

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/oktaq/oktaq/tasks"
)

// TestLeanClientAgainstTheAPI: the benchmark's lean client reads every
// answer of the real API whole, so each next answer on the connection
// starts where it should: each 202 names the task it enqueued, each
// refusal in between is a problem, and every accepted action is in Redis.
func TestLeanClientAgainstTheAPI(t *testing.T) {
	s := startAPI(t)
	host := s.Listener.Addr().String()
	const conns, perConn = 8, 40
	const body = `{"action":"user.suspend","user":"alice@example.com","requester":{"id":"agent-42","role":"it-admin"},` +
		`"ticket":{"system":"helpdesk","id":"REQ-%d"},"idempotency_key":"lean-%d"}`
	var mu sync.Mutex
	accepted := map[string]bool{}
	refused := 0
	var wg sync.WaitGroup
	for i, lc := range dialLean(t, host, conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perConn {
				n := i*perConn + j
				req, want := leanRequest(host, "/v1/actions", tokenA, fmt.Appendf(nil, body, n, n)), http.StatusAccepted
				switch n % 10 { // a refusal now and then, with its own body
				case 3:
					req, want = leanRequest(host, "/v1/actions", tokenA, []byte(`{"action":"user.nope"}`)), http.StatusBadRequest
				case 7:
					req, want = leanRequest(host, "/v1/actions", "wrong", fmt.Appendf(nil, body, n, n)), http.StatusUnauthorized
				}
				status, err := lc.roundTrip(req)
				if err != nil || status != want {
					t.Errorf("request %d: status %d (want %d), %v", n, status, want, err)
					return
				}
				var ans map[string]any
				if err := json.Unmarshal(lc.body, &ans); err != nil {
					t.Errorf("request %d: answer %q: %v", n, lc.body, err)
					return
				}
				mu.Lock()
				if status == http.StatusAccepted {
					id := TaskID("helpdesk-a", fmt.Sprint("lean-", n))
					if ans["id"] != id {
						t.Errorf("request %d answered %v, want id %s", n, ans, id)
					}
					accepted[id] = true
				} else {
					refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(accepted) != conns*perConn*8/10 || refused != conns*perConn*2/10 {
		t.Fatalf("%d accepted, %d refused of %d", len(accepted), refused, conns*perConn)
	}
	for id := range accepted {
		if _, err := s.c.inspector.GetTaskInfo(tasks.QueueCritical, id); err != nil {
			t.Errorf("task %s of a 202: %v", id, err)
		}
	}
}

// TestLeanClientReadsChunksAndTrailers: an answer streamed in chunks,
// with a trailer, is read whole, and the next one on the connection too.
func TestLeanClientReadsChunksAndTrailers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(http.StatusAccepted)
		for i := range 3 {
			fmt.Fprintf(w, "%s-%d;", r.URL.Path, i)
			w.(http.Flusher).Flush() // each write its own chunk
		}
		w.Header().Set("X-Sum", "3")
	}))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	lc := dialLean(t, host, 1)[0]
	for i := range 20 {
		path := fmt.Sprint("/p", i)
		status, err := lc.roundTrip(leanRequest(host, path, tokenA, []byte(`{}`)))
		want := fmt.Sprintf("%[1]s-0;%[1]s-1;%[1]s-2;", path)
		if err != nil || status != http.StatusAccepted || string(lc.body) != want {
			t.Fatalf("answer %d: %d %q, %v; want 202 %q", i, status, lc.body, err, want)
		}
	}
}
