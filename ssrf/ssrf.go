package ssrf

import (
	"fmt"
	"net/netip"
)

// Error says why an address may not be reached.
type Error struct {
	Addr  netip.Addr
	Range string // e.g. "loopback (127.0.0.0/8)"
	// Always is set for ranges no request may reach, private targets allowed or not.
	Always bool
}

func (e *Error) Error() string {
	if e.Always {
		return fmt.Sprintf("%s is %s: not a destination", e.Addr, e.Range)
	}
	return fmt.Sprintf("%s is in %s: private targets are not allowed (webhooks.allow_private_targets)", e.Addr, e.Range)
}

type special struct {
	prefix netip.Prefix
	name   string
	always bool // refused even when private targets are allowed
	// embedded, when set, returns the IPv4 address inside one of the prefix's IPv6
	// addresses, which is checked in its place.
	embedded func(netip.Addr) netip.Addr
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// v4At returns the IPv4 address in bytes i..i+3 of an IPv6 address.
func v4At(i int) func(netip.Addr) netip.Addr {
	return func(a netip.Addr) netip.Addr {
		b := a.As16()
		return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]})
	}
}

// specials are the ranges refused, most specific first where they overlap (RFC 6890
// and the IANA special-purpose registries).
var specials = []special{
	{prefix: pfx("0.0.0.0/8"), name: `"this network" (0.0.0.0/8)`, always: true},
	{prefix: pfx("10.0.0.0/8"), name: "private (10.0.0.0/8)"},
	{prefix: pfx("100.64.0.0/10"), name: "shared address space, carrier-grade NAT (100.64.0.0/10)"},
	{prefix: pfx("127.0.0.0/8"), name: "loopback (127.0.0.0/8)"},
	{prefix: pfx("169.254.0.0/16"), name: "link-local (169.254.0.0/16, cloud metadata services)"},
	{prefix: pfx("172.16.0.0/12"), name: "private (172.16.0.0/12)"},
	{prefix: pfx("192.0.0.0/24"), name: "IETF protocol assignments (192.0.0.0/24)"},
	{prefix: pfx("192.0.2.0/24"), name: "documentation (192.0.2.0/24)"},
	{prefix: pfx("192.88.99.0/24"), name: "6to4 relay anycast (192.88.99.0/24)"},
	{prefix: pfx("192.168.0.0/16"), name: "private (192.168.0.0/16)"},
	{prefix: pfx("198.18.0.0/15"), name: "benchmarking (198.18.0.0/15)"},
	{prefix: pfx("198.51.100.0/24"), name: "documentation (198.51.100.0/24)"},
	{prefix: pfx("203.0.113.0/24"), name: "documentation (203.0.113.0/24)"},
	{prefix: pfx("224.0.0.0/4"), name: "multicast (224.0.0.0/4)", always: true},
	{prefix: pfx("255.255.255.255/32"), name: "broadcast (255.255.255.255)", always: true},
	{prefix: pfx("240.0.0.0/4"), name: "reserved (240.0.0.0/4)"},

	{prefix: pfx("::/128"), name: "unspecified (::)", always: true},
	{prefix: pfx("::1/128"), name: "loopback (::1)"},
	{prefix: pfx("::ffff:0:0/96"), name: "IPv4-mapped (::ffff:0:0/96)", embedded: v4At(12)},
	{prefix: pfx("::/96"), name: "IPv4-compatible, deprecated (::/96)"},
	{prefix: pfx("64:ff9b::/96"), name: "NAT64 (64:ff9b::/96)", embedded: v4At(12)},
	{prefix: pfx("64:ff9b:1::/48"), name: "local-use NAT64 (64:ff9b:1::/48)"},
	{prefix: pfx("100::/64"), name: "discard-only (100::/64)"},
	{prefix: pfx("2001:db8::/32"), name: "documentation (2001:db8::/32)"},
	{prefix: pfx("2001::/23"), name: "IETF protocol assignments, Teredo included (2001::/23)"},
	{prefix: pfx("2002::/16"), name: "6to4 (2002::/16)", embedded: v4At(2)},
	{prefix: pfx("fc00::/7"), name: "unique local, private (fc00::/7)"},
	{prefix: pfx("fe80::/10"), name: "link-local (fe80::/10)"},
	{prefix: pfx("fec0::/10"), name: "site-local, deprecated (fec0::/10)"},
	{prefix: pfx("ff00::/8"), name: "multicast (ff00::/8)", always: true},
}

// Check returns an *Error when a request may not go to ip: always for unspecified,
// multicast and broadcast addresses and 0.0.0.0/8, and for every other special range
// (loopback, private, link-local…) unless allowPrivate. An IPv4 address inside an IPv6
// one (mapped, NAT64, 6to4) is checked as that IPv4 address. An invalid address is
// refused too.
func Check(ip netip.Addr, allowPrivate bool) error {
	if !ip.IsValid() {
		return &Error{Addr: ip, Range: "not an IP address", Always: true}
	}
	ip = ip.WithZone("")
	for _, s := range specials {
		if !s.prefix.Contains(ip) {
			continue
		}
		if s.embedded != nil {
			if err := Check(s.embedded(ip), allowPrivate); err != nil {
				e := err.(*Error)
				return &Error{Addr: ip, Range: s.name + " of " + e.Addr.String() + ", " + e.Range, Always: e.Always}
			}
			return nil
		}
		if s.always || !allowPrivate {
			return &Error{Addr: ip, Range: s.name, Always: s.always}
		}
		return nil
	}
	return nil
}
