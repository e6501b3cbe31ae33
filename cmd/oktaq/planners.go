package main

import (
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta"
)

// newPlanners builds, for each connection whose credentials this process
// has, the executor that answers dry runs ("dry_run": true): it reads Okta
// through the shared limiter, at the same cost as a worker's reads, and
// sends no write. Without credentials (an API host kept away from Okta's
// secrets) dry runs are answered 501, and the log says why. The returned
// function closes the executors.
func newPlanners(cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) (map[string]enqueue.Planner, func(), error) {
	out := map[string]enqueue.Planner{}
	conns, err := cfg.Connections()
	if err != nil {
		log.Warn("dry runs off: this process has no usable Okta connection; dry runs are answered 501", "reason", err.Error())
		return out, func() {}, nil
	}
	limiter, err := newLimiter(rdb, cfg, log, nil)
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	for name, conn := range conns {
		exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Logger: log, Limiter: limiter,
			RequestTimeout: cfg.Env.OktaRequestTimeout})
		if err != nil {
			for _, c := range closers {
				c()
			}
			return nil, nil, err
		}
		closers = append(closers, exec.Close)
		out[name] = exec
	}
	log.Info("dry runs on", "connections", len(out))
	return out, func() {
		for _, c := range closers {
			c()
		}
	}, nil
}
