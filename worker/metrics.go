package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/oktaq/oktaq/okta"
	"github.com/oktaq/oktaq/okta/ratelimit"
)

// Metrics are the worker's Prometheus metrics. Create them first and pass
// OnCall to the executors, so Okta traffic is counted, then hand them to
// the worker in Options.Metrics.
type Metrics struct {
	actions      *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	okta         *prometheus.CounterVec
	oktaSeconds  *prometheus.HistogramVec
	remaining    *prometheus.GaugeVec
	rateLimited  *prometheus.CounterVec
	granted      *prometheus.CounterVec
	delayed      *prometheus.CounterVec
	inFlight     *prometheus.GaugeVec
	up           *prometheus.GaugeVec
	scopeGranted *prometheus.GaugeVec
	loopMetrics  // callbacks and confirmations (callbacks_metrics.go)
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_actions_total",
			Help: "Actions that reached a final outcome (succeeded, no_op, failed, rejected), once per task even when it ran again."},
			[]string{"action", "connection", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_action_attempts_total",
			Help: "Processing attempts by result (ok, permanent, rejected, rate_limited, held, unauthorized, transient)."},
			[]string{"action", "connection", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "oktaq_action_duration_seconds",
			Help: "Time one attempt of an action took, Okta calls included.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)},
			[]string{"action"}),
		okta: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_okta_requests_total",
			Help: "Calls to the Okta API by bucket and HTTP status class (2xx, 4xx, 429, 5xx, error)."},
			[]string{"connection", "bucket", "code_class"}),
		oktaSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "oktaq_okta_request_duration_seconds",
			Help: "Latency of Okta API calls.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)},
			[]string{"connection", "bucket"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oktaq_okta_rate_limit_remaining",
			Help: "X-Rate-Limit-Remaining of the bucket's last response."}, []string{"connection", "bucket"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_rate_limited_total",
			Help: "429 responses from Okta."}, []string{"connection", "bucket"}),
		granted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_rate_limit_granted_total",
			Help: "Okta calls the rate limiter let go."}, []string{"connection", "bucket"}),
		delayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_rate_limit_delayed_total",
			Help: "Attempts rescheduled without calling Okta because the bucket's budget (or a known-empty bucket) said not now."},
			[]string{"connection", "bucket"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oktaq_okta_in_flight",
			Help: "Okta calls in flight on the connection across all workers, as last seen by this one."}, []string{"connection"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oktaq_connection_up",
			Help: "1 when the connection gets tokens (or its API token works), 0 when the token endpoint refuses or fails."}, []string{"connection"}),
		scopeGranted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "oktaq_connection_scope_granted",
			Help: "1 when Okta grants the enabled scope to the connection's app, 0 when it does not (actions needing it fail with scope_not_granted)."},
			[]string{"connection", "scope"}),
	}
	m.loopMetrics = newLoopMetrics(reg)
	reg.MustRegister(m.actions, m.attempts, m.duration, m.okta, m.oktaSeconds, m.remaining, m.rateLimited, m.granted, m.delayed, m.inFlight, m.up, m.scopeGranted)
	return m
}

// OnCall is the executor's per-call hook: pass it as
// okta.ExecutorOptions.OnCall so Okta traffic shows in the metrics.
func (m *Metrics) OnCall(c okta.CallInfo) {
	m.okta.WithLabelValues(c.Connection, c.Bucket, codeClass(c.Status)).Inc()
	m.oktaSeconds.WithLabelValues(c.Connection, c.Bucket).Observe(c.Duration.Seconds())
	if c.Limit > 0 {
		m.remaining.WithLabelValues(c.Connection, c.Bucket).Set(float64(c.Remaining))
	}
	if c.Status == 429 {
		m.rateLimited.WithLabelValues(c.Connection, c.Bucket).Inc()
	}
}

// OnLimit is the rate limiter's hook: pass it as
// ratelimit.Config.OnEvent.
func (m *Metrics) OnLimit(e ratelimit.Event) {
	switch e.Kind {
	case ratelimit.Granted:
		m.granted.WithLabelValues(e.Connection, e.Bucket).Inc()
	case ratelimit.Delayed:
		m.delayed.WithLabelValues(e.Connection, e.Bucket).Inc()
	}
	if e.InFlight >= 0 {
		m.inFlight.WithLabelValues(e.Connection).Set(float64(e.InFlight))
	}
}

func codeClass(status int) string {
	switch {
	case status == 0:
		return "error"
	case status == 429:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}
