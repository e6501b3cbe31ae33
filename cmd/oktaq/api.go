package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
)

func init() {
	register("api", "serve the HTTP API for producers (ticketing systems)", runAPI)
}

func runAPI(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "api", "")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.Env.APITokens == "" {
		return fmt.Errorf("OKTAQ_API_TOKENS: is required: producer-id=sha256hex(token),... (at least one producer)")
	}
	producers, err := enqueue.ParseProducers(cfg.Env.APITokens)
	if err != nil {
		return fmt.Errorf("OKTAQ_API_TOKENS: %w", err)
	}
	if cfg.Env.APITLSCertFile != "" {
		if _, err := enqueue.TLSConfig(cfg.Env.APITLSCertFile, cfg.Env.APITLSKeyFile); err != nil {
			return fmt.Errorf("OKTAQ_API_TLS_CERT_FILE / OKTAQ_API_TLS_KEY_FILE: %w", err)
		}
	}
	log := newLogger(cfg, env.stderr)
	rdb := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	reader, closeReader, err := newUserReader(cfg, rdb, log)
	if err != nil {
		return err
	}
	defer closeReader()
	var users enqueue.UserReader // stays a nil interface without a reader
	if reader != nil {
		users = reader
	} else {
		log.Warn("user view off (GET /v1/users/{ref} answers 501): set OKTAQ_OKTA_DOMAIN and the connection's credentials")
	}
	c, err := newEnqueueClient(cfg, users)
	if err != nil {
		return err
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	planners, closePlanners, err := newPlanners(cfg, rdb, log)
	if err != nil {
		return err
	}
	defer closePlanners()
	opts := enqueue.APIOptions{MaxBodyBytes: cfg.Env.MaxBodyBytes, Registerer: reg, Logger: log, Planners: planners,
		EventHookSecret: cfg.Env.EventHookSecret.Reveal()}
	apiHandler := enqueue.NewAPI(c, producers, opts)
	adminHandler := withDashboard(enqueue.NewAdminHandler(c, opts), cfg, log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	serve := func(name, addr string, h http.Handler) {
		var err error
		if e := cfg.Env; name == "api" && e.APITLSCertFile != "" {
			log.Info("listening", "server", name, "addr", addr, "tls", true)
			err = enqueue.ServeTLS(ctx, addr, h, e.ShutdownTimeout, e.APITLSCertFile, e.APITLSKeyFile)
		} else {
			log.Info("listening", "server", name, "addr", addr, "tls", false)
			err = enqueue.Serve(ctx, addr, h, cfg.Env.ShutdownTimeout)
		}
		if err != nil {
			err = fmt.Errorf("%s server on %s: %w", name, addr, err)
		}
		errc <- err
	}
	go serve("api", cfg.Env.APIAddr, apiHandler)
	go serve("admin", cfg.Env.AdminAddr, adminHandler)
	err = <-errc
	cancel() // one server stopped: stop the other too
	if err2 := <-errc; err == nil {
		err = err2
	}
	log.Info("stopped", slog.Any("err", err))
	return err
}

// withDashboard mounts the asynq dashboard at /monitoring/ beside admin's
// routes when OKTAQ_ADMIN_PASSWORD is set; without a password it stays
// off, since asynqmon has no authentication of its own.
func withDashboard(admin http.Handler, cfg *config.Config, log *slog.Logger) http.Handler {
	e := cfg.Env
	if e.AdminPassword == "" {
		log.Info("dashboard off: OKTAQ_ADMIN_PASSWORD is not set")
		return admin
	}
	mux := http.NewServeMux()
	mux.Handle("/", admin)
	mux.Handle(dashboardPath+"/", dashboard(cfg.Redis, e.AdminUser, e.AdminPassword.Reveal(), e.DashboardReadOnly, e.PrometheusURL))
	log.Info("dashboard on", "path", dashboardPath+"/", "user", e.AdminUser, "read_only", e.DashboardReadOnly,
		"prometheus", e.PrometheusURL)
	return mux
}
