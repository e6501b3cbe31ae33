// Command benchratelimit compares oktaq's shared rate limiter with the
// SDK's and asynq's ways of handling Okta's limits, on a simulated org:
// `make bench-ratelimit`. It is a benchmark harness, not part of the
// product binary (and the only user of golang.org/x/time).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type cmdEnv struct {
	stdout, stderr io.Writer
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runBenchRateLimit(ctx, &cmdEnv{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "bench-ratelimit: %s\nRun 'go run ./internal/cmd/benchratelimit --help' for usage.\n", ue.msg)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "bench-ratelimit: %v\n", err)
		os.Exit(1)
	}
}

// newFlags makes a FlagSet whose errors and help go to stderr.
func newFlags(env *cmdEnv, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: go run ./internal/cmd/benchratelimit %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning a flag error into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
