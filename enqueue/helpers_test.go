package enqueue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"gopkg.in/yaml.v3"

	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/tasks"
)

const (
	tokenA = "token-of-helpdesk-a"
	tokenB = "token-of-helpdesk-b"
)

func testKeyring(tb testing.TB) *tasks.Keyring {
	kr, err := tasks.ParseKeyring("k1=0123456789abcdef0123")
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

func testConnections() map[string]*tasks.Policy {
	roles, _ := tasks.ParseRoles("*=it-admin;user.reset_password=helpdesk|it-admin")
	return map[string]*tasks.Policy{"default": {Name: "default", Roles: roles,
		Scopes: []string{tasks.ScopeUsersRead, tasks.ScopeUsersManage, tasks.ScopeGroupsManage}}}
}

// testProducers: helpdesk-a may assert it-admin and helpdesk, helpdesk-b
// only helpdesk; both every connection.
func testProducers() tasks.Producers {
	return tasks.Producers{Roles: map[string][]string{"helpdesk-a": {"it-admin", "helpdesk"}, "helpdesk-b": {"helpdesk"}}}
}

func testOptions(tb testing.TB) Options {
	return Options{Producer: "helpdesk-a", Producers: testProducers(), Keyring: testKeyring(tb), Connections: testConnections(), MaxAttempts: 5}
}

func newTestClient(tb testing.TB) (*Client, *redistest.Redis) {
	db := redistest.New(tb)
	c := New(db.Opt, testOptions(tb))
	tb.Cleanup(func() { c.Close() })
	return c, db
}

// observed records, per "METHOD /path" of the OpenAPI document, the status
// codes tests saw; TestMain checks them against openapi.yaml.
var observed = struct {
	sync.Mutex
	m map[string]map[int]bool
}{m: map[string]map[int]bool{}}

func recordStatuses(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, r)
		if r.Pattern == "" {
			return
		}
		observed.Lock()
		defer observed.Unlock()
		if observed.m[r.Pattern] == nil {
			observed.m[r.Pattern] = map[int]bool{}
		}
		observed.m[r.Pattern][sw.status] = true
	})
}

type testAPI struct {
	*httptest.Server
	c  *Client
	db *redistest.Redis
}

func newTestAPI(tb testing.TB, c *Client, db *redistest.Redis) *testAPI {
	producers := []Producer{NewProducer("helpdesk-a", tokenA), NewProducer("helpdesk-b", tokenB)}
	srv := httptest.NewServer(recordStatuses(NewAPI(c, producers, APIOptions{})))
	tb.Cleanup(srv.Close)
	return &testAPI{Server: srv, c: c, db: db}
}

func startAPI(tb testing.TB) *testAPI {
	c, db := newTestClient(tb)
	return newTestAPI(tb, c, db)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		tb.Fatalf("answer %d is not a JSON object: %v: %s", a.status, err, a.body)
	}
	return m
}

func (s *testAPI) do(tb testing.TB, method, path, token, contentType string, body []byte) answer {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *testAPI) post(tb testing.TB, path string, body any) answer {
	tb.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			tb.Fatal(err)
		}
	}
	return s.do(tb, "POST", path, tokenA, "application/json", b)
}

func (s *testAPI) get(tb testing.TB, path, token string) answer {
	tb.Helper()
	return s.do(tb, "GET", path, token, "", nil)
}

func suspendBody(user, key string) map[string]any {
	m := map[string]any{"action": "user.suspend", "user": user,
		"requester": map[string]any{"id": "agent-42", "role": "it-admin"},
		"ticket":    map[string]any{"system": "helpdesk", "id": "REQ-1"}}
	if key != "" {
		m["idempotency_key"] = key
	}
	return m
}

// wantProblem checks a problem+json answer and returns its body.
func wantProblem(tb testing.TB, a answer, status int, code string) map[string]any {
	tb.Helper()
	if a.status != status {
		tb.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	m := a.json(tb)
	for _, k := range []string{"type", "title", "status"} {
		if _, ok := m[k]; !ok {
			tb.Errorf("problem lacks %q: %s", k, a.body)
		}
	}
	if m["status"] != float64(status) || m["code"] != code {
		tb.Errorf("problem status/code = %v/%v, want %d/%s", m["status"], m["code"], status, code)
	}
	return m
}

func fieldsOf(m map[string]any) []string {
	var out []string
	errs, _ := m["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

func countTasks(tb testing.TB, db *redistest.Redis) int {
	tb.Helper()
	insp := asynq.NewInspectorFromRedisClient(db.Client)
	n := 0
	for _, q := range Queues() {
		if info, err := insp.GetQueueInfo(q); err == nil {
			n += info.Size
		}
	}
	return n
}

// openAPISpec is the parsed openapi.yaml: path -> method -> status codes.
func openAPISpec(tb testing.TB) map[string]map[string]map[string]bool {
	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Paths   map[string]map[string]struct {
			Responses map[string]any `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		tb.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		tb.Fatalf("openapi.yaml is OpenAPI %q, want 3.1", doc.OpenAPI)
	}
	out := map[string]map[string]map[string]bool{}
	for path, ops := range doc.Paths {
		out[path] = map[string]map[string]bool{}
		for method, op := range ops {
			codes := map[string]bool{}
			for code := range op.Responses {
				codes[code] = true
			}
			out[path][strings.ToUpper(method)] = codes
		}
	}
	return out
}

// TestMain checks, after all tests ran, that every status code they saw
// on each route is documented in openapi.yaml.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		spec := openAPISpec(fakeTB{})
		observed.Lock()
		for pattern, codes := range observed.m {
			method, path, _ := strings.Cut(pattern, " ")
			for c := range codes {
				if !spec[path][method][fmt.Sprint(c)] {
					fmt.Fprintf(os.Stderr, "openapi.yaml: %s answered %d in tests, which is not documented\n", pattern, c)
					code = 1
				}
			}
		}
		observed.Unlock()
	}
	os.Exit(code)
}

type fakeTB struct{ testing.TB }

func (fakeTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// waitFor polls cond until it holds. The limit only stops a test that
// would hang; it is no bound on how fast a busy machine must be.
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	const hangGuard = 3 * time.Minute
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %s: hung", hangGuard)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
