// Package sip is Leadline's SIP user agent and RTP media: it places the outbound legs the
// dialer asks for (INVITE, CANCEL, ACK, BYE; RFC 3261), negotiates G.711 and
// telephone-event with an SDP offer (RFC 3264, RFC 4733), plays prompts, collects digits
// and relays media between two legs.
//
// It owns every SIP transaction and dialog and every RTP socket: a 2xx that races a
// CANCEL, or a fork's second 2xx, is acknowledged and hung up here, so the dialer only
// ever sees legs that are answered or failed. Inside a dialog it answers re-INVITE and
// UPDATE (hold, codec and address changes, refreshes) and keeps session timers (RFC
// 4028) as refresher or watcher. It refuses calls from outside (403), from registered
// softphones too, answers OPTIONS, checks every request as RFC 3261 section 8.2 asks
// (400, 416, 420, 505), limits the TCP connections peers open to it (per source, and
// idle ones) and opens no TCP connection but for its own requests. A leg takes RTP only
// from its far end.
//
// A leg is placed by the INVITE client (invite.go) and is then a Call (call.go), whose
// dialog dialog.go keeps; every request we send goes through outbound.go, every request
// from outside comes in through inbound.go's checks and limits.
//
// Its registrar (registrar.go, RFC 3261 section 10) takes the REGISTERs of salespeople's
// softphones behind digest authentication (digest.go) and a lockout (lockout.go), keeps
// their bindings in a store, and reaches each phone where its registration came from,
// behind NAT too (nat.go).
//
// Numbers go through trunks, tried in order (trunk.go): a trunk that answers 5xx or 408,
// stays silent or cannot be reached leaves the call to the next; the caller id is
// asserted in P-Asserted-Identity or P-Preferred-Identity as the trunk asks (RFC 3325),
// over UDP, TCP or TLS, through an outbound proxy when set. Trunks that want a
// registered account are kept registered (register.go, RFC 3261 section 10) and are
// skipped while they are not.
//
// Media runs on media loops (one per GOMAXPROCS): each waits for its legs' RTP sockets
// on an epoll set of its own and relays a packet with one recvfrom and one sendto, with
// no goroutine per leg and no allocation. That makes the package Linux-only.
//
// sip imports dialer (for the Caller and Leg contracts) and media. It must not import
// api, store, metrics or config; cmd copies configuration into Config.
package sip
