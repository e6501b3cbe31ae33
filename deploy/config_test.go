package deploy_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
)

// The deploy files: these tests run in deploy/.
const (
	deployDir      = "."
	promConfigPath = deployDir + "/prometheus/prometheus.yml"
	composePath    = deployDir + "/compose.yaml"
	k8sDir         = deployDir + "/k8s"
)

// knownVars are the variables oktaq reads: every config variable and, for
// a secret, its <VAR>_FILE form.
func knownVars() map[string]bool {
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
		if v.Secret {
			known[v.Name+"_FILE"] = true
		}
	}
	return known
}

var oktaqVar = regexp.MustCompile(`\bOKTAQ_[A-Z0-9_]+`)

// unknownVars lists the OKTAQ_* names in text that oktaq does not read.
func unknownVars(text string, known map[string]bool) []string {
	var out []string
	for _, v := range oktaqVar.FindAllString(text, -1) {
		if !known[v] && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// TestDeployVariablesAreRead: every OKTAQ_* name in deploy/ (Dockerfile,
// compose, Kubernetes, scripts) is one the code reads, so a typo fails
// here rather than being silently ignored in production.
func TestDeployVariablesAreRead(t *testing.T) {
	known := knownVars()
	t.Run("a typo is caught", func(t *testing.T) {
		got := unknownVars("OKTAQ_REDIS_ULR=x OKTAQ_SIGNING_KEYS_FILE=/s ${OKTAQ_OKTA_DOMAIN_FILE} OKTAQ_OKTA_PRIVATE_KEY_FILE=/k", known)
		if want := []string{"OKTAQ_REDIS_ULR", "OKTAQ_OKTA_DOMAIN_FILE"}; !slices.Equal(got, want) {
			t.Fatalf("unknownVars = %v, want %v", got, want)
		}
	})
	seen := 0
	err := filepath.WalkDir(deployDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch ext := filepath.Ext(p); {
		case strings.HasSuffix(p, "_test.go"), d.Name() == "doc.go": // these checks themselves
			return nil
		case ext == ".yaml", ext == ".yml", ext == ".sh", ext == ".go", strings.HasPrefix(d.Name(), "Dockerfile"):
		default:
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		seen += len(oktaqVar.FindAllString(string(b), -1))
		for _, v := range unknownVars(string(b), known) {
			t.Errorf("%s: %s is not a variable oktaq reads (see config.Vars; secrets also take <VAR>_FILE)", p, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 20 {
		t.Fatalf("only %d OKTAQ_* references under deploy/: the walk missed the manifests", seen)
	}
}

// component is what a worker or API container is given, from compose or
// Kubernetes, for the checks both share.
type component struct {
	where, kind string            // kind: worker or api
	env         map[string]string // effective OKTAQ_* environment
	// secretFile checks that a *_FILE path is mounted from a secret and
	// returns what the file would hold.
	secretFile func(p string) (string, error)
}

// check: the variables the command needs are there, listeners are
// reachable from outside the container, and secrets come from files.
func (c component) check(t *testing.T) {
	t.Helper()
	need := []string{"OKTAQ_REDIS_URL", "OKTAQ_SIGNING_KEYS_FILE", "OKTAQ_ADMIN_ADDR"}
	switch c.kind {
	case "worker":
		need = append(need, "OKTAQ_OKTA_DOMAIN", "OKTAQ_OKTA_CLIENT_ID", "OKTAQ_OKTA_CLIENT_SECRET_FILE")
	case "api":
		need = append(need, "OKTAQ_API_ADDR", "OKTAQ_API_TOKENS", "OKTAQ_ADMIN_PASSWORD_FILE")
	default:
		t.Errorf("%s: unknown component %q", c.where, c.kind)
	}
	for _, v := range need {
		if c.env[v] == "" {
			t.Errorf("%s: %s is not set", c.where, v)
		}
	}
	for _, v := range []string{"OKTAQ_ADMIN_ADDR", "OKTAQ_API_ADDR"} {
		if a, ok := c.env[v]; ok && !strings.HasPrefix(a, "0.0.0.0:") && !strings.HasPrefix(a, ":") {
			t.Errorf("%s: %s=%s; in a container it must listen on all interfaces (0.0.0.0:PORT)", c.where, v, a)
		}
	}
	secret := map[string]bool{}
	for _, s := range config.SecretVars() {
		secret[s] = true
	}
	files := map[string]string{}
	for name, val := range c.env {
		if file, ok := strings.CutSuffix(name, "_FILE"); ok && secret[file] {
			content, err := c.secretFile(val)
			if err != nil {
				t.Errorf("%s: %s=%s: %v", c.where, name, val, err)
			}
			files[name] = content
			continue
		}
		if !secret[name] {
			continue
		}
		// The Redis URL is a secret only when it holds a password.
		if u, err := url.Parse(val); name == "OKTAQ_REDIS_URL" && err == nil {
			if _, hasPass := u.User.Password(); !hasPass {
				continue
			}
		}
		t.Errorf("%s: secret %s is given as a value; mount it and use %s_FILE", c.where, name, name)
	}
	c.load(t, files)
}

// load reads the configuration as the command does at start (config.Load,
// then the Okta connection for a worker and the producers for the API),
// with only c.env set and each secret file holding files[VAR_FILE].
func (c component) load(t *testing.T, files map[string]string) {
	t.Helper()
	for v := range knownVars() {
		t.Setenv(v, "") // restored when the test ends
		os.Unsetenv(v)
	}
	dir := t.TempDir()
	for name, val := range c.env {
		if content, ok := files[name]; ok {
			val = filepath.Join(dir, strings.ToLower(name))
			if err := os.WriteFile(val, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if strings.HasPrefix(name, "OKTAQ_") {
			os.Setenv(name, val)
		}
	}
	cfg, err := config.Load()
	if err != nil {
		t.Errorf("%s: oktaq %s would not start: %v", c.where, c.kind, err)
		return
	}
	switch c.kind {
	case "worker":
		_, err = cfg.Connection()
	case "api":
		_, err = enqueue.ParseProducers(cfg.Env.APITokens)
	}
	if err != nil {
		t.Errorf("%s: oktaq %s would not start: %v", c.where, c.kind, err)
	}
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	ReadOnly    bool              `yaml:"read_only"`
	Deploy      struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

func TestComposeFile(t *testing.T) {
	var c composeFile
	readYAML(t, composePath, &c)
	for _, s := range []string{"redis", "worker", "api", "prometheus"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("compose.yaml: no %s service", s)
		}
	}
	redis := c.Services["redis"]
	if cmd := fmt.Sprint(redis.Command); !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync everysec") {
		t.Errorf("redis must persist with AOF (--appendonly yes --appendfsync everysec): command %s", cmd)
	}
	if !hasMount(redis.Volumes, "/data", c.Volumes) {
		t.Errorf("redis: /data is not on a named volume: %v", redis.Volumes)
	}
	if n := c.Services["worker"].Deploy.Replicas; n != 2 {
		t.Errorf("worker: deploy.replicas = %d, want 2", n)
	}
	for _, kind := range []string{"worker", "api"} {
		s := c.Services[kind]
		if cmd := fmt.Sprint(s.Command); cmd != "["+kind+"]" {
			t.Errorf("%s: command %s, want [%s]", kind, cmd, kind)
		}
		if !s.ReadOnly {
			t.Errorf("%s: read_only is not set", kind)
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			env[k] = interpolate(t, v)
		}
		component{where: "compose.yaml " + kind, kind: kind, env: env, secretFile: func(p string) (string, error) {
			name, ok := strings.CutPrefix(p, "/run/secrets/")
			switch {
			case !ok:
				return "", errors.New("not under /run/secrets/")
			case !slices.Contains(s.Secrets, name):
				return "", fmt.Errorf("the service does not mount secret %q", name)
			case c.Secrets[name].File == "":
				return "", fmt.Errorf("no top-level secret %q with a file", name)
			}
			return composeSecrets[name], nil
		}}.check(t)
	}
	prom := c.Services["prometheus"]
	for _, f := range []string{"./prometheus/prometheus.yml", "./prometheus/rules.yml"} {
		if !slices.ContainsFunc(prom.Volumes, func(v string) bool { return strings.HasPrefix(v, f+":") }) {
			t.Errorf("prometheus does not mount %s", f)
		}
		if _, err := os.Stat(filepath.Join(deployDir, f)); err != nil {
			t.Error(err)
		}
	}
}

// What the compose secret files and required variables hold in the test
// (the files are not in git).
var (
	composeSecrets = map[string]string{"signing_keys": "k1=compose-test-signing-key-0123456789",
		"redis_password": "pw", "okta_client_secret": "secret", "admin_password": "compose-test-admin-password"}
	composeRequired = map[string]string{"OKTAQ_OKTA_DOMAIN": "acme.okta.com", "OKTAQ_OKTA_CLIENT_ID": "0oa1example",
		"OKTAQ_API_TOKENS": "helpdesk=" + strings.Repeat("ab", 32)}
	composeVar = regexp.MustCompile(`\$\{(\w+)(?::?([-?])([^}]*))?\}`)
)

// interpolate resolves compose's ${VAR:-default} to the default and
// ${VAR:?message} to composeRequired[VAR], as if the operator set it.
func interpolate(t *testing.T, v string) string {
	t.Helper()
	v = composeVar.ReplaceAllStringFunc(v, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		if p[2] == "-" {
			return p[3]
		}
		val, ok := composeRequired[p[1]]
		if !ok {
			t.Errorf("compose.yaml: ${%s} has no default and the test has no value for it", p[1])
		}
		return val
	})
	return strings.ReplaceAll(v, "$$", "$")
}

func hasMount(volumes []string, target string, named map[string]any) bool {
	for _, v := range volumes {
		src, rest, _ := strings.Cut(v, ":")
		dst, _, _ := strings.Cut(rest, ":")
		if _, ok := named[src]; ok && dst == target {
			return true
		}
	}
	return false
}

// TestPrometheusConfig: compose's Prometheus loads the rules and scrapes
// the jobs the rules name.
func TestPrometheusConfig(t *testing.T) {
	var p struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, promConfigPath, &p)
	if !slices.Contains(p.RuleFiles, "/etc/prometheus/rules.yml") {
		t.Errorf("rule_files %v does not load /etc/prometheus/rules.yml", p.RuleFiles)
	}
	var jobs []string
	for _, s := range p.ScrapeConfigs {
		jobs = append(jobs, s.JobName)
	}
	for _, j := range []string{"oktaq-worker", "oktaq-api"} {
		if !slices.Contains(jobs, j) {
			t.Errorf("no scrape job %s (the alert rules use it): %v", j, jobs)
		}
	}
}

// TestDockerfile: a static, non-root image whose build context holds every
// package the binary needs.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	var user, entrypoint, build string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch rest := strings.TrimSpace(strings.TrimPrefix(line, f[0])); f[0] {
		case "FROM":
			from = append(from, rest)
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entrypoint = rest
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
			}
		}
	}
	if len(from) != 2 || !strings.HasPrefix(from[0], "golang:1.26") || from[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages %v: want golang:1.26 then gcr.io/distroless/static-debian12:nonroot", from)
	}
	if !strings.HasPrefix(user, "nonroot") || entrypoint != `["/oktaq"]` {
		t.Errorf("USER %q ENTRYPOINT %q", user, entrypoint)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "-trimpath") || !strings.Contains(build, "./cmd/oktaq") {
		t.Errorf("build step %q: want CGO_ENABLED=0 go build -trimpath ./cmd/oktaq", build)
	}

	ignore, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}", "../cmd/oktaq").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		top, _, _ := strings.Cut(strings.TrimPrefix(pkg, "github.com/oktaq/oktaq/"), "/")
		if !strings.Contains(string(ignore), "\n!"+top+"/\n") {
			t.Errorf("deploy/Dockerfile.dockerignore leaves out %s/, which the binary needs (%s)", top, pkg)
		}
	}
}
