package worker

import (
	"context"
	"time"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/tasks"
)

// Executor performs actions on one connection; *okta.Executor is the one
// used outside tests of this package.
type Executor interface {
	Execute(ctx context.Context, a tasks.Args) (*tasks.Result, error)
	// Blocked says until when a bucket the action needs is known empty.
	Blocked(ctx context.Context, a tasks.Args) (until time.Time, bucket string, err error)
	CheckCredentials(ctx context.Context) error
}

// Connection is a connection the worker serves: its policy and the
// executor that talks to its org.
type Connection struct {
	Conn *okta.Connection
	Exec Executor
}
