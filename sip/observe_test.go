package sip_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/sip"
)

var _ sip.Observer = (*metrics.Metrics)(nil)

// newMetrics is the metrics the wiring gives the UA, on a registry of the test's own.
func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return metrics.New(reg), reg
}

// metricValue is the value of the series of family name whose labels include labels
// (name=value pairs), as /metrics would show it; 0 when there is none.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}
