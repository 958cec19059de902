package sip

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Which packets a leg takes. A leg's RTP port is an open UDP port: anyone who finds it
// can send to it, and whatever a leg takes it acts on (an RFC 4733 event or an in-band
// tone is a key press: '1' bridges the customer) and relays to the bridged leg. So a
// leg takes media only from its far end, which its signalling names:
//
//  1. From the address the far end's last SDP named (c= and m= lines, RFC 4566 section
//     5.7 and 5.14; an IPv4-mapped IPv6 address unmapped), exactly: IP and port.
//  2. From one other address, latched to once (symmetric RTP, RFC 4961): a far end
//     behind NAT names its private address in SDP and sends from its NAT's public one,
//     where our packets must then go too. The leg latches to the source of a packet
//     only when
//     - no packet was accepted since the SDP named its address (the first packet the
//     leg accepts decides, and it latches at most once),
//     - the packet is RTP version 2 in a negotiated format, and
//     - its source IP is the IP the SIP message carrying that SDP came from (a NAT's
//     public address, which the far end's signalling leaves through too) or the SDP's
//     own IP (a NAT that kept the address and changed the port).
//
// Once a packet was accepted, no other source is ever latched to: a stranger, at another
// address or at the far end's own IP, cannot move the leg's media to itself however many
// packets it sends ("RTP bleed": the send address used to follow 25 packets in a row
// from anywhere). Only a new SDP address (a re-INVITE or UPDATE moving the media, RFC
// 3264 section 8, or the final answer naming another address than early media did)
// starts over: the new address is expected and one latch is allowed again. A far end
// whose NAT rebinds mid-call without a new SDP address is therefore not followed: its
// media is dropped and dead-media detection ends the call.
//
// Every other datagram is dropped before anything else looks at it (dead-media watch,
// RTP counters, the RFC 4733 decoder, the tone detector, the relay) and counted by
// Observer.RTPDropped with a reason. What this does not stop: a sender able to forge
// the far end's source address (on its path, or spoofing blind; only SRTP would), and
// a host behind the far end's own NAT that sends before the far end does.

// Reasons a datagram on a leg's RTP port is dropped: the reason label of
// leadline_rtp_dropped_total (metrics.Metrics.RTPDropped).
const (
	dropSource      = "source"       // not from the far end's media address (or before its SDP)
	dropMalformed   = "malformed"    // from the far end, but not RTP version 2
	dropPayloadType = "payload_type" // from the far end, RTP in a format not negotiated
)

// farEnd is where a leg's media comes from and goes to, as the far end's last SDP and
// the SIP message that carried it set it up. It is replaced as a whole (setRemote, a
// latch), so a reader sees one consistent value; only settled changes in place.
type farEnd struct {
	sdp     netip.AddrPort // the address the SDP names, unmapped
	signal  netip.Addr     // the IP the SDP's SIP message came from, unmapped; invalid when unknown
	latched netip.AddrPort // the one source latched to, or invalid
	settled atomic.Bool    // a packet was accepted: no latch any more
}

// admission is what a leg does with a datagram, by its source.
type admission uint8

const (
	refuse      admission = iota // not the far end's: drop (dropSource)
	accept                       // the far end's media address
	latchSource                  // not yet seen, and allowed to become the far end's one latched address
)

// admit says what to do with a datagram from from. A nil far end (no SDP yet) refuses
// everything. It reads settled but changes nothing: receive latches and settles.
func (f *farEnd) admit(from netip.AddrPort) admission {
	switch {
	case f == nil:
		return refuse
	case from == f.sdp || (f.latched.IsValid() && from == f.latched):
		return accept
	case f.latched.IsValid() || f.settled.Load():
		return refuse
	case from.Addr() == f.signal || from.Addr() == f.sdp.Addr():
		return latchSource
	}
	return refuse
}

// sendTo is where the leg's packets go: the latched source, else the SDP's address.
func (f *farEnd) sendTo() netip.AddrPort {
	if f.latched.IsValid() {
		return f.latched
	}
	return f.sdp
}

// sourceIP is the IP of a SIP message's Source ("ip:port", as sipgo sets it from the
// packet or connection it came in), unmapped; invalid when there is none.
func sourceIP(src string) netip.Addr {
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(src)
	if err != nil {
		host = src
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap()
}
