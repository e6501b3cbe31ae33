package worker_test

import (
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

func withPush(u *oktasim.SeedUser) { u.Factors = []string{"push"} }

func resetOf(user string) *tasks.ResetPassword {
	return &tasks.ResetPassword{Request: tasks.Request{User: user, Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}
}

// waitingPushes is the simulator's pushes still waiting for the user.
func (h *harness) waitingPushes() map[string]string {
	out := map[string]string{}
	for _, p := range h.sim.PushTransactions() {
		if p.Result == oktasim.PushWaiting {
			out[p.Login] = p.ID
		}
	}
	return out
}

// TestVerifyPush: with OKTAQ_VERIFY_USER, a reset first pushes to the
// user and waits without holding a worker slot: with concurrency 1, two
// waiting pushes still let a third action run. An approved push performs
// the reset once; rejected and timed out pushes end caller_not_verified
// with no reset.
func TestVerifyPush(t *testing.T) {
	h := newHarness(t, append(withHolds("", "user.reset_password=push", func(o *worker.Options) {
		o.Concurrency, o.PushPoll = 1, 20*time.Millisecond
	}), withUsers(seedUser("pam@example.com", "ACTIVE", withPush), seedUser("rex@example.com", "ACTIVE", withPush),
		seedUser("tim@example.com", "ACTIVE", withPush), seedUser("sue@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	pam := h.must(c.Enqueue(bg, resetOf("pam@example.com"))).ID
	rex := h.must(c.Enqueue(bg, resetOf("rex@example.com"))).ID
	until(t, "two pushes waiting", func() bool { return len(h.waitingPushes()) == 2 })
	if st := h.must(c.Status(bg, pam)); st.State != enqueue.StateAwaitingVerification {
		t.Fatalf("state %q while the push waits, want awaiting_verification", st.State)
	}
	// The one worker slot is free: a third action runs while both wait.
	third := h.result(h.must(c.Enqueue(bg, suspendOf("sue@example.com"))).ID)
	if third.Outcome != tasks.OutcomeSucceeded {
		t.Fatalf("third action: %s", third.Outcome)
	}
	if n := h.calls("POST", "", "/lifecycle/reset_password"); n != 0 {
		t.Fatalf("%d resets before any answer, want 0", n)
	}
	pushes := h.waitingPushes()
	if err := h.sim.AnswerPush(pushes["pam@example.com"], oktasim.PushSuccess); err != nil {
		t.Fatal(err)
	}
	if err := h.sim.AnswerPush(pushes["rex@example.com"], oktasim.PushRejected); err != nil {
		t.Fatal(err)
	}
	res := h.result(pam)
	if res.Outcome != tasks.OutcomeSucceeded || res.Verification == nil || res.Verification.Result != "SUCCESS" || res.Verification.Polls < 1 {
		t.Fatalf("approved push: %s verification %+v", res.Outcome, res.Verification)
	}
	if n := h.calls("POST", h.userID("pam@example.com"), "/lifecycle/reset_password"); n != 1 {
		t.Fatalf("%d resets after an approved push, want 1", n)
	}
	res = h.result(rex)
	if res.Error == nil || res.Error.Code != tasks.CodeCallerNotVerified || res.Verification.Result != "REJECTED" {
		t.Fatalf("rejected push: %s %+v", res.Outcome, res.Error)
	}
	tim := h.must(c.Enqueue(bg, resetOf("tim@example.com"))).ID
	until(t, "tim's push", func() bool { return h.waitingPushes()["tim@example.com"] != "" })
	if err := h.sim.AnswerPush(h.waitingPushes()["tim@example.com"], oktasim.PushTimedOut); err != nil {
		t.Fatal(err)
	}
	if res := h.result(tim); res.Error == nil || res.Error.Code != tasks.CodeCallerNotVerified || res.Verification.Result != "TIMEOUT" {
		t.Fatalf("timed out push: %s %+v", res.Outcome, res.Error)
	}
	for _, u := range []string{"rex@example.com", "tim@example.com"} {
		if n := h.calls("POST", h.userID(u), "/lifecycle/reset_password"); n != 0 {
			t.Fatalf("%s: %d resets without a confirmed caller", u, n)
		}
	}
}

// TestVerifyPushNoFactor: a user without a push factor is refused
// (no_push_factor) under push, and waits for a second person under
// push_or_approval, who can then let it run.
func TestVerifyPushNoFactor(t *testing.T) {
	h := newHarness(t, append(withHolds("user.reset_mfa=security", "user.reset_password=push;user.reset_mfa=push_or_approval", func(o *worker.Options) {
		o.PushPoll = 20 * time.Millisecond
	}), withUsers(seedUser("uma@example.com", "ACTIVE", func(u *oktasim.SeedUser) { u.Factors = []string{"sms"} })))...)
	c := h.producerClient("helpdesk-a", nil)
	res := h.result(h.must(c.Enqueue(bg, resetOf("uma@example.com"))).ID)
	if res.Outcome != tasks.OutcomeRejected || res.Error.Code != tasks.CodeNoPushFactor {
		t.Fatalf("push required, no factor: %s %+v", res.Outcome, res.Error)
	}
	mfa := h.must(c.Enqueue(bg, &tasks.ResetMFA{Request: tasks.Request{User: "uma@example.com", Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}))
	if mfa.State == enqueue.StateAwaitingApproval {
		t.Fatal("push_or_approval waits for approval only once the worker found no push factor")
	}
	until(t, "the fall-back to approval", func() bool {
		return h.must(c.Status(bg, mfa.ID)).State == enqueue.StateAwaitingApproval
	})
	if _, err := c.Approve(bg, "helpdesk-a", mfa.ID, tasks.Requester{ID: "agent-7", Role: "security"}); err != nil {
		t.Fatal(err)
	}
	res = h.result(mfa.ID)
	if res.Outcome != tasks.OutcomeSucceeded || res.Approval == nil || res.Approval.By.ID != "agent-7" {
		t.Fatalf("approved fall-back: %s %+v", res.Outcome, res.Approval)
	}
	if n := h.calls("POST", "", "/verify"); n != 0 {
		t.Fatalf("%d pushes to a user without a push factor", n)
	}
}
