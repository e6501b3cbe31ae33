package worker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/oktaq/oktaq/tasks"
)

// loopMetrics are the metrics of callbacks and confirmations.
type loopMetrics struct {
	callbacks     *prometheus.CounterVec
	confirmations *prometheus.CounterVec
	events        *prometheus.CounterVec
}

func newLoopMetrics(reg prometheus.Registerer) loopMetrics {
	m := loopMetrics{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_callback_deliveries_total",
			Help: "Callback delivery attempts to producers by outcome (delivered, failed, gave_up, dropped)."},
			[]string{"producer", "outcome"}),
		confirmations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_confirmations_total",
			Help: "Actions whose confirmation by Okta's events settled, by state (confirmed, unconfirmed, not_applicable)."},
			[]string{"action", "state"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "oktaq_okta_events_total",
			Help: "Okta event hook events processed, by result (confirmed, duplicate, manual_change, unmatched)."},
			[]string{"connection", "result"}),
	}
	reg.MustRegister(m.callbacks, m.confirmations, m.events)
	// Every series exists from the start at 0, so that rates and alerts
	// see the first unconfirmed action, not only the second.
	for _, a := range tasks.Actions() {
		for _, st := range []string{tasks.ConfirmationConfirmed, tasks.ConfirmationUnconfirmed, tasks.ConfirmationNotApplicable} {
			m.confirmations.WithLabelValues(string(a), st)
		}
	}
	return m
}

// callbackOutcomes label oktaq_callback_deliveries_total.
var callbackOutcomes = []string{"delivered", "failed", "gave_up", "dropped"}

// CallbackCollector exports oktaq_callback_oldest_undelivered_seconds per
// producer, read from Redis at scrape time so that every worker process
// reports the same, shared backlog.
func CallbackCollector(rdb redis.UniversalClient, producers []string, now func() time.Time) prometheus.Collector {
	if now == nil {
		now = time.Now
	}
	return &callbackCollector{rdb: rdb, producers: producers, now: now,
		desc: prometheus.NewDesc("oktaq_callback_oldest_undelivered_seconds",
			"Age of the producer's oldest callback delivery not yet delivered (0 when none).", []string{"producer"}, nil)}
}

type callbackCollector struct {
	rdb       redis.UniversalClient
	producers []string
	now       func() time.Time
	desc      *prometheus.Desc
}

func (c *callbackCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *callbackCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, p := range c.producers {
		age := 0.0
		zs, err := c.rdb.ZRangeWithScores(ctx, cbUndeliveredKey(p), 0, 0).Result()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			continue
		}
		if len(zs) == 1 {
			age = max(0, c.now().Sub(time.UnixMilli(int64(zs[0].Score))).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, age, p)
	}
}
