// Package api owns Leadline's HTTP interface: the routes of SPEC.md's "HTTP API" table,
// request decoding and validation, the mapping of errors to RFC 9457
// problem responses, authentication and request logging, and who may post leads: API keys
// compared by SHA-256 in constant time (access.go), public form keys with their origin
// checks, CORS, honeypot, redirect and rate limits (forms.go), and signed webhooks with
// replay protection (signature.go).
//
// NewHandler builds the whole handler from Options. Leads, the one interface api consumes,
// is declared here and implemented by the dialer's intake service; api never touches the
// store or the phones itself.
//
// The lead's JSON shape is package leadview's: the webhooks send the same object.
//
// api imports dialer, leadview, phone (to key the per-phone limit), weborigin (Origin and
// Referer of form posts) and chi, httprate and uuid only.
// It must not import metrics, sip, store or config: the metrics endpoint arrives as an
// http.Handler and the dealers' keys and rules as an *Access, both wired in cmd.
package api
