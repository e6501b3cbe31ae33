package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/worker"
)

func init() {
	register("hooks", "register or list the Okta event hook that confirms actions (okta.eventHooks.manage)", runHooks)
}

const hooksUsage = `register --connection NAME --url URL [--name NAME] | list [--connection NAME]

  register  create an event hook in Okta for the events oktaq's actions make, have
            Okta verify it (Okta calls GET URL; the oktaq API answers with
            OKTAQ_EVENT_HOOK_SECRET) and activate it. URL is the oktaq API as Okta
            reaches it: https://oktaq.example.com (the path
            /v1/okta/events/NAME is added) or the full path.
  list      show the org's event hooks.`

func runHooks(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "hooks", hooksUsage)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return usagef("give a subcommand: register or list")
	}
	sub := args[0]
	conn := fs.String("connection", "default", "the connection (Okta org)")
	var hookURL, name *string
	switch sub {
	case "register":
		hookURL = fs.String("url", "", "where Okta sends the events: the oktaq API's https URL (required)")
		name = fs.String("name", "oktaq", "the hook's name in the Okta console")
	case "list":
	default:
		return usagef("unknown subcommand %q: register or list", sub)
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if sub == "register" && *hookURL == "" {
		return usagef("--url is required")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	warnConfig(env, cfg)
	exec, closeExec, err := hookExecutor(cfg, *conn)
	if err != nil {
		return err
	}
	defer closeExec()
	if sub == "list" {
		hooks, err := exec.ListEventHooks(ctx)
		if err != nil {
			return hookError(err)
		}
		printHooks(env.stdout, hooks)
		return nil
	}
	target, err := hookTarget(*hookURL, *conn, cfg.Env.OktaAllowHTTP)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if cfg.Env.EventHookSecret == "" {
		return errors.New("OKTAQ_EVENT_HOOK_SECRET: is required: Okta sends it in the Authorization header and the oktaq API checks it (set the same value for `oktaq api`)")
	}
	hook, err := exec.RegisterEventHook(ctx, *name, target, cfg.Env.EventHookSecret)
	if err != nil {
		return hookError(err)
	}
	fmt.Fprintf(env.stdout, "event hook %s registered, %s and %s: Okta sends %d event types to %s\n",
		hook.ID, strings.ToLower(hook.Verification), strings.ToLower(hook.Status), len(hook.Events), hook.URL)
	return nil
}

// hookTarget is the receiver URL: the API's base URL gets the receiver's
// path for the connection.
func hookTarget(raw, conn string, allowHTTP bool) (string, error) {
	u, err := worker.CheckCallbackURL(raw, allowHTTP)
	if err != nil {
		return "", err
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/okta/events/" + url.PathEscape(conn)
	}
	return u.String(), nil
}

func hookError(err error) error {
	if errors.Is(err, okta.ErrNoEventHookScope) {
		return fmt.Errorf("confirmation by Okta's events is off: %w", err)
	}
	return err
}

// hookExecutor connects to the connection's org as the worker does.
func hookExecutor(cfg *config.Config, name string) (*okta.Executor, func(), error) {
	conns, err := cfg.Connections()
	if err != nil {
		return nil, nil, err
	}
	conn, ok := conns[name]
	if !ok {
		return nil, nil, fmt.Errorf("--connection: %q is not configured", name)
	}
	rdb := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	log := slog.New(slog.DiscardHandler)
	limiter, err := newLimiter(rdb, cfg, log, worker.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Logger: log, Limiter: limiter,
		RequestTimeout: cfg.Env.OktaRequestTimeout})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return exec, func() { exec.Close(); rdb.Close() }, nil
}

func printHooks(w io.Writer, hooks []okta.EventHook) {
	if len(hooks) == 0 {
		fmt.Fprintln(w, "no event hooks: actions are not confirmed (oktaq hooks register --connection NAME --url URL)")
		return
	}
	fmt.Fprintf(w, "%-22s %-8s %-10s %-6s %s\n", "ID", "STATUS", "VERIFIED", "EVENTS", "URL")
	for _, h := range hooks {
		fmt.Fprintf(w, "%-22s %-8s %-10s %-6d %s\n", h.ID, h.Status, h.Verification, len(h.Events), h.URL)
	}
}
