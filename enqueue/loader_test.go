package enqueue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

func setLoaderEnv(t *testing.T) *redistest.Redis {
	db := redistest.New(t)
	t.Setenv("OKTAQ_REDIS_URL", db.URL)
	t.Setenv("OKTAQ_SIGNING_KEYS", "k1=0123456789abcdef0123")
	t.Setenv("OKTAQ_ROLES", "*=it-admin")
	t.Setenv("OKTAQ_OKTA_SCOPES", "okta.users.read,okta.users.manage")
	t.Setenv("OKTAQ_MAX_ATTEMPTS", "4")
	t.Setenv("OKTAQ_PRODUCER_ROLES", "helpdesk=it-admin|helpdesk")
	return db
}

// TestNewFromEnv: the client built from the workers' variables enqueues
// on their Redis, signs with their keys and applies their roles.
func TestNewFromEnv(t *testing.T) {
	db := setLoaderEnv(t)
	c, err := NewFromEnv("helpdesk")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Enqueue(t.Context(), suspend("alice@example.com", "L-1"))
	if err != nil {
		t.Fatal(err)
	}
	if info.MaxAttempts != 4 || countTasks(t, db) != 1 {
		t.Fatalf("attempts %d, tasks %d", info.MaxAttempts, countTasks(t, db))
	}
	ti, err := c.inspector.GetTaskInfo(info.Queue, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := testKeyring(t).Verify(tasks.Envelope{TaskID: ti.ID, Queue: ti.Queue, Type: ti.Type, Payload: ti.Payload}, ti.Headers); err != nil {
		t.Fatalf("not signed with OKTAQ_SIGNING_KEYS: %v", err)
	}
	req := suspend("bob@example.com", "")
	req.Requester.Role = "helpdesk"
	var na *tasks.NotAllowedError
	if _, err := c.Enqueue(t.Context(), req); !errors.As(err, &na) {
		t.Fatalf("OKTAQ_ROLES not applied: %v", err)
	}
}

func TestNewFromEnvSecretFile(t *testing.T) {
	setLoaderEnv(t)
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("k1=0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OKTAQ_SIGNING_KEYS", "")
	t.Setenv("OKTAQ_SIGNING_KEYS_FILE", path)
	c, err := NewFromEnv("helpdesk")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestNewFromEnvErrors: every bad variable is named, at once, without
// its value.
func TestNewFromEnvErrors(t *testing.T) {
	setLoaderEnv(t)
	bad := map[string]string{
		"OKTAQ_REDIS_URL":     "http://:hunter2@127.0.0.1",
		"OKTAQ_SIGNING_KEYS":  "k1=short",
		"OKTAQ_ROLES":         "user.delete=it-admin",
		"OKTAQ_OKTA_SCOPES":   "okta.groups.manage",
		"OKTAQ_TASK_DEADLINE": "soon",
	}
	for k, v := range bad {
		t.Setenv(k, v)
	}
	_, err := NewFromEnv("helpdesk")
	for k := range bad {
		if err == nil || !strings.Contains(err.Error(), k+":") {
			t.Errorf("%s not reported: %v", k, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error repeats the password: %v", err)
	}
}
