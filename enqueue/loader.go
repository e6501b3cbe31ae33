package enqueue

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kelseyhightower/envconfig"

	"github.com/oktaq/oktaq/tasks"
)

// producerEnv is the part of the workers' configuration a producer shares
// with them, read from the same OKTAQ_* variables (README,
// "Configuration"); a test in cmd/oktaq keeps names and defaults in step
// with the server's.
type producerEnv struct {
	RedisURL        string        `envconfig:"REDIS_URL" default:"redis://127.0.0.1:6379/0" secret:"true"`
	RedisPassword   string        `envconfig:"REDIS_PASSWORD" secret:"true"`
	SigningKeys     string        `envconfig:"SIGNING_KEYS" secret:"true"`
	Roles           string        `envconfig:"ROLES"`
	ProducerRoles   string        `envconfig:"PRODUCER_ROLES"`
	ProducerConns   string        `envconfig:"PRODUCER_CONNECTIONS"`
	OktaScopes      string        `envconfig:"OKTA_SCOPES" default:"okta.users.read,okta.users.manage"`
	TaskDeadline    time.Duration `envconfig:"TASK_DEADLINE" default:"2h"`
	ResultRetention time.Duration `envconfig:"RESULT_RETENTION" default:"168h"`
	MaxAttempts     int           `envconfig:"MAX_ATTEMPTS" default:"12"`
	Approvals       string        `envconfig:"APPROVALS"`
	ApprovalTTL     time.Duration `envconfig:"APPROVAL_TTL" default:"24h"`
	VerifyUser      string        `envconfig:"VERIFY_USER"`
}

// EnvVar is one variable NewFromEnv reads.
type EnvVar struct {
	Name, Default string
	// Secret variables may instead name a file in <Name>_FILE.
	Secret bool
}

// EnvVars lists the variables NewFromEnv reads.
func EnvVars() []EnvVar {
	t := reflect.TypeOf(producerEnv{})
	out := make([]EnvVar, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		out = append(out, EnvVar{Name: "OKTAQ_" + f.Tag.Get("envconfig"), Default: f.Tag.Get("default"),
			Secret: f.Tag.Get("secret") == "true"})
	}
	return out
}

// NewFromEnv builds a Client from the OKTAQ_* variables the workers read:
// OKTAQ_REDIS_URL (and _PASSWORD), OKTAQ_SIGNING_KEYS, OKTAQ_ROLES and
// OKTAQ_OKTA_SCOPES for the "default" connection, and the task deadline,
// retention and attempts, and OKTAQ_PRODUCER_ROLES and
// OKTAQ_PRODUCER_CONNECTIONS, so that a request the workers would refuse
// is refused here first. producer is who the client enqueues as (the
// name its API token has on the server side). A secret may come from
// <VAR>_FILE, as for the workers. Every error names its variable; none
// repeats a value.
func NewFromEnv(producer string) (*Client, error) {
	var errs []error
	lookup := func(name string) (string, bool) {
		if path := os.Getenv(name + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: cannot read the secret file: %w", name, err))
				return "", false
			}
			return strings.TrimRight(string(b), "\r\n"), true
		}
		return os.LookupEnv(name)
	}
	var e producerEnv
	ev := reflect.ValueOf(&e).Elem()
	failed := map[string]bool{}
	for i, v := range EnvVars() {
		if v.Secret { // strings, perhaps from a file
			raw, ok := lookup(v.Name)
			if !ok {
				raw = v.Default
			}
			ev.Field(i).SetString(raw)
			continue
		}
		// One field at a time, so that every bad value is reported.
		one := reflect.New(reflect.StructOf([]reflect.StructField{ev.Type().Field(i)}))
		if err := envconfig.Process("OKTAQ", one.Interface()); err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read the value as %s", v.Name, ev.Field(i).Type()))
			failed[v.Name] = true
			continue
		}
		ev.Field(i).Set(one.Elem().Field(0))
	}
	opt, err := asynq.ParseRedisURI(e.RedisURL)
	if err != nil {
		errs = append(errs, errors.New("OKTAQ_REDIS_URL: want redis://[:password@]host:port/db, rediss://... or redis-sentinel://host:port?master=name"))
	}
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		if e.RedisPassword != "" {
			o.Password = e.RedisPassword
		}
		opt = o
	case asynq.RedisFailoverClientOpt:
		if e.RedisPassword != "" {
			o.Password = e.RedisPassword
		}
		opt = o
	}
	var keyring *tasks.Keyring
	if e.SigningKeys == "" {
		errs = append(errs, errors.New("OKTAQ_SIGNING_KEYS: is required (kid=secret,...): the workers' keys"))
	} else if keyring, err = tasks.ParseKeyring(e.SigningKeys); err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_SIGNING_KEYS: %w", err))
	}
	roles, err := tasks.ParseRoles(e.Roles)
	if err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_ROLES: %w", err))
	}
	conn := &tasks.Policy{Name: tasks.DefaultConnection, Roles: roles}
	for _, s := range strings.Split(e.OktaScopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			conn.Scopes = append(conn.Scopes, s)
		}
	}
	if err := conn.Check(); err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_OKTA_SCOPES: %w", err))
	}
	if conn.Approvals, err = tasks.ParseRoles(e.Approvals); err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_APPROVALS: %w", err))
	}
	if conn.VerifyUser, err = tasks.ParseVerifyPolicy(e.VerifyUser); err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_VERIFY_USER: %w", err))
	} else if err := conn.CheckHolds(); err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_VERIFY_USER: %w", err))
	}
	var producers tasks.Producers
	if producers.Roles, err = tasks.ParseProducerRules(e.ProducerRoles); err != nil {
		errs = append(errs, fmt.Errorf("OKTAQ_PRODUCER_ROLES: %w", err))
	}
	if e.ProducerConns != "" {
		if producers.Connections, err = tasks.ParseProducerRules(e.ProducerConns); err != nil {
			errs = append(errs, fmt.Errorf("OKTAQ_PRODUCER_CONNECTIONS: %w", err))
		}
	}
	if producer == "" {
		errs = append(errs, errors.New("producer: is required: the name this client enqueues as"))
	}
	if e.MaxAttempts < 1 && !failed["OKTAQ_MAX_ATTEMPTS"] {
		errs = append(errs, errors.New("OKTAQ_MAX_ATTEMPTS: must be at least 1"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return New(opt, Options{Keyring: keyring, Connections: map[string]*tasks.Policy{conn.Name: conn},
		Producer: producer, Producers: producers,
		Deadline: e.TaskDeadline, Retention: e.ResultRetention, MaxAttempts: e.MaxAttempts, ApprovalTTL: e.ApprovalTTL}), nil
}
