package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/internal/config"
)

// base sets a minimal valid configuration.
func base(t *testing.T) {
	t.Setenv("OKTAQ_SIGNING_KEYS", "k1=0123456789abcdef-signing")
	t.Setenv("OKTAQ_OKTA_DOMAIN", "acme.okta.com")
	t.Setenv("OKTAQ_OKTA_CLIENT_ID", "0oa-client")
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET", "s3cret-client-secret")
	t.Setenv("OKTAQ_ROLES", "*=it-admin")
}

func TestLoadDefaults(t *testing.T) {
	base(t)
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cfg.Connection()
	if err != nil {
		t.Fatal(err)
	}
	if conn.BaseURL != "https://acme.okta.com" || cfg.Queues["critical"] != 6 || cfg.Env.Concurrency != 10 {
		t.Fatalf("defaults: %s %v %d", conn.BaseURL, cfg.Queues, cfg.Env.Concurrency)
	}
	if conn.Authorize("user.suspend", "it-admin") != nil || conn.Authorize("user.suspend", "helpdesk") == nil {
		t.Fatal("roles not applied")
	}
}

// TestBadValues: each wrong value stops the start with a message naming
// its variable.
func TestBadValues(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"OKTAQ_OKTA_SCOPES", "okta.users.read,okta.userz.manage", "OKTAQ_OKTA_SCOPES"},
		{"OKTAQ_OKTA_SCOPES", "okta.users.manage", ""}, // manage includes read
		{"OKTAQ_OKTA_SCOPES", "okta.groups.manage", "okta.users.read"},
		{"OKTAQ_ROLES", "user.suspend", "OKTAQ_ROLES"},
		{"OKTAQ_ROLES", "user.delete=it-admin", "unknown action"},
		{"OKTAQ_ROLES", "*=", "empty role"},
		{"OKTAQ_REDIS_URL", "http://127.0.0.1:6379", "OKTAQ_REDIS_URL"},
		{"OKTAQ_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/zero", "OKTAQ_REDIS_URL"},
		{"OKTAQ_REDIS_URL", "redis-sentinel://127.0.0.1:26379", "master"},
		{"OKTAQ_SIGNING_KEYS", "k1=short", "OKTAQ_SIGNING_KEYS"},
		{"OKTAQ_SIGNING_KEYS", "", "OKTAQ_SIGNING_KEYS"},
		{"OKTAQ_QUEUES", "critical=6,default=3", "low"},
		{"OKTAQ_CONCURRENCY", "many", "OKTAQ_CONCURRENCY"},
		{"OKTAQ_CONCURRENCY", "0", "OKTAQ_CONCURRENCY"},
		{"OKTAQ_LOG_LEVEL", "loud", "OKTAQ_LOG_LEVEL"},
		{"OKTAQ_RATE_RESERVE", "1.5", "OKTAQ_RATE_RESERVE"},
		{"OKTAQ_TASK_DEADLINE", "soon", "OKTAQ_TASK_DEADLINE"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			base(t)
			t.Setenv(tt.name, tt.value)
			_, err := config.Load()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want ok, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error echoes the password: %v", err)
			}
		})
	}
}

func TestConnectionErrors(t *testing.T) {
	tests := []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"OKTAQ_OKTA_DOMAIN": "http://acme.okta.com"}, "OKTAQ_OKTA_DOMAIN"},
		{map[string]string{"OKTAQ_OKTA_DOMAIN": "http://127.0.0.1:8180"}, "OKTAQ_OKTA_ALLOW_HTTP"},
		{map[string]string{"OKTAQ_OKTA_DOMAIN": "http://10.0.0.5", "OKTAQ_OKTA_ALLOW_HTTP": "true"}, "loopback"},
		{map[string]string{"OKTAQ_OKTA_DOMAIN": "acme.okta.com/oauth2/default"}, "no path"},
		{map[string]string{"OKTAQ_OKTA_CLIENT_SECRET": ""}, "neither a client secret nor a private key"},
		{map[string]string{"OKTAQ_OKTA_API_TOKEN": "ssws-token"}, "not both"},
		{map[string]string{"OKTAQ_OKTA_PRIVATE_KEY_FILE": "/nonexistent/key.pem", "OKTAQ_OKTA_CLIENT_SECRET": ""}, "OKTAQ_OKTA_PRIVATE_KEY_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			base(t)
			for k, v := range tt.set {
				t.Setenv(k, v)
			}
			cfg, err := config.Load()
			if err == nil {
				_, err = cfg.Connection()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("simulator on loopback", func(t *testing.T) {
		base(t)
		t.Setenv("OKTAQ_OKTA_DOMAIN", "http://127.0.0.1:8180")
		t.Setenv("OKTAQ_OKTA_ALLOW_HTTP", "true")
		cfg, err := config.Load()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Connection(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSecretFromFile(t *testing.T) {
	base(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("from-the-file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET", "")
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET_FILE", path)
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Env.OktaClientSecret.Reveal(); got != "from-the-file-secret" {
		t.Fatalf("secret = %q", got)
	}
	// The worker reads the file again at each token fetch (rotation).
	if conn, err := cfg.Connection(); err != nil || conn.Credentials.ClientSecretFile != path {
		t.Fatalf("connection keeps no secret file: %v %+v", err, conn)
	}
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET", "both")
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Fatalf("both VAR and VAR_FILE: %v", err)
	}
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET", "")
	t.Setenv("OKTAQ_OKTA_CLIENT_SECRET_FILE", filepath.Join(dir, "missing"))
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "OKTAQ_OKTA_CLIENT_SECRET_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestSecretsRedacted sets every secret variable to a marker and proves the
// marker appears neither in the printed configuration nor in its log form.
func TestSecretsRedacted(t *testing.T) {
	base(t)
	markers := map[string]string{}
	for i, v := range config.SecretVars() {
		m := "MARKER" + strings.Repeat("x", i) + "-secret-value-0123456789"
		markers[v] = m
		t.Setenv(v, m)
	}
	t.Setenv("OKTAQ_REDIS_URL", "redis://:"+markers["OKTAQ_REDIS_URL"]+"@127.0.0.1:6379/0")
	t.Setenv("OKTAQ_SIGNING_KEYS", "k1="+markers["OKTAQ_SIGNING_KEYS"])
	cfg, err := config.Read()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "env", cfg)
	printed := cfg.String() + logs.String()
	for v, m := range markers {
		if strings.Contains(printed, m) {
			t.Errorf("%s leaks into the printed config:\n%s", v, printed)
		}
	}
	if !strings.Contains(printed, "OKTAQ_OKTA_CLIENT_ID=0oa-client") {
		t.Errorf("non-secret values should print:\n%s", printed)
	}
}
