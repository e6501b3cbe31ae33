package tasks

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Producers is what each producer (a ticketing system, known by its API
// token) may assert in a request: the requester roles and the
// connections. A producer holds requesters' roles on trust, so the roles
// it may claim are bounded here; the API checks this before enqueue and
// the worker again, reading the producer from the signed payload.
type Producers struct {
	// Roles: producer -> the requester roles it may assert ("*": any). A
	// producer not listed may assert none.
	Roles map[string][]string
	// Connections: producer -> the connections it may name ("*": any).
	// Nil means every producer may name every connection; once set, a
	// producer not listed may name none.
	Connections map[string][]string
}

// AnyValue in a producer rule stands for every role or connection.
const AnyValue = "*"

var producerRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ParseProducerRules parses "producer=role|role;producer2=*" (the form of
// OKTAQ_PRODUCER_ROLES and OKTAQ_PRODUCER_CONNECTIONS). A producer listed
// twice gets the union.
func ParseProducerRules(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for i, rule := range strings.Split(s, ";") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		producer, values, ok := strings.Cut(rule, "=")
		producer = strings.TrimSpace(producer)
		switch {
		case !ok:
			return nil, fmt.Errorf("rule %d %q is not producer=value|value", i+1, rule)
		case !producerRe.MatchString(producer):
			return nil, fmt.Errorf("rule %d: producer id %q must be 1-128 letters, digits, '.', '_' or '-'", i+1, producer)
		}
		for _, v := range strings.Split(values, "|") {
			v = strings.TrimSpace(v)
			if v == "" {
				return nil, fmt.Errorf("rule %d %q has an empty value", i+1, rule)
			}
			if !slices.Contains(out[producer], v) {
				out[producer] = append(out[producer], v)
			}
		}
	}
	return out, nil
}

// Authorize returns nil when producer may assert role on connection, or a
// *ProducerNotAllowedError naming the producer and what it may not assert.
func (p Producers) Authorize(producer, connection, role string) error {
	if connection == "" {
		connection = DefaultConnection
	}
	if p.Connections != nil && !allows(p.Connections[producer], connection) {
		return &ProducerNotAllowedError{Producer: producer, Connection: connection}
	}
	if !allows(p.Roles[producer], role) {
		return &ProducerNotAllowedError{Producer: producer, Role: role}
	}
	return nil
}

func allows(list []string, v string) bool {
	return v != "" && (slices.Contains(list, AnyValue) || slices.Contains(list, v))
}

// ProducerNotAllowedError says that a producer asserted a role or named a
// connection it is not given.
type ProducerNotAllowedError struct {
	Producer string
	// Role is set when the role is not the producer's to assert;
	// Connection when the connection is not the producer's to name.
	Role       string
	Connection string
}

func (e *ProducerNotAllowedError) Error() string {
	if e.Connection != "" {
		return fmt.Sprintf("producer %q may not name connection %q (OKTAQ_PRODUCER_CONNECTIONS)", e.Producer, e.Connection)
	}
	return fmt.Sprintf("producer %q may not assert requester role %q (OKTAQ_PRODUCER_ROLES)", e.Producer, e.Role)
}

// Code is CodeProducerConnection or CodeProducerRole.
func (e *ProducerNotAllowedError) Code() Code {
	if e.Connection != "" {
		return CodeProducerConnection
	}
	return CodeProducerRole
}
