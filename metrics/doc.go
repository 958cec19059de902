// Package metrics owns Leadline's Prometheus metrics: their names, types, labels, help
// texts and histogram buckets, as fixed by SPEC.md's "Metrics" table.
//
// One *Metrics, built by New against a prometheus.Registerer, receives every measurable
// event. It implements dialer.Recorder for the flow's events and offers CallStarted,
// CallEnded, BridgeStarted, BridgeEnded, SIPResponse and RTPPacket for the SIP layer, which
// declares its own small interface for them. Handler serves a Gatherer over HTTP.
//
// Labels carry dealer and person ids, statuses, results, leg kinds, SIP methods and codes,
// and RTP directions: never a lead id or a phone number.
//
// metrics imports dialer and the Prometheus client only. It must not import api, sip,
// store or config: the wiring in cmd hands it to whoever records.
package metrics
