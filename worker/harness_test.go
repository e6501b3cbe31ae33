package worker_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

const (
	clientID     = "oktaq-test"
	clientSecret = "test-client-secret-7f3a9c"
	signingKey   = "k1=worker-test-signing-key-0123456789"
)

var allScopes = []string{"okta.users.read", "okta.users.manage", "okta.groups.manage", "okta.apps.manage"}

// harness is one worker on a real Redis DB against an in-process simulator.
type harness struct {
	t        *testing.T
	redis    *redistest.Redis
	sim      *oktasim.Sim
	srv      *httptest.Server
	conn     *okta.Connection
	keyring  *tasks.Keyring
	client   *asynq.Client
	inspect  *asynq.Inspector
	reg      *prometheus.Registry
	logs     *syncBuffer
	worker   *worker.Worker
	stop     context.CancelFunc
	done     chan struct{}
	simSeed  oktasim.Seed
	roles    string
	scopes   []string
	simRates *oktasim.RateLimits
	execOpts func(*okta.ExecutorOptions)
	connOpts func(*okta.Connection)
	workOpts func(*worker.Options)
}

type option func(*harness)

func withScopes(s ...string) option         { return func(h *harness) { h.scopes = s } }
func withRates(r oktasim.RateLimits) option { return func(h *harness) { h.simRates = &r } }
func withExecutor(f func(*okta.ExecutorOptions)) option {
	return func(h *harness) { h.execOpts = f }
}
func withConnection(f func(*okta.Connection)) option { return func(h *harness) { h.connOpts = f } }
func withWorker(f func(*worker.Options)) option      { return func(h *harness) { h.workOpts = f } }
func withUsers(u ...oktasim.SeedUser) option {
	return func(h *harness) { h.simSeed.Users = append(h.simSeed.Users, u...) }
}

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, roles: "*=it-admin;user.reset_password=helpdesk", scopes: allScopes, logs: &syncBuffer{}}
	h.simSeed = oktasim.Seed{
		Groups:  []oktasim.SeedGroup{{Name: "Engineering"}, {Name: "Engineering-Admins"}, {Name: "Engineering-App", Type: "APP_GROUP"}},
		Apps:    []oktasim.SeedApp{{Label: "Slack"}},
		Clients: []oktasim.SeedClient{{ClientID: clientID, ClientSecret: clientSecret, Scopes: allScopes}},
	}
	for _, o := range opts {
		o(h)
	}
	h.redis = redistest.New(t)
	simOpts := oktasim.Options{}
	if h.simRates != nil {
		simOpts.RateLimits = *h.simRates
	}
	h.sim = oktasim.New(simOpts)
	if err := h.sim.Load(h.simSeed); err != nil {
		t.Fatal(err)
	}
	h.srv = h.sim.Start()
	t.Cleanup(h.srv.Close)
	policy, err := tasks.ParseRoles(h.roles)
	if err != nil {
		t.Fatal(err)
	}
	h.conn = &okta.Connection{Policy: tasks.Policy{Name: "default", Scopes: h.scopes, Roles: policy}, BaseURL: h.srv.URL,
		Credentials: okta.Credentials{ClientID: clientID, ClientSecret: clientSecret}}
	if h.connOpts != nil {
		h.connOpts(h.conn)
	}
	h.keyring, _ = tasks.ParseKeyring(signingKey)
	h.client = asynq.NewClient(h.redis.Opt)
	h.inspect = asynq.NewInspector(h.redis.Opt)
	t.Cleanup(func() { h.client.Close(); h.inspect.Close() })
	h.start()
	return h
}

// start runs a worker until the test ends (or stopWorker).
func (h *harness) start() {
	h.t.Helper()
	h.reg = prometheus.NewRegistry()
	metrics := worker.NewMetrics(h.reg)
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The limiter production runs (cmd/oktaq's newLimiter): the defaults,
	// reporting to the worker's metrics.
	lo := ratelimit.DefaultConfig()
	lo.Logger, lo.OnEvent = log, metrics.OnLimit
	lim, err := ratelimit.New(h.redis.Client, lo)
	if err != nil {
		h.t.Fatal(err)
	}
	eo := okta.ExecutorOptions{Redis: h.redis.Client, Logger: log, OnCall: metrics.OnCall, Limiter: lim}
	if h.execOpts != nil {
		h.execOpts(&eo)
	}
	exec, err := okta.NewExecutor(h.conn, eo)
	if err != nil {
		h.t.Fatal(err)
	}
	retry := worker.DefaultRetryPolicy()
	retry.Base, retry.Cap, retry.Unauthorized, retry.Jitter = 50*time.Millisecond, 200*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond
	wo := worker.Options{
		Redis: h.redis.Opt, Keyring: h.keyring, Producers: testProducers,
		Connections:  map[string]*worker.Connection{"default": {Conn: h.conn, Exec: exec}},
		Concurrency:  4,
		PollInterval: 50 * time.Millisecond, CredentialCheck: 200 * time.Millisecond,
		Retry: retry, Metrics: metrics, Logger: log, ShutdownTimeout: 5 * time.Second,
	}
	if h.workOpts != nil {
		h.workOpts(&wo)
	}
	h.worker, err = worker.New(wo)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = h.worker.Run(ctx) }()
	h.t.Cleanup(h.stopWorker)
}

func (h *harness) stopWorker() {
	if h.stop != nil {
		h.stop()
		<-h.done
		h.stop = nil
	}
}

// testProducers: helpdesk-a may assert it-admin and helpdesk, helpdesk-b
// only helpdesk.
var testProducers = tasks.Producers{Roles: map[string][]string{"helpdesk-a": {"it-admin", "helpdesk"}, "helpdesk-b": {"helpdesk"}}}

// request is a valid request for user by it-admin, from helpdesk-a.
func request(user string) tasks.Request {
	return tasks.Request{User: user, Producer: "helpdesk-a", Requester: tasks.Requester{ID: "agent-42", Role: "it-admin"},
		Ticket: tasks.Ticket{System: "helpdesk", ID: "REQ-1"}}
}

// enqueue signs and enqueues a as a producer would, returning the task id.
func (h *harness) enqueue(a tasks.Args, opts ...asynq.Option) string {
	h.t.Helper()
	return h.enqueueWith(h.keyring, a, opts...)
}

func (h *harness) enqueueWith(kr *tasks.Keyring, a tasks.Args, opts ...asynq.Option) string {
	h.t.Helper()
	tasks.Normalize(a, time.Now())
	payload, err := tasks.Marshal(a)
	if err != nil {
		h.t.Fatal(err)
	}
	typ, id, queue := a.Action().TypeName(), uuid.NewString(), a.Action().Queue(a.Base().Bulk)
	sig := kr.Sign(tasks.Envelope{TaskID: id, Queue: queue, Type: typ, Payload: payload})
	opts = append([]asynq.Option{asynq.Queue(queue), asynq.TaskID(id), asynq.MaxRetry(5), asynq.Retention(time.Hour)}, opts...)
	info, err := h.client.Enqueue(asynq.NewTaskWithHeaders(typ, payload, sig), opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	return info.ID
}

// wait returns the task once it is completed or archived.
func (h *harness) wait(id string) *asynq.TaskInfo {
	h.t.Helper()
	var done *asynq.TaskInfo
	until(h.t, "task "+id+" completed or archived", func() bool {
		for _, q := range []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} {
			info, err := h.inspect.GetTaskInfo(q, id)
			if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
				done = info
				return true
			}
		}
		return false
	})
	return done
}

// hangGuard bounds a wait for an event. It only stops a test that would
// hang (a lost task, a deadlock): no test asserts how fast anything is,
// so a loaded machine makes tests slower, never failing.
const hangGuard = 3 * time.Minute

// until polls cond until it holds, failing the test after hangGuard.
func until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	guard := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(guard) {
			t.Fatalf("still waiting after %s for: %s", hangGuard, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a log sink safe for the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
