package okta

import (
	"fmt"
	"slices"
	"strings"

	"github.com/oktaq/oktaq/tasks"
)

// Policy says which requester roles may trigger which actions.
type Policy map[tasks.Action][]string

// ParsePolicy parses "action=role|role;action=role", where action "*"
// stands for every action, e.g. "*=it-admin;user.reset_password=helpdesk".
// Roles add up: the example lets it-admin do everything and helpdesk reset
// passwords.
func ParsePolicy(s string) (Policy, error) {
	p := Policy{}
	for i, rule := range strings.Split(s, ";") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		name, roles, ok := strings.Cut(rule, "=")
		if !ok {
			return nil, fmt.Errorf("rule %d %q is not action=role|role", i+1, rule)
		}
		name = strings.TrimSpace(name)
		var targets []tasks.Action
		if name == "*" {
			targets = tasks.Actions()
		} else if a := tasks.Action(name); a.Known() {
			targets = []tasks.Action{a}
		} else {
			return nil, fmt.Errorf("rule %d names unknown action %q; known: *, %s", i+1, name, joinActions())
		}
		for _, role := range strings.Split(roles, "|") {
			role = strings.TrimSpace(role)
			if role == "" {
				return nil, fmt.Errorf("rule %d %q has an empty role", i+1, rule)
			}
			for _, a := range targets {
				if !slices.Contains(p[a], role) {
					p[a] = append(p[a], role)
				}
			}
		}
	}
	return p, nil
}

// Allows reports whether role may trigger a.
func (p Policy) Allows(a tasks.Action, role string) bool {
	return role != "" && slices.Contains(p[a], role)
}

func joinActions() string {
	names := make([]string, 0, len(tasks.Actions()))
	for _, a := range tasks.Actions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}
