// Package config reads oktaq's configuration from OKTAQ_* environment
// variables (and <VAR>_FILE for secrets), checks it, and builds the typed
// values the commands need. A wrong value stops the process at start with
// a message naming the variable and what is expected.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/oktaq/oktaq/okta"
)

// Prefix of every variable.
const Prefix = "OKTAQ"

// Env is the raw configuration as envconfig reads it. The desc tags feed
// the README's configuration table (a test keeps them in step).
type Env struct {
	RedisURL      okta.Secret `envconfig:"REDIS_URL" default:"redis://127.0.0.1:6379/0" desc:"Redis for queues, results, tokens and rate-limit state: redis://host:port/db, rediss://, redis-sentinel://host:port,host:port/db?master=NAME, or redis-cluster://host:port,host:port (rediss-cluster:// for TLS) (may hold a password: treated as a secret)" secret:"true"`
	RedisPassword okta.Secret `envconfig:"REDIS_PASSWORD" desc:"Redis password, when not in the URL" secret:"true"`

	OktaDomain         string        `envconfig:"OKTA_DOMAIN" desc:"the Okta org, as copied from the console (acme.okta.com) or a full https URL"`
	OktaAllowHTTP      bool          `envconfig:"OKTA_ALLOW_HTTP" desc:"accept a plain http:// domain on a loopback address (the simulator only)"`
	OktaClientID       string        `envconfig:"OKTA_CLIENT_ID" desc:"client id of the API Service Integration or service app"`
	OktaClientSecret   okta.Secret   `envconfig:"OKTA_CLIENT_SECRET" desc:"its client secret (client_secret_basic)" secret:"true"`
	OktaPrivateKeyFile string        `envconfig:"OKTA_PRIVATE_KEY_FILE" desc:"PEM private key for private_key_jwt, instead of a client secret"`
	OktaPrivateKeyID   string        `envconfig:"OKTA_PRIVATE_KEY_ID" desc:"key id (kid) registered for that private key"`
	OktaDPoP           bool          `envconfig:"OKTA_DPOP" desc:"bind access tokens to a key of the worker (DPoP, RFC 9449), for an app that requires DPoP"`
	OktaAPIToken       okta.Secret   `envconfig:"OKTA_API_TOKEN" desc:"an SSWS API token, instead of OAuth client credentials" secret:"true"`
	OktaScopes         string        `envconfig:"OKTA_SCOPES" default:"okta.users.read,okta.users.manage" desc:"the OAuth scopes enabled for the connection, comma separated; okta.users.read is required"`
	OktaRequestTimeout time.Duration `envconfig:"OKTA_REQUEST_TIMEOUT" default:"30s" desc:"timeout of one Okta call"`

	ConnectionsFile string `envconfig:"CONNECTIONS_FILE" desc:"JSON file of further Okta connections (name, domain, client_id, *_file secrets, scopes, roles); see README"`
	PlaybooksFile   string `envconfig:"PLAYBOOKS_FILE" desc:"YAML or JSON file of operators' playbooks (ordered steps of actions), beside the built-in offboard and contain; see README"`

	Roles       string      `envconfig:"ROLES" desc:"who may do what: action=role|role;... with * for every action, e.g. *=it-admin;user.reset_password=helpdesk"`
	SigningKeys okta.Secret `envconfig:"SIGNING_KEYS" desc:"task signing keys kid=secret,kid2=secret2 (secrets of 16+ bytes); the first signs, all verify" secret:"true"`
	APITokens   string      `envconfig:"API_TOKENS" desc:"producers allowed to call the HTTP API: producer-id=sha256hex(token),...; a producer may be listed with several tokens, to rotate them"`

	ProducerRoles       string `envconfig:"PRODUCER_ROLES" desc:"requester roles each producer may assert: producer=role|role;producer2=*; a producer not listed may assert none (the CLI enqueues as producer cli)"`
	ProducerConnections string `envconfig:"PRODUCER_CONNECTIONS" desc:"connections each producer may name, same form; unset: every producer every connection"`

	// The closed loop (loop.go): callbacks to producers, Okta event hooks.
	ProducerCallbacks string        `envconfig:"PRODUCER_CALLBACKS" desc:"where each producer's action state changes are delivered (Standard Webhooks): producer=https://host/path;..."`
	CallbackAllowHTTP bool          `envconfig:"CALLBACK_ALLOW_HTTP" desc:"accept plain http:// callback URLs on a loopback address (tests, local demos)"`
	CallbackSecrets   okta.Secret   `envconfig:"CALLBACK_SECRETS" desc:"each producer's callback signing secret: producer=whsec_<base64 of 24-64 bytes>;..." secret:"true"`
	EventHookSecret   okta.Secret   `envconfig:"EVENT_HOOK_SECRET" desc:"the Authorization value Okta's event hooks send to /v1/okta/events/{connection}; without it the receiver is off" secret:"true"`
	ConfirmTimeout    time.Duration `envconfig:"CONFIRM_TIMEOUT" default:"30m" desc:"an action whose Okta event has not arrived this long after it succeeded is marked unconfirmed"`
	ConfirmationsOff  bool          `envconfig:"CONFIRMATIONS_OFF" desc:"do not wait for Okta's events to confirm actions (no event hook registered)"`
	Approvals         string        `envconfig:"APPROVALS" desc:"actions that wait for a second person, and the roles that may approve them: action=role|role;... (the approver is not the requester and comes through the same producer)"`
	ApprovalTTL       time.Duration `envconfig:"APPROVAL_TTL" default:"24h" desc:"an action awaiting approval ends expired after this long"`
	VerifyUser        string        `envconfig:"VERIFY_USER" desc:"actions that first ask the target user to confirm the caller with an Okta Verify push: action=push or action=push_or_approval (no push factor: wait for a second person of OKTAQ_APPROVALS instead of refusing)"`
	AccessReminder    time.Duration `envconfig:"ACCESS_REMINDER" default:"24h" desc:"a time-bound access (groups.until, apps.until) sends a reminder event this long before it is removed; 0 sends none"`

	Concurrency     int           `envconfig:"CONCURRENCY" default:"10" desc:"actions a worker process runs at once"`
	Queues          string        `envconfig:"QUEUES" default:"critical=6,default=3,low=1" desc:"queue weights; critical holds suspend, deactivate, clear sessions and reset MFA; callbacks=2 (deliveries to producers) and events=1 (Okta events) are added unless named"`
	StrictPriority  bool          `envconfig:"STRICT_PRIORITY" default:"true" desc:"serve a queue only when every higher-weight queue is empty"`
	MaxAttempts     int           `envconfig:"MAX_ATTEMPTS" default:"12" desc:"attempts for transient failures (retried after about 1, 2, 4 s, then every 5 s; with 12, the last two after 2 and 4 min); an Okta that is down holds tasks without spending attempts"`
	TaskDeadline    time.Duration `envconfig:"TASK_DEADLINE" default:"2h" desc:"an action not done this long after it was enqueued is given up, rate limits included"`
	ResultRetention time.Duration `envconfig:"RESULT_RETENTION" default:"168h" desc:"how long results stay readable after completion"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"time in-flight actions get to finish on shutdown"`

	RateReserve     float64       `envconfig:"RATE_RESERVE" default:"0.1" desc:"share of each Okta rate-limit bucket left for humans and other integrations"`
	OktaMaxInFlight int           `envconfig:"OKTA_MAX_IN_FLIGHT" desc:"Okta calls in flight per connection across all workers; unset, twice OKTAQ_CONCURRENCY (with several workers set twice their sum, under Okta's concurrency limit)"`
	UserViewTTL     time.Duration `envconfig:"USER_VIEW_TTL" default:"30s" desc:"how long the API reuses what Okta said of a user for the user view (GET /v1/users/{ref}); 0s turns the cache off"`

	APIAddr           string      `envconfig:"API_ADDR" default:"127.0.0.1:8080" desc:"listen address of the HTTP API"`
	APITLSCertFile    string      `envconfig:"API_TLS_CERT_FILE" desc:"PEM certificate (chain) the API serves HTTPS with; with API_TLS_KEY_FILE"`
	APITLSKeyFile     string      `envconfig:"API_TLS_KEY_FILE" desc:"PEM private key of that certificate"`
	AdminAddr         string      `envconfig:"ADMIN_ADDR" default:"127.0.0.1:9090" desc:"listen address for /metrics, /healthz, /readyz and the dashboard; keep it off the producers' network"`
	MaxBodyBytes      int64       `envconfig:"MAX_BODY_BYTES" default:"65536" desc:"largest accepted API request body"`
	AdminUser         string      `envconfig:"ADMIN_USER" default:"admin" desc:"user name for the dashboard (basic auth)"`
	AdminPassword     okta.Secret `envconfig:"ADMIN_PASSWORD" desc:"password for the dashboard, at least 16 characters; without it the dashboard is off" secret:"true"`
	DashboardReadOnly bool        `envconfig:"DASHBOARD_READ_ONLY" default:"true" desc:"dashboard may not delete, retry or archive tasks"`
	PrometheusURL     string      `envconfig:"PROMETHEUS_URL" desc:"Prometheus address the dashboard links its charts to"`

	LogLevel  string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"json" desc:"json or text"`
}

// Read reads the environment, taking each secret from <VAR>_FILE when
// that is set. Every unreadable variable is reported, not only the first.
func Read() (*Env, error) {
	e, _, errs := read()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

// read returns what could be read, the names of the variables that could
// not, and why.
func read() (*Env, map[string]bool, []error) {
	failed := map[string]bool{}
	errs := loadSecretFiles(failed)
	var e Env
	ev := reflect.ValueOf(&e).Elem()
	// envconfig stops at the first bad value; reading each field on its
	// own, as a one-field struct, reports them all.
	for i := range ev.NumField() {
		one := reflect.New(reflect.StructOf([]reflect.StructField{ev.Type().Field(i)}))
		if err := envconfig.Process(Prefix, one.Interface()); err != nil {
			errs = append(errs, explain(err))
			failed[Prefix+"_"+ev.Type().Field(i).Tag.Get("envconfig")] = true
			continue
		}
		ev.Field(i).Set(one.Elem().Field(0))
	}
	return &e, failed, errs
}

// loadSecretFiles sets VAR from VAR_FILE for each secret variable, so that
// envconfig sees one value. Setting both is an error. The variables whose
// file failed are marked in failed.
func loadSecretFiles(failed map[string]bool) []error {
	var errs []error
	for _, v := range SecretVars() {
		path, ok := os.LookupEnv(v + "_FILE")
		if !ok || path == "" {
			continue
		}
		if val, set := os.LookupEnv(v); set && val != "" {
			errs = append(errs, fmt.Errorf("%s and %s_FILE are both set; use one", v, v))
			failed[v] = true
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_FILE: cannot read the secret file: %w", v, unwrapPath(err)))
			failed[v] = true
			continue
		}
		if err := os.Setenv(v, strings.TrimRight(string(b), "\r\n")); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// explain rewrites envconfig's parse errors so that they name the
// variable and never echo its value (it may be a secret).
func explain(err error) error {
	var pe *envconfig.ParseError
	if errors.As(err, &pe) {
		name := pe.KeyName
		if !strings.HasPrefix(name, Prefix+"_") {
			name = Prefix + "_" + name
		}
		return fmt.Errorf("%s: cannot read the value as %s", name, pe.TypeName)
	}
	return err
}
