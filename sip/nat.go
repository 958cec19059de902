package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Reaching a registered device behind NAT. Its Contact, the Contact of its answers and
// its SDP name an address inside its network, where nothing of ours may go. So every
// request of a call to it goes where its REGISTER came from, over the same transport
// (steer), asking for rport (RFC 3581); a private address in its SDP is taken to be
// its NAT's public one, the address its signalling comes from (fixNAT), and symmetric
// RTP (rtpsource.go) latches to the port its media really comes from. A TCP phone is
// reached over the connection it registered on, which is kept open for it (holdTCP).

// route is where the requests of a call to a registered device go: the transport and
// address its REGISTER came from (dialer.Device.Route, "udp:ip:port", "tls:ip:port").
type route struct {
	transport string // "UDP", "TCP" or "TLS"
	addr      netip.AddrPort
}

func parseRoute(s string) (*route, error) {
	t, a, ok := strings.Cut(s, ":")
	ap, err := netip.ParseAddrPort(a)
	switch t = strings.ToUpper(t); {
	case !ok || err != nil:
		return nil, fmt.Errorf("sip: bad route %q", s)
	case t != "UDP" && t != "TCP" && t != "TLS":
		return nil, fmt.Errorf("sip: bad route %q: transport %s", s, t)
	}
	return &route{transport: t, addr: ap}, nil
}

// apply points req at the route: its destination and transport, whatever its
// Request-URI or route set say.
func (rt *route) apply(req *sip.Request) {
	req.SetTransport(rt.transport)
	req.SetDestination(rt.addr.String())
}

// steer applies the route of req's call, when the call goes to a registered device,
// and reports whether it did. Every request of such a call (INVITE, CANCEL, ACK, BYE,
// re-INVITE, UPDATE) passes here: the device's Contact and the Contact of its answer
// name an address behind its NAT, which nothing may be sent to.
func (u *UA) steer(req *sip.Request) bool {
	cid := req.CallID()
	if cid == nil {
		return false
	}
	c := u.findCall(string(*cid))
	if c == nil || c.route == nil {
		return false
	}
	c.route.apply(req)
	return true
}

// withRport makes a request built by opt ask for rport (RFC 3581 section 3): the phone
// answers to the address and port the request left from, which is what its NAT lets
// through.
func withRport(opt sipgo.ClientRequestOption) sipgo.ClientRequestOption {
	return func(c *sipgo.Client, req *sip.Request) error {
		if err := opt(c, req); err != nil {
			return err
		}
		if via := req.Via(); via != nil && !via.Params.Has("rport") {
			via.Params.Add("rport", "")
		}
		return nil
	}
}

// hasConn reports whether a connection over transport ("tcp" or "tls") from addr is
// open.
func (u *UA) hasConn(transport, addr string) bool {
	c, err := u.ua.TransportLayer().GetConnection(transport, addr)
	if err != nil || c == nil {
		return false
	}
	_, _ = c.TryClose() // GetConnection took a reference
	return true
}

// holdTCP keeps the inbound TCP or TLS connection from addr, which a phone registered
// on, open for at least d plus a grace period, counting its keep-alives (RFC 5626
// section 3.5.1 CRLFs) as activity: the idle limit for inbound connections (inbound.go)
// would close it between two refreshes.
func (u *UA) holdTCP(transport, addr string, d time.Duration) {
	c, err := u.ua.TransportLayer().GetConnection(transport, addr)
	if err != nil || c == nil {
		return
	}
	defer func() { _, _ = c.TryClose() }()
	tc, ok := c.(*sip.TCPConnection)
	if !ok {
		return
	}
	if ic, ok := tc.Conn.(*idleConn); ok {
		ic.hold(d + 30*time.Second)
	}
}

// routeInvite makes an INVITE to a registered device leave over its route's transport
// and name that transport in our Contact, so that its requests in the dialog come back
// the way it is reached (a sips: Contact for a sips: Request-URI, RFC 3261 section
// 8.1.1.8).
func (u *UA) routeInvite(req *sip.Request, rt *route) {
	if rt == nil {
		return
	}
	rt.apply(req)
	req.RemoveHeader("Contact")
	ct := u.contact(rt.transport)
	if strings.EqualFold(req.Recipient.Scheme, "sips") {
		ct.Address.Scheme = "sips"
	}
	req.AppendHeader(ct)
}

// fixNAT takes the far end's SDP as a registered device behind NAT sent it: an address
// that is not public (RFC 1918 private, RFC 6598 shared, loopback, link-local, unique
// local) and not the IP its signalling came from is replaced by that IP, with the
// SDP's port. Media then goes to the phone's NAT from the first packet on, never into
// its network, nor to an address of Leadline's own host that a phone could name; the
// latch (rtpsource.go) corrects the port when the NAT changed it. 0.0.0.0 (hold) is
// left as it is.
func fixNAT(rm remoteMedia, signal netip.Addr) remoteMedia {
	ip := rm.addr.Addr().Unmap()
	if signal.IsValid() && ip != signal.Unmap() && !ip.IsUnspecified() && !publicAddr(ip) {
		rm.addr = netip.AddrPortFrom(signal.Unmap(), rm.addr.Port())
	}
	return rm
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598: carrier-grade NAT

// publicAddr reports whether ip can be a phone's address as seen from outside its
// network.
func publicAddr(ip netip.Addr) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !sharedSpace.Contains(ip)
}
