package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/config"
)

// newLogger builds the process logger from the configuration, and makes
// it go-redis's logger too, so that the library's lines (reconnects, pool
// trouble) come out in the same format: JSON logs stay JSON.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level}
	var log *slog.Logger
	if cfg.Env.LogFormat == "text" {
		log = slog.New(slog.NewTextHandler(w, opts))
	} else {
		log = slog.New(slog.NewJSONHandler(w, opts))
	}
	redis.SetLogger(redisLogger{log})
	for _, warning := range cfg.Warnings {
		log.Warn(warning)
	}
	return log
}

// redisLogger is go-redis's internal logger on slog. go-redis logs only
// trouble, so its lines are warnings.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// warnConfig prints the configuration's warnings for the commands that
// print to a person rather than log.
func warnConfig(env *cmdEnv, cfg *config.Config) {
	for _, warning := range cfg.Warnings {
		fmt.Fprintln(env.stderr, "oktaq: warning:", warning)
	}
}
