package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/oktaq/oktaq/cmd/oktaq/internal/config"
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
