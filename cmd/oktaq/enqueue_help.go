package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oktaq/oktaq/tasks"
)

// actionHelp says, for `oktaq enqueue --help`, what each action does and
// which of the action-specific flags apply to it. buildArgs refuses the
// others; a test keeps the two in step.
var actionHelp = map[tasks.Action]struct {
	does  string
	flags []string
}{
	tasks.ActionActivate:       {"activate a staged or provisioned user", []string{"send-email"}},
	tasks.ActionReactivate:     {"send a provisioned user a new activation", []string{"send-email"}},
	tasks.ActionDeactivate:     {"deactivate a user (deprovisioned)", []string{"notify-admins"}},
	tasks.ActionSuspend:        {"suspend an active user", nil},
	tasks.ActionUnsuspend:      {"return a suspended user to active", nil},
	tasks.ActionUnlock:         {"unlock a locked-out user", nil},
	tasks.ActionResetPassword:  {"start a password reset", []string{"send-email", "revoke-sessions", "result-key"}},
	tasks.ActionExpirePassword: {"expire the password", []string{"temp-password", "revoke-sessions", "result-key"}},
	tasks.ActionResetMFA:       {"remove every enrolled factor", []string{"remove-recovery"}},
	tasks.ActionClearSessions:  {"end every session of the user", []string{"oauth-tokens"}},
	tasks.ActionUpdateGroups:   {"add to and remove from groups", []string{"add-group", "remove-group", "until"}},
	tasks.ActionUpdateApps:     {"assign and unassign apps", []string{"assign-app", "unassign-app", "until"}},
}

// actionFlagNames are the flags that apply to some actions only.
var actionFlagNames = []string{"send-email", "notify-admins", "revoke-sessions", "temp-password", "remove-recovery",
	"oauth-tokens", "add-group", "remove-group", "assign-app", "unassign-app", "until"}

// enqueueUsage prints the usage line, the actions with their own flags,
// then every flag.
func enqueueUsage(fs *flag.FlagSet) func() {
	return func() {
		w := fs.Output()
		fmt.Fprint(w, "Usage: oktaq enqueue ACTION --user LOGIN_OR_ID --role ROLE [flags]\n\nActions:\n")
		for _, a := range tasks.Actions() {
			h := actionHelp[a]
			fmt.Fprintf(w, "  %-21s %s", a, h.does)
			if len(h.flags) > 0 {
				fmt.Fprintf(w, " (--%s)", strings.Join(h.flags, ", --"))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprint(w, "\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(w, "\nExample:\n  oktaq enqueue user.reset_mfa --user alice@example.com --role it-admin --ticket REQ-7 --wait\n")
		io.WriteString(w, "\nConfiguration: the worker's OKTAQ_REDIS_URL, OKTAQ_SIGNING_KEYS, OKTAQ_ROLES and OKTAQ_OKTA_SCOPES.\n")
	}
}
