package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// playbookEnv starts the demo in-process (worker, simulator, embedded
// Redis) and sets the environment the CLI needs to reach it; okta adds
// the connection's credentials, which only a dry run needs.
func playbookEnv(t *testing.T, okta bool) {
	t.Helper()
	t.Setenv("OKTAQ_REDIS_URL", "")
	ports := freePorts(t, 4)
	d, err := startDev(t.Context(), devFlags{apiAddr: ports[0], adminAddr: ports[1], simAddr: ports[2], redisAddr: ports[3]},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	for k, v := range map[string]string{"OKTAQ_REDIS_URL": d.redisURL, "OKTAQ_SIGNING_KEYS": devSigningKeys,
		"OKTAQ_OKTA_SCOPES": strings.Join(oktasim.ManageScopes, ","), "OKTAQ_ROLES": devRoles, "OKTAQ_PRODUCER_ROLES": devProducerRoles} {
		t.Setenv(k, v)
	}
	if okta {
		for k, v := range map[string]string{"OKTAQ_OKTA_DOMAIN": d.simURL, "OKTAQ_OKTA_ALLOW_HTTP": "true",
			"OKTAQ_OKTA_CLIENT_ID": oktasim.DemoClientID, "OKTAQ_OKTA_CLIENT_SECRET": oktasim.DemoClientSecret} {
			t.Setenv(k, v)
		}
	}
}

func TestPlaybookUsage(t *testing.T) {
	setProducerEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"playbook"}, "name a subcommand"},
		{[]string{"playbook", "frob"}, `unknown subcommand "frob"`},
		{[]string{"playbook", "run", "--user", "a@example.com", "--role", "it-admin"}, "name a playbook"},
		{[]string{"playbook", "run", "contain", "--role", "it-admin"}, "--user is required"},
		{[]string{"playbook", "run", "contain", "--user", "a@example.com"}, "--role is required"},
		{[]string{"playbook", "run", "contain", "--user", "a", "--role", "r", "--dry-run", "--wait"}, "--dry-run and --wait"},
		{[]string{"playbook", "status"}, "give one run id"},
		{[]string{"playbook", "undo", "pb-1"}, "--role is required"},
	} {
		code, out, errs := runCmd(t, tt.args...)
		if code != 2 || out != "" || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "Usage: oktaq playbook") {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", tt.args, code, out, errs)
		}
	}
	for _, args := range [][]string{{"playbook", "--help"}, {"playbook", "run", "--help"}, {"playbook", "status", "-h"}} {
		if code, out, errs := runCmd(t, args...); code != 0 || !strings.Contains(out, "Usage: oktaq playbook") || errs != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	code, _, errs := runCmd(t, "playbook", "run", "leaver", "--user", "a@example.com", "--role", "it-admin")
	if code != 1 || !strings.Contains(errs, `unknown playbook "leaver"`) || !strings.Contains(errs, "contain, offboard") {
		t.Errorf("unknown playbook: exit %d, %s", code, errs)
	}
}

// TestPlaybookRunStatusUndo: a contain run through the CLI, waited for,
// read with status, undone; a run that fails exits 1.
func TestPlaybookRunStatusUndo(t *testing.T) {
	playbookEnv(t, false)
	code, out, errs := runCmd(t, "playbook", "run", "contain", "--user", "niaj@example.com", "--role", "it-admin", "--ticket", "REQ-7", "--wait", "--json")
	var run tasks.Run
	if code != 0 || json.Unmarshal([]byte(out), &run) != nil || run.State != tasks.RunSucceeded || len(run.Steps) != 2 ||
		run.Steps[0].Outcome != tasks.OutcomeSucceeded || run.Steps[1].Outcome != tasks.OutcomeSucceeded || run.Snapshot.Status != "ACTIVE" {
		t.Fatalf("run --wait: exit %d, %s\n%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "playbook", "status", run.ID)
	if code != 0 || !strings.Contains(out, "state:    succeeded") || !strings.Contains(out, "user.clear_sessions") ||
		!strings.Contains(out, "oktaq playbook undo "+run.ID) {
		t.Errorf("status: exit %d, %s %s", code, out, errs)
	}
	code, out, errs = runCmd(t, "playbook", "undo", run.ID, "--role", "it-admin", "--wait")
	if code != 0 || !strings.Contains(out, "state:    succeeded") || !strings.Contains(out, "undoes:   "+run.ID) ||
		!strings.Contains(out, "not restored: MFA factors") {
		t.Errorf("undo: exit %d, %s %s", code, out, errs)
	}
	// The user does not exist: the run fails, and so does the command.
	code, out, errs = runCmd(t, "playbook", "run", "contain", "--user", "nobody@example.com", "--role", "it-admin", "--wait")
	if code != 1 || !strings.Contains(out, "state:    failed") || !strings.Contains(errs, "ended failed") {
		t.Errorf("failed run: exit %d, %s %s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "playbook", "status", "pb-nosuchrun"); code != 1 || !strings.Contains(errs, "pb-nosuchrun") {
		t.Errorf("unknown run: exit %d %s", code, errs)
	}
}

// TestPlaybookDryRunCLI: the dry run lists the calls and what would be
// refused, changes nothing, and exits 1 when a step would be refused.
func TestPlaybookDryRunCLI(t *testing.T) {
	playbookEnv(t, true)
	code, out, errs := runCmd(t, "playbook", "run", "contain", "--user", "niaj@example.com", "--role", "it-admin", "--dry-run", "--json")
	var plan tasks.Plan
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || !plan.DryRun || len(plan.Steps) != 2 || plan.Status != "ACTIVE" {
		t.Fatalf("dry run: exit %d, %s\n%s", code, out, errs)
	}
	var deletes int
	for _, c := range plan.Steps[1].Calls {
		if c.Method == "DELETE" && strings.HasSuffix(c.Path, "/sessions") && c.Write {
			deletes++
		}
	}
	if plan.Steps[0].Would != "succeeded" || deletes != 1 {
		t.Errorf("plan steps: %+v", plan.Steps)
	}
	// Nothing changed: a second dry run still sees an ACTIVE user.
	code, out, _ = runCmd(t, "playbook", "run", "contain", "--user", "niaj@example.com", "--role", "it-admin", "--dry-run")
	if code != 0 || !strings.Contains(out, "niaj@example.com (niaj@example.com, ACTIVE)") || !strings.Contains(out, "DELETE") {
		t.Errorf("text dry run: exit %d, %s", code, out)
	}
	// helpdesk may clear sessions but not suspend: refused, exit 1.
	code, out, errs = runCmd(t, "playbook", "run", "contain", "--user", "niaj@example.com", "--role", "helpdesk", "--dry-run")
	if code != 1 || !strings.Contains(out, "1. user.suspend") || !strings.Contains(out, "would be refused") || !strings.Contains(errs, "step 1 (user.suspend) would be refused") {
		t.Errorf("refused dry run: exit %d, %s %s", code, out, errs)
	}
}

// TestPlaybookDryRunNeedsCredentials: without the connection's
// credentials the CLI says why it cannot dry-run.
func TestPlaybookDryRunNeedsCredentials(t *testing.T) {
	playbookEnv(t, false)
	code, _, errs := runCmd(t, "playbook", "run", "contain", "--user", "niaj@example.com", "--role", "it-admin", "--dry-run")
	if code != 1 || !strings.Contains(errs, "dry runs need Okta credentials") {
		t.Errorf("exit %d, %s", code, errs)
	}
}
