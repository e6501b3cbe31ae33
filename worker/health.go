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

// health tracks whether each connection works. The token endpoint refusing
// the credentials (invalid_client, consent_required, a DPoP error, ...) or
// failing (5xx, unreachable), or Okta refusing an API token, marks the
// connection down: oktaq_connection_up drops to 0, /readyz fails naming
// it, and the connection-down alert fires. Scopes enabled but not granted
// by Okta are reported by name (oktaq_connection_scope_granted, /readyz
// detail) without failing readiness: the other actions still run.
type health struct {
	mu        sync.Mutex
	down      map[string]string // connection -> why
	ungranted map[string][]string
	w         *Worker
}

// scopeReporter is what an executor that knows its scope grants offers
// (*okta.Executor does).
type scopeReporter interface{ ScopeGrants() map[string]bool }

func (h *health) observe(conn string, err error) {
	var ua *okta.UnauthorizedError
	var down *okta.ConnectionDownError
	switch {
	case errors.As(err, &down) && down.Pending:
		// Another worker's probe is under way: no news.
	case errors.As(err, &down):
		h.set(conn, down.Error())
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

// reportScopes publishes which enabled scopes Okta grants, and logs a
// change.
func (h *health) reportScopes(conn string, exec Executor) {
	r, ok := exec.(scopeReporter)
	if !ok {
		return
	}
	g := r.ScopeGrants()
	if g == nil {
		return
	}
	var missing []string
	for scope, ok := range g {
		v := 0.0
		if ok {
			v = 1
		} else {
			missing = append(missing, scope)
		}
		h.w.metrics.scopeGranted.WithLabelValues(conn, scope).Set(v)
	}
	sort.Strings(missing)
	h.mu.Lock()
	defer h.mu.Unlock()
	if strings.Join(missing, " ") != strings.Join(h.ungranted[conn], " ") && len(missing) > 0 {
		h.w.opts.Logger.Warn("Okta does not grant enabled scopes; actions needing them fail with scope_not_granted",
			"connection", conn, "not_granted", strings.Join(missing, " "))
	}
	h.ungranted[conn] = missing
}

// notes are details /readyz shows without failing: ungranted scopes.
func (h *health) notes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for c, m := range h.ungranted {
		if len(m) > 0 {
			out = append(out, fmt.Sprintf("connection %s: enabled scopes not granted by Okta: %s", c, strings.Join(m, ", ")))
		}
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
			var down *okta.ConnectionDownError
			switch {
			case err == nil:
				h.set(name, "")
				h.reportScopes(name, c.Exec)
			case errors.As(err, &down) && down.Pending:
				// Another worker's probe is under way: no news.
			case errors.As(err, &down):
				h.set(name, down.Error())
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

// ReadyNotes are details of a ready worker: enabled scopes Okta does not
// grant, by connection.
func (w *Worker) ReadyNotes() []string { return w.health.notes() }

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
// mux. notes, if given, adds lines of detail to /readyz (ReadyNotes).
func HealthHandlers(mux *http.ServeMux, ready func(context.Context) error, notes ...func() []string) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		var detail []string
		for _, n := range notes {
			detail = append(detail, n()...)
		}
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
		} else {
			fmt.Fprintln(w, "ready")
		}
		for _, d := range detail {
			fmt.Fprintln(w, "note:", d)
		}
	})
}
