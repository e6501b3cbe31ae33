package main

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/cli"
)

// composeEnv stands in for the variables compose.yaml requires
// (${VAR:?message}) from the operator.
var composeEnv = []string{"OKTAQ_OKTA_DOMAIN=acme.okta.com", "OKTAQ_OKTA_CLIENT_ID=0oa1example",
	"OKTAQ_API_TOKENS=helpdesk=" + "abababababababababababababababababababababababababababababababab"}

// checkCompose loads the file as `docker compose` does: interpolation,
// merge keys and validation against the Compose specification.
func checkCompose(path string) error {
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv(composeEnv), cli.WithName("oktaq"))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(p.Services) == 0 {
		return fmt.Errorf("%s: no services", path)
	}
	return nil
}
