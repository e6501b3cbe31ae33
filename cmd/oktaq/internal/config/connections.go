package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// connectionsFile is the JSON of OKTAQ_CONNECTIONS_FILE: Okta orgs beyond
// the "default" one the variables describe. It names secrets by file path
// only, so the file itself can be shared and reviewed.
type connectionsFile struct {
	Connections []fileConnection `json:"connections"`
}

type fileConnection struct {
	Name             string   `json:"name"`
	Domain           string   `json:"domain"`
	AllowHTTP        bool     `json:"allow_http,omitempty"`
	ClientID         string   `json:"client_id,omitempty"`
	ClientSecretFile string   `json:"client_secret_file,omitempty"`
	PrivateKeyFile   string   `json:"private_key_file,omitempty"`
	PrivateKeyID     string   `json:"private_key_id,omitempty"`
	APITokenFile     string   `json:"api_token_file,omitempty"`
	DPoP             bool     `json:"dpop,omitempty"`
	Scopes           []string `json:"scopes"`
	Roles            string   `json:"roles"`
}

// Connections returns every configured connection by name: "default" from
// the OKTAQ_OKTA_* variables (when OKTAQ_OKTA_DOMAIN is set) and those of
// OKTAQ_CONNECTIONS_FILE. With credentials false, secrets are not read:
// the API and the CLI need only each connection's scopes and roles.
func (c *Config) Connections(credentials bool) (map[string]*okta.Connection, error) {
	out := map[string]*okta.Connection{}
	if c.Env.OktaDomain != "" || c.Env.ConnectionsFile == "" {
		if credentials {
			conn, err := c.Connection()
			if err != nil {
				return nil, err
			}
			out[conn.Name] = conn
		} else {
			out[tasks.DefaultConnection] = &okta.Connection{Name: tasks.DefaultConnection, Scopes: c.Scopes, Policy: c.Policy}
		}
	}
	if c.Env.ConnectionsFile == "" {
		return out, nil
	}
	f, err := readConnectionsFile(c.Env.ConnectionsFile)
	if err != nil {
		return nil, fmt.Errorf("OKTAQ_CONNECTIONS_FILE: %w", err)
	}
	for i, fc := range f.Connections {
		conn, err := fc.connection(credentials)
		if err != nil {
			return nil, fmt.Errorf("OKTAQ_CONNECTIONS_FILE: connection %d (%q): %w", i+1, fc.Name, err)
		}
		if _, dup := out[conn.Name]; dup {
			return nil, fmt.Errorf("OKTAQ_CONNECTIONS_FILE: connection %q is defined twice (\"default\" comes from the OKTAQ_OKTA_* variables)", conn.Name)
		}
		out[conn.Name] = conn
	}
	return out, nil
}

func readConnectionsFile(path string) (*connectionsFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f connectionsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s is not a valid connections file: %w", path, err)
	}
	if len(f.Connections) == 0 {
		return nil, fmt.Errorf("%s lists no connections", path)
	}
	return &f, nil
}

func (fc fileConnection) connection(credentials bool) (*okta.Connection, error) {
	probe := tasks.Suspend{Request: tasks.Request{Connection: fc.Name}}
	if fc.Name == "" || probe.ConnectionName() != fc.Name || strings.ToLower(fc.Name) != fc.Name {
		return nil, errors.New("name: must be 1-63 lower-case letters, digits, '-' or '_'")
	}
	policy, err := okta.ParsePolicy(fc.Roles)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	conn := &okta.Connection{Name: fc.Name, Scopes: fc.Scopes, Policy: policy}
	if !credentials {
		conn.Credentials.APIToken = "unread" // only Check's credential test needs something
		err := conn.Check()
		conn.Credentials = okta.Credentials{}
		return conn, err
	}
	if conn.BaseURL, err = okta.ParseDomain(fc.Domain, fc.AllowHTTP); err != nil {
		return nil, fmt.Errorf("domain: %w", err)
	}
	conn.Credentials = okta.Credentials{ClientID: fc.ClientID, PrivateKeyID: fc.PrivateKeyID,
		ClientSecretFile: fc.ClientSecretFile, PrivateKeyFile: fc.PrivateKeyFile, APITokenFile: fc.APITokenFile}
	conn.DPoP = fc.DPoP
	for _, s := range []struct {
		field, path string
		into        *okta.Secret
	}{
		{"client_secret_file", fc.ClientSecretFile, &conn.Credentials.ClientSecret},
		{"private_key_file", fc.PrivateKeyFile, &conn.Credentials.PrivateKeyPEM},
		{"api_token_file", fc.APITokenFile, &conn.Credentials.APIToken},
	} {
		if s.path == "" {
			continue
		}
		b, err := os.ReadFile(s.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.field, unwrapPath(err))
		}
		*s.into = okta.Secret(strings.TrimRight(string(b), "\r\n"))
	}
	return conn, conn.Check()
}
