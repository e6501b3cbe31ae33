package worker_test

import (
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// TestUserViewShowsHeldActions: the user view lists the producer's
// actions on the user awaiting approval (pending_actions) and the
// removals of the user's time-bound access (expiring_access), read fresh
// past the cached Okta part; not another producer's, not another user's.
func TestUserViewShowsHeldActions(t *testing.T) {
	h := newHarness(t, append(withHolds("user.suspend=security;user.reset_password=security", "", nil),
		withUsers(seedUser("joe@example.com", "ACTIVE"), seedUser("kim@example.com", "ACTIVE")))...)
	reader := okta.NewUserReader(map[string]*okta.Executor{"default": h.exec}, okta.UserReaderOptions{Redis: h.redis.Client})
	withUsers := func(o *enqueue.Options) { o.Users = reader }
	a, b := h.producerClient("helpdesk-a", withUsers), h.producerClient("helpdesk-b", withUsers)

	// Cached before anything waits: the held part is read on every view.
	v, err := a.User(bg, "joe@example.com", enqueue.UserQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if v.PendingActions == nil || len(v.PendingActions) != 0 || len(v.ExpiringAccess) != 0 {
		t.Fatalf("nothing waits yet: pending %v expiring %v", v.PendingActions, v.ExpiringAccess)
	}
	susp := h.must(a.Enqueue(bg, suspendOf("joe@example.com")))
	end := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	grant := h.result(h.must(a.Enqueue(bg, grantOf("joe@example.com", end, "Engineering"))).ID)
	h.must(a.Enqueue(bg, suspendOf("kim@example.com"))) // another user
	other := h.must(b.Enqueue(bg, &tasks.ResetPassword{Request: tasks.Request{User: "joe@example.com",
		Requester: tasks.Requester{ID: "agent-5", Role: "helpdesk"}}}))
	if other.State != enqueue.StateAwaitingApproval {
		t.Fatalf("helpdesk-b's reset: %s, want awaiting_approval", other.State)
	}

	v, err = a.User(bg, "joe@example.com", enqueue.UserQuery{Role: "it-admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Cached {
		t.Errorf("the Okta part should come from the cache")
	}
	if len(v.PendingActions) != 1 || v.PendingActions[0].ID != susp.ID || v.PendingActions[0].State != enqueue.StateAwaitingApproval ||
		v.PendingActions[0].Action != tasks.ActionSuspend || v.PendingActions[0].ApprovalExpiresAt.IsZero() {
		t.Errorf("pending_actions %+v, want only %s awaiting approval", v.PendingActions, susp.ID)
	}
	if len(v.ExpiringAccess) != 1 || v.ExpiringAccess[0].ID != grant.FollowUp || !v.ExpiringAccess[0].RunAt.Equal(end) ||
		!v.ExpiringAccess[0].ExpiresAccess {
		t.Errorf("expiring_access %+v, want the removal %s at %v", v.ExpiringAccess, grant.FollowUp, end)
	}
	// helpdesk-b sees its own reset, by the user's id, and nothing of a's.
	vb, err := b.User(bg, h.userID("joe@example.com"), enqueue.UserQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vb.PendingActions) != 1 || vb.PendingActions[0].ID != other.ID || len(vb.ExpiringAccess) != 0 {
		t.Errorf("helpdesk-b: pending %+v expiring %+v, want only %s", vb.PendingActions, vb.ExpiringAccess, other.ID)
	}
	// Denied: no longer pending.
	h.must(a.Deny(bg, "helpdesk-a", susp.ID, tasks.Requester{ID: "agent-7", Role: "security"}))
	h.result(susp.ID)
	if v, err = a.User(bg, "joe@example.com", enqueue.UserQuery{}); err != nil || len(v.PendingActions) != 0 {
		t.Errorf("after the denial: pending %+v (%v)", v.PendingActions, err)
	}
}
