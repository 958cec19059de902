package sip

import (
	"net/netip"
	"testing"
)

// TestFixNAT: a registered device's SDP address is replaced by its signalling's IP
// when it is not an address the phone can be reached at from outside.
func TestFixNAT(t *testing.T) {
	signal := netip.MustParseAddr("203.0.113.7")
	for _, tt := range []struct {
		sdp, want string
	}{
		{"10.0.0.5:4000", "203.0.113.7:4000"},
		{"192.168.1.20:4000", "203.0.113.7:4000"},
		{"172.16.9.9:4000", "203.0.113.7:4000"},
		{"100.64.1.2:4000", "203.0.113.7:4000"},    // carrier-grade NAT
		{"169.254.3.4:4000", "203.0.113.7:4000"},   // link-local
		{"127.0.0.1:4000", "203.0.113.7:4000"},     // never Leadline's own host
		{"203.0.113.7:4000", "203.0.113.7:4000"},   // the same
		{"198.51.100.9:4000", "198.51.100.9:4000"}, // another public address: as named
		{"0.0.0.0:4000", "0.0.0.0:4000"},           // hold
		{"[fd00::5]:4000", "203.0.113.7:4000"},
	} {
		got := fixNAT(remoteMedia{addr: netip.MustParseAddrPort(tt.sdp)}, signal).addr
		if got.String() != tt.want {
			t.Errorf("fixNAT(%s) = %s, want %s", tt.sdp, got, tt.want)
		}
	}
	// No signalling address known: left alone.
	if got := fixNAT(remoteMedia{addr: netip.MustParseAddrPort("10.0.0.5:4000")}, netip.Addr{}).addr; got.String() != "10.0.0.5:4000" {
		t.Errorf("without a signalling address: %s", got)
	}
}
