package config_test

import (
	"strings"
	"testing"

	"github.com/oktaq/oktaq/internal/config"
)

func TestUnknownVars(t *testing.T) {
	tests := []struct {
		env  string
		want string // "" when no warning is due
	}{
		{"OKTAQ_OKTA_SCOPE=okta.users.read", "OKTAQ_OKTA_SCOPE is not a variable oktaq reads; it is ignored (did you mean OKTAQ_OKTA_SCOPES?)"},
		{"OKTAQ_REDIS_ULR=redis://x", "(did you mean OKTAQ_REDIS_URL?)"},
		{"OKTAQ_SIGNING_KEY_FILE=/run/secrets/k", "(did you mean OKTAQ_SIGNING_KEYS_FILE?)"},
		{"OKTAQ_CONCURENCY=4", "(did you mean OKTAQ_CONCURRENCY?)"},
		{"OKTAQ_LOGLEVEL=debug", "(did you mean OKTAQ_LOG_LEVEL?)"},
		{"OKTAQ_SOMETHING_ELSE_ENTIRELY=1", "OKTAQ_SOMETHING_ELSE_ENTIRELY is not a variable oktaq reads; it is ignored"},
		{"OKTAQ_OKTA_SCOPES=okta.users.read", ""},
		{"OKTAQ_ADMIN_PASSWORD_FILE=/run/secrets/p", ""},
		{"OKTAQ_TEST_REDIS_URL=redis://x", ""},
		{"OKTAQ_BENCH_RATELIMIT_WORKER=x", ""},
		{"OKTA_DOMAIN=acme.okta.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			got := config.UnknownVars([]string{tt.env})
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("want no warning, got %q", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Fatalf("got %q, want one warning containing %q", got, tt.want)
			}
			if strings.Contains(tt.want, "ENTIRELY") && strings.Contains(got[0], "did you mean") {
				t.Fatalf("a far name should not get a guess: %q", got[0])
			}
			if _, value, _ := strings.Cut(tt.env, "="); strings.Contains(got[0], value) {
				t.Fatalf("the warning repeats the value (may be a secret): %q", got[0])
			}
		})
	}
}

// TestLoadWarnsOfUnknownVars: Load reports a typo as a warning when the
// configuration is otherwise fine, and beside the error it likely caused.
func TestLoadWarnsOfUnknownVars(t *testing.T) {
	base(t)
	t.Setenv("OKTAQ_OKTA_SCOPE", "okta.users.read,okta.groups.manage")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "OKTAQ_OKTA_SCOPES?") {
		t.Fatalf("warnings: %q", cfg.Warnings)
	}
	t.Setenv("OKTAQ_SIGNING_KEYS", "")
	t.Setenv("OKTAQ_SIGNING_KEY", "k1=0123456789abcdef-signing")
	_, err = config.Load()
	if err == nil || !strings.Contains(err.Error(), "OKTAQ_SIGNING_KEYS: is required") ||
		!strings.Contains(err.Error(), "OKTAQ_SIGNING_KEY is not a variable oktaq reads; it is ignored (did you mean OKTAQ_SIGNING_KEYS?)") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "0123456789abcdef") {
		t.Fatalf("the error repeats a secret: %v", err)
	}
}

// TestKnownVarsCoverEnv: every Env field is known, with _FILE for
// secrets, so no warning fires for a documented variable.
func TestKnownVarsCoverEnv(t *testing.T) {
	var environ []string
	for _, v := range config.Vars() {
		environ = append(environ, v.Name+"=x")
		if v.Secret {
			environ = append(environ, v.Name+"_FILE=x")
		}
	}
	if got := config.UnknownVars(environ); len(got) != 0 {
		t.Fatalf("documented variables warned of: %q", got)
	}
}

// TestAllErrorsAtOnce: several bad values are reported together, each
// naming its variable, unparseable ones included.
func TestAllErrorsAtOnce(t *testing.T) {
	base(t)
	bad := map[string]string{
		"OKTAQ_CONCURRENCY":   "many",
		"OKTAQ_TASK_DEADLINE": "soon",
		"OKTAQ_ROLES":         "user.delete=it-admin",
		"OKTAQ_SIGNING_KEYS":  "k1=short",
		"OKTAQ_LOG_FORMAT":    "xml",
		"OKTAQ_RATE_RESERVE":  "1.5",
		"OKTAQ_QUEUES":        "critical=6",
	}
	for k, v := range bad {
		t.Setenv(k, v)
	}
	_, err := config.Load()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for k := range bad {
		if !strings.Contains(err.Error(), k+":") {
			t.Errorf("%s is not reported:\n%v", k, err)
		}
	}
	if strings.Contains(err.Error(), "must be at least 1") {
		t.Errorf("an unreadable value is also reported as out of range:\n%v", err)
	}
}

// TestLoadStoreNeedsOnlyRedis: reading task state needs no signing keys
// or roles.
func TestLoadStoreNeedsOnlyRedis(t *testing.T) {
	for _, k := range []string{"OKTAQ_SIGNING_KEYS", "OKTAQ_ROLES", "OKTAQ_OKTA_DOMAIN"} {
		t.Setenv(k, "")
	}
	t.Setenv("OKTAQ_REDIS_URL", "redis://127.0.0.1:6379/3")
	if _, err := config.LoadStore(); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "OKTAQ_SIGNING_KEYS") {
		t.Fatalf("Load without signing keys: %v", err)
	}
	t.Setenv("OKTAQ_REDIS_URL", "http://127.0.0.1")
	if _, err := config.LoadStore(); err == nil || !strings.Contains(err.Error(), "OKTAQ_REDIS_URL") {
		t.Fatalf("LoadStore with a bad URL: %v", err)
	}
}
