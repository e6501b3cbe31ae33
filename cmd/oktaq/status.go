package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
)

func init() {
	register("status", "print the state and result of a task", runStatus)
}

func runStatus(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "status", "ID [--json]")
	asJSON := fs.Bool("json", false, "print JSON, as GET /v1/actions/{id} does")
	id, err := parseOneArg(fs, args)
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("give one task id")
	}
	// Reading state needs only Redis: not the signing keys or the roles.
	cfg, err := config.LoadStore()
	if err != nil {
		return err
	}
	warnConfig(env, cfg)
	c := enqueue.New(cfg.Redis, enqueue.Options{})
	defer c.Close()
	info, err := c.Status(ctx, id)
	if err != nil {
		return fmt.Errorf("task %q: %w", id, err)
	}
	if *asJSON {
		return printJSON(env.stdout, info.View())
	}
	printStatus(env.stdout, info)
	return nil
}

func printStatus(w io.Writer, i *enqueue.Info) {
	fmt.Fprintf(w, "id:       %s\naction:   %s\nstate:    %s\nattempts: %d of %d\n", i.ID, i.Action, i.State, i.Attempts, i.MaxAttempts)
	if i.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", i.LastError)
	}
	switch {
	case i.State == enqueue.StateAwaitingApproval:
		fmt.Fprintf(w, "awaiting approval until %s (POST /v1/actions/%s:approve or :deny)\n", i.ApprovalExpiresAt.UTC().Format(time.RFC3339), i.ID)
	case i.State == enqueue.StateAwaitingVerification:
		fmt.Fprintln(w, "awaiting the user's answer to an Okta Verify push")
	}
	if !i.RunAt.IsZero() && !i.Final() {
		fmt.Fprintf(w, "runs at:  %s\n", i.RunAt.UTC().Format(time.RFC3339))
	}
	r := i.Result
	if r == nil {
		return
	}
	fmt.Fprintf(w, "outcome:  %s\n", r.Outcome)
	if r.Okta.StatusBefore != "" || r.Okta.StatusAfter != "" {
		fmt.Fprintf(w, "user:     %s -> %s\n", r.Okta.StatusBefore, r.Okta.StatusAfter)
	}
	for _, it := range r.Items {
		fmt.Fprintf(w, "  %s %s: %s\n", it.Op, it.Ref, it.Outcome)
	}
	if r.Error != nil {
		fmt.Fprintf(w, "error:    %s: %s\n", r.Error.Code, r.Error.Summary)
	}
	if r.Approval != nil {
		fmt.Fprintf(w, "%s by:  %s (%s) at %s\n", r.Approval.Verdict, r.Approval.By.ID, r.Approval.By.Role, r.Approval.At.UTC().Format(time.RFC3339))
	}
	if r.Verification != nil {
		fmt.Fprintf(w, "caller verified by %s: %s\n", r.Verification.Method, r.Verification.Result)
	}
	if r.FollowUp != "" {
		fmt.Fprintf(w, "follow-up: %s (removes the time-bound access)\n", r.FollowUp)
	}
	if len(r.Okta.RequestIDs) > 0 {
		fmt.Fprintf(w, "okta request ids: %s\n", strings.Join(r.Okta.RequestIDs, " "))
	}
	if r.Sealed != nil {
		fmt.Fprintln(w, "sealed secret: present (open it with the result key's private key)")
	}
	if c := r.Confirmation; c != nil {
		fmt.Fprintf(w, "confirmed by okta: %s", c.State)
		if c.EventID != "" {
			fmt.Fprintf(w, " (event %s)", c.EventID)
		}
		if !c.At.IsZero() {
			fmt.Fprintf(w, " at %s", c.At.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
}
