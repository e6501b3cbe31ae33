package deploy_test

import (
	"flag"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var updatePrometheusRule = flag.Bool("update-prometheusrule", false, "rewrite deploy/k8s/prometheusrule.yaml from deploy/prometheus/rules.yml")

// TestPrometheusRuleMatchesRules: the Kubernetes PrometheusRule carries the
// same groups as deploy/prometheus/rules.yml, which promtool tests.
func TestPrometheusRuleMatchesRules(t *testing.T) {
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	if *updatePrometheusRule {
		var b strings.Builder
		b.WriteString("# Generated from deploy/prometheus/rules.yml (the promtool-tested source):\n")
		b.WriteString("#   go test ./deploy -run PrometheusRule -update-prometheusrule\n")
		b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: oktaq\n")
		b.WriteString("  labels:\n    app.kubernetes.io/name: oktaq\nspec:\n")
		header := true
		for _, line := range strings.SplitAfter(string(rules), "\n") {
			if header = header && (strings.HasPrefix(line, "#") || strings.TrimSpace(line) == ""); header {
				continue // the source's own header comment
			}
			if strings.TrimSpace(line) != "" {
				b.WriteString("  ")
			}
			b.WriteString(line)
		}
		if err := os.WriteFile(promRulePath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var want, got struct {
		Groups any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rules, &want); err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Kind string    `yaml:"kind"`
		Spec yaml.Node `yaml:"spec"`
	}
	readYAML(t, promRulePath, &pr)
	if err := pr.Spec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if pr.Kind != "PrometheusRule" || want.Groups == nil || !reflect.DeepEqual(got, want) {
		t.Fatal("deploy/k8s/prometheusrule.yaml differs from deploy/prometheus/rules.yml; run: go test ./deploy -run PrometheusRule -update-prometheusrule")
	}
}

// TestAlertRulesDocumented: every alert has a severity, a summary, a
// description and a runbook in the README, and rules_test.yml shows it
// both firing and staying quiet.
func TestAlertRulesDocumented(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			anchors[githubAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels map[string]string `yaml:"exp_labels"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, rulesTestPath, &tests)
	if !slices.Equal(tests.RuleFiles, []string{"rules.yml"}) {
		t.Errorf("rules_test.yml rule_files = %v, want [rules.yml]", tests.RuleFiles)
	}
	fires, quiet := map[string][]map[string]string{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) == 0 {
				quiet[a.Alertname] = true
			}
			for _, e := range a.ExpAlerts {
				fires[a.Alertname] = append(fires[a.Alertname], e.ExpLabels)
			}
		}
	}
	rules := readRules(t)
	if len(rules) == 0 {
		t.Fatal("no rules")
	}
	for _, r := range rules {
		if !regexp.MustCompile(`^Oktaq[A-Z][A-Za-z]+$`).MatchString(r.Alert) {
			t.Errorf("rule %q: want an alert named OktaqSomething (recording rules belong elsewhere)", r.Alert)
			continue
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		anchor := "runbook-" + strings.ToLower(r.Alert)
		if r.Annotations["runbook_url"] != runbookBase+anchor {
			t.Errorf("%s: runbook_url %q, want %s%s", r.Alert, r.Annotations["runbook_url"], runbookBase, anchor)
		}
		if !anchors[anchor] {
			t.Errorf("%s: README has no heading \"Runbook: %s\" (anchor #%s)", r.Alert, r.Alert, anchor)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: rules_test.yml has no case where it must not fire", r.Alert)
		}
		if !slices.ContainsFunc(fires[r.Alert], func(l map[string]string) bool { return subset(r.Labels, l) }) {
			t.Errorf("%s (labels %v): rules_test.yml has no case where this rule fires", r.Alert, r.Labels)
		}
	}
}

// githubAnchor is the id GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ruleQueries are the expressions of every alert rule.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, r := range readRules(t) {
		out = append(out, query{"alert " + r.Alert, r.Expr})
	}
	return out
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string      `yaml:"name"`
		Rules []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) []alertRule {
	t.Helper()
	var f ruleFile
	readYAML(t, rulesPath, &f)
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// subset: every label of sel (non-empty) is in labels with its value.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
