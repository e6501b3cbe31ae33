package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// restart replaces the harness's worker with one configured by mod (on
// top of the harness's own options).
func (h *harness) restart(mod func(*worker.Options)) {
	h.t.Helper()
	h.stopWorker()
	prev := h.workerOpts
	h.workerOpts = func(o *worker.Options) {
		o.PollInterval = 20 * time.Millisecond
		if prev != nil {
			prev(o)
		}
		mod(o)
	}
	h.start()
}

// delivery is one request a receiver accepted.
type delivery struct {
	ID   string
	Body worker.CallbackBody
	Data worker.ActionView
	Raw  []byte
}

// receiver is a producer's callback endpoint: it verifies every request's
// signature, answers 500 to the first failFirst requests, and records what
// it accepted.
type receiver struct {
	t         *testing.T
	signer    *worker.WebhookSigner
	mu        sync.Mutex
	failFirst int
	requests  int
	badSigs   int
	got       []delivery
	ch        chan delivery
	hang      chan struct{} // when set, every request blocks on it
	down      bool          // answer 500 to everything while set
	srv       *httptest.Server
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	s, err := worker.NewWebhookSigner(testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, signer: s, failFirst: failFirst, ch: make(chan delivery, 1000)}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.hang != nil {
		<-r.hang
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	// A receiver checks the timestamp against its own clock; the worker's
	// is the real one here.
	if err := r.signer.Verify(req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.badSigs++
		r.t.Errorf("delivery %s: %v", req.Header.Get("webhook-id"), err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.requests <= r.failFirst || r.down {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	d := delivery{ID: req.Header.Get("webhook-id"), Raw: body}
	var raw struct {
		worker.CallbackBody
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		r.t.Errorf("delivery body: %v", err)
	}
	d.Body = raw.CallbackBody
	_ = json.Unmarshal(raw.Data, &d.Data)
	r.got = append(r.got, d)
	w.WriteHeader(http.StatusNoContent)
	r.ch <- d
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// next returns the next accepted delivery.
func (r *receiver) next(ctx context.Context) delivery {
	r.t.Helper()
	select {
	case d := <-r.ch:
		return d
	case <-ctx.Done():
		r.t.Fatalf("no delivery: %v", ctx.Err())
		return delivery{}
	}
}

func endpoint(t *testing.T, rawURL string) worker.CallbackEndpoint {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := worker.NewWebhookSigner(testWebhookSecret)
	return worker.CallbackEndpoint{URL: u, Signer: s}
}

func fastCallbacks(eps map[string]worker.CallbackEndpoint) *worker.CallbackOptions {
	return &worker.CallbackOptions{Endpoints: eps, Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond, Timeout: time.Minute}
}

// producerRequest is request(user) enqueued by producer.
func producerRequest(producer, user string) tasks.Request {
	r := request(user)
	r.Producer = producer
	return r
}

// A receiver failing its first requests still gets every outcome, each
// signed, with the data GET /v1/actions/{id} shows.
func TestCallbacksDeliverEveryOutcomeDespite500s(t *testing.T) {
	h := newHarness(t, withUsers(
		oktasim.SeedUser{Login: "alice@example.com", Status: "ACTIVE"},
		oktasim.SeedUser{Login: "bob@example.com", Status: "SUSPENDED"},
		oktasim.SeedUser{Login: "carol@example.com", Status: "SUSPENDED"}))
	rcv := newReceiver(t, 3)
	h.restart(func(o *worker.Options) {
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk": endpoint(t, rcv.srv.URL)})
	})
	nobody := producerRequest("helpdesk", "alice@example.com")
	nobody.Requester.Role = "nobody"
	want := map[string]string{
		h.enqueue(&tasks.Suspend{Request: producerRequest("helpdesk", "alice@example.com")}):  "action.succeeded",
		h.enqueue(&tasks.Suspend{Request: producerRequest("helpdesk", "bob@example.com")}):    "action.no_op",
		h.enqueue(&tasks.Suspend{Request: producerRequest("helpdesk", "nobody@example.com")}): "action.failed",
		h.enqueue(&tasks.Unlock{Request: nobody}):                                             "action.rejected",
	}
	// Another producer's action, and one without a producer: no callback.
	h.enqueue(&tasks.Unsuspend{Request: producerRequest("other", "carol@example.com")})
	h.enqueue(&tasks.ExpirePassword{Request: request("carol@example.com")})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := map[string]delivery{}
	for len(seen) < len(want) {
		d := rcv.next(ctx)
		if prev, dup := seen[d.Data.ID]; dup && prev.ID != d.ID {
			t.Errorf("action %s delivered under two ids %s and %s", d.Data.ID, prev.ID, d.ID)
		}
		seen[d.Data.ID] = d
	}
	for id, typ := range want {
		d := seen[id]
		if d.Body.Type != typ {
			t.Errorf("action %s: type %s, want %s", id, d.Body.Type, typ)
		}
		info := h.wait(id)
		var res tasks.Result
		if err := json.Unmarshal(info.Result, &res); err != nil {
			t.Fatal(err)
		}
		if d.Data.Result == nil || d.Data.Result.Outcome != res.Outcome || "action."+string(res.Outcome) != typ ||
			d.Data.Action != string(res.Action) || d.Data.Attempts != res.Attempts {
			t.Errorf("action %s: delivered %+v, task result %+v", id, d.Data, res)
		}
		wantState := "completed"
		if res.Outcome == tasks.OutcomeFailed || res.Outcome == tasks.OutcomeRejected {
			wantState = "archived"
		}
		if d.Data.State != wantState || d.Body.Sequence != 1 {
			t.Errorf("action %s: state %s sequence %d, want %s and 1", id, d.Data.State, d.Body.Sequence, wantState)
		}
	}
	if f := testutil.ToFloat64(counter(h, "oktaq_callback_deliveries_total", "failed", "helpdesk") /* labels by name: outcome, producer */); f < 3 {
		t.Errorf("failed deliveries counted %v, want at least the 3 refused", f)
	}
	if rcv.badSigs != 0 {
		t.Errorf("%d deliveries with a bad signature", rcv.badSigs)
	}
}

// A dead receiver holds only its own deliveries: actions and another
// producer's deliveries go on.
func TestCallbacksDeadReceiverDelaysNothingElse(t *testing.T) {
	var users []oktasim.SeedUser
	for _, n := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		users = append(users, oktasim.SeedUser{Login: n + "@example.com", Status: "ACTIVE"})
	}
	h := newHarness(t, withUsers(users...))
	dead, live := newReceiver(t, 0), newReceiver(t, 0)
	dead.hang = make(chan struct{})
	t.Cleanup(func() { close(dead.hang) })
	h.restart(func(o *worker.Options) {
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{
			"dead": endpoint(t, dead.srv.URL), "live": endpoint(t, live.srv.URL)})
	})
	var ids []string
	for _, u := range users[:3] {
		ids = append(ids, h.enqueue(&tasks.Suspend{Request: producerRequest("dead", u.Login)}))
	}
	for _, u := range users[3:] {
		ids = append(ids, h.enqueue(&tasks.Suspend{Request: producerRequest("live", u.Login)}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		if d := live.next(ctx); d.Body.Type != "action.succeeded" {
			t.Errorf("live got %s", d.Body.Type)
		}
	}
	for _, id := range ids {
		h.wait(id)
	}
	// A further action still runs while the dead receiver holds its slot.
	extra := h.enqueue(&tasks.Unsuspend{Request: request("u1@example.com")})
	h.wait(extra)
}

// A redirect is a failure, never followed.
func TestCallbacksDoNotFollowRedirects(t *testing.T) {
	h := newHarness(t, withUsers(oktasim.SeedUser{Login: "alice@example.com", Status: "ACTIVE"}))
	target := newReceiver(t, 0)
	redirects := make(chan struct{}, 100)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirects <- struct{}{}
		http.Redirect(w, r, target.srv.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	h.restart(func(o *worker.Options) {
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk": endpoint(t, redirector.URL)})
	})
	h.enqueue(&tasks.Suspend{Request: producerRequest("helpdesk", "alice@example.com")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 { // three attempts, each answered by a redirect
		select {
		case <-redirects:
		case <-ctx.Done():
			t.Fatal("the delivery stopped after a redirect: it was followed and succeeded")
		}
	}
	h.stopWorker()
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.requests != 0 {
		t.Errorf("the redirect was followed: the target got %d requests", target.requests)
	}
}

func TestParseCallbackConfig(t *testing.T) {
	cases := []struct {
		urls      string
		allowHTTP bool
		wantErr   string
	}{
		{"helpdesk=https://tickets.example.com/hooks/oktaq", false, ""},
		{"a=https://a.example.com/x; b=https://b.example.com/y", false, ""},
		{"helpdesk=http://tickets.example.com/hooks", true, "only to a loopback"},
		{"helpdesk=http://127.0.0.1:9000/hooks", false, "OKTAQ_CALLBACK_ALLOW_HTTP"},
		{"helpdesk=http://127.0.0.1:9000/hooks", true, ""},
		{"helpdesk=http://[::1]:9000/hooks", true, ""},
		{"helpdesk=https://user:pw@tickets.example.com/", false, "user or password"},
		{"helpdesk=ftp://tickets.example.com/", false, `scheme "ftp"`},
		{"helpdesk=/relative", false, "not absolute"},
		{"helpdesk", false, "not producer="},
		{"a=https://a.example.com;a=https://b.example.com", false, "listed twice"},
	}
	for _, c := range cases {
		_, err := worker.ParseCallbackURLs(c.urls, c.allowHTTP)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("ParseCallbackURLs(%q, %v) = %v, want error containing %q", c.urls, c.allowHTTP, err, c.wantErr)
		}
	}
	urls, _ := worker.ParseCallbackURLs("a=https://a.example.com;b=https://b.example.com", false)
	secrets, err := worker.ParseCallbackSecrets("a=" + testWebhookSecret + ";c=" + testWebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	_, err = worker.CallbackEndpoints(urls, secrets)
	if err == nil || !strings.Contains(err.Error(), `"b" has a callback URL but no secret`) || !strings.Contains(err.Error(), `"c" has a callback secret but no URL`) {
		t.Errorf("CallbackEndpoints = %v", err)
	}
	if _, err := worker.ParseCallbackSecrets("a=whsec_dG9vc2hvcnQ="); err == nil || strings.Contains(err.Error(), "dG9vc2hvcnQ") {
		t.Errorf("short secret: %v", err)
	}
}

// counter reads one series of a counter vector from the harness registry;
// labels are given in the order of their names.
func counter(h *harness, name string, labels ...string) prometheus.Collector {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := len(m.GetLabel()) == len(labels)
			for i, l := range m.GetLabel() {
				if match && l.GetValue() != labels[i] {
					match = false
				}
			}
			if match {
				g.Set(m.GetCounter().GetValue())
			}
		}
	}
	return g
}

// An action accepted for later is called back as action.scheduled.
func TestCallbacksScheduled(t *testing.T) {
	h := newHarness(t, withUsers(oktasim.SeedUser{Login: "alice@example.com", Status: "ACTIVE"}))
	rcv := newReceiver(t, 0)
	h.restart(func(o *worker.Options) {
		o.Callbacks = fastCallbacks(map[string]worker.CallbackEndpoint{"helpdesk": endpoint(t, rcv.srv.URL)})
	})
	policy := h.conn.Policy
	c := enqueue.New(h.redis.Opt, enqueue.Options{Keyring: h.keyring, Producer: "helpdesk", Producers: testProducers,
		Connections: map[string]*tasks.Policy{"default": &policy}})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := producerRequest("helpdesk", "alice@example.com")
	req.Producer = "" // the client sets it
	info, err := c.Enqueue(ctx, &tasks.Suspend{Request: req}, enqueue.After(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := rcv.next(ctx)
	if d.Body.Type != "action.scheduled" || d.Data.ID != info.ID || d.Data.State != "scheduled" || d.Body.Sequence != 1 {
		t.Errorf("delivery %s for %s in state %s (sequence %d), want action.scheduled for %s in state scheduled",
			d.Body.Type, d.Data.ID, d.Data.State, d.Body.Sequence, info.ID)
	}
}
