package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/tasks"
)

func init() {
	register("enqueue", "enqueue one action (talks to Redis directly)", runEnqueue)
}

// cliProducer is the producer `oktaq enqueue` enqueues as: list it in
// OKTAQ_PRODUCER_ROLES with the roles operators may assert.
const cliProducer = "cli"

// newEnqueueClient builds the producer client from the worker's
// configuration: same Redis, keys, policy, attempts and deadlines.
// producerClient loads the configuration and builds the producer client,
// for the commands that enqueue or read actions.
func producerClient(env *cmdEnv) (*config.Config, *enqueue.Client, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, err
	}
	warnConfig(env, cfg)
	c, err := newEnqueueClient(cfg, nil)
	return cfg, c, err
}

// Only each connection's scopes and roles are read, not its secrets.
// users, when not nil, reads user views (the API).
func newEnqueueClient(cfg *config.Config, users enqueue.UserReader) (*enqueue.Client, error) {
	policies, err := cfg.Policies()
	if err != nil {
		return nil, err
	}
	return enqueue.New(cfg.Redis, enqueue.Options{
		Producer: cliProducer, Producers: cfg.Producers,
		Keyring: cfg.Keyring, Connections: policies,
		Retention: cfg.Env.ResultRetention, Deadline: cfg.Env.TaskDeadline, MaxAttempts: cfg.Env.MaxAttempts,
		Users:       users,
		Playbooks:   cfg.Playbooks,
		ApprovalTTL: cfg.Env.ApprovalTTL,
	}), nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type enqueueFlags struct {
	user, role, requester, ticket, connection, key, resultKey string
	verifyUser                                                string
	until                                                     time.Time
	addGroups, removeGroups, assignApps, unassignApps         listFlag
	bulk, sendEmail, revokeSessions, tempPassword, oauth      bool
	notifyAdmins, removeRecovery, wait, asJSON                bool
	timeout                                                   time.Duration
}

func runEnqueue(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "enqueue", "ACTION --user LOGIN_OR_ID --role ROLE [flags]")
	var f enqueueFlags
	fs.StringVar(&f.user, "user", "", "target user: Okta id (00u...) or login (required)")
	fs.StringVar(&f.role, "role", "", "requester's role, checked against OKTAQ_ROLES (required)")
	fs.StringVar(&f.requester, "requester", defaultRequester(), "requester id")
	fs.StringVar(&f.ticket, "ticket", "", "ticket id")
	fs.StringVar(&f.connection, "connection", "", "connection name (default \"default\")")
	fs.StringVar(&f.key, "key", "", "idempotency key: a repeat returns the existing task")
	fs.StringVar(&f.resultKey, "result-key", "", "base64 X25519 public key to seal returned secrets to")
	fs.Var(&f.addGroups, "add-group", "group to add the user to, by id or exact name (repeatable)")
	fs.Var(&f.removeGroups, "remove-group", "group to remove the user from (repeatable)")
	fs.Var(&f.assignApps, "assign-app", "app to assign, by id or exact label (repeatable)")
	fs.Var(&f.unassignApps, "unassign-app", "app to unassign (repeatable)")
	fs.BoolVar(&f.bulk, "bulk", false, "bulk work: waits behind interactive requests")
	fs.StringVar(&f.verifyUser, "verify-user", "", "push: the user confirms the caller with an Okta Verify push first")
	fs.Func("until", "groups.update, apps.update: the added access ends at this RFC 3339 time (a removal is scheduled)", func(s string) error {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("want an RFC 3339 time, like 2026-01-02T18:00:00Z")
		}
		f.until = t
		return nil
	})
	fs.BoolVar(&f.sendEmail, "send-email", true, "activate, reactivate, reset_password: Okta emails the user")
	fs.BoolVar(&f.revokeSessions, "revoke-sessions", false, "reset_password, expire_password: end the user's sessions")
	fs.BoolVar(&f.tempPassword, "temp-password", false, "expire_password: return a temporary password (needs --result-key)")
	fs.BoolVar(&f.oauth, "oauth-tokens", true, "clear_sessions: revoke OAuth tokens too (default true)")
	fs.BoolVar(&f.notifyAdmins, "notify-admins", false, "deactivate: email the org's admins")
	fs.BoolVar(&f.removeRecovery, "remove-recovery", false, "reset_mfa: remove the recovery enrollment too")
	fs.BoolVar(&f.wait, "wait", false, "wait for the final state and print the result")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long --wait waits")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	fs.Usage = enqueueUsage(fs)
	action, err := parseOneArg(fs, args)
	if err != nil {
		return err
	}
	switch {
	case action == "":
		return usagef("name an action, one of: %s", actionNames())
	case f.user == "":
		return usagef("--user is required: the target user's Okta id (00u...) or login")
	case f.role == "":
		return usagef("--role is required: the requester's role, checked against OKTAQ_ROLES")
	}
	a, err := buildArgs(tasks.Action(action), &f, fs)
	if err != nil {
		return err
	}
	_, c, err := producerClient(env)
	if err != nil {
		return err
	}
	defer c.Close()
	var opts []enqueue.EnqueueOption
	if f.bulk {
		opts = append(opts, enqueue.Bulk())
	}
	info, err := c.Enqueue(ctx, a, opts...)
	if err != nil {
		return err
	}
	if !f.wait {
		if f.asJSON {
			return printJSON(env.stdout, info.View())
		}
		fmt.Fprintln(env.stdout, info.ID)
		return nil
	}
	fmt.Fprintln(env.stderr, "enqueued", info.ID, "- waiting")
	info, err = waitFinal(ctx, c, info.ID, f.timeout)
	if err != nil {
		return err
	}
	return reportFinal(env.stdout, info, f.asJSON)
}

func defaultRequester() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func actionNames() string {
	var names []string
	for _, a := range tasks.Actions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

// buildArgs makes the action's typed request from the flags, refusing a
// flag that does not apply to the action.
func buildArgs(action tasks.Action, f *enqueueFlags, fs *flag.FlagSet) (tasks.Args, error) {
	a, ok := tasks.New(action)
	if !ok {
		return nil, usagef("unknown action %q; one of: %s", action, actionNames())
	}
	*a.Base() = tasks.Request{User: f.user, Connection: f.connection, IdempotencyKey: f.key, ResultKey: f.resultKey,
		Requester: tasks.Requester{ID: f.requester, Role: f.role}, VerifyUser: f.verifyUser}
	if f.ticket != "" {
		a.Base().Ticket = tasks.Ticket{System: "cli", ID: f.ticket}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	used := map[string]bool{}
	sendEmail := func() *bool {
		used["send-email"] = true
		if set["send-email"] {
			return tasks.Bool(f.sendEmail)
		}
		return nil
	}
	switch t := a.(type) {
	case *tasks.Activate:
		t.Options.SendEmail = sendEmail()
	case *tasks.Reactivate:
		t.Options.SendEmail = sendEmail()
	case *tasks.Deactivate:
		t.Options.NotifyAdmins, used["notify-admins"] = f.notifyAdmins, true
	case *tasks.ResetPassword:
		t.Options.SendEmail = sendEmail()
		t.Options.RevokeSessions, used["revoke-sessions"] = f.revokeSessions, true
	case *tasks.ExpirePassword:
		t.Options.TempPassword, used["temp-password"] = f.tempPassword, true
		t.Options.RevokeSessions, used["revoke-sessions"] = f.revokeSessions, true
	case *tasks.ResetMFA:
		t.Options.RemoveRecoveryEnrollment, used["remove-recovery"] = f.removeRecovery, true
	case *tasks.ClearSessions:
		t.Options.OAuthTokens, used["oauth-tokens"] = tasks.Bool(f.oauth), true
	case *tasks.UpdateGroups:
		t.Groups = tasks.GroupChanges{Add: f.addGroups, Remove: f.removeGroups, Until: f.until}
		used["add-group"], used["remove-group"], used["until"] = true, true, true
	case *tasks.UpdateApps:
		t.Apps = tasks.AppChanges{Assign: f.assignApps, Unassign: f.unassignApps, Until: f.until}
		used["assign-app"], used["unassign-app"], used["until"] = true, true, true
	}
	for _, name := range actionFlagNames {
		if set[name] && !used[name] {
			return nil, usagef("--%s does not apply to %s", name, action)
		}
	}
	return a, nil
}

// waitFinal waits, as the Go client's Wait does, until the task is
// completed or archived, for at most timeout.
func waitFinal(ctx context.Context, c *enqueue.Client, id string, timeout time.Duration) (*enqueue.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := c.Wait(ctx, id)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w after %v; check later with: oktaq status %s", err, timeout, id)
	}
	return info, err
}

// reportFinal prints a finished task; the error makes the exit code 1
// when the action failed or was rejected.
func reportFinal(w io.Writer, info *enqueue.Info, asJSON bool) error {
	if asJSON {
		if err := printJSON(w, info.View()); err != nil {
			return err
		}
	} else {
		printStatus(w, info)
	}
	if info.Result != nil && (info.Result.Outcome == tasks.OutcomeSucceeded || info.Result.Outcome == tasks.OutcomeNoOp) {
		return nil
	}
	return fmt.Errorf("task %s did not succeed", info.ID)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
