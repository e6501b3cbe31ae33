package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// types maps apiVersion/kind to a new value of its Go type.
var types = map[string]func() any{
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Namespace":                            func() any { return &corev1.Namespace{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monv1.PrometheusRule{} },
}

// Kustomize's own file is not a Kubernetes object.
const kustomization = "kustomize.config.k8s.io/v1beta1/Kustomization"

// checkK8s decodes every object of every *.yaml in dir strictly into its
// Go API type, so a misspelled field, a field at the wrong level or a value
// of the wrong type fails.
func checkK8s(dir string) (objects int, problems []string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return 0, []string{"no manifests in " + dir}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return objects, append(problems, err.Error())
		}
		for _, doc := range bytes.Split(b, []byte("\n---\n")) {
			objects++
			if err := checkObject(doc); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", f, err))
			}
		}
	}
	return objects, problems
}

func checkObject(doc []byte) error {
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
