package okta_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// Issue 14 item 2: another suspend lands between the executor's read
// (ACTIVE) and its call; Okta refuses the call (E0000001, not active).
// The executor reads the user again, finds the end state holds, and ends
// no_op instead of failed.
func TestStateConflictRereadsToNoOp(t *testing.T) {
	sim := startSim(t, oktasim.Options{})
	user := login("ACTIVE")
	race := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/lifecycle/suspend") {
			sim.SetUserStatus(user, oktasim.StatusSuspended) // the other action, first
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	e := newExecutor(t, sim, execOpts{transport: race})
	res, err := e.Execute(context.Background(), &tasks.Suspend{Request: req(e, user)})
	if err != nil || res.Outcome != tasks.OutcomeNoOp || res.Okta.StatusAfter != "SUSPENDED" || res.Okta.StatusBefore != "ACTIVE" {
		t.Fatalf("%v %+v", err, res)
	}
	if res.Okta.Calls != 3 { // GET, POST (refused), GET
		t.Errorf("calls %d", res.Okta.Calls)
	}
}
