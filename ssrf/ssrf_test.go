package ssrf_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/leadline/leadline/ssrf"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		refused bool // with private targets not allowed
		always  bool // refused with them allowed too
	}{
		{"93.184.215.14", false, false},
		{"8.8.8.8", false, false},
		{"2606:4700:4700::1111", false, false},
		{"127.0.0.1", true, false},
		{"127.255.255.254", true, false},
		{"10.0.0.1", true, false},
		{"172.16.5.4", true, false},
		{"172.32.0.1", false, false},
		{"192.168.1.1", true, false},
		{"169.254.169.254", true, false},
		{"100.64.0.1", true, false},
		{"100.128.0.1", false, false},
		{"192.0.2.10", true, false},
		{"198.18.0.1", true, false},
		{"240.0.0.1", true, false},
		{"0.0.0.0", true, true},
		{"0.1.2.3", true, true},
		{"224.0.0.251", true, true},
		{"255.255.255.255", true, true},
		{"::", true, true},
		{"::1", true, false},
		{"::ffff:127.0.0.1", true, false},
		{"::ffff:10.1.2.3", true, false},
		{"::ffff:8.8.8.8", false, false},
		{"::ffff:0.0.0.0", true, true},
		{"::127.0.0.1", true, false},
		{"64:ff9b::7f00:1", true, false},
		{"64:ff9b::808:808", false, false},
		{"2002:7f00:1::1", true, false},
		{"2002:808:808::1", false, false},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", true, false},
		{"2001:db8::1", true, false},
		{"fc00::1", true, false},
		{"fd12:3456::1", true, false},
		{"fe80::1", true, false},
		{"fe80::1%eth0", true, false},
		{"fec0::1", true, false},
		{"ff02::1", true, true},
	} {
		ip := netip.MustParseAddr(tc.addr)
		err := ssrf.Check(ip, false)
		if (err != nil) != tc.refused {
			t.Errorf("Check(%s) = %v, want refused %v", tc.addr, err, tc.refused)
		}
		err = ssrf.Check(ip, true)
		if (err != nil) != tc.always {
			t.Errorf("Check(%s, allowed) = %v, want refused %v", tc.addr, err, tc.always)
		}
		var e *ssrf.Error
		if err != nil && (!errors.As(err, &e) || e.Range == "") {
			t.Errorf("Check(%s): %v is no *ssrf.Error", tc.addr, err)
		}
	}
	if err := ssrf.Check(netip.Addr{}, true); err == nil {
		t.Error("the zero Addr passes")
	}
	if err := ssrf.Check(netip.MustParseAddr("::ffff:127.0.0.1"), false); err == nil || err.Error() !=
		"::ffff:127.0.0.1 is in IPv4-mapped (::ffff:0:0/96) of 127.0.0.1, loopback (127.0.0.0/8): private targets are not allowed (webhooks.allow_private_targets)" {
		t.Errorf("message: %v", err)
	}
}
