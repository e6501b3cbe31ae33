package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/internal/config"
)

func writePlaybooks(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPlaybooksFileErrors: a wrong OKTAQ_PLAYBOOKS_FILE stops Load with
// an error naming the variable, the file, the playbook, the step and the
// field.
func TestPlaybooksFileErrors(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown action", `
playbooks:
  - name: leaver
    steps:
      - action: user.suspend
      - action: user.delete`, []string{"playbook leaver", "steps[1].action", `unknown action "user.delete"`}},
		{"on_failure", `
playbooks:
  - name: leaver
    steps:
      - action: user.suspend
        on_failure: maybe`, []string{"playbook leaver", "steps[0].on_failure", "must be stop or continue"}},
		{"option type", `
playbooks:
  - name: lock
    steps:
      - action: user.clear_sessions
        options: {oauth_tokens: "yes"}`, []string{"playbook lock", "steps[0].options"}},
		{"unknown option", `
playbooks:
  - name: lock
    steps:
      - action: user.suspend
      - action: user.clear_sessions
        options: {oauth: true}`, []string{"playbook lock", "steps[1]", "oauth"}},
		{"secret", `
playbooks:
  - name: pw
    steps:
      - action: user.expire_password
        options: {temp_password: true}`, []string{"playbook pw", "steps[0].options", "secret"}},
		{"every misplaced", `
playbooks:
  - name: join
    steps:
      - action: user.groups.update
        groups: {add: ["*"]}`, []string{"playbook join", "steps[0].groups", "every group"}},
		{"every with others", `
playbooks:
  - name: leave
    steps:
      - action: user.apps.update
        apps: {unassign: ["*", "Slack"]}`, []string{"playbook leave", "steps[0].apps"}},
		{"empty steps", `
playbooks:
  - name: nothing
    steps: []`, []string{"playbook nothing", "steps", "is empty"}},
		{"bad name", `
playbooks:
  - name: Leaver One
    steps: [{action: user.suspend}]`, []string{"playbook Leaver One", "name"}},
		{"no name", `
playbooks:
  - steps: [{action: user.suspend}]`, []string{"playbook #1", "name"}},
		{"built-in", `
playbooks:
  - name: contain
    steps: [{action: user.suspend}]`, []string{"playbook contain", "built-in"}},
		{"twice", `
playbooks:
  - name: lock
    steps: [{action: user.suspend}]
  - name: lock
    steps: [{action: user.clear_sessions}]`, []string{"playbook lock", "defined twice"}},
		{"unknown key", `
playbooks:
  - name: lock
    steps:
      - action: user.suspend
        onfailure: stop`, []string{"onfailure"}},
		{"not yaml", `playbooks: [`, []string{"playbooks file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base(t)
			path := writePlaybooks(t, "playbooks.yaml", tt.body)
			t.Setenv("OKTAQ_PLAYBOOKS_FILE", path)
			_, err := config.Load()
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			for _, w := range append([]string{"OKTAQ_PLAYBOOKS_FILE", path}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestPlaybooksFileMissing(t *testing.T) {
	base(t)
	path := filepath.Join(t.TempDir(), "absent.yaml")
	t.Setenv("OKTAQ_PLAYBOOKS_FILE", path)
	_, err := config.Load()
	if err == nil || !strings.Contains(err.Error(), "OKTAQ_PLAYBOOKS_FILE") || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want an error naming the variable and %s", err, path)
	}
}

// TestPlaybooksFileLoads: YAML and JSON both load, beside the built-ins.
func TestPlaybooksFileLoads(t *testing.T) {
	for name, body := range map[string]string{
		"playbooks.yaml": `
playbooks:
  - name: leaver
    description: leaves the company
    steps:
      - action: user.suspend
      - action: user.groups.update
        groups: {remove: ["*"]}
        on_failure: continue
      - action: user.apps.update
        apps: {unassign: ["*"]}`,
		"playbooks.json": `{"playbooks": [{"name": "leaver", "steps": [{"action": "user.suspend"},
			{"action": "user.groups.update", "groups": {"remove": ["*"]}, "on_failure": "continue"},
			{"action": "user.apps.update", "apps": {"unassign": ["*"]}}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			base(t)
			t.Setenv("OKTAQ_PLAYBOOKS_FILE", writePlaybooks(t, name, body))
			cfg, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			pb := cfg.Playbooks["leaver"]
			if pb == nil || len(pb.Steps) != 3 || !pb.Steps[1].EveryGroup() || !pb.Steps[1].Continues() || pb.Steps[2].Continues() {
				t.Fatalf("leaver = %+v", pb)
			}
			if cfg.Playbooks["offboard"] == nil || cfg.Playbooks["contain"] == nil {
				t.Fatal("the built-in playbooks are missing")
			}
		})
	}
}
