package deploy_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestKubernetesManifests: every object is well-formed, the Kustomization
// lists every file, the Deployments run the commands with probes,
// resources, a locked-down security context, a PodDisruptionBudget and a
// configuration oktaq accepts, and Services and ServiceMonitors reach them.
func TestKubernetesManifests(t *testing.T) {
	m := readK8s(t)
	files := map[string]bool{}
	for _, objs := range m {
		for _, o := range objs {
			files[o.file] = true
			if o.APIVersion == "" || o.Kind == "" || (o.Metadata.Name == "" && o.Kind != "Kustomization") {
				t.Errorf("%s: an object lacks apiVersion, kind or metadata.name: %q %q %q", o.file, o.APIVersion, o.Kind, o.Metadata.Name)
			}
		}
	}
	if k := m["Kustomization"]; len(k) == 1 {
		delete(files, "kustomization.yaml")
		want := slices.Sorted(func(yield func(string) bool) {
			for f := range files {
				if !yield(f) {
					return
				}
			}
		})
		if got := slices.Sorted(slices.Values(k[0].Resources)); !slices.Equal(got, want) {
			t.Errorf("kustomization.yaml resources %v, want every manifest %v", got, want)
		}
	} else {
		t.Errorf("want one Kustomization, have %d", len(k))
	}
	var pods []podInfo
	for _, d := range m["Deployment"] {
		pods = append(pods, checkDeployment(t, m, d))
	}
	for _, k := range []string{"worker", "api"} {
		if !slices.ContainsFunc(pods, func(p podInfo) bool { return p.component == k }) {
			t.Errorf("no %s Deployment", k)
		}
	}
	checkServices(t, m, pods)
}

// podInfo is what Services need to know of a Deployment's pods.
type podInfo struct {
	deployment, component string
	labels                map[string]string
	ports                 []string
}

func checkDeployment(t *testing.T, m manifests, d *k8sObject) podInfo {
	t.Helper()
	var spec deploymentSpec
	decodeSpec(t, d, &spec)
	where := d.file + " Deployment/" + d.Metadata.Name
	labels := spec.Template.Metadata.Labels
	if !subset(spec.Selector.MatchLabels, labels) {
		t.Errorf("%s: selector %v does not select its pods %v", where, spec.Selector.MatchLabels, labels)
	}
	if rn := spec.Template.Spec.SecurityContext.RunAsNonRoot; rn == nil || !*rn {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", where)
	}
	if len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: want one container", where)
	}
	c := spec.Template.Spec.Containers[0]
	p := podInfo{deployment: d.Metadata.Name, component: labels["app.kubernetes.io/component"], labels: labels}
	for _, port := range c.Ports {
		p.ports = append(p.ports, port.Name)
	}
	if !slices.Equal(c.Args, []string{p.component}) {
		t.Errorf("%s: args %v, want [%s]", where, c.Args, p.component)
	}
	for _, pr := range []struct {
		name, path string
		p          *probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: no %s", where, pr.name)
		} else if pr.p.HTTPGet.Path != pr.path || fmt.Sprint(pr.p.HTTPGet.Port) != "admin" || !slices.Contains(p.ports, "admin") {
			t.Errorf("%s: %s is %s on port %v; want %s on the container's admin port",
				where, pr.name, pr.p.HTTPGet.Path, pr.p.HTTPGet.Port, pr.path)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("%s: want cpu and memory requests and a memory limit: %+v", where, c.Resources)
	}
	if sc := c.SecurityContext; sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: container must have readOnlyRootFilesystem: true and allowPrivilegeEscalation: false", where)
	}
	component{where: where, kind: p.component, env: containerEnv(t, m, where, c), secretFile: func(path string) (string, error) {
		return secretMounted(path, c, spec.Template.Spec, m)
	}}.check(t)
	if !slices.ContainsFunc(m["PodDisruptionBudget"], func(o *k8sObject) bool {
		var s pdbSpec
		decodeSpec(t, o, &s)
		return reflect.DeepEqual(s.Selector.MatchLabels, spec.Selector.MatchLabels) && s.MinAvailable != nil
	}) {
		t.Errorf("%s: no PodDisruptionBudget with minAvailable selects its pods", where)
	}
	return p
}

// containerEnv is the container's environment: its ConfigMaps, then env.
func containerEnv(t *testing.T, m manifests, where string, c container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		cm := m.named("ConfigMap", ef.ConfigMapRef.Name)
		if cm == nil {
			t.Errorf("%s: envFrom ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "OKTAQ_") && e.Name != "GOMEMLIMIT" {
			t.Errorf("%s: env %s: oktaq reads only OKTAQ_* variables", where, e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

// checkServices: each Service selects a Deployment's pods and targets
// their named ports; ServiceMonitors scrape /metrics of the Services the
// alert rules name as jobs (Prometheus Operator names a job after its
// Service).
func checkServices(t *testing.T, m manifests, pods []podInfo) {
	t.Helper()
	servicePorts := map[string][]string{}
	for _, s := range m["Service"] {
		var spec serviceSpec
		decodeSpec(t, s, &spec)
		i := slices.IndexFunc(pods, func(p podInfo) bool { return subset(spec.Selector, p.labels) })
		if i < 0 {
			t.Errorf("Service %s selects no Deployment's pods", s.Metadata.Name)
			continue
		}
		for _, p := range spec.Ports {
			servicePorts[s.Metadata.Name] = append(servicePorts[s.Metadata.Name], p.Name)
			if !slices.Contains(pods[i].ports, fmt.Sprint(p.TargetPort)) {
				t.Errorf("Service %s port %s targets %v, not a named port of %s", s.Metadata.Name, p.Name, p.TargetPort, pods[i].deployment)
			}
		}
	}
	scraped := map[string]bool{}
	for _, mon := range m["ServiceMonitor"] {
		var spec serviceMonitorSpec
		decodeSpec(t, mon, &spec)
		for _, s := range m["Service"] {
			if !subset(spec.Selector.MatchLabels, s.Metadata.Labels) {
				continue
			}
			scraped[s.Metadata.Name] = true
			for _, e := range spec.Endpoints {
				if !slices.Contains(servicePorts[s.Metadata.Name], e.Port) || e.Path != "/metrics" {
					t.Errorf("ServiceMonitor %s: endpoint %s%s is not a /metrics port of Service %s", mon.Metadata.Name, e.Port, e.Path, s.Metadata.Name)
				}
			}
		}
	}
	for _, s := range []string{"oktaq-worker", "oktaq-api"} {
		if !scraped[s] {
			t.Errorf("no ServiceMonitor scrapes Service %s", s)
		}
	}
}

// k8sObject is one Kubernetes object; spec is decoded by kind.
type k8sObject struct {
	file       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec       yaml.Node         `yaml:"spec"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"` // Kustomization
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deploymentSpec struct {
	Replicas int           `yaml:"replicas"`
	Selector labelSelector `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	SecurityContext struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string       `yaml:"secretName"`
			Items      []secretItem `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type secretItem struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string `yaml:"name"`
		TargetPort any    `yaml:"targetPort"`
	} `yaml:"ports"`
}

type serviceMonitorSpec struct {
	Selector  labelSelector `yaml:"selector"`
	Endpoints []struct {
		Port string `yaml:"port"`
		Path string `yaml:"path"`
	} `yaml:"endpoints"`
}

type pdbSpec struct {
	MinAvailable any           `yaml:"minAvailable"`
	Selector     labelSelector `yaml:"selector"`
}

// manifests are deploy/k8s's objects by kind.
type manifests map[string][]*k8sObject

func (m manifests) named(kind, name string) *k8sObject {
	for _, o := range m[kind] {
		if o.Metadata.Name == name {
			return o
		}
	}
	return nil
}

func readK8s(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	out := manifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			o := &k8sObject{file: filepath.Base(f)}
			if err := dec.Decode(o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" && o.APIVersion == "" && o.Metadata.Name == "" {
				continue // an empty document
			}
			out[o.Kind] = append(out[o.Kind], o)
		}
	}
	return out
}

func decodeSpec(t *testing.T, o *k8sObject, v any) {
	t.Helper()
	if err := o.Spec.Decode(v); err != nil {
		t.Fatalf("%s %s/%s: spec: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
}

// secretMounted checks that path is a file a Secret volume puts in c, and
// returns the Secret's value for it.
func secretMounted(p string, c container, pod podSpec, m manifests) (string, error) {
	dir, file := path.Split(p)
	for _, vm := range c.VolumeMounts {
		if strings.TrimSuffix(vm.MountPath, "/")+"/" != dir {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			key := file
			if len(v.Secret.Items) > 0 {
				i := slices.IndexFunc(v.Secret.Items, func(it secretItem) bool { return it.Path == file })
				if i < 0 {
					return "", fmt.Errorf("volume %s does not project %s", v.Name, file)
				}
				key = v.Secret.Items[i].Key
			}
			s := m.named("Secret", v.Secret.SecretName)
			if s == nil {
				return "", fmt.Errorf("Secret %s is not in the manifests", v.Secret.SecretName)
			}
			if val, ok := s.StringData[key]; ok {
				return val, nil
			}
			if b64, ok := s.Data[key]; ok {
				val, err := base64.StdEncoding.DecodeString(b64)
				return string(val), err
			}
			return "", fmt.Errorf("Secret %s has no key %s", v.Secret.SecretName, key)
		}
	}
	return "", fmt.Errorf("no Secret volume is mounted at %s", dir)
}
