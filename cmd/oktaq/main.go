// Command oktaq is the one binary of oktaq: the worker, the HTTP API, the
// producer CLI, the Okta simulator and the all-in-one demo.
//
// Exit codes: 0 ok, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command
// name; it returns a usageError for bad usage.
type command struct {
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a command may touch of the process, so tests can run
// commands in-process.
type cmdEnv struct {
	stdout, stderr io.Writer
}

var commands = map[string]command{}

// register adds a subcommand; each lives in its own file.
func register(name, summary string, run func(context.Context, *cmdEnv, []string) error) {
	commands[name] = command{summary: summary, run: run}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cmdEnv{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		printUsage(env.stderr)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		// Asked-for help is the output, not a diagnostic: stdout, exit 0.
		printUsage(env.stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "oktaq: unknown command %q\n\n", args[0])
		printUsage(env.stderr)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		// The message, then the command's own usage: running it with
		// --help only prints, before it reads configuration or connects.
		fmt.Fprintf(env.stderr, "oktaq %s: %s\n\n", args[0], ue.msg)
		_ = cmd.run(ctx, &cmdEnv{stdout: env.stderr, stderr: env.stderr}, []string{"--help"})
		return 2
	default:
		fmt.Fprintf(env.stderr, "oktaq %s: %v\n", args[0], err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: oktaq COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'oktaq COMMAND --help' for a command's flags. Configuration: OKTAQ_* variables (see README).")
}

// newFlags makes a FlagSet whose help goes to the command's stdout and
// whose parse errors become usage errors (run prints them, then the
// usage, on stderr). A command may replace Usage to say more; it must
// write to fs.Output().
func newFlags(env *cmdEnv, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stdout)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: oktaq %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning a flag error into a usage error. The
// flag package would print the error and the usage itself, to one
// writer; it is silenced so that help goes to stdout and errors to stderr.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return usageError{err.Error()}
	}
	return nil
}

// parseOneArg parses flags around one positional argument, which may come
// before or after them ("oktaq status ID --json" as well as
// "oktaq status --json ID"). It returns "" when none is given.
func parseOneArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	switch {
	case arg == "" && fs.NArg() == 1:
		return fs.Arg(0), nil
	case fs.NArg() > 0:
		return "", usagef("unexpected arguments %q", fs.Args())
	}
	return arg, nil
}

// parseNoArgs parses flags for a command that takes no positional
// arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("takes no arguments")
	}
	return nil
}
