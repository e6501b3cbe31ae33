// Package deploy holds no code: its tests check the files in deploy/
// (compose file, Kubernetes manifests, Prometheus config and rules and
// their Kubernetes copy, the Grafana dashboard, the Dockerfile, the
// runbook anchors) against the README, against the configuration loader
// (every OKTAQ_* name they set is one oktaq reads, and loads) and against
// the metrics a running worker and API serve.
package deploy
