// Package api owns Leadline's HTTP interface: the routes of SPEC.md's "HTTP API" table,
// request decoding and validation, the lead's JSON shape, the mapping of errors to RFC 9457
// problem responses, API-key authentication and request logging.
//
// NewHandler builds the whole handler from Options. Leads, the one interface api consumes,
// is declared here and implemented by the dialer's intake service; api never touches the
// store or the phones itself.
//
// api imports dialer and chi only. It must not import metrics, sip, store or config: the
// metrics endpoint arrives as an http.Handler and authentication as a function, both wired
// in cmd.
package api
