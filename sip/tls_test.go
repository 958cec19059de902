package sip

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/simphone"
)

// SIP over TLS to Leadline's own listener (sip.tls): requests are answered as over TCP,
// and the inbound limits hold for TLS and TCP connections together.

// tlsUA is a UA listening for TLS with a certificate of a test CA, with inbound limits
// lim.
func tlsUA(t *testing.T, lim tcpLimits) (*UA, *simphone.CA) {
	t.Helper()
	ca, err := simphone.NewCA(t.TempDir(), "tls test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := ca.Issue("leadline.test")
	if err != nil {
		t.Fatal(err)
	}
	return listenUA(t, Config{tcp: lim, TLS: TLSConfig{Listen: "127.0.0.1:0", Cert: cert, Key: key}}), ca
}

// dialTLSFrom connects to to over TLS from the loopback address from, trusting ca, and
// completes the handshake.
func dialTLSFrom(t *testing.T, from string, to netip.AddrPort, ca *simphone.CA) (*tcpPeer, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", to.String(), &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPeer{conn: c, r: bufio.NewReader(c), tls: true}, nil
}

// request sends method (out of any dialog: no To tag) and returns the status code.
func (p *tcpPeer) request(method string) (int, error) {
	p.n++
	la := p.conn.LocalAddr().String()
	msg := fmt.Appendf(nil, "%[1]s sip:leadline@%[2]s SIP/2.0\r\nVia: SIP/2.0/TLS %[3]s;branch=z9hG4bK-tls-%[4]d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:peer@%[3]s>;tag=t%[4]d\r\nTo: <sip:leadline@%[2]s>\r\nCall-ID: tls-%[3]s-%[4]d\r\n"+
		"CSeq: %[4]d %[1]s\r\nContact: <sip:peer@%[3]s;transport=tls>\r\nContent-Length: 0\r\n\r\n",
		method, p.conn.RemoteAddr(), la, p.n)
	if _, err := p.conn.Write(msg); err != nil {
		return 0, err
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := p.r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	for {
		l, err := p.r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if strings.TrimSpace(l) == "" {
			break
		}
	}
	var code int
	_, err = fmt.Sscanf(status, "SIP/2.0 %d", &code)
	return code, err
}

// TestTLSListener: over TLS, OPTIONS is answered 200, an INVITE from outside 403 and a
// BYE for no dialog of ours 481, as over TCP; a client that does not trust the
// certificate gets no SIP at all.
func TestTLSListener(t *testing.T) {
	u, ca := tlsUA(t, tcpLimits{})
	p, err := dialTLSFrom(t, "127.0.0.2", u.TLSAddr(), ca)
	if err != nil {
		t.Fatal(err)
	}
	for method, want := range map[string]int{"OPTIONS": 200, "INVITE": 403, "BYE": 481} {
		if code, err := p.request(method); code != want {
			t.Errorf("%s over TLS: %d %v, want %d", method, code, err, want)
		}
	}
	other, err := simphone.NewCA(t.TempDir(), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialTLSFrom(t, "127.0.0.2", u.TLSAddr(), other); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client trusting another CA: %v, want a certificate error", err)
	}
	// Plain TCP to the TLS port is no SIP: the handshake fails and nothing is answered.
	raw := mustDialFrom(t, "127.0.0.2", u.TLSAddr())
	if code, err := raw.ask(); err == nil {
		t.Errorf("plain SIP to the TLS port answered %d", code)
	}
}

// TestTLSConnectionLimits: the per-source limit counts TCP and TLS connections
// together: with room for four, two over TCP and two over TLS fill it, and a fifth over
// either is closed unanswered; another source is still served over TLS.
func TestTLSConnectionLimits(t *testing.T) {
	u, ca := tlsUA(t, tcpLimits{perSource: 4})
	var open []*tcpPeer
	for i := range 4 {
		var p *tcpPeer
		var err error
		if i%2 == 0 {
			p, err = dialFrom(t, "127.0.0.3", u.Addr())
		} else {
			p, err = dialTLSFrom(t, "127.0.0.3", u.TLSAddr(), ca)
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if code, err := p.ask(); code != 200 {
			t.Fatalf("connection %d: OPTIONS %d %v", i, code, err)
		}
		open = append(open, p)
	}
	if p, err := dialTLSFrom(t, "127.0.0.3", u.TLSAddr(), ca); err == nil {
		if code, err := p.ask(); err == nil {
			t.Errorf("a fifth connection (TLS) was answered %d", code)
		}
	}
	if p, err := dialFrom(t, "127.0.0.3", u.Addr()); err == nil {
		if code, err := p.ask(); err == nil {
			t.Errorf("a fifth connection (TCP) was answered %d", code)
		}
	}
	for i, p := range open {
		if code, err := p.ask(); code != 200 {
			t.Errorf("connection %d after the refusals: %d %v", i, code, err)
		}
	}
	p, err := dialTLSFrom(t, "127.0.0.4", u.TLSAddr(), ca)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.ask(); code != 200 {
		t.Errorf("another source over TLS: %d %v", code, err)
	}
}

// TestTLSIdle: the idle limit reads SIP inside TLS: a TLS peer that talks SIP keeps its
// connection past several idle periods, one that sends only keep-alives inside TLS is
// closed, and so is one that connects and never starts the handshake.
func TestTLSIdle(t *testing.T) {
	const idle = time.Second
	u, ca := tlsUA(t, tcpLimits{idle: idle})
	talker, err := dialTLSFrom(t, "127.0.0.5", u.TLSAddr(), ca)
	if err != nil {
		t.Fatal(err)
	}
	crlf, err := dialTLSFrom(t, "127.0.0.5", u.TLSAddr(), ca)
	if err != nil {
		t.Fatal(err)
	}
	silent := mustDialFrom(t, "127.0.0.5", u.TLSAddr()) // TCP only: no ClientHello
	closed := func(p *tcpPeer) chan struct{} {
		c := make(chan struct{})
		go func() { defer close(c); _ = p.gone(time.Minute) }()
		return c
	}
	silentGone := closed(silent)
	start := time.Now()
	crlfDone := make(chan struct{})
	go func() {
		defer close(crlfDone)
		for range 100 {
			if _, err := crlf.conn.Write([]byte("\r\n\r\n")); err != nil {
				return
			}
			time.Sleep(idle / 10)
		}
	}()
	for time.Since(start) < 3*idle {
		if code, err := talker.ask(); code != 200 {
			t.Fatalf("OPTIONS %d on a busy TLS connection after %v: %d %v", talker.n, time.Since(start), code, err)
		}
		time.Sleep(idle / 10)
	}
	select {
	case <-silentGone:
	case <-time.After(5 * time.Second):
		t.Error("a connection that never started TLS is still open")
	}
	select {
	case <-crlfDone:
		if time.Since(start) >= 10*idle {
			t.Error("the keep-alives-only TLS connection was kept")
		}
	case <-time.After(10 * time.Second):
		t.Error("the keep-alives-only TLS connection is still open")
	}
}
