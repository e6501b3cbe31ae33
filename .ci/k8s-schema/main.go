// Command k8s-schema checks deploy/k8s against the Kubernetes and
// Prometheus Operator API types, offline: each object is decoded strictly
// into its Go type, so a misspelled field, a field at the wrong level or a
// value of the wrong type fails. cmd/oktaq/deploy_test.go checks what the
// objects mean; this checks that Kubernetes would accept their shape.
// It is its own module so that the main module does not depend on
// k8s.io/api. Run: cd .ci/k8s-schema && go run . ../../deploy/k8s
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// types maps apiVersion/kind to a new value of its Go type.
var types = map[string]func() any{
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"v1/Namespace":                  func() any { return &corev1.Namespace{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monv1.PrometheusRule{} },
}

// Kustomize's own file is not a Kubernetes object.
const kustomization = "kustomize.config.k8s.io/v1beta1/Kustomization"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-schema DIR")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(os.Args[1], "*.yaml"))
	if err != nil || len(files) == 0 {
		fmt.Fprintf(os.Stderr, "k8s-schema: no manifests in %s\n", os.Args[1])
		os.Exit(1)
	}
	bad, n := 0, 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, doc := range bytes.Split(b, []byte("\n---\n")) {
			if err := check(doc); err != nil {
				fmt.Printf("%s: %v\n", f, err)
				bad++
			}
			n++
		}
	}
	fmt.Printf("k8s-schema: %d objects, %d invalid\n", n, bad)
	if bad > 0 {
		os.Exit(1)
	}
}

func check(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	key := head.APIVersion + "/" + head.Kind
	if key == kustomization {
		return nil
	}
	newObj, ok := types[key]
	if !ok {
		return fmt.Errorf("%s: no schema known here; add its Go type", key)
	}
	if err := yaml.UnmarshalStrict(doc, newObj()); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}
