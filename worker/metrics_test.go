package worker_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metric finds one series of name with these label values in the
// harness registry.
func metric(t *testing.T, h *harness, name string, values ...string) prometheus.Collector {
	t.Helper()
	return seriesCollector{h.reg, name, values}
}

type seriesCollector struct {
	g      prometheus.Gatherer
	name   string
	values []string
}

func (s seriesCollector) Describe(chan<- *prometheus.Desc) {}

func (s seriesCollector) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := s.g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != s.name {
			continue
		}
		for _, m := range mf.Metric {
			if match(m, s.values) {
				ch <- constMetric(mf, m)
				return
			}
		}
	}
}

func match(m *dto.Metric, values []string) bool {
	if len(m.Label) != len(values) {
		return false
	}
	for i, l := range m.Label {
		if l.GetValue() != values[i] {
			return false
		}
	}
	return true
}

func constMetric(mf *dto.MetricFamily, m *dto.Metric) prometheus.Metric {
	desc := prometheus.NewDesc(mf.GetName(), "copy", nil, nil)
	switch {
	case m.Counter != nil:
		return prometheus.MustNewConstMetric(desc, prometheus.CounterValue, m.Counter.GetValue())
	default:
		return prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, m.Gauge.GetValue())
	}
}
