package sip

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/leadline/leadline/media"
)

// loopStream is a stream bound to bind and read on loop, whose far end is peer.
func loopStream(t *testing.T, loop *mediaLoop, bind string, peer *rtpPeer) *stream {
	t.Helper()
	s := streamOn(t, loop, bind, nopObserver{}, 0, make(chan rune, 8), func(error) {})
	s.setRemote(remoteMedia{addr: peer.addr, codec: media.PCMU, eventPT: 101, dir: sendrecv}, peer.addr.Addr())
	return s
}

// RTP sockets work over IPv6, and a socket bound to the IPv6 wildcard also serves IPv4
// peers (dual stack): their packets come from plain IPv4 addresses, which match the
// SDP's, and relayed packets reach them.
func TestMediaLoopAddressFamilies(t *testing.T) {
	for _, tc := range []struct{ name, bind, network, peer string }{
		{"ipv6", "[::1]:0", "udp6", "[::1]:0"},
		{"dual stack", "[::]:0", "udp4", "127.0.0.1:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loop := newTestLoop(t)
			pa, pb := peerOn(t, tc.network, tc.peer), peerOn(t, tc.network, tc.peer)
			a, b := loopStream(t, loop, tc.bind, pa), loopStream(t, loop, tc.bind, pb)
			bridge(a, b)
			to := netip.AddrPortFrom(pa.addr.Addr(), a.sock.local.Port())
			for i := range 3 {
				pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7, SequenceNumber: uint16(i), Timestamp: uint32(160 * i)}, Payload: payload(1)}).Marshal()
				if _, err := pa.conn.WriteToUDPAddrPort(pkt, to); err != nil {
					t.Fatal(err)
				}
				got := pb.recv(t)
				if got.SSRC != b.ssrc || len(got.Payload) != 160 {
					t.Fatalf("relayed packet %d: %+v", i, got.Header)
				}
			}
			if far := a.far.Load(); far.latched.IsValid() || far.sendTo() != pa.addr {
				t.Errorf("sending to %v (latched %v), want the SDP's %v", far.sendTo(), far.latched, pa.addr)
			}
		})
	}
}

// Streams come and go on a loop while packets flow on all of them: a closed stream is
// never touched again (the race detector watches), the others keep relaying, and the
// loop closes with streams still on it.
func TestMediaLoopStreamsComeAndGo(t *testing.T) {
	loop := newTestLoop(t)
	const pairs = 20
	type pair struct {
		pa, pb *rtpPeer
		a, b   *stream
	}
	ps := make([]pair, pairs)
	for i := range ps {
		pa, pb := newRTPPeer(t), newRTPPeer(t)
		a, b := loopStream(t, loop, "127.0.0.1:0", pa), loopStream(t, loop, "127.0.0.1:0", pb)
		b.setRemote(remoteMedia{addr: pb.addr, codec: media.PCMA, eventPT: 101, dir: sendrecv}, pb.addr.Addr())
		bridge(a, b)
		ps[i] = pair{pa, pb, a, b}
	}
	// Every peer sends 200 packets as fast as it can while half the pairs are closed.
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 9}, Payload: payload(2)}).Marshal()
			for range 200 {
				_, _ = p.pa.conn.WriteToUDPAddrPort(pkt, p.a.localAddr())
				_, _ = p.pb.conn.WriteToUDPAddrPort(pkt, p.b.localAddr())
			}
		})
	}
	for i := 0; i < pairs; i += 2 {
		ps[i].a.close()
		ps[i].b.close()
	}
	wg.Wait()
	loop.mu.Lock()
	left := len(loop.streams)
	loop.mu.Unlock()
	if left != pairs { // half the 2×pairs streams closed: a leak otherwise, call after call
		t.Errorf("%d streams on the loop, want %d", left, pairs)
	}
	// The open pairs still relay: drain what is queued, then one more packet each way.
	for i := 1; i < pairs; i += 2 {
		p := ps[i]
		for !p.pb.none(50 * time.Millisecond) {
		}
		p.pa.send(t, p.a, rtp.Header{Version: 2, SSRC: 10, SequenceNumber: 1}, payload(3))
		if got := p.pb.recv(t); got.SSRC != p.b.ssrc || got.PayloadType != media.PCMA.PayloadType() {
			t.Fatalf("pair %d: relayed %+v", i, got.Header)
		}
	}
	loop.close() // the open streams close after it, when the test ends: their sockets only
	sock, err := listenRTP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newStream(sock, loop, nopObserver{}, 0, nil, func(error) {}); err == nil {
		t.Fatal("a closed loop took a stream")
	}
}
