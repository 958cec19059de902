package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// The registrar's series: softphones registered through this node, REGISTERs refused
// and lockouts begun. *Metrics implements sip.RegistrarObserver with them.

// Reason label values of leadline_register_failures_total (sip.RegisterFailure*) and
// scope values of leadline_register_lockouts_total, created at 0.
var (
	registerFailureReasons = []string{"credentials", "locked", "bad_request"}
	lockoutScopes          = []string{"user", "source"}
)

type registrarMetrics struct {
	registrations *prometheus.GaugeVec   // dealer
	regFailures   *prometheus.CounterVec // reason
	regLockouts   *prometheus.CounterVec // scope

	regMu      sync.Mutex          // guards regDealers
	regDealers map[string]struct{} // dealers with a registrations series
}

func newRegistrarMetrics(reg prometheus.Registerer) *registrarMetrics {
	r := &registrarMetrics{
		registrations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "registrations",
			Help:      "Softphone devices registered through this node, by dealer: sum over the nodes for the whole site. Only dealers with a person whose phone is registered.",
		}, []string{"dealer"}),
		regFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "register_failures_total",
			Help:      "REGISTERs refused, by reason: credentials (an unknown user or a wrong password, not told apart), locked (refused unchecked during a lockout), bad_request (malformed credentials, a foreign or replayed nonce).",
		}, []string{"reason"}),
		regLockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "register_lockouts_total",
			Help:      "Registrar lockouts begun after repeated bad passwords, by scope: user (one user name) or source (one address).",
		}, []string{"scope"}),
		regDealers: map[string]struct{}{},
	}
	reg.MustRegister(r.registrations, r.regFailures, r.regLockouts)
	for _, reason := range registerFailureReasons {
		r.regFailures.WithLabelValues(reason)
	}
	for _, s := range lockoutScopes {
		r.regLockouts.WithLabelValues(s)
	}
	return r
}

// Registrations sets how many softphone devices are registered through this node, by
// dealer; a dealer missing from byDealer loses its series (no registered person any
// more).
func (m *Metrics) Registrations(byDealer map[string]int) {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	for d := range m.regDealers {
		if _, ok := byDealer[d]; !ok {
			m.registrations.DeleteLabelValues(d)
			delete(m.regDealers, d)
		}
	}
	for d, n := range byDealer {
		m.registrations.WithLabelValues(d).Set(float64(n))
		m.regDealers[d] = struct{}{}
	}
}

// RegisterFailure counts a REGISTER refused. An unknown reason is a caller bug and is
// not counted, so that it cannot create series.
func (m *Metrics) RegisterFailure(reason string) {
	for _, r := range registerFailureReasons {
		if r == reason {
			m.regFailures.WithLabelValues(reason).Inc()
			return
		}
	}
}

// RegisterLockout counts a lockout that began, by scope ("user" or "source").
func (m *Metrics) RegisterLockout(scope string) {
	for _, s := range lockoutScopes {
		if s == scope {
			m.regLockouts.WithLabelValues(scope).Inc()
			return
		}
	}
}
