package worker_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

const (
	hookSecret       = "event-hook-secret-3c9a7f21"
	hookClientID     = "oktaq-hooks"
	hookClientSecret = "hooks-client-secret-5b1e"
)

// withHookClient seeds a client that may manage event hooks.
func withHookClient() option {
	return func(h *harness) {
		h.simSeed.Clients = append(h.simSeed.Clients, oktasim.SeedClient{ClientID: hookClientID, ClientSecret: hookClientSecret,
			Scopes: append(slices.Clone(allScopes), okta.ScopeEventHooks)})
	}
}

// loop is the whole closed loop in one test: the API receiving Okta's
// event hooks, the hook registered through Okta's API, a worker with
// callbacks and confirmations, and a producer's callback receiver.
type loop struct {
	*harness
	api     *enqueue.Client
	apiSrv  *httptest.Server
	rcv     *receiver
	seen    map[string][]delivery // by action id, in arrival order, deduplicated by webhook-id
	ids     map[string]bool
	changed []delivery // user.changed
}

func newLoop(t *testing.T, users ...oktasim.SeedUser) *loop {
	h := newHarness(t, withUsers(users...), withHookClient())
	policy := h.conn.Policy
	l := &loop{harness: h, seen: map[string][]delivery{}, ids: map[string]bool{}}
	l.api = enqueue.New(h.redis.Opt, enqueue.Options{Keyring: h.keyring, Connections: map[string]*tasks.Policy{"default": &policy}})
	t.Cleanup(func() { l.api.Close() })
	l.apiSrv = httptest.NewServer(enqueue.NewAPI(l.api, nil, enqueue.APIOptions{EventHookSecret: hookSecret}))
	t.Cleanup(l.apiSrv.Close)
	l.rcv = newReceiver(t, 3)
	return l
}

// register creates, verifies and activates the hook the way
// `oktaq hooks register` does.
func (l *loop) register(ctx context.Context) okta.EventHook {
	l.t.Helper()
	conn := &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: append(slices.Clone(allScopes), okta.ScopeEventHooks), Roles: l.conn.Policy.Roles},
		BaseURL: l.srv.URL, Credentials: okta.Credentials{ClientID: hookClientID, ClientSecret: hookClientSecret}}
	lim, err := ratelimit.New(l.redis.Client, ratelimit.DefaultConfig())
	if err != nil {
		l.t.Fatal(err)
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: l.redis.Client, Limiter: lim})
	if err != nil {
		l.t.Fatal(err)
	}
	hook, err := exec.RegisterEventHook(ctx, "oktaq", l.apiSrv.URL+"/v1/okta/events/default", okta.Secret(hookSecret))
	if err != nil {
		l.t.Fatal(err)
	}
	hooks, err := exec.ListEventHooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].ID != hook.ID {
		l.t.Fatalf("list after register: %v %+v", err, hooks)
	}
	return hook
}

// until reads deliveries until every action has the types wanted, in
// order.
func (l *loop) until(ctx context.Context, want map[string][]string) {
	l.t.Helper()
	done := func() bool {
		for id, types := range want {
			if len(l.seen[id]) < len(types) {
				return false
			}
		}
		return true
	}
	for !done() {
		d := l.rcv.next(ctx)
		if l.ids[d.ID] {
			continue // at least once: a receiver dedupes on webhook-id
		}
		l.ids[d.ID] = true
		if d.Body.Type == worker.CallbackUserChanged {
			l.changed = append(l.changed, d)
			continue
		}
		l.seen[d.Data.ID] = append(l.seen[d.Data.ID], d)
	}
	for id, types := range want {
		var got []string
		var seqs []int64
		for _, d := range l.seen[id] {
			got = append(got, d.Body.Type)
			seqs = append(seqs, d.Body.Sequence)
		}
		if !slices.Equal(got, types) || !slices.IsSorted(seqs) {
			l.t.Errorf("action %s: deliveries %v with sequence %v, want %v in order", id, got, seqs, types)
		}
	}
}

// waitConfirmation returns once the action's confirmation has settled.
func (l *loop) waitConfirmation(ctx context.Context, id string) {
	l.t.Helper()
	for ctx.Err() == nil {
		info, err := l.api.Status(ctx, id)
		if err == nil && info.Result != nil && info.Result.Confirmation != nil && info.Result.Confirmation.State == tasks.ConfirmationConfirmed {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.t.Fatalf("action %s not confirmed", id)
}

func TestLoopEndToEnd(t *testing.T) {
	l := newLoop(t,
		oktasim.SeedUser{Login: "alice@example.com", Status: "ACTIVE"},
		oktasim.SeedUser{Login: "bob@example.com", Status: "ACTIVE", Factors: []string{"sms", "push"}},
		oktasim.SeedUser{Login: "carol@example.com", Status: "ACTIVE", Sessions: 2},
		oktasim.SeedUser{Login: "dave@example.com", Status: "SUSPENDED"},
		oktasim.SeedUser{Login: "erin@example.com", Status: "ACTIVE", Password: true},
		oktasim.SeedUser{Login: "niaj@example.com", Status: "ACTIVE"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hook := l.register(ctx)
	if hook.Status != "ACTIVE" || hook.Verification != "VERIFIED" || !slices.Contains(hook.Events, "user.lifecycle.suspend") {
		t.Fatalf("registered hook %+v", hook)
	}
	l.restart(func(o *worker.Options) {
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk": endpoint(t, l.rcv.srv.URL)})
		o.Confirm = &worker.ConfirmOptions{Timeout: time.Hour, Recheck: 10 * time.Millisecond}
	})
	// Okta sends the events newest first, and every second one twice.
	l.sim.SetEventHookOptions(oktasim.EventHookOptions{Reverse: true, DuplicateEvery: 2})

	groups := &tasks.UpdateGroups{Request: producerRequest("helpdesk", "niaj@example.com")}
	groups.Groups.Add = []string{"Engineering", "Engineering-Admins"}
	confirmed := []string{
		l.enqueue(&tasks.Suspend{Request: producerRequest("helpdesk", "alice@example.com")}),
		l.enqueue(&tasks.ResetMFA{Request: producerRequest("helpdesk", "bob@example.com")}),
		l.enqueue(&tasks.ClearSessions{Request: producerRequest("helpdesk", "carol@example.com")}),
		l.enqueue(&tasks.Unsuspend{Request: producerRequest("helpdesk", "dave@example.com")}),
		l.enqueue(groups),
	}
	expire := l.enqueue(&tasks.ExpirePassword{Request: producerRequest("helpdesk", "erin@example.com")})
	// The producer's receiver is down (500) until every action is done and
	// confirmed, so that both deliveries of each action are due together:
	// they must still arrive in order.
	l.rcv.setDown(true)
	for _, id := range append(slices.Clone(confirmed), expire) {
		l.wait(id)
	}
	if n := l.sim.DeliverEvents(ctx); n == 0 {
		t.Fatal("the simulator delivered no events")
	}
	for _, id := range confirmed {
		l.waitConfirmation(ctx, id)
	}
	l.rcv.setDown(false)
	want := map[string][]string{expire: {"action.succeeded"}}
	for _, id := range confirmed {
		want[id] = []string{"action.succeeded", "action.confirmed"}
	}
	l.until(ctx, want)

	// Each action's confirmation is the event of its own call.
	events := map[string]oktasim.LogEvent{}
	for _, e := range l.sim.Events() {
		events[e.UUID] = e
	}
	for _, id := range confirmed {
		info, err := l.api.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c := info.Result.Confirmation
		if c == nil || c.State != tasks.ConfirmationConfirmed {
			t.Errorf("action %s: confirmation %+v, want confirmed", id, c)
			continue
		}
		ev, ok := events[c.EventID]
		if !ok || !slices.Contains(info.Result.Okta.RequestIDs, ev.DebugContext.DebugData["requestId"]) || !c.At.Equal(ev.Published) {
			t.Errorf("action %s confirmed by %s (%+v), which is not the event of its calls %v", id, c.EventID, ev, info.Result.Okta.RequestIDs)
		}
		if last := l.seen[id][1].Data.Result; last == nil || last.Confirmation == nil || last.Confirmation.EventID != c.EventID {
			t.Errorf("action %s: the action.confirmed callback carries %+v", id, last)
		}
	}
	if info, _ := l.api.Status(ctx, expire); info.Result.Confirmation == nil || info.Result.Confirmation.State != tasks.ConfirmationNotApplicable {
		t.Errorf("expire_password confirmation %+v, want not_applicable (no hook event)", info.Result.Confirmation)
	}
	// The duplicate and the out-of-order deliveries changed nothing.
	sent := map[string]int{}
	for _, d := range l.sim.HookDeliveries() {
		for _, u := range d.EventIDs {
			sent[u]++
		}
	}
	dups := 0
	for _, n := range sent {
		dups += n - 1
	}
	if dups == 0 {
		t.Error("the simulator sent no event twice; the test proves nothing about duplicates")
	}
	if got := testutil.ToFloat64(counter(l.harness, "oktaq_confirmations_total", "user.suspend", "confirmed")); got != 1 {
		t.Errorf("confirmations_total{user.suspend,confirmed} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(counter(l.harness, "oktaq_confirmations_total", "user.expire_password", "not_applicable")); got != 1 {
		t.Errorf("confirmations_total{user.expire_password,not_applicable} = %v, want 1", got)
	}

	// An action whose event does not come in time is unconfirmed; the
	// late event still confirms it.
	l.sim.SetEventHookOptions(oktasim.EventHookOptions{Hold: true})
	l.restart(func(o *worker.Options) {
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk": endpoint(t, l.rcv.srv.URL)})
		o.Confirm = &worker.ConfirmOptions{Timeout: 50 * time.Millisecond, Recheck: 10 * time.Millisecond}
	})
	late := l.enqueue(&tasks.Suspend{Request: producerRequest("helpdesk", "niaj@example.com")})
	l.until(ctx, map[string][]string{late: {"action.succeeded", "action.unconfirmed"}})
	if got := testutil.ToFloat64(counter(l.harness, "oktaq_confirmations_total", "user.suspend", "unconfirmed")); got != 1 {
		t.Errorf("confirmations_total{user.suspend,unconfirmed} = %v, want 1", got)
	}
	if info, _ := l.api.Status(ctx, late); info.Result.Confirmation.State != tasks.ConfirmationUnconfirmed {
		t.Errorf("late action: confirmation %+v, want unconfirmed", info.Result.Confirmation)
	}
	l.sim.SetEventHookOptions(oktasim.EventHookOptions{})
	l.sim.DeliverEvents(ctx)
	l.until(ctx, map[string][]string{late: {"action.succeeded", "action.unconfirmed", "action.confirmed"}})

	// An admin suspends bob in the console: no action of ours did it, so
	// the producer that acted on bob hears of it as user.changed.
	if !l.sim.ConsoleSuspend("bob@example.com") {
		t.Fatal("console suspend refused")
	}
	l.sim.DeliverEvents(ctx)
	for len(l.changed) == 0 {
		d := l.rcv.next(ctx)
		if l.ids[d.ID] {
			continue
		}
		l.ids[d.ID] = true
		if d.Body.Type == worker.CallbackUserChanged {
			l.changed = append(l.changed, d)
		}
	}
	bob, _ := l.sim.User("bob@example.com")
	if raw := string(l.changed[0].Raw); !containsAll(raw, bob.ID, "user.lifecycle.suspend", "bob@example.com") {
		t.Errorf("user.changed body %s", raw)
	}
	if l.rcv.badSigs != 0 {
		t.Errorf("%d callbacks with a bad signature", l.rcv.badSigs)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
