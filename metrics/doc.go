// Package metrics owns Leadline's Prometheus metrics: their names, types, labels, help
// texts and histogram buckets, as fixed by SPEC.md's "Metrics" table.
//
// One *Metrics, built by New against a prometheus.Registerer, receives every measurable
// event. It implements dialer.Recorder for intake's and the flow's events and offers CallStarted, CallEnded, BridgeStarted, BridgeEnded,
// SIPResponse, RTPPacket and RTPDropped for the SIP layer, which declares its own small
// interface for them (sip.Observer), IMAPConnected and IMAPRemoved for the IMAP
// readers (mailin.Observer), WebhookDelivery for the webhook sender
// (webhook.Recorder), and MailSent (with InitMail) for the CRM and report mail
// (crmmail.Recorder). InitDealer and InitPerson create a configured dealer's and salesperson's series at
// 0. Handler serves a Gatherer over HTTP.
//
// The Grafana dashboard and the Prometheus alert rules in ../deploy query these metrics;
// dashboard_test.go keeps their names, labels and label values in step with this package.
//
// Labels carry dealer and person ids, statuses, results, leg kinds, SIP methods and codes,
// RTP directions, the reasons an RTP packet is dropped, webhook event types and delivery
// results, mail kinds and results: never a lead id, a phone number, a webhook URL or an
// e-mail address.
//
// metrics imports dialer and the Prometheus client only. It must not import api, sip,
// store or config: the wiring in cmd hands it to whoever records.
package metrics
