package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// Options configure a Worker. Redis, Keyring and Connections are required.
type Options struct {
	Redis       asynq.RedisConnOpt
	Keyring     *tasks.Keyring
	Connections map[string]*Connection
	// Producers bounds the roles and connections each producer may
	// assert, checked again on every task (the producer is in the signed
	// payload); the zero value refuses every task.
	Producers tasks.Producers
	// Concurrency is how many actions run at once (default 10).
	Concurrency int
	// Queues and their weights (default critical=6, default=3, low=1);
	// with StrictPriority a queue is served only when higher ones are
	// empty.
	Queues         map[string]int
	StrictPriority bool
	// TaskDeadline: a task without a deadline of its own (Request.Deadline)
	// is given up when not done this long after it was requested (default
	// 2h), rate-limit waits included.
	TaskDeadline time.Duration
	// ShutdownTimeout is what in-flight actions get to finish (default 30s).
	ShutdownTimeout time.Duration
	// CredentialCheck is how often credentials are checked (default 1m).
	CredentialCheck time.Duration
	Retry           RetryPolicy
	// Breaker holds a connection whose calls mostly fail (default
	// DefaultBreakerPolicy).
	Breaker BreakerPolicy
	// Lease serializes actions per user (default DefaultLeasePolicy).
	Lease LeasePolicy
	// PollInterval is how often asynq looks for new, scheduled and retry
	// tasks when idle (default 1s; tests use less).
	PollInterval time.Duration
	// ApprovalTTL is how long an action waits for a second person
	// (OKTAQ_APPROVAL_TTL, default 24h); the worker needs it when a user
	// without a push factor falls back to approval.
	ApprovalTTL time.Duration
	// AccessReminder is how long before a time-bound access ends that
	// the producer (callback action.expiring) and OnEvent hear of it
	// (OKTAQ_ACCESS_REMINDER; 0: no reminder).
	AccessReminder time.Duration
	// PushPoll is the first wait before a push transaction is polled
	// again; each poll doubles it up to 8 times this (default 2s).
	PushPoll time.Duration
	// OnEvent hears of state changes that are not a task's end:
	// reminders, a push sent, a fall-back to approval. The producer's
	// callbacks get them regardless (events.go). Nil: nobody listens.
	OnEvent func(context.Context, Event)
	// Metrics, from NewMetrics; nil makes them on a private registry.
	Metrics *Metrics
	// Callbacks, when set, deliver state changes to producers
	// (callbacks.go); nil sends none.
	Callbacks *CallbackOptions
	// Confirm, when set, waits for Okta's events to confirm actions
	// (confirm.go); nil: results are not_applicable.
	Confirm *ConfirmOptions
	Logger  *slog.Logger
	Clock   func() time.Time
	// PlaybookPoll is how long a playbook run's coordinator waits before
	// it looks at its current step again when no step's end woke it
	// (default 1s).
	PlaybookPoll time.Duration
	// PlaybookHook, when set, is told of each point of a run where a
	// crash matters ("snapshot", "step-enqueued", "step-ended"); tests
	// use it to crash there. Nil in production.
	PlaybookHook func(event string, step int)
}

// Defaults of a worker process (the configuration's are tested against
// them).
const (
	// DefaultConcurrency is how many actions a worker process runs at once.
	DefaultConcurrency = 10
	// DefaultShutdownTimeout is what in-flight actions get to finish on
	// shutdown.
	DefaultShutdownTimeout = 30 * time.Second
)

// DefaultQueues are the queue weights: critical=6, default=3, low=1.
func DefaultQueues() map[string]int {
	return map[string]int{tasks.QueueCritical: 6, tasks.QueueDefault: 3, tasks.QueueLow: 1}
}

// Worker is the asynq server with oktaq's handlers.
type Worker struct {
	opts      Options
	client    *asynq.Client
	inspector *asynq.Inspector
	srv       *asynq.Server
	mux       *asynq.ServeMux
	rdb       redis.UniversalClient
	redisErrs *redisErrors // redisgate.go
	metrics   *Metrics
	health    *health
	// callbacks.go
	cbClient    *asynq.Client
	cbInspector *asynq.Inspector
	cbHTTP      *http.Client
	cbMu        sync.Mutex
	cbTotal     int
	cbPer       map[string]int
	breaker     *breaker
	enq         *asynq.Client // enqueues the removals of time-bound access (the same client)
}

// New builds a worker; Run starts it.
func New(opts Options) (*Worker, error) {
	if opts.Redis == nil || opts.Keyring == nil || len(opts.Connections) == 0 {
		return nil, errors.New("worker: Redis, Keyring and at least one connection are required")
	}
	setDefaults(&opts)
	rdb, ok := opts.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("worker: unsupported Redis connection option")
	}
	w := &Worker{opts: opts, rdb: rdb, redisErrs: &redisErrors{}, metrics: opts.Metrics,
		client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb)}
	w.enq = w.client
	rdb.AddHook(w.redisErrs)
	w.breaker = &breaker{rdb: rdb, p: opts.Breaker}
	w.health = &health{down: map[string]string{}, ungranted: map[string][]string{}, w: w}
	for name := range opts.Connections {
		w.metrics.up.WithLabelValues(name).Set(1)
	}
	w.setupCallbacks()
	actions := asynq.NewServeMux()
	actions.Use(w.record, w.awaitRedis, w.verify, w.validate, w.authorize, w.leaseUser, w.gate, w.verifyCaller)
	for _, a := range tasks.Actions() {
		actions.HandleFunc(a.TypeName(), w.execute)
	}
	w.mux = w.routes(actions)
	w.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              opts.Concurrency,
		Queues:                   w.opts.Queues,
		StrictPriority:           opts.StrictPriority,
		RetryDelayFunc:           recoveringDelay(w.retryDelay),
		IsFailure:                isFailure,
		ShutdownTimeout:          opts.ShutdownTimeout,
		Logger:                   asynqLogger{opts.Logger},
		LogLevel:                 asynq.WarnLevel,
		TaskCheckInterval:        opts.PollInterval,
		DelayedTaskCheckInterval: opts.PollInterval,
		// Tasks of an unknown type (a producer newer than this worker)
		// are rejected by verify; nothing else is routed here.
	})
	return w, nil
}

func setDefaults(o *Options) {
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Queues == nil {
		o.Queues = DefaultQueues()
	}
	if o.TaskDeadline == 0 {
		o.TaskDeadline = tasks.DefaultTaskDeadline
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.ApprovalTTL == 0 {
		o.ApprovalTTL = tasks.DefaultApprovalTTL
	}
	if o.PushPoll == 0 {
		o.PushPoll = 2 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.PlaybookPoll == 0 {
		o.PlaybookPoll = time.Second
	}
	if o.CredentialCheck == 0 {
		o.CredentialCheck = time.Minute
	}
	if o.Retry.Now == nil {
		o.Retry = DefaultRetryPolicy()
	}
	if o.Lease.TTL == 0 {
		o.Lease = DefaultLeasePolicy()
	}
	if o.Breaker.MinAttempts == 0 {
		o.Breaker = DefaultBreakerPolicy()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Run serves tasks until ctx ends, then lets in-flight actions finish
// within ShutdownTimeout.
func (w *Worker) Run(ctx context.Context) error {
	pool := newWarmPool(w.opts.Concurrency, w.opts.Logger)
	defer pool.close()
	if err := w.srv.Start(pool.handler(asynq.HandlerFunc(w.dispatch))); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.health.checkCredentials(hctx, w.opts.CredentialCheck) }()
	scanned := make(chan struct{})
	go func() { defer close(scanned); w.scanOrphans(hctx) }()
	<-ctx.Done()
	cancel()
	w.srv.Shutdown()
	<-done
	<-scanned
	return nil
}

// asynqLogger sends asynq's own logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
