package worker_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

func grantOf(user string, until time.Time, groups ...string) *tasks.UpdateGroups {
	return &tasks.UpdateGroups{Request: tasks.Request{User: user, Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}},
		Groups: tasks.GroupChanges{Add: groups, Until: until}}
}

func (h *harness) inGroup(login, group string) bool {
	u, _ := h.sim.User(login)
	return slices.Contains(u.Groups, h.sim.GroupID(group))
}

// TestTimeBoundGroup: a group add with until schedules its removal at
// until (result.follow_up); the removal can be extended, runs once moved
// to now and removes only what the grant added; a cancelled removal keeps
// the access; a membership removed by hand meanwhile makes it a no_op.
func TestTimeBoundGroup(t *testing.T) {
	h := newHarness(t, append(withHolds("", "", nil),
		withUsers(seedUser("fay@example.com", "ACTIVE", func(u *oktasim.SeedUser) { u.Groups = []string{"Engineering"} }),
			seedUser("gus@example.com", "ACTIVE"), seedUser("hal@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	grant := h.result(h.must(c.Enqueue(bg, grantOf("fay@example.com", until, "Engineering", "Engineering-Admins"))).ID)
	if grant.Outcome != tasks.OutcomeSucceeded || grant.FollowUp == "" {
		t.Fatalf("grant: %s follow_up %q", grant.Outcome, grant.FollowUp)
	}
	fu := h.must(c.Status(bg, grant.FollowUp))
	if fu.State != enqueue.StateScheduled || !fu.RunAt.Equal(until) || !fu.NextProcessAt.Equal(until) || fu.Action != tasks.ActionUpdateGroups {
		t.Fatalf("removal: %+v, want %s scheduled at %v", fu, tasks.ActionUpdateGroups, until)
	}
	// Extend by an hour, then let it run now.
	extended := until.Add(time.Hour)
	if got := h.must(c.Reschedule(bg, "helpdesk-a", grant.FollowUp, extended)); !got.RunAt.Equal(extended) || got.State != enqueue.StateScheduled {
		t.Fatalf("extended: %+v", got)
	}
	if !h.inGroup("fay@example.com", "Engineering-Admins") {
		t.Fatal("access gone before its time")
	}
	h.must(c.Reschedule(bg, "helpdesk-a", grant.FollowUp, time.Now().Add(20*time.Millisecond)))
	removal := h.result(grant.FollowUp)
	if removal.Outcome != tasks.OutcomeSucceeded || len(removal.Items) != 1 || removal.Items[0].Op != "remove" {
		t.Fatalf("removal: %s items %+v", removal.Outcome, removal.Items)
	}
	if h.inGroup("fay@example.com", "Engineering-Admins") || !h.inGroup("fay@example.com", "Engineering") {
		t.Fatal("want Engineering-Admins removed and Engineering (held before the grant) kept")
	}

	// Cancelled: the access stays.
	kept := h.result(h.must(c.Enqueue(bg, grantOf("gus@example.com", until, "Engineering"))).ID)
	if _, err := c.Cancel(bg, "helpdesk-a", kept.FollowUp, tasks.Requester{ID: "agent-42", Role: "it-admin"}); err != nil {
		t.Fatal(err)
	}
	if r := h.result(kept.FollowUp); r.Outcome != tasks.OutcomeCancelled || !h.inGroup("gus@example.com", "Engineering") {
		t.Fatalf("cancelled removal: %s, in group %v", r.Outcome, h.inGroup("gus@example.com", "Engineering"))
	}

	// Removed by hand meanwhile: the removal is a no_op.
	byHand := h.result(h.must(c.Enqueue(bg, grantOf("hal@example.com", until, "Engineering"))).ID)
	h.removeByHand(h.sim.GroupID("Engineering"), h.userID("hal@example.com"))
	h.must(c.Reschedule(bg, "helpdesk-a", byHand.FollowUp, time.Now().Add(20*time.Millisecond)))
	if r := h.result(byHand.FollowUp); r.Outcome != tasks.OutcomeNoOp || r.Error != nil {
		t.Fatalf("removal of a hand-removed membership: %s %+v, want no_op", r.Outcome, r.Error)
	}
}

// removeByHand removes a membership through Okta's API, as an admin
// would in the console.
func (h *harness) removeByHand(gid, uid string) {
	h.t.Helper()
	tok := h.sim.IssueToken(clientID, "okta.groups.manage")
	req, _ := http.NewRequest(http.MethodDelete, h.srv.URL+"/api/v1/groups/"+gid+"/users/"+uid, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		h.t.Fatalf("remove by hand: %d", resp.StatusCode)
	}
}

// TestTimeBoundReminder: a reminder goes out OKTAQ_ACCESS_REMINDER before
// the access ends, once per end time: a reschedule re-arms it.
func TestTimeBoundReminder(t *testing.T) {
	var mu sync.Mutex
	var events []worker.Event
	h := newHarness(t, append(withHolds("", "", func(o *worker.Options) {
		o.AccessReminder = 2 * time.Hour
		o.OnEvent = func(_ context.Context, e worker.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
	}), withUsers(seedUser("ida@example.com", "ACTIVE")))...)
	reminders := func() (n int, last worker.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Type == worker.EventAccessExpiring {
				n, last = n+1, e
			}
		}
		return n, last
	}
	c := h.producerClient("helpdesk-a", nil)
	end := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	grant := h.result(h.must(c.Enqueue(bg, grantOf("ida@example.com", end, "Engineering"))).ID)
	// The end is less than the reminder's lead away: it goes out now.
	until(t, "the first reminder", func() bool { n, _ := reminders(); return n == 1 })
	_, e := reminders()
	if e.TaskID != grant.FollowUp || !e.At.Equal(end) || e.Args.Base().Producer != "helpdesk-a" || e.Detail.Code != tasks.CodeAccessExpiring {
		t.Fatalf("reminder %+v", e)
	}
	// Extended far: no reminder yet; then near: a second one.
	h.must(c.Reschedule(bg, "helpdesk-a", grant.FollowUp, time.Now().Add(5*time.Hour)))
	h.must(c.Reschedule(bg, "helpdesk-a", grant.FollowUp, time.Now().Add(90*time.Minute)))
	until(t, "the second reminder", func() bool { n, _ := reminders(); return n == 2 })
	if st := h.must(c.Status(bg, grant.FollowUp)); st.State != enqueue.StateScheduled || !h.inGroup("ida@example.com", "Engineering") {
		t.Fatalf("after the reminders: state %q, in group %v", st.State, h.inGroup("ida@example.com", "Engineering"))
	}
	if n, _ := reminders(); n != 2 {
		t.Fatalf("%d reminders, want one per end time (2)", n)
	}
}

// TestHeldFor: the user view's list shows an action awaiting approval and
// the removal of a time-bound access, for the user named by login or id.
func TestHeldFor(t *testing.T) {
	h := newHarness(t, append(withHolds("user.suspend=security", "", nil), withUsers(seedUser("joe@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	susp := h.must(c.Enqueue(bg, suspendOf("joe@example.com")))
	grant := h.result(h.must(c.Enqueue(bg, grantOf("joe@example.com", time.Now().Add(time.Hour), "Engineering"))).ID)
	held, err := c.HeldFor(bg, "JOE@example.com", h.userID("joe@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]enqueue.Held{}
	for _, x := range held {
		got[x.ID] = x
	}
	if a := got[susp.ID]; a.State != enqueue.StateAwaitingApproval || a.ApprovalExpiresAt.IsZero() {
		t.Errorf("awaiting approval: %+v", a)
	}
	if f := got[grant.FollowUp]; !f.ExpiresAccess || f.RunAt.IsZero() || f.State != enqueue.StateScheduled {
		t.Errorf("expiring access: %+v", f)
	}
	if len(held) != 2 {
		t.Errorf("%d held actions, want 2: %+v", len(held), held)
	}
}
