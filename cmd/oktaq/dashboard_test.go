package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/internal/config"
	"github.com/oktaq/oktaq/internal/redistest"
	"github.com/oktaq/oktaq/okta"
)

// TestDashboardWrites: with writes on, a cross-site write (a form post
// from evil.example, which a browser sends with the saved basic-auth
// credentials) is refused and pauses nothing; the dashboard's own write
// passes; every answer forbids framing and sniffing.
func TestDashboardWrites(t *testing.T) {
	r := redistest.New(t)
	const pass = "a-dashboard-password-0123"
	cfg := &config.Config{Redis: r.Opt, Env: &config.Env{AdminUser: "admin", AdminPassword: okta.Secret(pass)}}
	h := withDashboard(http.NewServeMux(), cfg, slog.New(slog.DiscardHandler))
	// The queue must exist for asynqmon to pause it.
	c := asynq.NewClientFromRedisClient(r.Client)
	if _, err := c.Enqueue(asynq.NewTask("okta:user.suspend", nil), asynq.Queue("default")); err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	paused := func() bool {
		qi, err := insp.GetQueueInfo("default")
		if err != nil {
			t.Fatal(err)
		}
		return qi.Paused
	}
	write := func(headers map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "http://admin.internal:9090/monitoring/api/queues/default:pause", strings.NewReader(""))
		req.SetBasicAuth("admin", pass)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for name, hdr := range map[string]map[string]string{
		"cross-site fetch metadata": {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example", "Content-Type": "text/plain"},
		"same-site, other origin":   {"Sec-Fetch-Site": "same-site", "Origin": "https://other.internal"},
		"foreign Origin only":       {"Origin": "https://evil.example", "Content-Type": "text/plain"},
	} {
		if rec := write(hdr); rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, rec.Code)
		}
	}
	if paused() {
		t.Fatal("a cross-site write paused the queue")
	}
	rec := write(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://admin.internal:9090"})
	if rec.Code/100 != 2 || !paused() {
		t.Errorf("the dashboard's own write: %d, paused=%v", rec.Code, paused())
	}
	for _, target := range []string{"/monitoring/", "/monitoring/api/queues"} {
		for _, auth := range []bool{true, false} {
			req := httptest.NewRequest("GET", target, nil)
			if auth {
				req.SetBasicAuth("admin", pass)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			hd := rec.Header()
			if hd.Get("X-Frame-Options") != "DENY" || hd.Get("Content-Security-Policy") != "frame-ancestors 'none'" ||
				hd.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s (auth %v): headers %v", target, auth, hd)
			}
		}
	}
}

// TestAPIDashboard: `oktaq api` serves the asynq dashboard on its admin
// listener only with a password, behind basic auth, read-only unless told
// otherwise, with its Prometheus link set.
func TestAPIDashboard(t *testing.T) {
	r := redistest.New(t)
	log := slog.New(slog.DiscardHandler)
	admin := http.NewServeMux()
	admin.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "metrics") })
	cfg := func(password string, readOnly bool) *config.Config {
		return &config.Config{Redis: r.Opt, Env: &config.Env{AdminUser: "admin", AdminPassword: okta.Secret(password),
			DashboardReadOnly: readOnly, PrometheusURL: "http://prometheus.test:9090"}}
	}
	get := func(h http.Handler, method, target, user, pass string) (int, string) {
		req := httptest.NewRequest(method, target, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}

	off := withDashboard(admin, cfg("", true), log)
	if code, _ := get(off, "GET", "/monitoring/", "admin", ""); code != http.StatusNotFound {
		t.Errorf("without OKTAQ_ADMIN_PASSWORD: /monitoring/ answers %d, want 404", code)
	}

	on := withDashboard(admin, cfg("s3cret-dashboard", true), log)
	for _, c := range []struct {
		method, path, user, pass string
		want                     int
	}{
		{"GET", "/monitoring/", "", "", http.StatusUnauthorized},
		{"GET", "/monitoring/", "admin", "wrong", http.StatusUnauthorized},
		{"GET", "/monitoring/api/queues", "root", "s3cret-dashboard", http.StatusUnauthorized},
		{"GET", "/monitoring/", "admin", "s3cret-dashboard", http.StatusOK},
		{"GET", "/monitoring/api/queues", "admin", "s3cret-dashboard", http.StatusOK},
		{"POST", "/monitoring/api/queues/default:pause", "admin", "s3cret-dashboard", http.StatusMethodNotAllowed},
		{"GET", "/metrics", "", "", http.StatusOK},
	} {
		if code, _ := get(on, c.method, c.path, c.user, c.pass); code != c.want {
			t.Errorf("%s %s as %q/%q: %d, want %d", c.method, c.path, c.user, c.pass, code, c.want)
		}
	}
	if _, body := get(on, "GET", "/monitoring/", "admin", "s3cret-dashboard"); !strings.Contains(body, "prometheus.test") {
		t.Errorf("the dashboard page does not carry OKTAQ_PROMETHEUS_URL")
	}
	rw := withDashboard(admin, cfg("s3cret-dashboard", false), log)
	if code, _ := get(rw, "POST", "/monitoring/api/queues/default:pause", "admin", "s3cret-dashboard"); code == http.StatusMethodNotAllowed {
		t.Errorf("OKTAQ_DASHBOARD_READ_ONLY=false: the dashboard still refuses writes")
	}
}
