package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/worker"
)

func init() {
	register("worker", "run a worker: take actions from Redis and perform them in Okta", runWorker)
}

func runWorker(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "worker", "")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	conns, err := cfg.Connections()
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := worker.NewMetrics(reg)
	rdb := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	limiter, err := newLimiter(rdb, cfg, log, metrics)
	if err != nil {
		return err
	}
	served := map[string]*worker.Connection{}
	for name, conn := range conns {
		exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Logger: log, Limiter: limiter,
			RequestTimeout: cfg.Env.OktaRequestTimeout, OnCall: metrics.OnCall})
		if err != nil {
			return err
		}
		defer exec.Close()
		served[name] = &worker.Connection{Conn: conn, Exec: exec}
		log.Info("connection", "connection", conn)
	}
	callbacks, err := cfg.Callbacks()
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Options{
		Callbacks: callbacks, Confirm: cfg.Confirm(),
		Redis: cfg.Redis, Keyring: cfg.Keyring, Producers: cfg.Producers,
		Connections:     served,
		Concurrency:     cfg.Env.Concurrency,
		Queues:          cfg.Queues,
		StrictPriority:  cfg.Env.StrictPriority,
		TaskDeadline:    cfg.Env.TaskDeadline,
		ShutdownTimeout: cfg.Env.ShutdownTimeout,
		ApprovalTTL:     cfg.Env.ApprovalTTL,
		AccessReminder:  cfg.Env.AccessReminder,
		Metrics:         metrics, Logger: log,
	})
	if err != nil {
		return err
	}
	reg.MustRegister(worker.QueueCollector(cfg.Redis))
	reg.MustRegister(worker.CallbackCollector(rdb, config.CallbackProducers(callbacks), nil))
	log.Info("worker starting", "config", cfg.Env)
	admin := adminMux(reg, w.Ready, w.ReadyNotes)
	return serveWithAdmin(ctx, cfg.Env.AdminAddr, admin, cfg.Env.ShutdownTimeout, w.Run)
}

// adminMux serves /metrics, /healthz and /readyz.
func adminMux(reg *prometheus.Registry, ready func(context.Context) error, notes ...func() []string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	worker.HealthHandlers(mux, ready, notes...)
	return mux
}

// serveWithAdmin runs main and the admin listener until ctx ends or one of
// them fails, then shuts both down.
func serveWithAdmin(ctx context.Context, addr string, admin http.Handler, grace time.Duration, main func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	adminDone := make(chan error, 1)
	go func() {
		err := enqueue.Serve(ctx, addr, admin, grace)
		if err != nil {
			err = fmt.Errorf("admin listener %s: %w", addr, err)
		}
		adminDone <- err
		cancel()
	}()
	err := main(ctx)
	cancel()
	return errors.Join(err, <-adminDone)
}

// newLimiter is the rate limiter every worker process shares through
// Redis, with the configured reserve and in-flight cap.
func newLimiter(rdb redis.UniversalClient, cfg *config.Config, log *slog.Logger, m *worker.Metrics) (*ratelimit.Limiter, error) {
	opts := ratelimit.DefaultConfig()
	opts.Reserve = cfg.Env.RateReserve
	opts.MaxInFlight = cfg.Env.OktaMaxInFlight
	opts.Logger = log
	if m != nil {
		opts.OnEvent = m.OnLimit
	}
	return ratelimit.New(rdb, opts)
}
