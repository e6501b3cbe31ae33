package oktasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const tokenPath = "/oauth2/v1/token"

// serve runs the pipeline Okta applies: concurrency, faults, rate limit, authentication,
// routing, scope, admin role, then the handler.
func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, simPrefix) {
		s.serveControl(w, r)
		return
	}
	start := s.now()
	reqID := randomString(27)
	h := w.Header()
	h.Set("X-Okta-Request-Id", reqID)
	h.Set("Date", start.Format(http.TimeFormat))
	inflight := s.inflight.Add(1)
	defer s.inflight.Add(-1)

	var principal string
	resp, handled, dropped := s.pipeline(w, r, inflight, &principal)
	status := resp.status
	if dropped {
		status = 0
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Time: start, Method: r.Method, Path: r.URL.Path,
		Query: r.URL.RawQuery, Principal: principal, Status: status, RequestID: reqID,
		Applied: handled && resp.status < 400})
	s.mu.Unlock()
	s.logger.Info("okta request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery,
		"principal", principal, "status", status, "request_id", reqID,
		"duration", s.now().Sub(start).String())
	if dropped {
		// Closed only now, after the log entry: the caller's replay
		// comes after this request in the log.
		hijack(w)
		return
	}
	for k, v := range resp.header {
		h[k] = v
	}
	switch {
	case resp.raw != nil:
		h.Set("Content-Type", "text/html")
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.raw)
	case resp.body != nil:
		h.Set("Content-Type", "application/json")
		w.WriteHeader(resp.status)
		_ = json.NewEncoder(w).Encode(resp.body)
	default:
		w.WriteHeader(resp.status)
	}
}

// pipeline returns the response, whether a handler made it (so a 2xx was
// applied), and dropped=true when the connection is to be closed without it.
func (s *Sim) pipeline(w http.ResponseWriter, r *http.Request, inflight int64, principal *string) (resp response, handled, dropped bool) {
	s.mu.Lock()
	f := s.faults
	concurrency := s.limiter.cfg.Concurrency
	s.mu.Unlock()

	if int(inflight) > concurrency {
		setRateHeaders(w.Header(), 0, 0, s.now().Add(time.Second))
		return rateLimited(), false, false
	}
	if r.URL.Path == tokenPath && s.dice.hit(f.TokenErrorRate) {
		return serverError(f.status(s.dice)), false, false
	}
	if f.matches(r.URL.Path) {
		if d := f.delay(s.dice); d > 0 {
			time.Sleep(d)
		}
		if s.roll(f.DropBefore, f.MaxDrops) {
			return response{}, false, true
		}
		if status, hit := f.error(s.dice); hit {
			return serverError(status), false, false
		}
	}

	s.mu.Lock()
	if r.URL.Path == tokenPath {
		resp = s.token(w, r, principal)
	} else {
		resp = s.api(w, r, principal)
	}
	s.mu.Unlock()

	if f.matches(r.URL.Path) && (f.DropAfterMatch == "" || strings.Contains(r.URL.Path, f.DropAfterMatch)) &&
		s.roll(f.DropAfter, f.MaxDrops) {
		return resp, true, true
	}
	return resp, true, false
}

// api handles a Management API request; s.mu is held.
func (s *Sim) api(w http.ResponseWriter, r *http.Request, principal *string) response {
	now := s.now()
	p, authFail := s.authenticate(r, now)
	if p != nil {
		*principal = p.name
	}
	key := "anonymous"
	if p != nil {
		key = p.name
	}
	rl, allowed := s.limiter.take(r.Method, r.URL.Path, key, now)
	setRateHeaders(w.Header(), rl.limit, rl.remaining, rl.reset)
	if !allowed {
		return rateLimited()
	}
	if p == nil {
		return authFail
	}
	rt, params, notMatched := s.findRoute(r)
	if notMatched != nil {
		return *notMatched
	}
	if s.features[rt.perm] {
		return featureOff()
	}
	if !p.hasScope(rt.scope) {
		return s.insufficientScope(rt.scope, r.URL.Path)
	}
	if p.client != nil && p.client.denied[rt.perm] {
		return noPermission()
	}
	ev := s.beginEvent(r, rt, params) // events.go: the System Log entry of a change
	resp := rt.handle(&call{s: s, r: r, params: params, q: r.URL.Query(), now: now, p: p})
	s.finishEvent(ev, w.Header().Get("X-Okta-Request-Id"), *principal, resp.status, now)
	return resp
}

func setRateHeaders(h http.Header, limit, remaining int, reset time.Time) {
	secs := reset.Unix()
	if reset.Nanosecond() > 0 {
		secs++
	}
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(secs, 10))
}

// hijack closes the connection without an answer; the client sees EOF.
func hijack(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func serverError(status int) response {
	if status == http.StatusInternalServerError {
		return oktaErr(status, "E0000009", "Internal Server Error")
	}
	text := http.StatusText(status)
	return response{status: status, raw: []byte(fmt.Sprintf(
		"<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center></body></html>\n",
		status, text, status, text))}
}
