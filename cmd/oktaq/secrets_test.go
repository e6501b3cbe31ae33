package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/tasks"
)

// lockedBuffer collects a command's output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoSecretInLogs sets every secret variable to a marker, runs the
// worker and the API at debug level through real work (a temporary
// password included), and proves no marker, and not the temporary
// password, appears in any log line or in what the commands print.
func TestNoSecretInLogs(t *testing.T) {
	markers := map[string]string{}
	for _, v := range config.SecretVars() {
		markers[v] = "MARK-" + strings.ToLower(strings.TrimPrefix(v, "OKTAQ_")) + "-7f3a9c0e5b"
	}
	redisPass := markers["OKTAQ_REDIS_PASSWORD"]
	// A callback secret has a form of its own (whsec_ and base64 of 24+
	// bytes): its base64 text is the marker.
	markers["OKTAQ_CALLBACK_SECRETS"] = base64.StdEncoding.EncodeToString([]byte(markers["OKTAQ_CALLBACK_SECRETS"]))
	deliveries := make(chan struct{}, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		select {
		case deliveries <- struct{}{}:
		default:
		}
	}))
	defer receiver.Close()
	mini := miniredis.RunT(t)
	mini.RequireAuth(redisPass)
	sim := oktasim.New(oktasim.Options{})
	seed := oktasim.Seed{
		Users:   []oktasim.SeedUser{{Login: "alice@example.com", Status: "ACTIVE"}},
		Clients: []oktasim.SeedClient{{ClientID: "oktaq-secrets", ClientSecret: markers["OKTAQ_OKTA_CLIENT_SECRET"], Scopes: oktasim.ManageScopes}},
	}
	if err := sim.Load(seed); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	defer srv.Close()
	ports := freePorts(t, 3)
	for k, v := range map[string]string{
		"OKTAQ_REDIS_URL":           "redis://:" + markers["OKTAQ_REDIS_URL"] + "@" + mini.Addr() + "/0",
		"OKTAQ_REDIS_PASSWORD":      redisPass,
		"OKTAQ_OKTA_DOMAIN":         srv.URL,
		"OKTAQ_OKTA_ALLOW_HTTP":     "true",
		"OKTAQ_OKTA_CLIENT_ID":      "oktaq-secrets",
		"OKTAQ_OKTA_CLIENT_SECRET":  markers["OKTAQ_OKTA_CLIENT_SECRET"],
		"OKTAQ_OKTA_SCOPES":         strings.Join(oktasim.ManageScopes, ","),
		"OKTAQ_SIGNING_KEYS":        "k1=" + markers["OKTAQ_SIGNING_KEYS"],
		"OKTAQ_ROLES":               "*=it-admin",
		"OKTAQ_PRODUCER_ROLES":      "cli=it-admin",
		"OKTAQ_ADMIN_PASSWORD":      markers["OKTAQ_ADMIN_PASSWORD"],
		"OKTAQ_EVENT_HOOK_SECRET":   markers["OKTAQ_EVENT_HOOK_SECRET"],
		"OKTAQ_CALLBACK_SECRETS":    "cli=whsec_" + markers["OKTAQ_CALLBACK_SECRETS"],
		"OKTAQ_PRODUCER_CALLBACKS":  "cli=" + receiver.URL + "/callbacks",
		"OKTAQ_CALLBACK_ALLOW_HTTP": "true",
		"OKTAQ_API_TOKENS":          "ticketing=" + strings.Repeat("ab", 32),
		"OKTAQ_ADMIN_ADDR":          ports[0],
		"OKTAQ_API_ADDR":            ports[1],
		"OKTAQ_LOG_LEVEL":           "debug",
	} {
		t.Setenv(k, v)
	}
	var logs lockedBuffer
	env := &cmdEnv{stdout: &logs, stderr: &logs}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); run(ctx, env, []string{"worker"}) }()

	pub, priv, _ := tasks.GenerateResultKey()
	out := &lockedBuffer{}
	code := run(context.Background(), &cmdEnv{stdout: out, stderr: out}, []string{"enqueue", "user.expire_password",
		"--user", "alice@example.com", "--role", "it-admin", "--temp-password", "--result-key", pub, "--wait", "--json", "--timeout", "30s"})
	if code != 0 {
		t.Fatalf("enqueue exit %d:\n%s\nworker log:\n%s", code, out, logs.String())
	}
	tempPassword := openTempPassword(t, out.String(), pub, priv)
	// The outcome is called back, signed with the callback secret, before
	// the logs are read. (The guard only stops a hang.)
	select {
	case <-deliveries:
	case <-time.After(3 * time.Minute):
		t.Fatalf("no callback was delivered:\n%s", logs.String())
	}

	t.Setenv("OKTAQ_OKTA_API_TOKEN", markers["OKTAQ_OKTA_API_TOKEN"])
	t.Setenv("OKTAQ_ADMIN_ADDR", ports[2])
	apiCtx, apiCancel := context.WithTimeout(context.Background(), time.Second)
	defer apiCancel()
	run(apiCtx, env, []string{"api"})
	cancel()
	wg.Wait()

	all := logs.String() + out.String()
	if !strings.Contains(all, `"msg":"audit"`) {
		t.Fatalf("no audit line was logged, so this test proves nothing:\n%s", all)
	}
	for v, m := range markers {
		if strings.Contains(all, m) {
			t.Errorf("%s reached the output", v)
		}
	}
	if strings.Contains(all, tempPassword) {
		t.Error("the temporary password reached the output")
	}
}

// openTempPassword opens the sealed secret of an `enqueue --json` result.
func openTempPassword(t *testing.T, out, pub, priv string) string {
	t.Helper()
	i := strings.Index(out, "{")
	if i < 0 {
		t.Fatalf("no JSON in enqueue output:\n%s", out)
	}
	var st struct {
		Result *tasks.Result `json:"result"`
	}
	if err := jsonDecode(out[i:], &st); err != nil || st.Result == nil || st.Result.Sealed == nil {
		t.Fatalf("no sealed result (%v):\n%s", err, out)
	}
	s, err := tasks.Open(st.Result.Sealed, pub, priv)
	if err != nil || s.Kind != "temp_password" || len(s.Value) < 8 {
		t.Fatalf("sealed secret: %v %s", err, s.Kind)
	}
	return s.Value
}

func jsonDecode(s string, v any) error {
	return json.NewDecoder(strings.NewReader(s)).Decode(v)
}
