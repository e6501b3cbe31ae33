package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

// byAction collects a receiver's deliveries per action until want (action
// id -> types in order) is met, and checks each action's deliveries came
// in their sequence order, each type once, numbered from 1 (from 2 for an
// action listed in read: its first delivery was read before).
func (r *receiver) byAction(ctx context.Context, want map[string][]string, read ...string) map[string][]delivery {
	r.t.Helper()
	got := map[string][]delivery{}
	done := func() bool {
		for id, types := range want {
			if len(got[id]) < len(types) {
				return false
			}
		}
		return true
	}
	for !done() {
		d := r.next(ctx)
		got[d.Data.ID] = append(got[d.Data.ID], d)
	}
	for id, types := range want {
		var seen []string
		for i, d := range got[id] {
			seen = append(seen, fmt.Sprintf("%s#%d", d.Body.Type, d.Body.Sequence))
			first := int64(1)
			if slices.Contains(read, id) {
				first = 2
			}
			if d.Body.Sequence != first+int64(i) {
				r.t.Errorf("action %s: delivery %d has sequence %d", id, i+1, d.Body.Sequence)
			}
		}
		var gotTypes []string
		for _, d := range got[id] {
			gotTypes = append(gotTypes, d.Body.Type)
		}
		if !slices.Equal(gotTypes, types) {
			r.t.Errorf("action %s: receiver saw %s, want %s", id, strings.Join(seen, " "), strings.Join(types, " "))
		}
	}
	return got
}

// TestCallbacksHeldActions: approvals denied and expired, a cancelled
// scheduled action, a time-bound access and its reminder: the receiver
// sees every state once, in each action's sequence order, with the
// state GET /v1/actions/{id} shows.
func TestCallbacksHeldActions(t *testing.T) {
	rcv := newReceiver(t, 2)
	h := newHarness(t, append(withHolds("user.suspend=security", "", func(o *worker.Options) {
		o.PollInterval = 20 * time.Millisecond
		o.AccessReminder = 2 * time.Hour
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk-a": endpoint(t, rcv.srv.URL)})
	}), withUsers(seedUser("bob@example.com", "ACTIVE"), seedUser("carol@example.com", "ACTIVE"),
		seedUser("dan@example.com", "ACTIVE"), seedUser("ida@example.com", "ACTIVE")))...)
	c := h.producerClient("helpdesk-a", nil)
	quick := h.producerClient("helpdesk-a", func(o *enqueue.Options) { o.ApprovalTTL = time.Millisecond })
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()

	denied := h.must(c.Enqueue(bg, suspendOf("bob@example.com")))
	if denied.State != enqueue.StateAwaitingApproval {
		t.Fatalf("state %q, want awaiting_approval", denied.State)
	}
	d := rcv.next(ctx)
	if d.Body.Type != "action.awaiting_approval" || d.Data.ID != denied.ID || d.Body.Sequence != 1 {
		t.Fatalf("first delivery %s for %s (sequence %d), want action.awaiting_approval for %s", d.Body.Type, d.Data.ID, d.Body.Sequence, denied.ID)
	}
	h.must(c.Deny(bg, "helpdesk-a", denied.ID, tasks.Requester{ID: "agent-7", Role: "security"}))
	// Expired at once: the expiry races the awaiting_approval delivery,
	// which still comes first.
	expired := h.must(quick.Enqueue(bg, suspendOf("carol@example.com")))
	cancelled := h.must(c.Enqueue(bg, &tasks.Unlock{Request: suspendOf("dan@example.com").Request}, enqueue.RunAt(time.Now().Add(time.Hour))))
	h.must(c.Cancel(bg, "helpdesk-a", cancelled.ID, tasks.Requester{ID: "agent-9", Role: "helpdesk"}))
	end := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	granted := h.must(c.Enqueue(bg, grantOf("ida@example.com", end, "Engineering")))
	grant := h.result(granted.ID)

	got := rcv.byAction(ctx, map[string][]string{
		denied.ID:      {"action.denied"}, // the first one was read above
		expired.ID:     {"action.awaiting_approval", "action.expired"},
		cancelled.ID:   {"action.scheduled", "action.cancelled"},
		granted.ID:     {"action.succeeded"},
		grant.FollowUp: {"action.scheduled", "action.expiring"},
	}, denied.ID)
	if d := got[denied.ID][0]; d.Body.Sequence != 2 || d.Data.Result == nil || d.Data.Result.Approval == nil || d.Data.Result.Approval.By.ID != "agent-7" {
		t.Errorf("denied: sequence %d, data %+v", d.Body.Sequence, d.Data)
	}
	for id, want := range map[string]tasks.Outcome{expired.ID: tasks.OutcomeExpired, cancelled.ID: tasks.OutcomeCancelled} {
		last := got[id][len(got[id])-1]
		if last.Data.Result == nil || last.Data.Result.Outcome != want || last.Data.State != "completed" {
			t.Errorf("action %s: last delivery %+v, want outcome %s completed", id, last.Data, want)
		}
	}
	if d := got[cancelled.ID][0]; d.Data.State != "scheduled" {
		t.Errorf("scheduled delivery in state %q", d.Data.State)
	}
	remind := got[grant.FollowUp][1]
	if remind.Data.State != "scheduled" || !strings.Contains(string(remind.Raw), `"at":"`+end.UTC().Format(time.RFC3339Nano)) ||
		!strings.Contains(string(remind.Raw), string(tasks.CodeAccessExpiring)) {
		t.Errorf("reminder %s", remind.Raw)
	}
	// Extending the access re-arms the reminder: a second one, numbered
	// after the first.
	h.must(c.Reschedule(bg, "helpdesk-a", grant.FollowUp, time.Now().Add(90*time.Minute)))
	if d := rcv.next(ctx); d.Body.Type != "action.expiring" || d.Data.ID != grant.FollowUp || d.Body.Sequence != 3 {
		t.Errorf("after the extension: %s for %s (sequence %d), want the second action.expiring (3)", d.Body.Type, d.Data.ID, d.Body.Sequence)
	}
	if rcv.badSigs != 0 {
		t.Errorf("%d deliveries with a bad signature", rcv.badSigs)
	}
	// The sequence lives past the removal's end (due in 90 minutes) and
	// the delivery's 49 hours, so a later state is numbered after it.
	if ttl := h.redis.Client.TTL(bg, tasks.CallbackSeqKey(grant.FollowUp)).Val(); ttl < 50*time.Hour || ttl > 51*time.Hour {
		t.Errorf("sequence TTL of the removal %v, want about 50.5h", ttl)
	}
}

// TestCallbacksVerification: a push to the user is called back as
// action.awaiting_verification, a user without a push factor falling
// back to approval as action.awaiting_approval (decided in a worker,
// not at enqueue), each before the outcome.
func TestCallbacksVerification(t *testing.T) {
	rcv := newReceiver(t, 0)
	h := newHarness(t, append(withHolds("user.reset_mfa=security", "user.reset_password=push;user.reset_mfa=push_or_approval", func(o *worker.Options) {
		o.PollInterval, o.PushPoll = 20*time.Millisecond, 20*time.Millisecond
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk-a": endpoint(t, rcv.srv.URL)})
	}), withUsers(seedUser("pam@example.com", "ACTIVE", withPush),
		seedUser("uma@example.com", "ACTIVE", func(u *oktasim.SeedUser) { u.Factors = []string{"sms"} })))...)
	c := h.producerClient("helpdesk-a", nil)
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	pam := h.must(c.Enqueue(bg, resetOf("pam@example.com"))).ID
	mfa := h.must(c.Enqueue(bg, &tasks.ResetMFA{Request: tasks.Request{User: "uma@example.com", Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"}}})).ID
	first := rcv.byAction(ctx, map[string][]string{pam: {"action.awaiting_verification"}, mfa: {"action.awaiting_approval"}})
	if d := first[pam][0]; d.Data.State != "awaiting_verification" || !strings.Contains(string(d.Raw), string(tasks.CodeAwaitingVerification)) {
		t.Errorf("push delivery %s", d.Raw)
	}
	if d := first[mfa][0]; d.Data.State != "awaiting_approval" || !strings.Contains(string(d.Raw), string(tasks.CodeNoPushFactor)) {
		t.Errorf("fall-back delivery %s", d.Raw)
	}
	until(t, "the push waiting", func() bool { return h.waitingPushes()["pam@example.com"] != "" })
	if err := h.sim.AnswerPush(h.waitingPushes()["pam@example.com"], oktasim.PushSuccess); err != nil {
		t.Fatal(err)
	}
	h.must(c.Approve(bg, "helpdesk-a", mfa, tasks.Requester{ID: "agent-7", Role: "security"}))
	for range 2 {
		d := rcv.next(ctx)
		if d.Body.Type != "action.succeeded" || d.Body.Sequence != 2 || (d.Data.ID != pam && d.Data.ID != mfa) {
			t.Errorf("delivery %s for %s (sequence %d), want action.succeeded #2", d.Body.Type, d.Data.ID, d.Body.Sequence)
		}
	}
}
