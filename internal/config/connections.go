package config

import (
	"bytes"
	"encoding/json"
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
	// Approvals and VerifyUser are OKTAQ_APPROVALS and OKTAQ_VERIFY_USER
	// for this connection.
	Approvals  string `json:"approvals,omitempty"`
	VerifyUser string `json:"verify_user,omitempty"`
}

// Connections returns every configured connection by name, with its
// credentials: "default" from the OKTAQ_OKTA_* variables (when
// OKTAQ_OKTA_DOMAIN is set) and those of OKTAQ_CONNECTIONS_FILE.
func (c *Config) Connections() (map[string]*okta.Connection, error) {
	out := map[string]*okta.Connection{}
	if c.hasDefault() {
		conn, err := c.Connection()
		if err != nil {
			return nil, err
		}
		out[conn.Name] = conn
	}
	err := c.eachFileConnection(func(fc fileConnection) error {
		conn, err := fc.connection()
		if err == nil {
			out[conn.Name] = conn
		}
		return err
	}, func(name string) bool { return out[name] != nil })
	if err == nil {
		err = c.checkProducerConnections(func(name string) bool { return out[name] != nil })
	}
	return out, err
}

// checkProducerConnections refuses a connection in
// OKTAQ_PRODUCER_CONNECTIONS that is not configured (by the variables or
// OKTAQ_CONNECTIONS_FILE, which follow the same bounds): a misspelt name
// would silently shut a producer out.
func (c *Config) checkProducerConnections(known func(string) bool) error {
	for producer, names := range c.Producers.Connections {
		for _, n := range names {
			if n != tasks.AnyValue && !known(n) {
				return fmt.Errorf("OKTAQ_PRODUCER_CONNECTIONS: producer %q names connection %q, which is not configured", producer, n)
			}
		}
	}
	return nil
}

// Policies returns every configured connection's policy by name, as
// Connections does but without reading a secret: the API and the CLI
// check only scopes and roles.
func (c *Config) Policies() (map[string]*tasks.Policy, error) {
	out := map[string]*tasks.Policy{}
	if c.hasDefault() {
		p := c.Policy
		out[p.Name] = &p
	}
	err := c.eachFileConnection(func(fc fileConnection) error {
		p, err := fc.policy()
		if err == nil {
			out[p.Name] = p
		}
		return err
	}, func(name string) bool { return out[name] != nil })
	if err == nil {
		err = c.checkProducerConnections(func(name string) bool { return out[name] != nil })
	}
	return out, err
}

func (c *Config) hasDefault() bool { return c.Env.OktaDomain != "" || c.Env.ConnectionsFile == "" }

// eachFileConnection reads OKTAQ_CONNECTIONS_FILE and hands each entry to
// add, refusing a name that has already been added.
func (c *Config) eachFileConnection(add func(fileConnection) error, have func(string) bool) error {
	if c.Env.ConnectionsFile == "" {
		return nil
	}
	f, err := readConnectionsFile(c.Env.ConnectionsFile)
	if err != nil {
		return fmt.Errorf("OKTAQ_CONNECTIONS_FILE: %w", err)
	}
	for i, fc := range f.Connections {
		if have(fc.Name) {
			return fmt.Errorf("OKTAQ_CONNECTIONS_FILE: connection %q is defined twice (\"default\" comes from the OKTAQ_OKTA_* variables)", fc.Name)
		}
		if err := add(fc); err != nil {
			return fmt.Errorf("OKTAQ_CONNECTIONS_FILE: connection %d (%q): %w", i+1, fc.Name, err)
		}
	}
	return nil
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

// policy checks the entry's name, scopes and roles.
func (fc fileConnection) policy() (*tasks.Policy, error) {
	if err := tasks.CheckConnectionName(fc.Name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	roles, err := tasks.ParseRoles(fc.Roles)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	p := &tasks.Policy{Name: fc.Name, Scopes: fc.Scopes, Roles: roles}
	if p.Approvals, err = tasks.ParseRoles(fc.Approvals); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	if p.VerifyUser, err = tasks.ParseVerifyPolicy(fc.VerifyUser); err != nil {
		return nil, fmt.Errorf("verify_user: %w", err)
	}
	if err := p.CheckHolds(); err != nil {
		return nil, fmt.Errorf("verify_user: %w", err)
	}
	return p, p.Check()
}

// connection is the entry's policy with its domain and credentials.
func (fc fileConnection) connection() (*okta.Connection, error) {
	p, err := fc.policy()
	if err != nil {
		return nil, err
	}
	conn := &okta.Connection{Policy: *p}
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
