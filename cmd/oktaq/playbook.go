package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/tasks"
)

func init() {
	register("playbook", "run a playbook (offboard, contain, OKTAQ_PLAYBOOKS_FILE's) for one user, dry-run it, read or undo a run", runPlaybookCmd)
}

const playbookUsage = `Usage: oktaq playbook SUBCOMMAND [flags]

Subcommands:
  run NAME --user LOGIN_OR_ID --role ROLE [--dry-run] [--wait] [--json]
                  start a run of playbook NAME for one user (talks to Redis
                  directly, as producer cli); --dry-run changes nothing and
                  prints the Okta calls each step would make, their
                  rate-limit cost and what would be refused (it reads Okta:
                  needs the connection's credentials in this environment)
  status RUN_ID [--json]
                  print a run and each step's outcome
  undo RUN_ID --role ROLE [--wait] [--json]
                  restore what a finished run changed (status, groups, apps)
  list            list the playbooks: built-in and OKTAQ_PLAYBOOKS_FILE's

Exit codes: 0 the run succeeded (or was started, without --wait; or the dry
run found nothing refused), 1 it ended partial or failed (or a dry run
found a step that would be refused or fail), or another error; 2 usage.
Run 'oktaq playbook SUBCOMMAND --help' for a subcommand's flags.
`

func runPlaybookCmd(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("name a subcommand: run, status, undo or list")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(env.stdout, playbookUsage)
		return nil
	case "run":
		return runPlaybookRun(ctx, env, args[1:])
	case "status":
		return runPlaybookStatus(ctx, env, args[1:])
	case "undo":
		return runPlaybookUndo(ctx, env, args[1:])
	case "list":
		return runPlaybookList(env, args[1:])
	}
	return usagef("unknown subcommand %q: run, status, undo or list", args[0])
}

type playbookFlags struct {
	user, role, requester, ticket, connection, key string
	dryRun, wait, asJSON                           bool
	timeout                                        time.Duration
}

func (f *playbookFlags) requesterFlags(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&f.role, "role", "", "requester's role, checked step by step against OKTAQ_ROLES (required)")
	fs.StringVar(&f.requester, "requester", defaultRequester(), "requester id")
	fs.StringVar(&f.ticket, "ticket", "", "ticket id")
}

func (f *playbookFlags) requesterOf() (tasks.Requester, tasks.Ticket) {
	var t tasks.Ticket
	if f.ticket != "" {
		t = tasks.Ticket{System: "cli", ID: f.ticket}
	}
	return tasks.Requester{ID: f.requester, Role: f.role}, t
}

func runPlaybookRun(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "playbook run", "NAME --user LOGIN_OR_ID --role ROLE [flags]")
	var f playbookFlags
	fs.StringVar(&f.user, "user", "", "target user: Okta id (00u...) or login (required)")
	f.requesterFlags(fs)
	fs.StringVar(&f.connection, "connection", "", "connection name (default \"default\")")
	fs.StringVar(&f.key, "key", "", "idempotency key: a repeat returns the existing run")
	fs.BoolVar(&f.dryRun, "dry-run", false, "change nothing: print each step's Okta calls, their rate-limit cost and what would be refused")
	fs.BoolVar(&f.wait, "wait", false, "wait until the run has ended and print it")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	name, err := parseOneArg(fs, args)
	if err != nil {
		return err
	}
	switch {
	case name == "":
		return usagef("name a playbook (oktaq playbook list)")
	case f.user == "":
		return usagef("--user is required: the target user's Okta id (00u...) or login")
	case f.role == "":
		return usagef("--role is required: the requester's role, checked against OKTAQ_ROLES")
	case f.dryRun && f.wait:
		return usagef("--dry-run and --wait: a dry run starts nothing to wait for")
	}
	cfg, c, err := producerClient(env)
	if err != nil {
		return err
	}
	defer c.Close()
	requester, ticket := f.requesterOf()
	req := enqueue.RunRequest{User: f.user, Connection: f.connection, Requester: requester, Ticket: ticket, IdempotencyKey: f.key}
	if f.dryRun {
		return playbookDryRun(ctx, env, cfg, c, name, req, f.asJSON)
	}
	run, existing, err := c.StartPlaybook(ctx, name, req)
	if err != nil {
		return err
	}
	return followRun(ctx, env, c, run, existing, &f)
}

// followRun prints a run just started (its id), or waits for its end.
func followRun(ctx context.Context, env *cmdEnv, c *enqueue.Client, run *tasks.Run, existing bool, f *playbookFlags) error {
	if existing {
		fmt.Fprintln(env.stderr, "run", run.ID, "exists already for this key")
	}
	if !f.wait {
		if f.asJSON {
			return printJSON(env.stdout, run)
		}
		fmt.Fprintln(env.stdout, run.ID)
		return nil
	}
	fmt.Fprintln(env.stderr, "started", run.ID, "- waiting")
	wctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	id := run.ID
	run, err := c.WaitRun(wctx, id)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w after %v; check later with: oktaq playbook status %s", err, f.timeout, id)
	}
	if err != nil {
		return err
	}
	return reportRun(env.stdout, run, f.asJSON)
}

// reportRun prints a run; the error makes the exit code 1 when it ended
// partial or failed.
func reportRun(w io.Writer, run *tasks.Run, asJSON bool) error {
	if asJSON {
		if err := printJSON(w, run); err != nil {
			return err
		}
	} else {
		printRun(w, run)
	}
	if run.State == tasks.RunPartial || run.State == tasks.RunFailed {
		return fmt.Errorf("run %s ended %s", run.ID, run.State)
	}
	return nil
}

func playbookDryRun(ctx context.Context, env *cmdEnv, cfg *config.Config, c *enqueue.Client, name string, req enqueue.RunRequest, asJSON bool) error {
	rdb := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	planners, closePlanners, err := newPlanners(cfg, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer closePlanners()
	conn := req.Connection
	if conn == "" {
		conn = tasks.DefaultConnection
	}
	plan, err := c.DryRun(ctx, planners[conn], cliProducer, name, req)
	if err != nil {
		return err
	}
	if asJSON {
		err = printJSON(env.stdout, plan)
	} else {
		printPlan(env.stdout, plan)
	}
	if err != nil {
		return err
	}
	if plan.Error != nil {
		return fmt.Errorf("dry run: the user cannot be read: %s", plan.Error.Summary)
	}
	for i, s := range plan.Steps {
		if s.Would == "refused" || s.Would == "failed" {
			return fmt.Errorf("dry run: step %d (%s) would be %s", i+1, s.Action, s.Would)
		}
	}
	return nil
}

func runPlaybookStatus(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "playbook status", "RUN_ID [--json]")
	asJSON := fs.Bool("json", false, "print JSON, as GET /v1/playbooks/runs/{id} does")
	id, err := parseOneArg(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("give one run id (pb-...)")
	}
	cfg, err := config.LoadStore()
	if err != nil {
		return err
	}
	warnConfig(env, cfg)
	c := enqueue.New(cfg.Redis, enqueue.Options{Producer: cliProducer})
	defer c.Close()
	run, err := c.PlaybookRun(ctx, id)
	if err != nil {
		return fmt.Errorf("playbook run %q: %w", id, err)
	}
	if *asJSON {
		return printJSON(env.stdout, run)
	}
	printRun(env.stdout, run)
	return nil
}

func runPlaybookUndo(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "playbook undo", "RUN_ID --role ROLE [flags]")
	var f playbookFlags
	f.requesterFlags(fs)
	fs.BoolVar(&f.wait, "wait", false, "wait until the undo has ended and print it")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	id, err := parseOneArg(fs, args)
	switch {
	case err != nil:
		return err
	case id == "":
		return usagef("give one run id (pb-...)")
	case f.role == "":
		return usagef("--role is required: the requester's role, checked against OKTAQ_ROLES")
	}
	_, c, err := producerClient(env)
	if err != nil {
		return err
	}
	defer c.Close()
	requester, ticket := f.requesterOf()
	run, existing, err := c.Undo(ctx, cliProducer, id, requester, ticket)
	if err != nil {
		return fmt.Errorf("undo %s: %w", id, err)
	}
	return followRun(ctx, env, c, run, existing, &f)
}

func runPlaybookList(env *cmdEnv, args []string) error {
	fs := newFlags(env, "playbook list", "")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	_, c, err := producerClient(env)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, name := range c.PlaybookNames() {
		pb, _ := c.Playbook(name)
		var steps []string
		for _, s := range pb.Steps {
			steps = append(steps, string(s.Action))
		}
		fmt.Fprintf(env.stdout, "%-12s %s\n%-12s steps: %s\n", name, pb.Description, "", strings.Join(steps, ", "))
	}
	return nil
}

func printRun(w io.Writer, r *tasks.Run) {
	fmt.Fprintf(w, "run:      %s\nplaybook: %s\nstate:    %s\nuser:     %s", r.ID, r.Playbook, r.State, r.User)
	if r.Login != "" && r.Login != r.User {
		fmt.Fprintf(w, " (%s)", r.Login)
	}
	fmt.Fprintln(w)
	if r.UndoOf != "" {
		fmt.Fprintf(w, "undoes:   %s\n", r.UndoOf)
	}
	for i, s := range r.Steps {
		fmt.Fprintf(w, "  %d. %-22s %-8s %s", i+1, s.Action, s.State, s.Outcome)
		if s.Error != nil {
			fmt.Fprintf(w, " (%s: %s)", s.Error.Code, s.Error.Summary)
		}
		if s.Reason != "" {
			fmt.Fprintf(w, " - %s", s.Reason)
		}
		fmt.Fprintln(w)
		for _, sk := range s.Skipped {
			fmt.Fprintf(w, "       left out %s: %s\n", sk.Name, sk.Reason)
		}
	}
	for _, n := range r.NotRestored {
		fmt.Fprintf(w, "not restored: %s\n", n)
	}
	if r.State.Final() && r.Snapshot != nil && r.UndoOf == "" {
		fmt.Fprintf(w, "undo with: oktaq playbook undo %s --role ROLE\n", r.ID)
	}
}

func printPlan(w io.Writer, p *tasks.Plan) {
	fmt.Fprintf(w, "dry run:  %s for %s (%s, %s) on %s - nothing was changed\n", p.Playbook, p.User, p.Login, p.Status, p.Connection)
	if p.Error != nil {
		fmt.Fprintf(w, "error:    %s: %s\n", p.Error.Code, p.Error.Summary)
	}
	printCalls := func(calls []tasks.PlannedCall) {
		for _, c := range calls {
			kind := "read"
			if c.Write {
				kind = "write"
			}
			fmt.Fprintf(w, "       %-6s %s %s  [%s]\n", c.Method, c.Path, kind, c.Bucket)
		}
	}
	if p.Snapshot != nil {
		fmt.Fprintln(w, "  snapshot (reads before the first step):")
		printCalls(p.Snapshot.Calls)
	}
	for i, s := range p.Steps {
		fmt.Fprintf(w, "  %d. %-22s would be %s (priority %s)", i+1, s.Action, s.Would, s.Priority)
		if s.Refused != nil {
			fmt.Fprintf(w, ": %s: %s", s.Refused.Code, s.Refused.Summary)
		}
		if s.Reason != "" {
			fmt.Fprintf(w, " - %s", s.Reason)
		}
		fmt.Fprintln(w)
		printCalls(s.Calls)
		for _, sk := range s.Skipped {
			fmt.Fprintf(w, "       left out %s: %s\n", sk.Name, sk.Reason)
		}
	}
	fmt.Fprintf(w, "calls:    %d\n", p.Calls)
	for _, b := range p.Budget {
		if b.Known {
			fmt.Fprintf(w, "  bucket %s: %d calls, %.1f%% of the %d usable now (%d of %d left)\n", b.Bucket, b.Calls, 100*b.Share, b.Usable, b.Remaining, b.Limit)
		} else {
			fmt.Fprintf(w, "  bucket %s: %d calls (budget not known yet: no call of this window has shown it)\n", b.Bucket, b.Calls)
		}
	}
}
