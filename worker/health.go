package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oktaq/oktaq/okta"
)

// health tracks whether each connection's credentials work. Okta refusing
// them (after one fresh token) marks the connection down: the metric
// oktaq_connection_up drops to 0, /readyz fails, and an alert fires.
type health struct {
	mu   sync.Mutex
	down map[string]string // connection -> why
	w    *Worker
}

func (h *health) observe(conn string, err error) {
	var ua *okta.UnauthorizedError
	switch {
	case errors.As(err, &ua):
		h.set(conn, ua.Error())
	case err == nil, errors.As(err, new(*okta.PermanentError)):
		// Okta answered a call with our credentials.
		if _, known := h.w.opts.Connections[conn]; known {
			h.set(conn, "")
		}
	}
}

func (h *health) set(conn, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if why == "" {
		delete(h.down, conn)
		h.w.metrics.up.WithLabelValues(conn).Set(1)
		return
	}
	h.down[conn] = why
	h.w.metrics.up.WithLabelValues(conn).Set(0)
}

func (h *health) problems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.down))
	for c, why := range h.down {
		out = append(out, fmt.Sprintf("connection %s: %s", c, why))
	}
	sort.Strings(out)
	return out
}

// checkCredentials asks each executor for a working token, now and every
// interval, so a revoked credential shows before a task fails on it.
func (h *health) checkCredentials(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for name, c := range h.w.opts.Connections {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := c.Exec.CheckCredentials(cctx)
			cancel()
			var ua *okta.UnauthorizedError
			switch {
			case err == nil:
				h.set(name, "")
			case errors.As(err, &ua):
				h.set(name, ua.Error())
			case ctx.Err() == nil:
				h.w.opts.Logger.Warn("credential check failed", "connection", name, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ready reports nil when Redis answers and every connection's credentials
// work.
func (w *Worker) Ready(ctx context.Context) error {
	var problems []string
	if err := w.rdb.Ping(ctx).Err(); err != nil {
		problems = append(problems, "redis: "+err.Error())
	}
	problems = append(problems, w.health.problems()...)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// HealthHandlers adds /healthz (the process is up) and /readyz (Ready) to
// mux.
func HealthHandlers(mux *http.ServeMux, ready func(context.Context) error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}
