package worker_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

func suspendOf(user string) *tasks.Suspend {
	return &tasks.Suspend{Request: tasks.Request{User: user, Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
}

// TestCancelScheduled: a scheduled action cancelled ends cancelled, with
// who cancelled, and no Okta call; a second cancel is refused.
func TestCancelScheduled(t *testing.T) {
	h := newHarness(t, append(withHolds("", "", nil), withUsers(seedUser("dan@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	info := h.must(c.Enqueue(bg, suspendOf("dan@example.com"), enqueue.RunAt(time.Now().Add(time.Hour))))
	if info.State != enqueue.StateScheduled {
		t.Fatalf("state %q, want scheduled", info.State)
	}
	if _, err := c.Cancel(bg, "helpdesk-a", info.ID, tasks.Requester{ID: "agent-9", Role: "helpdesk"}); err != nil {
		t.Fatal(err)
	}
	res := h.result(info.ID)
	if res.Outcome != tasks.OutcomeCancelled || res.Error.Code != tasks.CodeCancelled || res.Approval == nil || res.Approval.By.ID != "agent-9" {
		t.Fatalf("result %+v error %+v approval %+v", res, res.Error, res.Approval)
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Fatalf("%d Okta calls for a cancelled action, want 0", n)
	}
	// The hold is read in the user lease's round trip: a held action
	// gives the lease it took back at once, or the user's next action
	// would wait out the lease's TTL.
	if leases, err := h.redis.Client.Keys(bg, "oktaq:{default}:user:*").Result(); err != nil || len(leases) != 0 {
		t.Fatalf("user leases left by a cancelled action: %v (%v)", leases, err)
	}
	if _, err := c.Cancel(bg, "helpdesk-a", info.ID, tasks.Requester{}); holdCode(err) != tasks.CodeAlreadyStarted {
		t.Fatalf("second cancel: %v, want already_started", err)
	}
}

// TestCancelRacesStart: cancels race the worker's start of pending
// actions; each action either ran once (and the cancel was refused) or
// was cancelled (and made no call): never both, never neither.
func TestCancelRacesStart(t *testing.T) {
	const n = 24
	var users []oktasim.SeedUser
	for i := range n {
		users = append(users, seedUser(fmt.Sprintf("cr%d@example.com", i), "ACTIVE"))
	}
	h := newHarness(t, append(withHolds("", "", nil), withUsers(users...))...)
	c := h.producerClient("helpdesk-a", nil)
	ids := make([]string, n)
	cancelled := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = h.must(c.Enqueue(bg, suspendOf(fmt.Sprintf("cr%d@example.com", i)))).ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%6*15) * time.Millisecond) // spread, not asserted
			_, err := c.Cancel(bg, "helpdesk-a", ids[i], tasks.Requester{})
			switch code := holdCode(err); {
			case err == nil:
				cancelled[i] = true
			case code == tasks.CodeAlreadyStarted:
			default:
				t.Errorf("cancel %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	ran := 0
	for i, id := range ids {
		res := h.result(id)
		calls := h.calls("POST", h.userID(fmt.Sprintf("cr%d@example.com", i)), "/lifecycle/suspend")
		switch {
		case cancelled[i] && (res.Outcome != tasks.OutcomeCancelled || calls != 0):
			t.Errorf("action %d: cancel accepted, but %s with %d calls", i, res.Outcome, calls)
		case !cancelled[i] && (res.Outcome != tasks.OutcomeSucceeded || calls != 1):
			t.Errorf("action %d: cancel refused, but %s with %d calls", i, res.Outcome, calls)
		}
		if !cancelled[i] {
			ran++
		}
	}
	t.Logf("%d ran, %d cancelled", ran, n-ran)
}

// TestReschedule: an action moved later does not run at its first time
// (it goes back to sleep, no Okta call, no attempt spent), shows its new
// run_at, and runs once when moved to now.
func TestReschedule(t *testing.T) {
	h := newHarness(t, append(withHolds("", "", nil), withUsers(seedUser("erin@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	info := h.must(c.Enqueue(bg, suspendOf("erin@example.com"), enqueue.RunAt(time.Now().Add(100*time.Millisecond))))
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	got := h.must(c.Reschedule(bg, "helpdesk-a", info.ID, later))
	if got.State != enqueue.StateScheduled || !got.RunAt.Equal(later) {
		t.Fatalf("after reschedule: state %q run_at %v, want scheduled at %v", got.State, got.RunAt, later)
	}
	// The first due time passes: the worker wakes the task, finds it
	// not yet due, and puts it back.
	until(t, "the worker to defer the task", func() bool { return strings.Contains(h.logs.String(), `"code":"not_yet_due"`) })
	got = h.must(c.Status(bg, info.ID))
	if got.State != enqueue.StateScheduled || !got.RunAt.Equal(later) || got.Attempts > 1 {
		t.Fatalf("after its old time: state %q run_at %v attempts %d", got.State, got.RunAt, got.Attempts)
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Fatalf("%d Okta calls before the new time, want 0", n)
	}
	if _, err := c.Reschedule(bg, "helpdesk-a", info.ID, time.Now().Add(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	res := h.result(info.ID)
	if res.Outcome != tasks.OutcomeSucceeded || h.calls("POST", "", "/lifecycle/suspend") != 1 {
		t.Fatalf("after moving to now: %s, %d calls", res.Outcome, h.calls("POST", "", "/lifecycle/suspend"))
	}
	if _, err := c.Reschedule(bg, "helpdesk-a", info.ID, time.Now().Add(time.Hour)); holdCode(err) != tasks.CodeAlreadyStarted {
		t.Fatalf("reschedule after the end: %v, want already_started", err)
	}
}

// TestCancelWhileWaitingForTheUser: the hold check marks the action
// started in the user lease's round trip (issue 19); an attempt that then
// waits (here for another action on the user) without calling Okta gives
// the mark back, so the action can still be cancelled while it waits and
// ends cancelled with no call.
func TestCancelWhileWaitingForTheUser(t *testing.T) {
	// A busy user's task comes back only when woken (by the cancel), so
	// no later attempt marks the action while the test looks.
	h := newHarness(t, append(withHolds("", "", func(o *worker.Options) {
		o.Lease = worker.LeasePolicy{TTL: 15 * time.Second, Busy: time.Hour}
	}), withUsers(seedUser("wait@example.com", "ACTIVE")))...)
	lease := "oktaq:{default}:user:wait@example.com"
	if err := h.redis.Client.Set(t.Context(), lease, "someone-else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	c := h.producerClient("helpdesk-a", nil)
	info := h.must(c.Enqueue(bg, suspendOf("wait@example.com")))
	until(t, "an attempt to find the user busy", func() bool { return strings.Contains(h.logs.String(), "another action on this user") })
	// The attempt that found the user busy has ended: its round trips are
	// done before its audit line.
	if started, _ := h.redis.Client.HExists(bg, tasks.HoldKey(info.ID), tasks.HoldStarted).Result(); started {
		t.Fatal("an attempt that waited for the user left the action marked started")
	}
	if _, err := c.Cancel(bg, "helpdesk-a", info.ID, tasks.Requester{ID: "agent-9", Role: "helpdesk"}); err != nil {
		t.Fatalf("cancel while the action waits for its user: %v", err)
	}
	h.redis.Client.Del(bg, lease)
	if res := h.result(info.ID); res.Outcome != tasks.OutcomeCancelled {
		t.Fatalf("outcome %s, want cancelled", res.Outcome)
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Fatalf("%d Okta calls for a cancelled action, want 0", n)
	}
}
