package worker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

func holdCode(err error) tasks.Code {
	var he *enqueue.HoldError
	if errors.As(err, &he) {
		return he.Code
	}
	return ""
}

// TestApprovalFourEyes: an action listed in OKTAQ_APPROVALS waits with
// no Okta call; the requester cannot approve it, nor a role that may not
// approve, nor another producer; a right approver sends it on and it is
// performed exactly once, with the approver in the result and the audit
// line; a second approval is refused.
func TestApprovalFourEyes(t *testing.T) {
	h := newHarness(t, append(withHolds("user.suspend=security|auditor", "", nil), withUsers(seedUser("alice@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	other := h.producerClient("helpdesk-b", nil)
	info := h.must(c.Enqueue(bg, &tasks.Suspend{Request: tasks.Request{User: "alice@example.com",
		Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}))
	if info.State != enqueue.StateAwaitingApproval || info.ApprovalExpiresAt.IsZero() {
		t.Fatalf("state %q expires %v, want awaiting_approval with an expiry", info.State, info.ApprovalExpiresAt)
	}
	got := h.must(c.Status(bg, info.ID))
	if got.State != enqueue.StateAwaitingApproval {
		t.Fatalf("GET state %q, want awaiting_approval", got.State)
	}
	for _, tc := range []struct {
		name     string
		client   *enqueue.Client
		approver tasks.Requester
		code     tasks.Code
	}{
		{"requester", c, tasks.Requester{ID: "agent-42", Role: "security"}, tasks.CodeSelfApproval},
		{"wrong role", c, tasks.Requester{ID: "agent-7", Role: "it-admin"}, tasks.CodeApproverRole},
	} {
		_, err := tc.client.Approve(bg, "helpdesk-a", info.ID, tc.approver)
		if holdCode(err) != tc.code {
			t.Errorf("%s: err %v, want code %s", tc.name, err, tc.code)
		}
	}
	if _, err := other.Approve(bg, "helpdesk-b", info.ID, tasks.Requester{ID: "agent-7", Role: "helpdesk"}); !errors.Is(err, enqueue.ErrNotFound) {
		t.Errorf("another producer's approval: %v, want not found", err)
	}
	var pn *tasks.ProducerNotAllowedError
	if _, err := c.Approve(bg, "helpdesk-a", info.ID, tasks.Requester{ID: "agent-7", Role: "auditor"}); !errors.As(err, &pn) {
		t.Errorf("an approving role the producer may not assert: %v, want producer_role_not_allowed", err)
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Fatalf("%d Okta calls while awaiting approval, want 0", n)
	}
	uid := h.userID("alice@example.com")
	if _, err := c.Approve(bg, "helpdesk-a", info.ID, tasks.Requester{ID: "agent-7", Role: "security"}); err != nil {
		t.Fatal(err)
	}
	res := h.result(info.ID)
	if res.Outcome != tasks.OutcomeSucceeded || res.Approval == nil || res.Approval.By.ID != "agent-7" || res.Approval.By.Role != "security" {
		t.Fatalf("result %+v approval %+v, want succeeded approved by agent-7 (security)", res, res.Approval)
	}
	if n := h.calls("POST", uid, "/lifecycle/suspend"); n != 1 {
		t.Fatalf("%d suspend calls, want exactly 1", n)
	}
	if _, err := c.Approve(bg, "helpdesk-a", info.ID, tasks.Requester{ID: "agent-8", Role: "security"}); holdCode(err) != tasks.CodeNotAwaitingApproval {
		t.Errorf("second approval: %v, want not_awaiting_approval", err)
	}
	if !strings.Contains(h.logs.String(), `"approver":{"id":"agent-7","role":"security","verdict":"approve"}`) {
		t.Errorf("no audit line names the approver:\n%s", h.logs.String())
	}
}

// TestApprovalDeniedAndExpired: deny ends the action denied, expiry ends
// it expired; neither calls Okta.
func TestApprovalDeniedAndExpired(t *testing.T) {
	h := newHarness(t, append(withHolds("user.suspend=security", "", nil),
		withUsers(seedUser("bob@example.com", "ACTIVE"), seedUser("carol@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	req := func(user string) tasks.Request {
		return tasks.Request{User: user, Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}
	}
	denied := h.must(c.Enqueue(bg, &tasks.Suspend{Request: req("bob@example.com")}))
	if _, err := c.Deny(bg, "helpdesk-a", denied.ID, tasks.Requester{ID: "agent-7", Role: "security"}); err != nil {
		t.Fatal(err)
	}
	res := h.result(denied.ID)
	if res.Outcome != tasks.OutcomeDenied || res.Error.Code != tasks.CodeDenied || res.Approval.By.ID != "agent-7" {
		t.Fatalf("denied: %+v %+v", res, res.Error)
	}
	// An expiry of a millisecond: due at once, expired when it runs.
	quick := h.producerClient("helpdesk-a", func(o *enqueue.Options) { o.ApprovalTTL = time.Millisecond })
	expired := h.must(quick.Enqueue(bg, &tasks.Suspend{Request: req("carol@example.com")}))
	res = h.result(expired.ID)
	if res.Outcome != tasks.OutcomeExpired || res.Error.Code != tasks.CodeApprovalExpired {
		t.Fatalf("expired: %+v %+v", res, res.Error)
	}
	if _, err := c.Approve(bg, "helpdesk-a", expired.ID, tasks.Requester{ID: "agent-7", Role: "security"}); holdCode(err) != tasks.CodeNotAwaitingApproval {
		t.Errorf("approval after expiry: %v, want not_awaiting_approval", err)
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Fatalf("%d Okta calls for denied and expired actions, want 0", n)
	}
}

// TestApproveRacesExpiry: approvals from several goroutines race the
// worker's expiry of the same action, on many actions; each is performed
// at most once (counted in the simulator's log), exactly when an
// approval won, and at most one approval wins.
func TestApproveRacesExpiry(t *testing.T) {
	const n = 24
	var users []oktasim.SeedUser
	for i := range n {
		users = append(users, seedUser(fmt.Sprintf("race%d@example.com", i), "ACTIVE"))
	}
	h := newHarness(t, append(withHolds("user.suspend=security", "", nil), withUsers(users...))...)
	// Expiry is due almost at once: the worker expires while approvals
	// arrive.
	c := h.producerClient("helpdesk-a", func(o *enqueue.Options) { o.ApprovalTTL = 40 * time.Millisecond })
	ids := make([]string, n)
	won := make([]atomic.Int32, n)
	var wg sync.WaitGroup
	for i := range n {
		info := h.must(c.Enqueue(bg, &tasks.Suspend{Request: tasks.Request{User: fmt.Sprintf("race%d@example.com", i),
			Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}}))
		ids[i] = info.ID
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i%6*30+g*10) * time.Millisecond) // spread, not asserted
				_, err := c.Approve(bg, "helpdesk-a", info.ID, tasks.Requester{ID: fmt.Sprintf("agent-%d", g), Role: "security"})
				switch code := holdCode(err); {
				case err == nil:
					won[i].Add(1)
				case code == tasks.CodeApprovalExpired, code == tasks.CodeNotAwaitingApproval:
				default:
					t.Errorf("approve %d: %v", i, err)
				}
			}()
		}
	}
	wg.Wait()
	approved, expired := 0, 0
	for i, id := range ids {
		res := h.result(id)
		calls := h.calls("POST", h.userID(fmt.Sprintf("race%d@example.com", i)), "/lifecycle/suspend")
		w := won[i].Load()
		switch {
		case w > 1:
			t.Errorf("action %d: %d approvals won, want at most 1", i, w)
		case calls > 1:
			t.Errorf("action %d: %d suspend calls, want at most 1", i, calls)
		case w == 1 && (res.Outcome != tasks.OutcomeSucceeded || calls != 1):
			t.Errorf("action %d approved but %s with %d calls", i, res.Outcome, calls)
		case w == 0 && (res.Outcome != tasks.OutcomeExpired || calls != 0):
			t.Errorf("action %d not approved but %s with %d calls", i, res.Outcome, calls)
		}
		if w == 1 {
			approved++
		} else {
			expired++
		}
	}
	t.Logf("%d approved, %d expired", approved, expired)
}

// TestApprovalCheckedByWorker: a task that needs approval and comes
// without one (written to Redis by other means than the API), or with an
// approval forged in its hold, is refused with no Okta call.
func TestApprovalCheckedByWorker(t *testing.T) {
	h := newHarness(t, append(withHolds("user.suspend=security", "", nil),
		withUsers(seedUser("kim@example.com", "ACTIVE"), seedUser("lou@example.com", "ACTIVE")))...)
	kim := suspendOf("kim@example.com")
	kim.Producer = "helpdesk-a"
	bare := h.enqueue(kim)
	if res := h.result(bare); res.Outcome != tasks.OutcomeRejected || res.Error.Code != tasks.CodeApprovalRequired {
		t.Fatalf("no approval: %s %+v", res.Outcome, res.Error)
	}
	forged := tasks.Decision{TaskID: "x", Verdict: tasks.VerdictApprove, By: tasks.Requester{ID: "agent-7", Role: "security"},
		Producer: "helpdesk-a", At: time.Now(), KeyID: "k1", MAC: "AAAA"}
	r := suspendOf("lou@example.com")
	r.Producer = "helpdesk-a"
	id := h.enqueue(r, asynq.ProcessIn(time.Hour))
	forged.TaskID = id
	b, _ := json.Marshal(forged)
	if err := h.redis.Client.HSet(bg, tasks.HoldKey(id), tasks.HoldApproval, tasks.ApprovalApproved, tasks.HoldDecision, string(b)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := h.inspect.RunTask(tasks.QueueCritical, id); err != nil {
		t.Fatal(err)
	}
	if res := h.result(id); res.Outcome != tasks.OutcomeRejected || res.Error.Code != tasks.CodeSignature {
		t.Fatalf("forged approval: %s %+v", res.Outcome, res.Error)
	}
	if n := h.oktaUserCalls(); n != 0 {
		t.Fatalf("%d Okta calls, want 0", n)
	}
}
