package sip

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestHeldTCPConnection: a connection a softphone registered on (holdTCP) is kept open
// past the idle limit for inbound TCP while it sends nothing but CRLF keep-alives (RFC
// 5626 section 3.5.1), which sipgo answers with a CRLF; a connection not held that does
// the same is closed (TestTCPIdleMeansNoCompleteMessage). Over it, requests are still
// answered.
func TestHeldTCPConnection(t *testing.T) {
	const idle = 300 * time.Millisecond
	u := listenUA(t, Config{tcp: tcpLimits{idle: idle}})
	held := mustDialFrom(t, "127.0.0.4", u.Addr())
	loose := mustDialFrom(t, "127.0.0.5", u.Addr())
	for _, p := range []*tcpPeer{held, loose} {
		if code, err := p.ask(); code != 200 {
			t.Fatalf("OPTIONS: %d %v", code, err)
		}
	}
	if !u.hasConn("tcp", held.conn.LocalAddr().String()) {
		t.Fatal("the connection is not in sipgo's pool")
	}
	u.holdTCP("tcp", held.conn.LocalAddr().String(), time.Minute)

	// Both send keep-alives only, a ping every third of the idle limit, until the loose
	// one is closed; the held one sends on for as long again.
	closed := make(chan struct{})
	go func() { defer close(closed); _ = loose.gone(time.Minute) }()
	pings, heldPings := 0, 0
	for i := 0; ; i++ {
		select {
		case <-closed:
		default:
			if _, err := loose.conn.Write([]byte("\r\n\r\n")); err == nil {
				pings = i + 1
			}
		}
		if _, err := held.conn.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatalf("the held connection was closed after %d keep-alives: %v", i, err)
		}
		heldPings++
		if i >= 2*pings && i > 6 {
			break
		}
		if i > 300 {
			t.Fatal("the connection that is not held was never closed")
		}
		time.Sleep(idle / 3)
	}
	// A pong (CRLF) came back for each ping; a request is answered as ever.
	_ = held.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	pongs := make([]byte, 2*heldPings)
	if _, err := io.ReadFull(held.r, pongs); err != nil || strings.Trim(string(pongs), "\r\n") != "" {
		t.Fatalf("pongs %q: %v", pongs, err)
	}
	if code, err := held.ask(); code != 200 {
		t.Errorf("OPTIONS on the held connection after %d keep-alives: %d %v", pings, code, err)
	}
	if !u.hasConn("tcp", held.conn.LocalAddr().String()) {
		t.Error("the held connection left sipgo's pool")
	}
}
