package sip_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/sip"
)

// A trunk that challenges (401 over UDP, 407 over TCP) gets the INVITE again with digest
// credentials that sipp verifies; the call then proceeds.
func TestTrunkDigestAuth(t *testing.T) {
	for _, tt := range []struct{ scenario, transport string }{
		{"auth_401.xml", "u1"},
		{"auth_407.xml", "t1"},
		{"auth_401.xml", "t1"},
		{"auth_407.xml", "u1"},
	} {
		t.Run(tt.scenario+"/"+tt.transport, func(t *testing.T) {
			peer := startSipp(t, tt.scenario, tt.transport, nil)
			trunk := fmt.Sprintf("sip:%s", peer.addr)
			if tt.transport == "t1" {
				trunk += ";transport=tcp"
			}
			u := newUA(t, sip.Config{TrunkURI: trunk, TrunkUser: "leadline", TrunkPassword: "s3cret"})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			leg, err := u.Dial(ctx, "+31612345678", opts(dialer.LegCustomer))
			if err != nil {
				t.Fatal(err)
			}
			leg.Hangup(ctx)
			peer.wait(t, 5*time.Second)
			m := peer.messages()
			if n := strings.Count(m, "INVITE sip:+31612345678@"); n != 2 {
				t.Errorf("peer received %d INVITEs, want 2", n)
			}
			if !digestValid(t, m, "leadline", "s3cret") {
				t.Errorf("no valid digest response in:\n%s", m)
			}
		})
	}
}

// digestValid recomputes the digest response (RFC 2617 section 3.2.2, MD5, qop auth or
// none) of the Authorization or Proxy-Authorization header in a sipp message trace.
func digestValid(t *testing.T, trace, user, password string) bool {
	t.Helper()
	md5hex := func(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }
	for _, line := range strings.Split(trace, "\n") {
		_, v, ok := strings.Cut(line, "Authorization: Digest ")
		if !ok {
			continue
		}
		p := map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
			p[k] = strings.Trim(strings.TrimSpace(val), `"`)
		}
		ha1 := md5hex(user + ":" + p["realm"] + ":" + password)
		ha2 := md5hex("INVITE:" + p["uri"])
		want := md5hex(ha1 + ":" + p["nonce"] + ":" + ha2)
		if p["qop"] == "auth" {
			want = md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
		}
		return p["username"] == user && p["response"] == want
	}
	return false
}

// A phone that is not the trunk never gets the trunk's credentials: its challenge ends
// the call attempt (rejected, 401).
func TestNoCredentialsOutsideTrunk(t *testing.T) {
	peer := startSipp(t, "auth_401.xml", "u1", nil)
	u := newUA(t, sip.Config{TrunkURI: "sip:127.0.0.1:9", TrunkUser: "leadline", TrunkPassword: "s3cret"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := u.Dial(ctx, peer.URI("piet", "u1"), opts(dialer.LegAgent))
	var coded interface{ SIPCode() int }
	if !errors.Is(err, dialer.ErrRejected) || !errors.As(err, &coded) || coded.SIPCode() != 401 {
		t.Fatalf("Dial: %v, want rejected with 401", err)
	}
	// No wait: the 401 coming back from Dial is the proof. Credentials are sent from
	// inside Dial, which would then have waited for that INVITE's answer (sipp's 200,
	// or 403 for bad ones) instead of returning the 401.
	if m := peer.messages(); strings.Count(m, "INVITE sip:") != 1 || strings.Contains(m, "Authorization:") {
		t.Errorf("credentials went to a phone that is not the trunk:\n%s", m)
	}
}

// A trunk URI with transport=tcp carries the whole call over TCP: INVITE, ACK, the far
// end's BYE and our answer to it; RTP (an RFC 4733 key press) flows as usual.
func TestTrunkOverTCP(t *testing.T) {
	peer := startSipp(t, "tcp_call.xml", "t1", nil)
	u := newUA(t, sip.Config{TrunkURI: fmt.Sprintf("sip:%s;transport=tcp", peer.addr)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, "+31612345678", opts(dialer.LegCustomer))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-leg.Digits():
		if d != '1' {
			t.Errorf("digit %q", d)
		}
	case <-ctx.Done():
		t.Fatal("no digit over RTP")
	}
	select {
	case <-leg.Done():
		if !errors.Is(leg.Err(), dialer.ErrHungUp) {
			t.Errorf("leg ended with %v", leg.Err())
		}
	case <-ctx.Done():
		t.Fatal("BYE over TCP not seen")
	}
	peer.wait(t, 5*time.Second)
	m := peer.messages()
	if strings.Contains(m, "UDP message") || !strings.Contains(m, "TCP message received") {
		t.Errorf("not all over TCP:\n%s", m)
	}
	if !strings.Contains(m, ";transport=tcp>") {
		t.Errorf("Contact lacks transport=tcp:\n%s", m)
	}
}
