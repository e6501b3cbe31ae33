package okta

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/oktaq/oktaq/tasks"
)

// Secret is a credential. Its printed and logged forms are redacted.
type Secret string

func (Secret) String() string       { return "[redacted]" }
func (Secret) GoString() string     { return `"[redacted]"` }
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
func (s Secret) MarshalText() ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return []byte("[redacted]"), nil
}

// Reveal returns the secret itself, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// AuthMode is how a connection authenticates to Okta.
type AuthMode string

// Authentication modes.
const (
	// AuthClientSecret: OAuth 2.0 client credentials, client_secret_basic
	// (an API Service Integration).
	AuthClientSecret AuthMode = "client_secret"
	// AuthPrivateKey: OAuth 2.0 client credentials, private_key_jwt.
	AuthPrivateKey AuthMode = "private_key"
	// AuthAPIToken: an SSWS API token.
	AuthAPIToken AuthMode = "api_token"
)

// Credentials of a connection; which fields are set decides the mode.
type Credentials struct {
	ClientID     string
	ClientSecret Secret
	// PrivateKeyPEM is the PEM of an RSA or EC private key.
	PrivateKeyPEM Secret
	PrivateKeyID  string
	APIToken      Secret
	// ClientSecretFile, PrivateKeyFile and APITokenFile, when set, name
	// the files the secrets above were read from: they are read again when
	// a token is fetched, so a rotated secret needs no restart.
	ClientSecretFile, PrivateKeyFile, APITokenFile string
}

// Mode reports the authentication mode, or an error naming what is missing.
func (c Credentials) Mode() (AuthMode, error) {
	switch {
	case c.APIToken != "" && (c.ClientSecret != "" || c.PrivateKeyPEM != ""):
		return "", errors.New("set either an API token or OAuth client credentials, not both")
	case c.APIToken != "":
		return AuthAPIToken, nil
	case c.ClientID == "":
		return "", errors.New("no credentials: set a client id with a client secret or a private key, or an API token")
	case c.ClientSecret != "" && c.PrivateKeyPEM != "":
		return "", errors.New("set either a client secret or a private key, not both")
	case c.ClientSecret != "":
		return AuthClientSecret, nil
	case c.PrivateKeyPEM != "":
		return AuthPrivateKey, nil
	default:
		return "", errors.New("client id is set but neither a client secret nor a private key is")
	}
}

// Connection is one Okta org: where it is, how oktaq signs in, and its
// policy (name, enabled scopes, roles), whose methods (Authorize,
// MissingScope, HasScope) it takes on.
type Connection struct {
	tasks.Policy
	// BaseURL is https://acme.okta.com (or http://127.0.0.1:port for the
	// simulator), without a trailing slash.
	BaseURL     string
	Credentials Credentials
	// DPoP binds the OAuth tokens to a key of this process (RFC 9449), for
	// an app that requires DPoP-bound tokens.
	DPoP bool
}

// LogValue shows a connection without its secrets.
func (c *Connection) LogValue() slog.Value {
	mode, _ := c.Credentials.Mode()
	return slog.GroupValue(slog.String("name", c.Name), slog.String("url", c.BaseURL),
		slog.String("auth", string(mode)), slog.String("client_id", c.Credentials.ClientID),
		slog.String("scopes", strings.Join(c.Scopes, " ")))
}

// Check verifies a connection is usable: credentials present and a sound
// policy (see tasks.Policy.Check).
func (c *Connection) Check() error {
	if _, err := c.Credentials.Mode(); err != nil {
		return fmt.Errorf("connection %q: %w", c.Name, err)
	}
	return c.Policy.Check()
}

// ParseDomain turns what an admin copies from the Okta console
// ("acme.okta.com", "https://acme.okta.com/") into a base URL. Plain http
// is accepted only for a loopback host and only when allowHTTP is set (the
// simulator).
func ParseDomain(s string, allowHTTP bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("is empty; want the org's host name, like acme.okta.com")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("is not a host name or URL: %w", err)
	}
	switch {
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%q must be a host name like acme.okta.com, with no path, user or query", s)
	case u.Scheme == "https":
	case u.Scheme == "http" && !allowHTTP:
		return "", errors.New("plain http is refused; use https (http is allowed only for the simulator on a loopback address with OKTAQ_OKTA_ALLOW_HTTP=true)")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return "", fmt.Errorf("plain http is allowed only to a loopback address, not %s", u.Hostname())
	case u.Scheme != "http":
		return "", fmt.Errorf("scheme %q is not https", u.Scheme)
	}
	return u.Scheme + "://" + u.Host, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
