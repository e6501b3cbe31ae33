package config

import (
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// Config is the checked configuration.
type Config struct {
	Env     *Env
	Redis   asynq.RedisConnOpt
	Queues  map[string]int
	Keyring *tasks.Keyring
	// Policy is the "default" connection's (OKTAQ_OKTA_SCOPES, OKTAQ_ROLES).
	Policy tasks.Policy
	Level  slog.Level
}

// Load reads and checks the whole configuration. Okta credentials are
// checked by Connection, since only the worker needs them.
func Load() (*Config, error) {
	e, err := Read()
	if err != nil {
		return nil, err
	}
	c := &Config{Env: e}
	if c.Redis, err = ParseRedisURL(e.RedisURL.Reveal(), e.RedisPassword.Reveal()); err != nil {
		return nil, fmt.Errorf("OKTAQ_REDIS_URL: %w", err)
	}
	if c.Queues, err = ParseQueues(e.Queues); err != nil {
		return nil, fmt.Errorf("OKTAQ_QUEUES: %w", err)
	}
	if e.SigningKeys == "" {
		return nil, fmt.Errorf("OKTAQ_SIGNING_KEYS: is required (kid=secret,...); producers and workers must share it")
	}
	if c.Keyring, err = tasks.ParseKeyring(e.SigningKeys.Reveal()); err != nil {
		return nil, fmt.Errorf("OKTAQ_SIGNING_KEYS: %w", err)
	}
	c.Policy = tasks.Policy{Name: tasks.DefaultConnection, Scopes: splitList(e.OktaScopes)}
	if c.Policy.Roles, err = tasks.ParseRoles(e.Roles); err != nil {
		return nil, fmt.Errorf("OKTAQ_ROLES: %w", err)
	}
	if err := c.Policy.Check(); err != nil {
		return nil, fmt.Errorf("OKTAQ_OKTA_SCOPES: %w", err)
	}
	if err := c.Level.UnmarshalText([]byte(e.LogLevel)); err != nil {
		return nil, fmt.Errorf("OKTAQ_LOG_LEVEL: %q is not debug, info, warn or error", e.LogLevel)
	}
	if e.LogFormat != "json" && e.LogFormat != "text" {
		return nil, fmt.Errorf("OKTAQ_LOG_FORMAT: %q is not json or text", e.LogFormat)
	}
	switch {
	case e.Concurrency < 1:
		return nil, fmt.Errorf("OKTAQ_CONCURRENCY: must be at least 1")
	case e.MaxAttempts < 1:
		return nil, fmt.Errorf("OKTAQ_MAX_ATTEMPTS: must be at least 1")
	case e.RateReserve < 0 || e.RateReserve >= 1:
		return nil, fmt.Errorf("OKTAQ_RATE_RESERVE: must be in [0, 1)")
	case e.OktaMaxInFlight < 1:
		return nil, fmt.Errorf("OKTAQ_OKTA_MAX_IN_FLIGHT: must be at least 1")
	}
	return c, nil
}

// Connection builds the "default" Okta connection, with its credentials.
func (c *Config) Connection() (*okta.Connection, error) {
	e := c.Env
	base, err := okta.ParseDomain(e.OktaDomain, e.OktaAllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("OKTAQ_OKTA_DOMAIN: %w", err)
	}
	creds := okta.Credentials{ClientID: e.OktaClientID, ClientSecret: e.OktaClientSecret,
		PrivateKeyID: e.OktaPrivateKeyID, APIToken: e.OktaAPIToken}
	if e.OktaPrivateKeyFile != "" {
		pem, err := os.ReadFile(e.OktaPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("OKTAQ_OKTA_PRIVATE_KEY_FILE: %w", unwrapPath(err))
		}
		creds.PrivateKeyPEM = okta.Secret(pem)
	}
	conn := &okta.Connection{Policy: c.Policy, BaseURL: base, Credentials: creds}
	if _, err := creds.Mode(); err != nil {
		return nil, fmt.Errorf("OKTAQ_OKTA_CLIENT_ID / _CLIENT_SECRET / _PRIVATE_KEY_FILE / _API_TOKEN: %w", err)
	}
	return conn, conn.Check()
}

// ParseQueues parses "critical=6,default=3,low=1".
func ParseQueues(s string) (map[string]int, error) {
	q := map[string]int{}
	for _, pair := range splitList(s) {
		name, w, ok := strings.Cut(pair, "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 1 || name == "" {
			return nil, fmt.Errorf("%q is not queue=weight with a weight of 1 or more", pair)
		}
		q[name] = n
	}
	for _, need := range []string{tasks.QueueCritical, tasks.QueueDefault, tasks.QueueLow} {
		if _, ok := q[need]; !ok {
			return nil, fmt.Errorf("queue %q is missing; actions are enqueued on critical, default and low", need)
		}
	}
	return q, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Vars lists every variable with its description, default and whether it
// is a secret, in the order of Env.
func Vars() []Var {
	t := reflect.TypeOf(Env{})
	out := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, Var{Name: Prefix + "_" + f.Tag.Get("envconfig"), Desc: f.Tag.Get("desc"),
			Default: f.Tag.Get("default"), Secret: f.Tag.Get("secret") == "true"})
	}
	return out
}

// Var describes one configuration variable.
type Var struct {
	Name, Desc, Default string
	Secret              bool
}

// SecretVars are the variables that may also come from <VAR>_FILE.
func SecretVars() []string {
	var out []string
	for _, v := range Vars() {
		if v.Secret {
			out = append(out, v.Name)
		}
	}
	return out
}

// LogValue lists the configuration with every secret redacted.
func (e *Env) LogValue() slog.Value {
	v := reflect.ValueOf(*e)
	attrs := make([]slog.Attr, 0, v.NumField())
	for i, cv := range Vars() {
		val := fmt.Sprint(v.Field(i).Interface())
		if cv.Secret {
			val = redact(v.Field(i).Interface())
		}
		attrs = append(attrs, slog.String(cv.Name, val))
	}
	return slog.GroupValue(attrs...)
}

// String prints the configuration with secrets redacted.
func (e *Env) String() string {
	var b strings.Builder
	for _, a := range e.LogValue().Group() {
		fmt.Fprintf(&b, "%s=%s\n", a.Key, a.Value.String())
	}
	return b.String()
}

func redact(v any) string {
	if s, ok := v.(okta.Secret); ok && s == "" {
		return ""
	}
	return "[redacted]"
}
