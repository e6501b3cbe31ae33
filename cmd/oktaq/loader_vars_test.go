package main

import (
	"testing"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
)

// TestClientLoaderReadsServerVariables: enqueue.NewFromEnv reads the
// workers' variables by the same names, defaults and secrecy (enqueue
// cannot import the server's config, so the two are compared here).
func TestClientLoaderReadsServerVariables(t *testing.T) {
	server := map[string]config.Var{}
	for _, v := range config.Vars() {
		server[v.Name] = v
	}
	for _, v := range enqueue.EnvVars() {
		s, ok := server[v.Name]
		switch {
		case !ok:
			t.Errorf("enqueue reads %s, which the server does not", v.Name)
		case s.Default != v.Default:
			t.Errorf("%s: default %q in enqueue, %q in the server", v.Name, v.Default, s.Default)
		case s.Secret != v.Secret:
			t.Errorf("%s: secret %v in enqueue, %v in the server", v.Name, v.Secret, s.Secret)
		}
	}
}
