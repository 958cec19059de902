package metrics

import "github.com/prometheus/client_golang/prometheus"

// This file holds the trunks' series: leadline_trunk_registered.

func newTrunkRegistered() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "trunk_registered",
		Help:      "1 while the trunk's account is registered with its carrier, 0 while it is not (the trunk is skipped and Leadline retries). Only trunks with register: true.",
	}, []string{"trunk"})
}

// TrunkRegistered sets whether a registering trunk is registered; the sip user agent
// calls it (sip.TrunkObserver) at start with false and at every change.
func (m *Metrics) TrunkRegistered(trunk string, registered bool) {
	v := 0.0
	if registered {
		v = 1
	}
	m.trunkRegistered.WithLabelValues(trunk).Set(v)
}
