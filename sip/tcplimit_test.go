package sip

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 14, item 7: inbound SIP over TCP, against a UA listening on loopback. Peers
// write raw SIP from loopback addresses of their choice (127.0.0.2, 127.0.0.3: all of
// 127.0.0.0/8 is local on Linux).

func listenUA(t *testing.T, cfg Config) *UA {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.RTPPortMin, cfg.RTPPortMax = 43000, 43999
	u, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// tcpPeer is a SIP peer's TCP (or TLS) connection to the UA.
type tcpPeer struct {
	conn net.Conn
	r    *bufio.Reader
	n    int  // requests sent
	tls  bool // over TLS: Via says so
}

// dialFrom connects to to from the loopback address from; err when the connection
// cannot be made.
func dialFrom(t *testing.T, from string, to netip.AddrPort) (*tcpPeer, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPeer{conn: c, r: bufio.NewReader(c)}, nil
}

func mustDialFrom(t *testing.T, from string, to netip.AddrPort) *tcpPeer {
	t.Helper()
	p, err := dialFrom(t, from, to)
	if err != nil {
		t.Fatalf("connect from %s: %v", from, err)
	}
	return p
}

// options is the next OPTIONS request the peer sends, as bytes on the wire.
func (p *tcpPeer) options() []byte {
	p.n++
	la := p.conn.LocalAddr().String()
	transport := "TCP"
	if p.tls {
		transport = "TLS"
	}
	return fmt.Appendf(nil, "OPTIONS sip:leadline@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK-tcp-%s-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:peer@%s>;tag=t%d\r\nTo: <sip:leadline@%s>\r\nCall-ID: tcp-%s-%d\r\n"+
		"CSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n",
		p.conn.RemoteAddr(), transport, la, la, p.n, la, p.n, p.conn.RemoteAddr(), la, p.n, p.n)
}

// ask sends OPTIONS and returns the answer's status code; an error when the connection
// is closed or nothing comes within 10 s.
func (p *tcpPeer) ask() (int, error) {
	if _, err := p.conn.Write(p.options()); err != nil {
		return 0, err
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := p.r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	for { // the headers, up to the empty line (Content-Length: 0)
		l, err := p.r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if strings.TrimSpace(l) == "" {
			break
		}
	}
	var code int
	if _, err := fmt.Sscanf(status, "SIP/2.0 %d", &code); err != nil {
		return 0, fmt.Errorf("status line %q: %w", status, err)
	}
	return code, nil
}

// gone waits (up to d) for Leadline to close the connection and reports whether it did.
func (p *tcpPeer) gone(d time.Duration) bool {
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := p.r.ReadByte(); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// 600 idle connections from one address: all but the first maxTCPPerSource are closed
// at once, and a new peer from another address, and a peer connected before, are still
// answered. (Each connection used to wait for one of 512 slots, held by idle connections
// for three minutes: the 513th and every later peer got nothing.)
func TestTCPFloodFromOneSource(t *testing.T) {
	u := listenUA(t, Config{})
	to := u.Addr()
	known := mustDialFrom(t, "127.0.0.3", to)
	if code, err := known.ask(); code != 200 {
		t.Fatalf("OPTIONS before the flood: %d %v", code, err)
	}

	var flood []*tcpPeer
	failed := 0
	for range 600 {
		p, err := dialFrom(t, "127.0.0.1", to)
		if err != nil {
			failed++ // reset before connect returned: refused already
			continue
		}
		flood = append(flood, p)
	}
	t.Logf("%d of 600 connections reset before connect returned", failed)

	fresh := mustDialFrom(t, "127.0.0.2", to)
	if code, err := fresh.ask(); code != 200 {
		t.Fatalf("a new peer from another address during the flood: %d %v", code, err)
	}
	if code, err := known.ask(); code != 200 {
		t.Errorf("the peer connected before the flood: %d %v", code, err)
	}
	// The accept queue is first in, first out: the flood's connections were all taken
	// or refused before fresh's, and the refused ones were reset.
	var mu sync.Mutex
	open := 0
	var wg sync.WaitGroup
	for _, p := range flood {
		wg.Go(func() {
			if !p.gone(300 * time.Millisecond) {
				mu.Lock()
				open++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if open != maxTCPPerSource {
		t.Errorf("%d of %d connections from one address left open, want %d", open, len(flood), maxTCPPerSource)
	}
	if extra, err := dialFrom(t, "127.0.0.1", to); err == nil {
		if code, err := extra.ask(); err == nil {
			t.Errorf("one more connection from the flooding address was answered %d", code)
		}
	}
}

// A connection must deliver a complete SIP message every idle period: a peer that talks
// SIP keeps its connection, one that drips a request a byte at a time, or sends only
// keep-alive CRLFs, is closed while it is still sending. (Any byte used to restart a
// three-minute timer.)
func TestTCPIdleMeansNoCompleteMessage(t *testing.T) {
	const idle = time.Second
	u := listenUA(t, Config{tcp: tcpLimits{idle: idle}})
	to := u.Addr()

	// A peer that talks SIP, a message every tenth of the idle period, for as long as
	// the others below run.
	talker := mustDialFrom(t, "127.0.0.2", to)
	start := time.Now()
	stop, talked := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			if code, err := talker.ask(); code != 200 {
				talked <- fmt.Errorf("OPTIONS %d on a busy connection: %d %v", talker.n, code, err)
				return
			}
			select {
			case <-stop:
				talked <- nil
				return
			case <-time.After(idle / 10):
			}
		}
	}()

	for _, tc := range []struct {
		name  string
		drip  bool          // a byte of an OPTIONS request per chunk; else a CRLF keep-alive pair
		every time.Duration // between chunks
		n     int           // chunks: n*every is many idle periods, fewer bytes than the request
	}{
		{"slow drip", true, idle / 20, 200},
		{"keep-alives only", false, idle / 10, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustDialFrom(t, "127.0.0.3", to)
			msg := p.options()
			if tc.drip && len(msg) <= tc.n {
				t.Fatalf("the request is only %d bytes", len(msg))
			}
			chunk := func(i int) []byte {
				if tc.drip {
					return msg[i : i+1]
				}
				return []byte("\r\n\r\n")
			}
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_ = p.gone(time.Minute) // read until Leadline closes it
			}()
			sent := 0
		send:
			for i := range tc.n {
				select {
				case <-closed:
					break send
				default:
				}
				if _, err := p.conn.Write(chunk(i)); err != nil {
					break // reset by Leadline
				}
				sent++
				time.Sleep(tc.every)
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the connection is still open")
			}
			if sent == tc.n {
				t.Errorf("the connection was kept while it sent for %v (%d chunks)", time.Duration(tc.n)*tc.every, sent)
			}
			_ = p.conn.Close()
		})
	}
	close(stop)
	if err := <-talked; err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d < 2*idle {
		t.Errorf("the busy connection lived only %v, not the idle periods it should outlive", d)
	}
}

// The framer's view of a stream: how many complete SIP messages each chunk ends.
func TestSIPFramer(t *testing.T) {
	opt := "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"
	inv := "INVITE sip:a@b SIP/2.0\r\nl: 5\r\ncontent-type: application/sdp\r\n\r\nv=0\r\n"
	bare := "OPTIONS sip:a@b SIP/2.0\nCONTENT-LENGTH :  3\n\nabc"
	tests := []struct {
		name   string
		chunks []string
		want   []int
	}{
		{"one message", []string{opt}, []int{1}},
		{"two in one read", []string{opt + inv}, []int{2}},
		{"body split", []string{inv[:len(inv)-3], inv[len(inv)-3:]}, []int{0, 1}},
		{"headers split in the CRLF", []string{opt[:len(opt)-1], opt[len(opt)-1:]}, []int{0, 1}},
		{"keep-alives between", []string{"\r\n\r\n", opt, "\r\n", "\r\n" + opt}, []int{0, 1, 0, 1}},
		{"bare LF, spaced header", []string{bare}, []int{1}},
		{"no Content-Length: no body", []string{"BYE sip:a@b SIP/2.0\r\n\r\n"}, []int{1}},
		{"never ends", []string{"OPTIONS sip:a@b SIP/2.0\r\n", "Via: x\r\n", strings.Repeat("X", 5000)}, []int{0, 0, 0}},
		{"body not all there", []string{"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 100\r\n\r\n", strings.Repeat("x", 99)}, []int{0, 0}},
		{"a long header line does not hide Content-Length", []string{"OPTIONS sip:a@b SIP/2.0\r\nX-Long: " + strings.Repeat("y", 500) + "\r\nContent-Length: 2\r\n\r\nok"}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f sipFramer
			for i, c := range tt.chunks {
				if got := f.feed([]byte(c)); got != tt.want[i] {
					t.Errorf("chunk %d: %d messages, want %d", i, got, tt.want[i])
				}
			}
		})
	}
	// Byte by byte, the same.
	var f sipFramer
	n := 0
	for _, b := range []byte(opt + inv + bare) {
		n += f.feed([]byte{b})
	}
	if n != 3 {
		t.Errorf("byte by byte: %d messages, want 3", n)
	}
}

// The per-source limit counts an IPv6 peer by its /64.
func TestSourcePrefix(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:5060":             "192.0.2.1/32",
		"[::ffff:192.0.2.1]:5060":    "192.0.2.1/32",
		"[2001:db8:1:2:3:4:5:6]:506": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:5060":  "2001:db8:1:2::/64",
	} {
		a := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))
		if got := sourcePrefix(a).String(); got != want {
			t.Errorf("sourcePrefix(%s) = %s, want %s", addr, got, want)
		}
	}
}
