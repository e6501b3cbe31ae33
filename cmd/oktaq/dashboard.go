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
// a password; read-only is the default.
func dashboard(redis asynq.RedisConnOpt, user, password string, readOnly bool, prometheusURL string) http.Handler {
	mon := asynqmon.New(asynqmon.Options{RootPath: dashboardPath, RedisConnOpt: redis,
		ReadOnly: readOnly, PrometheusAddress: prometheusURL})
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
}
