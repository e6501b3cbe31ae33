package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/tasks"
)

// TestHelpGoesToStdout: asked-for help is output, exit 0, for the binary
// and every command; nothing is read or started.
func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errs := runCmd(t, args...)
		if code != 0 || !strings.Contains(out, "Usage: oktaq COMMAND") || errs != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	for name := range commands {
		for _, h := range []string{"--help", "-h"} {
			code, out, errs := runCmd(t, name, h)
			if code != 0 || !strings.Contains(out, "Usage: oktaq "+name) || errs != "" {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", name, h, code, out, errs)
			}
		}
	}
	if code, out, errs := runCmd(t); code != 2 || out != "" || !strings.Contains(errs, "Usage: oktaq COMMAND") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestEnqueueHelpListsActions: every action, with the flags that apply
// to it, is in `oktaq enqueue --help`.
func TestEnqueueHelpListsActions(t *testing.T) {
	_, out, _ := runCmd(t, "enqueue", "--help")
	for _, a := range tasks.Actions() {
		line := lineWith(out, "  "+string(a)+" ")
		if line == "" {
			t.Errorf("action %s is not listed:\n%s", a, out)
			continue
		}
		for _, f := range actionHelp[a].flags {
			if !strings.Contains(line, "--"+f) {
				t.Errorf("%s: --%s is not named: %q", a, f, line)
			}
		}
	}
	for _, f := range []string{"-user", "-role", "-wait", "-bulk", "-add-group"} {
		if !strings.Contains(out, "  "+f) {
			t.Errorf("flag %s is not listed", f)
		}
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, sub) {
			return l
		}
	}
	return ""
}

// TestActionHelpMatchesBuildArgs: the help's flags per action are exactly
// those buildArgs accepts for it.
func TestActionHelpMatchesBuildArgs(t *testing.T) {
	for _, a := range tasks.Actions() {
		if _, ok := actionHelp[a]; !ok {
			t.Errorf("%s has no help", a)
		}
		for _, name := range actionFlagNames {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			var f enqueueFlags
			fs.BoolVar(new(bool), name, false, "")
			if err := fs.Parse([]string{"--" + name}); err != nil {
				t.Fatal(err)
			}
			_, err := buildArgs(a, &f, fs)
			helped := false
			for _, h := range actionHelp[a].flags {
				helped = helped || h == name
			}
			if helped != (err == nil) {
				t.Errorf("%s --%s: help lists it %v, buildArgs says %v", a, name, helped, err)
			}
		}
	}
}

// TestUsageErrorsExit2WithUsage: a missing required flag, a flag that
// does not exist and a missing action exit 2, name the problem and print
// the usage on stderr.
func TestUsageErrorsExit2WithUsage(t *testing.T) {
	setProducerEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"enqueue", "user.suspend", "--role", "it-admin"}, "--user is required"},
		{[]string{"enqueue", "user.suspend", "--user", "alice@example.com"}, "--role is required"},
		{[]string{"enqueue", "user.suspend", "--user", "a", "--role", "it-admin", "--no-such-flag"}, "-no-such-flag"},
		{[]string{"enqueue"}, "name an action"},
		{[]string{"status"}, "give one task id"},
		{[]string{"worker", "extra"}, "takes no arguments"},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(t, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "Usage: oktaq "+tt.args[0]) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", tt.args, code, out, errs)
		}
	}
}

// TestStatusNeedsOnlyRedis: `oktaq status` works with OKTAQ_REDIS_URL
// alone, as an operator's shell may have it.
func TestStatusNeedsOnlyRedis(t *testing.T) {
	m := setProducerEnv(t)
	keyring, err := tasks.ParseKeyring("k1=0123456789abcdef0123")
	if err != nil {
		t.Fatal(err)
	}
	anyRole, _ := tasks.ParseProducerRules("cli=*")
	bounds := tasks.Producers{Roles: anyRole}
	c := enqueue.NewFromRedisClient(m.Client, enqueue.Options{Keyring: keyring, Producer: "cli", Producers: bounds,
		Connections: map[string]*tasks.Policy{"default": {Name: "default", Scopes: []string{tasks.ScopeUsersManage}}}})
	if _, err := c.Enqueue(t.Context(), &tasks.Suspend{Request: tasks.Request{User: "alice@example.com", IdempotencyKey: "REQ-31",
		Requester: tasks.Requester{ID: "agent", Role: "any"}}}); err == nil {
		t.Fatal("a role outside the policy was enqueued")
	}
	c = enqueue.NewFromRedisClient(m.Client, enqueue.Options{Keyring: keyring, Producer: "cli", Producers: bounds,
		Connections: map[string]*tasks.Policy{"default": {Name: "default", Scopes: []string{tasks.ScopeUsersManage},
			Roles: mustPolicy(t, "*=it-admin")}}})
	info, err := c.Enqueue(t.Context(), &tasks.Suspend{Request: tasks.Request{User: "alice@example.com", IdempotencyKey: "REQ-31",
		Requester: tasks.Requester{ID: "agent", Role: "it-admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"OKTAQ_SIGNING_KEYS", "OKTAQ_ROLES", "OKTAQ_OKTA_SCOPES"} {
		t.Setenv(k, "")
	}
	code, out, errs := runCmd(t, "status", info.ID, "--json")
	var st enqueue.StatusView
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Action != "user.suspend" {
		t.Fatalf("status with only OKTAQ_REDIS_URL: exit %d %q %s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "enqueue", "user.suspend", "--user", "a@example.com", "--role", "it-admin"); code != 1 || !strings.Contains(errs, "OKTAQ_SIGNING_KEYS") {
		t.Errorf("enqueue without signing keys: exit %d %s", code, errs)
	}
}

func mustPolicy(t *testing.T, s string) tasks.Roles {
	t.Helper()
	p, err := tasks.ParseRoles(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnknownVariableWarned: a command that reads the configuration warns
// of a misspelt variable, naming the right one.
func TestUnknownVariableWarned(t *testing.T) {
	setProducerEnv(t)
	t.Setenv("OKTAQ_OKTA_SCOPE", "okta.users.manage")
	code, _, errs := runCmd(t, "enqueue", "user.suspend", "--user", "a@example.com", "--role", "it-admin")
	if code != 0 || !strings.Contains(errs, "warning: OKTAQ_OKTA_SCOPE is not a variable oktaq reads; it is ignored (did you mean OKTAQ_OKTA_SCOPES?)") {
		t.Errorf("enqueue: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCmd(t, "status", "no-such-task")
	if code != 1 || !strings.Contains(errs, "did you mean OKTAQ_OKTA_SCOPES?") {
		t.Errorf("status: exit %d, stderr %q", code, errs)
	}
}

// TestRedisLibraryLogsAreJSON: go-redis's own log lines (here a sentinel
// that does not answer) come out through our JSON logger.
func TestRedisLibraryLogsAreJSON(t *testing.T) {
	var buf syncWriter
	cfg := &config.Config{Env: &config.Env{LogFormat: "json"}}
	newLogger(cfg, &buf)
	t.Cleanup(func() { redis.SetLogger(redisLogger{newLogger(cfg, io.Discard)}) })
	dead := freePorts(t, 1)[0]
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "oktaq", SentinelAddrs: []string{dead}, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping through a dead sentinel succeeded")
	}
	rdb.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("go-redis logged nothing through our logger")
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["component"] != "go-redis" || rec["level"] != "WARN" {
			t.Errorf("not a JSON go-redis record: %q", l)
		}
	}
}

// syncWriter is a buffer that library goroutines may write to.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
