package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/internal/config"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnectionsFile(t *testing.T) {
	base(t)
	dir := t.TempDir()
	secret := writeFile(t, dir, "emea-secret", "emea-client-secret-value\n")
	token := writeFile(t, dir, "apac-token", "apac-ssws-token")
	t.Setenv("OKTAQ_CONNECTIONS_FILE", writeFile(t, dir, "conns.json", `{"connections": [
	  {"name": "emea", "domain": "emea.okta.com", "client_id": "0oa-emea", "client_secret_file": "`+secret+`", "dpop": true,
	   "scopes": ["okta.users.read", "okta.users.manage"], "roles": "*=emea-admin"},
	  {"name": "apac", "domain": "https://apac.oktapreview.com", "api_token_file": "`+token+`",
	   "scopes": ["okta.users.read", "okta.groups.manage"], "roles": "user.groups.update=apac-helpdesk"}]}`))
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	conns, err := cfg.Connections()
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 3 || conns["default"] == nil {
		t.Fatalf("connections: %v", conns)
	}
	emea, apac := conns["emea"], conns["apac"]
	if emea.BaseURL != "https://emea.okta.com" || emea.Credentials.ClientSecret.Reveal() != "emea-client-secret-value" {
		t.Errorf("emea: %s", emea.BaseURL)
	}
	if apac.Credentials.APIToken.Reveal() != "apac-ssws-token" {
		t.Error("apac token not read from its file")
	}
	// The file paths go along, so the worker reads a rotated secret again.
	if !emea.DPoP || emea.Credentials.ClientSecretFile != secret || apac.Credentials.APITokenFile != token || apac.DPoP {
		t.Errorf("dpop %v / secret file %q / token file %q", emea.DPoP, emea.Credentials.ClientSecretFile, apac.Credentials.APITokenFile)
	}
	if apac.Authorize("user.groups.update", "apac-helpdesk") != nil || apac.Authorize("user.suspend", "apac-helpdesk") == nil ||
		emea.Authorize("user.suspend", "it-admin") == nil {
		t.Error("each connection must have its own roles")
	}
	policies, err := cfg.Policies()
	if err != nil || len(policies) != 3 || policies["emea"].Authorize("user.suspend", "emea-admin") != nil {
		t.Fatalf("policies: %v %v", policies, err)
	}
}

func TestConnectionsFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ body, want string }{
		{`{"connections": []}`, "no connections"},
		{`{"connections": [{"name": "x", "domain": "x.okta.com", "scopes": ["okta.users.read"], "roles": "*=a", "client_secret": "inline"}]}`, "unknown field"},
		{`{"connections": [{"name": "default", "domain": "x.okta.com", "api_token_file": "` + writeFile(t, dir, "tok", "t") + `", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "defined twice"},
		{`{"connections": [{"name": "prod org", "domain": "x.okta.com", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "name: must be"},
		{`{"connections": [{"name": "a/b", "domain": "x.okta.com", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "name: must be"},
		{`{"connections": [{"name": "x.y", "domain": "x.okta.com", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "name: must be"},
		{`{"connections": [{"name": "Bad Name", "domain": "x.okta.com", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "name: must be"},
		{`{"connections": [{"name": "x", "domain": "x.okta.com", "scopes": ["okta.users.read"], "roles": "nope=a"}]}`, "roles"},
		{`{"connections": [{"name": "x", "domain": "x.okta.com", "api_token_file": "` + filepath.Join(dir, "tok") + `", "scopes": ["okta.groups.manage"], "roles": "*=a"}]}`, "okta.users.read"},
		{`{"connections": [{"name": "x", "domain": "x.okta.com", "client_id": "c", "client_secret_file": "/nonexistent", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "client_secret_file"},
		{`{"connections": [{"name": "x", "domain": "http://x.okta.com", "api_token_file": "` + filepath.Join(dir, "tok") + `", "scopes": ["okta.users.read"], "roles": "*=a"}]}`, "domain"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i, tt.want), func(t *testing.T) {
			base(t)
			t.Setenv("OKTAQ_CONNECTIONS_FILE", writeFile(t, dir, "c"+string(rune('a'+i))+".json", tt.body))
			cfg, err := config.Load()
			if err == nil {
				_, err = cfg.Connections()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "OKTAQ_CONNECTIONS_FILE") {
				t.Fatalf("got %v, want an OKTAQ_CONNECTIONS_FILE error naming %q", err, tt.want)
			}
		})
	}
}
