// Package deploy holds no code: its tests check the files in deploy/
// (Prometheus rules and their Kubernetes copy, the Grafana dashboard, the
// runbook anchors) against the README and against the metrics a running
// worker and API serve. The checks that need the command's configuration
// loader (cmd/oktaq/internal/config) live in cmd/oktaq/deploy*_test.go.
package deploy
