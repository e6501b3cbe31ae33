package worker_test

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// holdProducers: helpdesk-a may assert it-admin, helpdesk and security.
var holdProducers = tasks.Producers{Roles: map[string][]string{"helpdesk-a": {"it-admin", "helpdesk", "security"}, "helpdesk-b": {"helpdesk"}}}

// withHolds sets the connection's approvals and verification policy and
// the producers that may assert the approving role.
func withHolds(approvals, verify string, wo func(*worker.Options)) []option {
	return []option{
		withConnection(func(c *okta.Connection) {
			var err error
			if c.Approvals, err = tasks.ParseRoles(approvals); err != nil {
				panic(err)
			}
			if c.VerifyUser, err = tasks.ParseVerifyPolicy(verify); err != nil {
				panic(err)
			}
		}),
		withWorker(func(o *worker.Options) {
			o.Producers = holdProducers
			if wo != nil {
				wo(o)
			}
		}),
	}
}

// producerClient is the enqueue client of producer, on the harness's
// Redis and keyring, with the connection's policy.
func (h *harness) producerClient(producer string, o func(*enqueue.Options)) *enqueue.Client {
	h.t.Helper()
	opts := enqueue.Options{Producer: producer, Producers: holdProducers, Keyring: h.keyring,
		Connections: map[string]*tasks.Policy{"default": &h.conn.Policy}, MaxAttempts: 6}
	if o != nil {
		o(&opts)
	}
	c := enqueue.NewFromRedisClient(h.redis.Client, opts)
	h.t.Cleanup(func() { c.Close() })
	return c
}

// result waits for the task to end and returns its result.
func (h *harness) result(id string) *tasks.Result {
	h.t.Helper()
	ti := h.wait(id)
	var r tasks.Result
	if err := json.Unmarshal(ti.Result, &r); err != nil {
		h.t.Fatalf("task %s: result %q: %v", id, ti.Result, err)
	}
	return &r
}

// calls counts the simulator's requests of method whose path ends with
// suffix and that name user id uid (any user when "").
func (h *harness) calls(method, uid, suffix string) int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) && (uid == "" || strings.Contains(r.Path, "/"+uid)) {
			n++
		}
	}
	return n
}

// userID is the simulator's id of login.
func (h *harness) userID(login string) string {
	h.t.Helper()
	u, ok := h.sim.User(login)
	if !ok {
		h.t.Fatalf("no user %s", login)
	}
	return u.ID
}

// must is info, failing the test on err.
func (h *harness) must(info *enqueue.Info, err error) *enqueue.Info {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

var bg = context.Background()
