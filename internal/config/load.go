package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
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
	// Producers bounds what each producer may assert
	// (OKTAQ_PRODUCER_ROLES, OKTAQ_PRODUCER_CONNECTIONS).
	Producers tasks.Producers
	Level     slog.Level
	// Playbooks are the built-in playbooks and OKTAQ_PLAYBOOKS_FILE's.
	Playbooks map[string]*tasks.Playbook
	// Warnings name OKTAQ_* variables oktaq does not read (typos); the
	// command logs them.
	Warnings []string
}

// MinAdminPassword is the shortest dashboard password accepted: the
// dashboard can delete and run tasks when not read-only.
const MinAdminPassword = 16

// Load reads and checks the whole configuration. Okta credentials are
// checked by Connection, since only the worker needs them. Every error is
// reported at once, each naming its variable.
func Load() (*Config, error) { return load(true) }

// LoadStore reads and checks only what reading task state needs: Redis
// and logging (`oktaq status`). Signing keys, roles and scopes are read
// but not required.
func LoadStore() (*Config, error) { return load(false) }

func load(producer bool) (*Config, error) {
	warnings := UnknownVars(os.Environ())
	// A value that cannot be read is reported with every other error; it
	// is not checked further.
	e, failed, errs := read()
	c := &Config{Env: e, Warnings: warnings}
	var err error
	check := func(name string, err error) {
		if err != nil && !failed[name] {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	c.Redis, err = ParseRedisURL(e.RedisURL.Reveal(), e.RedisPassword.Reveal())
	check("OKTAQ_REDIS_URL", err)
	c.Producers.Roles, err = tasks.ParseProducerRules(e.ProducerRoles)
	check("OKTAQ_PRODUCER_ROLES", err)
	if e.ProducerConnections != "" {
		c.Producers.Connections, err = tasks.ParseProducerRules(e.ProducerConnections)
		check("OKTAQ_PRODUCER_CONNECTIONS", err)
	}
	if n := len([]rune(e.AdminPassword.Reveal())); n > 0 && n < MinAdminPassword {
		check("OKTAQ_ADMIN_PASSWORD", fmt.Errorf("is %d characters; at least %d needed (or leave it unset: the dashboard is then off)", n, MinAdminPassword))
	}
	if (e.APITLSCertFile == "") != (e.APITLSKeyFile == "") {
		check("OKTAQ_API_TLS_CERT_FILE and OKTAQ_API_TLS_KEY_FILE", errors.New("set both or neither"))
	}
	if err := c.Level.UnmarshalText([]byte(e.LogLevel)); err != nil {
		check("OKTAQ_LOG_LEVEL", fmt.Errorf("%q is not debug, info, warn or error", e.LogLevel))
	}
	if e.LogFormat != "json" && e.LogFormat != "text" {
		check("OKTAQ_LOG_FORMAT", fmt.Errorf("%q is not json or text", e.LogFormat))
	}
	if !producer {
		return c.checked(errs)
	}
	c.Queues, err = ParseQueues(e.Queues)
	check("OKTAQ_QUEUES", err)
	if e.SigningKeys == "" {
		check("OKTAQ_SIGNING_KEYS", errors.New("is required (kid=secret,...); producers and workers must share it"))
	} else {
		c.Keyring, err = tasks.ParseKeyring(e.SigningKeys.Reveal())
		check("OKTAQ_SIGNING_KEYS", err)
	}
	c.Policy = tasks.Policy{Name: tasks.DefaultConnection, Scopes: splitList(e.OktaScopes)}
	c.Policy.Roles, err = tasks.ParseRoles(e.Roles)
	check("OKTAQ_ROLES", err)
	c.Policy.Approvals, err = tasks.ParseRoles(e.Approvals)
	check("OKTAQ_APPROVALS", err)
	c.Policy.VerifyUser, err = tasks.ParseVerifyPolicy(e.VerifyUser)
	check("OKTAQ_VERIFY_USER", err)
	check("OKTAQ_VERIFY_USER", c.Policy.CheckHolds())
	if e.ApprovalTTL <= 0 {
		check("OKTAQ_APPROVAL_TTL", errors.New("must be positive, like 24h"))
	}
	if e.AccessReminder < 0 {
		check("OKTAQ_ACCESS_REMINDER", errors.New("must be 0 (no reminder) or positive, like 24h"))
	}
	check("OKTAQ_OKTA_SCOPES", c.Policy.Check())
	if e.OktaMaxInFlight == 0 && e.Concurrency > 0 {
		// Derived, so that a worker's first calls find a slot each.
		e.OktaMaxInFlight = ratelimit.MaxInFlightFor(e.Concurrency)
	}
	if e.Concurrency < 1 {
		check("OKTAQ_CONCURRENCY", errors.New("must be at least 1"))
	}
	if e.MaxAttempts < 1 {
		check("OKTAQ_MAX_ATTEMPTS", errors.New("must be at least 1"))
	}
	if e.RateReserve < 0 || e.RateReserve >= 1 {
		check("OKTAQ_RATE_RESERVE", errors.New("must be in [0, 1)"))
	}
	if e.OktaMaxInFlight < 1 && !failed["OKTAQ_CONCURRENCY"] { // else derived from an unread value
		check("OKTAQ_OKTA_MAX_IN_FLIGHT", errors.New("must be at least 1"))
	}
	c.Playbooks, err = LoadPlaybooks(e.PlaybooksFile)
	check("OKTAQ_PLAYBOOKS_FILE", err)
	return c.checked(errs)
}

func (c *Config) checked(errs []error) (*Config, error) {
	if len(errs) > 0 {
		return nil, withWarnings(errors.Join(errs...), c.Warnings)
	}
	return c, nil
}

// withWarnings adds the unknown-variable warnings to a configuration
// error: a misspelt variable is often why a required one is missing.
func withWarnings(err error, warnings []string) error {
	if err == nil || len(warnings) == 0 {
		return err
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(warnings, "\n"))
}

// Connection builds the "default" Okta connection, with its credentials.
func (c *Config) Connection() (*okta.Connection, error) {
	e := c.Env
	base, err := okta.ParseDomain(e.OktaDomain, e.OktaAllowHTTP)
	if err != nil {
		return nil, fmt.Errorf("OKTAQ_OKTA_DOMAIN: %w", err)
	}
	creds := okta.Credentials{ClientID: e.OktaClientID, ClientSecret: e.OktaClientSecret,
		PrivateKeyID: e.OktaPrivateKeyID, APIToken: e.OktaAPIToken,
		// Secrets given as files are read again at each token fetch, so a
		// rotated secret needs no restart.
		ClientSecretFile: os.Getenv(Prefix + "_OKTA_CLIENT_SECRET_FILE"), PrivateKeyFile: e.OktaPrivateKeyFile,
		APITokenFile: os.Getenv(Prefix + "_OKTA_API_TOKEN_FILE")}
	if e.OktaPrivateKeyFile != "" {
		pem, err := os.ReadFile(e.OktaPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("OKTAQ_OKTA_PRIVATE_KEY_FILE: %w", unwrapPath(err))
		}
		creds.PrivateKeyPEM = okta.Secret(pem)
	}
	conn := &okta.Connection{Policy: c.Policy, BaseURL: base, Credentials: creds, DPoP: e.OktaDPoP}
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
