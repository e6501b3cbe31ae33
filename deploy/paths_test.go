package deploy_test

// Paths from this package's directory, where `go test` runs its tests.
const (
	readmePath    = "../README.md"
	rulesPath     = "prometheus/rules.yml"
	rulesTestPath = "prometheus/rules_test.yml"
	promRulePath  = "k8s/prometheusrule.yaml"
	runbookBase   = "https://github.com/oktaq/oktaq#"
)
