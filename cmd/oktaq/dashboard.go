package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// dashboardPath is where the asynq dashboard is mounted on the admin
// listener.
const dashboardPath = "/monitoring"

// dashboard is asynqmon behind basic auth. asynqmon has no authentication
// of its own and can delete or retry tasks, so it is never served without
// a password; read-only is the default. A browser sends basic-auth
// credentials with any request to the origin, a cross-site form post
// included, so every write must come from the dashboard's own pages
// (Sec-Fetch-Site or Origin, checked by net/http's CrossOriginProtection),
// and no page may be framed by another site (clickjacking).
func dashboard(redis asynq.RedisConnOpt, user, password string, readOnly bool, prometheusURL string) http.Handler {
	mon := asynqmon.New(asynqmon.Options{RootPath: dashboardPath, RedisConnOpt: redis,
		ReadOnly: readOnly, PrometheusAddress: prometheusURL})
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cross-origin request refused: the dashboard takes writes from its own pages only", http.StatusForbidden)
	}))
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) == 1
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) == 1
		if !ok || !userOK || !passOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="oktaq dashboard", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		mon.ServeHTTP(w, r)
	})
	protected := csrf.Handler(authed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		protected.ServeHTTP(w, r)
	})
}
