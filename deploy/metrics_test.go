package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/oktaq/oktaq/enqueue"
	"github.com/oktaq/oktaq/internal/apitest"
	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/oktasim"
	"github.com/oktaq/oktaq/okta/ratelimit"
	"github.com/oktaq/oktaq/tasks"
	"github.com/oktaq/oktaq/worker"
)

const grafanaPath = "grafana/oktaq.json"

// prometheusMade are series Prometheus makes itself; they are in no
// /metrics output.
var prometheusMade = map[string]bool{"up": true}

// TestMonitoringQueriesExist: every metric the Grafana dashboard and the
// alert rules query is one a running worker and API expose, and the README's
// metrics reference lists every oktaq metric.
func TestMonitoringQueriesExist(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a worker against the simulator")
	}
	families, samples := scrapeRunningSystem(t)
	queries := append(dashboardQueries(t), ruleQueries(t)...)
	if len(queries) < 20 {
		t.Fatalf("only %d queries found: the dashboard or rules did not parse as expected", len(queries))
	}
	for _, q := range queries {
		names := metricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", q.where, q.expr)
		}
		for _, n := range names {
			if !samples[n] && !prometheusMade[n] {
				t.Errorf("%s queries %s, which /metrics does not expose (expr %q)", q.where, n, q.expr)
			}
		}
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f, "oktaq_") && !strings.Contains(string(readme), "| `"+f) {
			t.Errorf("README's metrics reference does not list %s", f)
		}
	}
}

// TestDashboardShape: the Grafana dashboard imports cleanly and shows what
// operators look at first.
func TestDashboardShape(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	ids, titles := map[int]bool{}, map[string]bool{}
	used := map[string]bool{}
	for _, p := range d.allPanels() {
		if ids[p.ID] || titles[p.Title] {
			t.Errorf("panel %d %q: id or title repeats", p.ID, p.Title)
		}
		ids[p.ID], titles[p.Title] = true, true
		if p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q has no size", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d targets; want ${datasource} and a query", p.Title, p.Datasource.UID, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.Expr == "" {
				t.Errorf("panel %q: refId %q repeats or has no expr", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			for _, n := range metricNames(tg.Expr) {
				used[n] = true
			}
		}
	}
	for _, want := range []string{"oktaq_actions_total", "oktaq_action_duration_seconds_bucket", "oktaq_okta_requests_total",
		"oktaq_rate_limited_total", "oktaq_okta_rate_limit_remaining", "oktaq_connection_up", "asynq_queue_size",
		"asynq_queue_latency_seconds"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// TestDashboardQueriesParse runs every dashboard query through promtool's
// PromQL parser, when promtool is installed (.ci/run installs it).
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	vars := regexp.MustCompile(`\$\{?__\w+\}?`)
	var b strings.Builder
	b.WriteString("groups:\n  - name: grafana\n    rules:\n")
	for i, q := range dashboardQueries(t) {
		expr := q.expr
		if strings.HasPrefix(expr, "label_values(") {
			expr = strings.Join(metricNames(expr), " or ") // Grafana's, not PromQL
		}
		expr = vars.ReplaceAllString(expr, "5m")
		expr = strings.ReplaceAll(strings.ReplaceAll(expr, "${connection}", ".*"), "$connection", ".*")
		if strings.Contains(expr, "$") {
			t.Fatalf("%s: a Grafana variable this test does not know: %q", q.where, q.expr)
		}
		quoted, _ := json.Marshal(expr)
		fmt.Fprintf(&b, "      - record: grafana:query_%d\n        expr: %s\n", i, quoted)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool rejects a dashboard query: %v\n%s", err, out)
	}
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (le, action) (rate(oktaq_action_duration_seconds_bucket{action=~"$action"}[$__rate_interval])))`,
			[]string{"oktaq_action_duration_seconds_bucket"}},
		{`max by (queue) (delta(asynq_tasks_enqueued_total{state="archived"}[1h])) > 10`, []string{"asynq_tasks_enqueued_total"}},
		{`absent(up{job="oktaq-worker"} == 1)`, []string{"up"}},
		{"a_total / on (connection) group_left (x) b_total offset 5m and bool c{l=\"d{e}\"}", []string{"a_total", "b_total", "c"}},
		{`sum(rate(x[5m])) by (connection) > 1e3`, []string{"x"}},
		{`label_values(oktaq_connection_up, connection)`, []string{"oktaq_connection_up"}},
		{`label_values(connection)`, nil},
	} {
		if got := metricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}

// scrapeRunningSystem runs a worker, the HTTP API and asynq's queue
// collector on one registry against the simulator, makes every oktaq
// metric get a series (a success, a 429, a gate delay, API requests), and
// returns the metric families and sample names its /metrics serves.
func scrapeRunningSystem(t *testing.T) (families []string, samples map[string]bool) {
	t.Helper()
	r := redistest.New(t)
	sim := oktasim.New(oktasim.Options{RateLimits: oktasim.RateLimits{Window: 3 * time.Second}})
	if err := sim.Load(oktasim.DemoSeed()); err != nil {
		t.Fatal(err)
	}
	srv := sim.Start()
	t.Cleanup(srv.Close)
	policy, err := tasks.ParseRoles("*=it-admin")
	if err != nil {
		t.Fatal(err)
	}
	conn := &okta.Connection{Policy: tasks.Policy{Name: tasks.DefaultConnection, Scopes: oktasim.ManageScopes, Roles: policy}, BaseURL: srv.URL,
		Credentials: okta.Credentials{ClientID: oktasim.DemoClientID, ClientSecret: oktasim.DemoClientSecret}}
	keyring, err := tasks.ParseKeyring("k1=deploy-test-signing-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)

	reg := prometheus.NewRegistry()
	reg.MustRegister(worker.QueueCollector(r.Opt))
	metrics := worker.NewMetrics(reg)
	lo := ratelimit.DefaultConfig()
	lo.Logger, lo.OnEvent = log, metrics.OnLimit
	lim, err := ratelimit.New(r.Client, lo)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := okta.NewExecutor(conn, okta.ExecutorOptions{Redis: r.Client, Logger: log, OnCall: metrics.OnCall, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	// The producer has a callback URL, so the callback metrics show.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(receiver.Close)
	urls, err := worker.ParseCallbackURLs("deploy-test="+receiver.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	secrets, _ := worker.ParseCallbackSecrets("deploy-test=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	endpoints, err := worker.CallbackEndpoints(urls, secrets)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(worker.CallbackCollector(r.Client, []string{"deploy-test"}, nil))
	producers := tasks.Producers{Roles: map[string][]string{"deploy-test": {"it-admin"}}}
	w, err := worker.New(worker.Options{Redis: r.Opt, Keyring: keyring, Producers: producers, Metrics: metrics, Logger: log,
		Connections: map[string]*worker.Connection{conn.Name: {Conn: conn, Exec: exec}},
		Callbacks:   &worker.CallbackOptions{Endpoints: endpoints}, Confirm: &worker.ConfirmOptions{},
		PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	const token = "deploy-test-token"
	client := enqueue.NewFromRedisClient(r.Client, enqueue.Options{Keyring: keyring, Producers: producers,
		Connections: map[string]*tasks.Policy{conn.Name: &conn.Policy}})
	api := httptest.NewServer(enqueue.NewAPI(client, []enqueue.Producer{enqueue.NewProducer("deploy-test", token)},
		enqueue.APIOptions{Registerer: reg, Logger: log}))
	t.Cleanup(api.Close)
	admin := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})) // what `oktaq worker` and `oktaq api` serve at /metrics
	t.Cleanup(admin.Close)

	id := apitest.PostSuspend(t, api.URL, token, "bob@example.com")
	apitest.WaitFor(t, "the first action to complete", func() bool { return apitest.ActionState(t, api.URL, token, id) == "completed" })
	// Okta's bucket empty: the next suspend gets a 429, and once the
	// worker knows, the one after is delayed by the gate without a call.
	sim.Drain(oktasim.ActionBucket)
	apitest.PostSuspend(t, api.URL, token, "alice@example.com")
	apitest.WaitFor(t, "a 429", func() bool { _, s := scrape(t, admin.URL); return s["oktaq_rate_limited_total"] })
	apitest.PostSuspend(t, api.URL, token, "niaj@example.com")
	apitest.WaitFor(t, "a gate delay", func() bool { _, s := scrape(t, admin.URL); return s["oktaq_rate_limit_delayed_total"] })
	return scrape(t, admin.URL)
}

// scrape reads /metrics in the text format: the families from # TYPE
// lines, and the sample names (with _bucket, _sum, _count) PromQL sees.
func scrape(t *testing.T, admin string) (families []string, samples map[string]bool) {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	samples = map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			families = append(families, strings.Fields(f)[0])
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			samples[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return families, samples
}

type query struct{ where, expr string }

type grafanaJSON struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		}
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

func (d *grafanaJSON) allPanels() []grafanaPanel {
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func readDashboard(t *testing.T) *grafanaJSON {
	t.Helper()
	b, err := os.ReadFile(grafanaPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaJSON
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", grafanaPath, err)
	}
	return &d
}

// dashboardQueries are the PromQL of every panel and query variable.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	d := readDashboard(t)
	var out []query
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, query{fmt.Sprintf("dashboard panel %q %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // older dashboards: a plain string
		}
		out = append(out, query{"dashboard variable " + v.Name, q.Query})
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promLabelList = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promVariables = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promTokens    = regexp.MustCompile(`[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues   = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{[^}]*\})?\s*,`)
	promKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "atan2": true}
)

// metricNames lists the metric names a PromQL expression (or a Grafana
// label_values query) selects, in order, without repeats. It is a lexer,
// not a parser: strings, matchers, ranges and label lists are dropped,
// and a name followed by "(" is a function.
func metricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "label_values(") {
		return nil
	}
	s := promStrings.ReplaceAllString(expr, `""`)
	s = promVariables.ReplaceAllString(s, "")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promLabelList.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promTokens.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || promKeywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or aggregation
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out
}
