package enqueue

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OpenAPI is the OpenAPI 3.1 document of the HTTP API, served at
// /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// APIOptions configure the HTTP API.
type APIOptions struct {
	// MaxBodyBytes bounds a POST /v1/actions body (default 64 KiB).
	MaxBodyBytes int64
	// MaxBatchBytes bounds a POST /v1/actions:batch body (default 4 MiB).
	MaxBatchBytes int64
	// Registerer takes the API's metrics (default: a new registry).
	Registerer prometheus.Registerer
	// Gatherer is what the admin handler's /metrics serves (default:
	// Registerer, when it is also a Gatherer). The producer API never
	// serves /metrics.
	Gatherer prometheus.Gatherer
	// Logger gets the audit line of every accepted action (default: none).
	Logger *slog.Logger
	// Ready reports readiness for /readyz (default: Redis answers a ping).
	Ready func(context.Context) error
	// Planners make dry runs, by connection name; a connection without
	// one answers a dry run with 501.
	Planners map[string]Planner
	// EventHookSecret is the Authorization value Okta's event hooks send
	// (okta_events.go); empty turns the receiver off.
	EventHookSecret string
}

// MaxBatch is the most actions one POST /v1/actions:batch may hold.
const MaxBatch = 500

type api struct {
	c         *Client
	producers []Producer
	opts      APIOptions
	log       *slog.Logger
}

// route is one pattern the API serves; the OpenAPI test walks this table.
type route struct {
	pattern string
	auth    bool
	handler func(a *api, w http.ResponseWriter, r *http.Request, producer string)
}

var routes = []route{
	{"POST /v1/actions", true, (*api).postAction},
	{"POST /v1/actions:batch", true, (*api).postBatch},
	{"GET /v1/actions/{id}", true, (*api).getAction},
	{"POST /v1/actions/{id}:approve", true, (*api).postActionVerb},
	{"POST /v1/actions/{id}:deny", true, (*api).postActionVerb},
	{"POST /v1/actions/{id}:cancel", true, (*api).postActionVerb},
	{"POST /v1/actions/{id}:reschedule", true, (*api).postActionVerb},
	{"GET /v1/capabilities", true, (*api).getCapabilities},
	{"POST /v1/playbooks/{name}/runs", true, (*api).postPlaybookRun},
	{"GET /v1/playbooks/runs/{id}", true, (*api).getPlaybookRun},
	{"POST /v1/playbooks/runs/{id}:undo", true, (*api).postPlaybookUndo},
	{"GET /v1/users/{ref}", true, (*api).getUser},
	{"GET /healthz", false, (*api).healthz},
	{"GET /readyz", false, (*api).readyz},
	{"GET /openapi.yaml", false, (*api).openapi},
	// Okta's event hooks authenticate with their own secret (okta_events.go).
	{"GET /v1/okta/events/{connection}", false, (*api).verifyOktaHook},
	{"POST /v1/okta/events/{connection}", false, (*api).receiveOktaEvents},
}

// NewAPI returns the HTTP API on c for the producers. Every /v1 route
// needs a producer's bearer token. It serves no /metrics: those are for
// the admin address (NewAdminHandler), which producers need not reach.
func NewAPI(c *Client, producers []Producer, opts APIOptions) http.Handler {
	opts = apiDefaults(c, opts)
	a := &api{c: c, producers: producers, opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	registered := map[string]bool{}
	for _, rt := range routes {
		// A ServeMux wildcard is a whole segment: the verbs of
		// /v1/actions/{id}:verb share one pattern, and postActionVerb
		// cuts the verb off (and names the route by it); the playbook
		// routes share one too (playbookRoute picks).
		p := muxPattern(rt.pattern)
		if p != rt.pattern {
			rt.handler = (*api).playbookRoute
		} else if i := strings.Index(p, "}:"); i >= 0 {
			p = p[:i+1]
		}
		if !registered[p] {
			registered[p] = true
			mux.Handle(p, a.wrap(rt))
		}
	}
	return instrument(problemErrors(mux), opts.Registerer)
}

// problemErrors makes the mux's own 404 and 405 answers problem+json like
// every other error (the 405 keeps its Allow header).
func problemErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&muxErrorWriter{ResponseWriter: w}, r)
	})
}

// muxErrorWriter swaps the mux's plain-text error for a problem.
type muxErrorWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		w.replaced = true
		writeProblem(w.ResponseWriter, newProblem(code, "not_found", "no such route; see /openapi.yaml"))
	case http.StatusMethodNotAllowed:
		w.replaced = true
		writeProblem(w.ResponseWriter, newProblem(code, "method_not_allowed", "the route does not take this method; see the Allow header"))
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// NewAdminHandler serves /healthz, /readyz and /metrics alone, for the
// admin address.
func NewAdminHandler(c *Client, opts APIOptions) http.Handler {
	opts = apiDefaults(c, opts)
	a := &api{c: c, opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	for _, rt := range routes {
		if rt.pattern == "GET /healthz" || rt.pattern == "GET /readyz" {
			mux.Handle(rt.pattern, a.wrap(rt))
		}
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	return mux
}

func apiDefaults(c *Client, opts APIOptions) APIOptions {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 4 << 20
	}
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	if opts.Gatherer == nil {
		if g, ok := opts.Registerer.(prometheus.Gatherer); ok {
			opts.Gatherer = g
		} else {
			opts.Gatherer = prometheus.NewRegistry()
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Ready == nil {
		opts.Ready = c.Ping
	}
	return opts
}

func (a *api) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var producer string
		if rt.auth {
			var ok bool
			if producer, ok = a.authenticate(r); !ok {
				writeProblem(w, newProblem(http.StatusUnauthorized, "unauthorized", "send a producer token: Authorization: Bearer TOKEN"))
				return
			}
		}
		rt.handler(a, w, r, producer)
	})
}

func (a *api) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return matchProducer(a.producers, strings.TrimSpace(token))
}

// instrument counts requests by route pattern and status class; the
// pattern keeps the label set small (never an id).
func instrument(next http.Handler, reg prometheus.Registerer) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oktaq_api_requests_total", Help: "HTTP API requests by route and status class.",
	}, []string{"route", "code_class"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "oktaq_api_request_duration_seconds", Help: "HTTP API request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route"})
	reg.MustRegister(requests, duration)
	// Each route's series, once looked up: WithLabelValues hashes its
	// labels under a lock, twice a request.
	var counters, durations sync.Map // routeClass -> prometheus.Counter; route -> prometheus.Observer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		rc := routeClass{route, sw.status / 100}
		c, ok := counters.Load(rc)
		if !ok {
			class := strconv.Itoa(rc.class) + "xx"
			c, _ = counters.LoadOrStore(rc, requests.WithLabelValues(route, class))
		}
		c.(prometheus.Counter).Inc()
		d, ok := durations.Load(route)
		if !ok {
			d, _ = durations.LoadOrStore(route, duration.WithLabelValues(route))
		}
		d.(prometheus.Observer).Observe(time.Since(start).Seconds())
	})
}

// routeClass keys a route's request counter by status class.
type routeClass struct {
	route string
	class int
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
