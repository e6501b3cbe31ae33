package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
)

func init() {
	register("user", "show an Okta user and the actions a role may take on them (reads Okta)", runUser)
}

// newUserReader builds the user view's reader: an executor per
// connection, sharing the workers' rate limiter and token cache through
// Redis. It answers nil, with no error, when no Okta org is configured
// (the API then answers the view with 501).
func newUserReader(cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) (*okta.UserReader, func(), error) {
	if cfg.Env.OktaDomain == "" && cfg.Env.ConnectionsFile == "" {
		return nil, func() {}, nil
	}
	conns, err := cfg.Connections()
	if err != nil {
		return nil, nil, err
	}
	opts := ratelimit.DefaultConfig()
	opts.Reserve = cfg.Env.RateReserve
	opts.MaxInFlight = cfg.Env.OktaMaxInFlight
	opts.Logger = log
	limiter, err := ratelimit.New(rdb, opts)
	if err != nil {
		return nil, nil, err
	}
	execs := map[string]*okta.Executor{}
	closeAll := func() {
		for _, e := range execs {
			e.Close()
		}
	}
	for name, conn := range conns {
		e, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: rdb, Logger: log, Limiter: limiter,
			RequestTimeout: cfg.Env.OktaRequestTimeout})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		execs[name] = e
	}
	ttl := cfg.Env.UserViewTTL
	if ttl <= 0 {
		ttl = -1 // off
	}
	return okta.NewUserReader(execs, okta.UserReaderOptions{Redis: rdb, TTL: ttl, Logger: log}), closeAll, nil
}

type userFlags struct {
	role, connection string
	fresh, asJSON    bool
}

func runUser(ctx context.Context, env *cmdEnv, args []string) error {
	var f userFlags
	fs := newFlags(env, "user", "REF [--role R] [--json]")
	fs.StringVar(&f.role, "role", "", "requester's role: show which actions it may take (checked against OKTAQ_ROLES)")
	fs.StringVar(&f.connection, "connection", "", "connection name (default \"default\")")
	fs.BoolVar(&f.fresh, "fresh", false, "read Okta even if a cached view is young enough")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON (the API's answer)")
	ref, err := parseOneArg(fs, args)
	if err != nil {
		return err
	}
	if ref == "" {
		return usagef("name the user: an Okta id (00u...) or a full login (name@domain)")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	warnConfig(env, cfg)
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rdb := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	reader, closeReader, err := newUserReader(cfg, rdb, log)
	if err != nil {
		return err
	}
	defer closeReader()
	if reader == nil {
		return fmt.Errorf("OKTAQ_OKTA_DOMAIN: is required to read users (with the connection's credentials), or OKTAQ_CONNECTIONS_FILE")
	}
	policies, err := cfg.Policies()
	if err != nil {
		return err
	}
	c := enqueue.NewFromRedisClient(rdb, enqueue.Options{Producer: cliProducer, Producers: cfg.Producers,
		Connections: policies, Users: reader})
	defer c.Close()
	v, err := c.User(ctx, ref, enqueue.UserQuery{Connection: f.connection, Role: f.role, Fresh: f.fresh})
	if err != nil {
		return err
	}
	if f.asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printUser(env.stdout, v)
	return nil
}

// printUser writes the view for a person: who, where they sign in, what
// they belong to, and the actions with why not.
func printUser(w io.Writer, v *tasks.UserView) {
	name := strings.TrimSpace(v.Profile["firstName"] + " " + v.Profile["lastName"])
	fmt.Fprintf(w, "%s  %s  %s\n", v.Login, v.ID, name)
	status := v.Status
	if v.TransitioningToStatus != "" {
		status += " -> " + v.TransitioningToStatus
	}
	fmt.Fprintf(w, "  status     %s\n  signs in   %s %s\n", status, v.Provider.Type, v.Provider.Name)
	for _, d := range []struct {
		label string
		t     *time.Time
	}{{"last login", v.LastLogin}, {"password", v.PasswordChanged}, {"status at", v.StatusChanged}} {
		if d.t != nil {
			fmt.Fprintf(w, "  %-10s %s\n", d.label, d.t.Format(time.RFC3339))
		}
	}
	var groups, factors, apps []string
	for _, g := range v.Groups {
		groups = append(groups, g.Name+map[bool]string{true: " (" + g.Type + ")"}[g.Type != "OKTA_GROUP"])
	}
	for _, f := range v.Factors {
		factors = append(factors, f.Type)
	}
	for _, a := range v.Apps {
		apps = append(apps, a.Label)
	}
	fmt.Fprintf(w, "  groups     %s\n  factors    %s\n  apps       %s\n", orNone(groups), orNone(factors), orNone(apps))
	for _, h := range v.PendingActions {
		fmt.Fprintf(w, "  pending    %s %s %s", h.ID, h.Action, h.State)
		if !h.ApprovalExpiresAt.IsZero() {
			fmt.Fprintf(w, " (expires %s)", h.ApprovalExpiresAt.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	for _, h := range v.ExpiringAccess {
		fmt.Fprintf(w, "  expiring   access granted by %s ends %s (removal %s)\n", h.FollowUpOf, h.RunAt.Format(time.RFC3339), h.ID)
	}
	for _, o := range v.Omitted {
		fmt.Fprintf(w, "  (not shown: %s: %s)\n", o.Section, o.Reason)
	}
	from := "read from Okta"
	if v.Cached {
		from = "cached"
	}
	fmt.Fprintf(w, "  fetched    %s (%s)\n", v.FetchedAt.Format(time.RFC3339), from)
	if v.Role == "" {
		fmt.Fprintln(w, "\n(give --role to see which actions that role may take)")
		return
	}
	fmt.Fprintf(w, "\nactions for role %s:\n", v.Role)
	for _, a := range v.Actions {
		mark, why := "yes", a.Reason
		if !a.Available {
			mark = "no "
		}
		if why != "" {
			why = "  " + why
		}
		fmt.Fprintf(w, "  %s %-22s%s\n", mark, a.Action, why)
	}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, ", ")
}
