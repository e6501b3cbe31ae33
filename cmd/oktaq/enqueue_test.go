package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

func setProducerEnv(t *testing.T) *redistest.Redis {
	m := redistest.New(t)
	t.Setenv("OKTAQ_REDIS_URL", m.URL)
	t.Setenv("OKTAQ_SIGNING_KEYS", "k1=0123456789abcdef0123")
	t.Setenv("OKTAQ_ROLES", "*=it-admin")
	t.Setenv("OKTAQ_PRODUCER_ROLES", "cli=it-admin")
	t.Setenv("OKTAQ_OKTA_SCOPES", "okta.users.read,okta.users.manage,okta.groups.manage")
	return m
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	// stderr is also go-redis's process-wide logger while a command runs,
	// and its background goroutines may still write to it: synchronized.
	var out bytes.Buffer
	var errb syncWriter
	code := run(t.Context(), &cmdEnv{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestEnqueueAndStatus(t *testing.T) {
	setProducerEnv(t)
	code, out, errs := runCmd(t, "enqueue", "user.suspend", "--user", "alice@example.com", "--role", "it-admin", "--key", "REQ-9", "--ticket", "REQ-9")
	id := enqueue.TaskID("cli", "REQ-9")
	if code != 0 || out != id+"\n" {
		t.Fatalf("enqueue: %d %q %q, want the id of producer cli's key REQ-9", code, out, errs)
	}
	code, out, errs = runCmd(t, "status", id, "--json")
	var st enqueue.StatusView
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.State != "pending" || st.Action != "user.suspend" {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	if code, out, _ = runCmd(t, "status", id); code != 0 || !bytes.Contains([]byte(out), []byte("state:    pending")) {
		t.Errorf("status text: %d %q", code, out)
	}
	code, _, errs = runCmd(t, "enqueue", "user.groups.update", "--user", "bob@example.com", "--role", "it-admin", "--add-group", "Engineering", "--add-group", "Sales", "--bulk")
	if code != 0 {
		t.Errorf("groups update: %d %s", code, errs)
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"enqueue"}, 2},
		{[]string{"enqueue", "user.delete", "--user", "a@example.com", "--role", "it-admin"}, 2},
		{[]string{"enqueue", "user.suspend", "--user", "a@example.com", "--role", "it-admin", "--add-group", "x"}, 2},
		{[]string{"enqueue", "user.suspend", "--user", "a@example.com", "--role", "helpdesk"}, 1},
		{[]string{"enqueue", "user.reset_password", "--user", "a@example.com", "--role", "super-admin"}, 1}, // not cli's to assert
		{[]string{"enqueue", "user.suspend", "--role", "it-admin"}, 2},
		{[]string{"status"}, 2},
		{[]string{"status", "no-such-task"}, 1},
	}
	for _, tc := range cases {
		if code, _, errs := runCmd(t, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, errs)
		}
	}
}

func TestEnqueueWait(t *testing.T) {
	m := setProducerEnv(t)
	srv := asynq.NewServer(m.Opt, asynq.Config{Concurrency: 1,
		Queues: map[string]int{tasks.QueueCritical: 1, tasks.QueueDefault: 1}, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	outcome := func(o tasks.Outcome) asynq.HandlerFunc {
		return func(_ context.Context, task *asynq.Task) error {
			b, _ := json.Marshal(tasks.Result{Outcome: o, Attempts: 1})
			_, err := task.ResultWriter().Write(b)
			return err
		}
	}
	mux.HandleFunc(tasks.ActionSuspend.TypeName(), outcome(tasks.OutcomeSucceeded))
	mux.HandleFunc(tasks.ActionUnlock.TypeName(), outcome(tasks.OutcomeFailed))
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if code, out, errs := runCmd(t, "enqueue", "user.suspend", "--user", "a@example.com", "--role", "it-admin", "--wait", "--timeout", "20s"); code != 0 {
		t.Errorf("succeeded: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := runCmd(t, "enqueue", "user.unlock", "--user", "a@example.com", "--role", "it-admin", "--wait", "--timeout", "20s", "--json"); code != 1 {
		t.Errorf("failed: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestAPICommandNeedsProducers(t *testing.T) {
	setProducerEnv(t)
	t.Setenv("OKTAQ_API_TOKENS", "")
	if code, _, errs := runCmd(t, "api"); code != 1 || !bytes.Contains([]byte(errs), []byte("OKTAQ_API_TOKENS")) {
		t.Errorf("exit %d: %s", code, errs)
	}
	t.Setenv("OKTAQ_API_TOKENS", "helpdesk=not-a-hash-but-a-secret")
	if code, _, errs := runCmd(t, "api"); code != 1 || bytes.Contains([]byte(errs), []byte("not-a-hash-but-a-secret")) {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestAPICommandServes(t *testing.T) {
	setProducerEnv(t)
	t.Setenv("OKTAQ_API_TOKENS", "helpdesk=0000000000000000000000000000000000000000000000000000000000000000")
	t.Setenv("OKTAQ_API_ADDR", "127.0.0.1:0")
	t.Setenv("OKTAQ_ADMIN_ADDR", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	var errb syncWriter
	if code := run(ctx, &cmdEnv{stdout: &out, stderr: &errb}, []string{"api"}); code != 0 {
		t.Errorf("api exit %d after a graceful stop: %s", code, errb.String())
	}
}
