package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
)

// The rule of rtpsource.go as a table: which source a leg takes media from, in each
// state the far end's SDP, the signalling and the packets so far leave it in.
func TestAdmit(t *testing.T) {
	ap := netip.MustParseAddrPort
	ip := netip.MustParseAddr
	sdp := ap("192.0.2.10:4000")       // what the far end's SDP names
	sigIP := ip("198.51.100.7")        // where its SIP messages come from (its NAT)
	natted := ap("198.51.100.7:61000") // where its packets really come from, behind NAT
	fresh := func(signal netip.Addr) *farEnd { return &farEnd{sdp: sdp, signal: signal} }
	settled := func() *farEnd { f := fresh(sigIP); f.settled.Store(true); return f }
	latched := func() *farEnd {
		f := &farEnd{sdp: sdp, signal: sigIP, latched: natted}
		f.settled.Store(true)
		return f
	}
	tests := []struct {
		name string
		far  *farEnd
		from netip.AddrPort
		want admission
	}{
		{"no SDP yet: nothing", nil, sdp, refuse},
		{"the SDP's address", fresh(sigIP), sdp, accept},
		{"the SDP's address once packets flow", settled(), sdp, accept},
		{"the SDP's address after a latch", latched(), sdp, accept},
		{"first packet from the signalling IP (NAT): latch", fresh(sigIP), natted, latchSource},
		{"first packet from the SDP's IP, another port: latch", fresh(sigIP), ap("192.0.2.10:4002"), latchSource},
		{"the latched address", latched(), natted, accept},
		{"signalling IP once the SDP's address was accepted", settled(), natted, refuse},
		{"signalling IP, another port, after the latch", latched(), ap("198.51.100.7:61002"), refuse},
		{"SDP's IP, another port, after the latch", latched(), ap("192.0.2.10:4002"), refuse},
		{"stranger before any packet", fresh(sigIP), ap("203.0.113.66:4000"), refuse},
		{"stranger once packets flow", settled(), ap("203.0.113.66:4000"), refuse},
		{"stranger after the latch", latched(), ap("203.0.113.66:61000"), refuse},
		{"stranger, signalling source unknown", fresh(netip.Addr{}), ap("203.0.113.66:4000"), refuse},
		{"SDP's port on another IP", fresh(sigIP), ap("203.0.113.66:4000"), refuse},
		{"IPv6 SDP, exact", &farEnd{sdp: ap("[2001:db8::10]:4000"), signal: ip("2001:db8::10")}, ap("[2001:db8::10]:4000"), accept},
		{"IPv6 stranger", &farEnd{sdp: ap("[2001:db8::10]:4000"), signal: ip("2001:db8::10")}, ap("[2001:db8::66]:4000"), refuse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.far.admit(tt.from); got != tt.want {
				t.Errorf("admit(%v) = %d, want %d", tt.from, got, tt.want)
			}
		})
	}
}

func TestSourceIP(t *testing.T) {
	for src, want := range map[string]string{
		"198.51.100.7:5060":         "198.51.100.7",
		"[2001:db8::1]:5060":        "2001:db8::1",
		"[::ffff:192.0.2.1]:5060":   "192.0.2.1",
		"192.0.2.1":                 "192.0.2.1",
		"":                          "invalid IP",
		"sip.carrier.example:5060":  "invalid IP",
		"not an address at all :-)": "invalid IP",
	} {
		if got := sourceIP(src).String(); got != want {
			t.Errorf("sourceIP(%q) = %s, want %s", src, got, want)
		}
	}
}

// What receive does with each datagram: a stranger's is dropped before anything acts on
// it (no key, no live media for the dead-media watch, no packet counted in); the far
// end's garbage is dropped as malformed and does not count as live either; the far
// end's comfort noise keeps the call alive but is neither decoded nor relayed.
func TestReceiveDropsBeforeActing(t *testing.T) {
	farAddr := netip.MustParseAddrPort("127.0.0.1:40000")
	ev := func(key rune) []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, SSRC: 3, SequenceNumber: 1, Timestamp: 800},
			Payload: media.EncodeEvent(nil, key, false, 10, 160)}).Marshal()
		return b
	}
	cn, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 13, SSRC: 3}, Payload: []byte{40}}).Marshal()
	tests := []struct {
		name                    string
		from                    netip.AddrPort
		pkt                     []byte
		digit                   bool
		live, in                int64
		source, malformed, cnPT int64
	}{
		{"far end's key", farAddr, ev('1'), true, 1, 1, 0, 0, 0},
		{"stranger's key", netip.MustParseAddrPort("127.0.0.2:40000"), ev('1'), false, 0, 0, 1, 0, 0},
		{"stranger's garbage", netip.MustParseAddrPort("127.0.0.2:40000"), []byte("hello"), false, 0, 0, 1, 0, 0},
		{"far end's garbage", farAddr, []byte("hello, this is not RTP"), false, 0, 0, 0, 1, 0},
		{"far end's comfort noise", farAddr, cn, false, 1, 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &countingObserver{}
			digits := make(chan rune, 8)
			s := newLoopStream(t, obs, 0, digits, func(error) {})
			// Signalling and media on 127.0.0.1; a packet from the SDP's address was
			// accepted already (no latch possible).
			s.setRemote(remoteMedia{addr: farAddr, codec: media.PCMU, eventPT: 101, dir: sendrecv}, farAddr.Addr())
			s.far.Load().settled.Store(true)
			var rx rxScratch
			s.receive(tt.pkt, tt.from, &rx) // only the test calls it: nothing sends to s's port
			got := false
			select {
			case <-digits:
				got = true
			default:
			}
			if got != tt.digit {
				t.Errorf("digit reported: %v, want %v", got, tt.digit)
			}
			if n := int64(s.rx.Load()); n != tt.live {
				t.Errorf("live packets %d, want %d", n, tt.live)
			}
			if obs.in.Load() != tt.in || obs.source.Load() != tt.source || obs.malformed.Load() != tt.malformed || obs.badType.Load() != tt.cnPT {
				t.Errorf("counted in %d, dropped source %d, malformed %d, payload_type %d; want %d, %d, %d, %d",
					obs.in.Load(), obs.source.Load(), obs.malformed.Load(), obs.badType.Load(), tt.in, tt.source, tt.malformed, tt.cnPT)
			}
		})
	}
}

// Symmetric RTP behind NAT, over real sockets: the far end's SDP names an address it
// never sends from; its first packet, from its signalling IP, latches the leg, which then
// sends there. From then on nobody else moves the leg, not even a burst from the same
// IP; a stranger at another IP cannot latch even first. A re-INVITE naming a new address
// starts over.
func TestLatchOnceBehindNAT(t *testing.T) {
	obs := &countingObserver{}
	sdpSide, realSide := newRTPPeer(t), newRTPPeer(t) // the SDP's address; the NAT's
	a := newLoopStream(t, obs, 0, make(chan rune, 8), func(error) {})
	a.setRemote(remoteMedia{addr: sdpSide.addr, codec: media.PCMU, eventPT: 101, dir: sendrecv}, realSide.addr.Addr())
	a.send(payload(0), true)
	if got := sdpSide.recv(t); got.SSRC != a.ssrc {
		t.Fatal("before any packet arrives, we send to the SDP address")
	}
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: 5, SequenceNumber: 1, Timestamp: 1}
	realSide.send(t, a, h, payload(0))
	wait.For(t, 5*time.Second, "the latch", func() bool { return a.far.Load().latched == realSide.addr })
	a.send(payload(0), false)
	if got := realSide.recv(t); got.SSRC != a.ssrc {
		t.Error("not sent to the latched source")
	}

	// A burst from another port on the same IP, and from another IP: dropped, counted,
	// and the leg keeps sending to the latched source.
	sameIP := newRTPPeer(t)
	otherIP := peerOn(t, "udp4", "127.0.0.2:0")
	for i := range 60 {
		h.SequenceNumber = uint16(100 + i)
		sameIP.send(t, a, h, payload(0))
		otherIP.send(t, a, h, payload(0))
	}
	wait.For(t, 5*time.Second, "120 packets dropped", func() bool { return obs.source.Load() == 120 })
	a.send(payload(0), false)
	if got := realSide.recv(t); got.SSRC != a.ssrc {
		t.Error("the latched source lost the leg")
	}
	if !sameIP.none(50*time.Millisecond) || !otherIP.none(10*time.Millisecond) {
		t.Error("a stranger received the leg's media")
	}

	// A stranger at another IP cannot latch even when it sends first.
	b := newLoopStream(t, obs, 0, make(chan rune, 8), func(error) {})
	b.setRemote(remoteMedia{addr: sdpSide.addr, codec: media.PCMU, eventPT: 101, dir: sendrecv}, sdpSide.addr.Addr())
	otherIP.send(t, b, h, payload(0))
	wait.For(t, 5*time.Second, "the stranger's packet dropped", func() bool { return obs.source.Load() == 121 })
	if f := b.far.Load(); f.latched.IsValid() || f.settled.Load() {
		t.Errorf("a stranger's first packet latched or settled the leg: %v", f.latched)
	}

	// A re-INVITE moves the media: the new address at once, and one latch again.
	moved, movedNAT := newRTPPeer(t), newRTPPeer(t)
	a.setRemote(remoteMedia{addr: moved.addr, codec: media.PCMU, eventPT: 101, dir: sendrecv}, movedNAT.addr.Addr())
	a.send(payload(0), false)
	if got := moved.recv(t); got.SSRC != a.ssrc {
		t.Error("not sent to the new SDP address")
	}
	movedNAT.send(t, a, h, payload(0))
	wait.For(t, 5*time.Second, "the new latch", func() bool { return a.far.Load().latched == movedNAT.addr })
	// The same address again (a session refresh) keeps the latch.
	a.setRemote(remoteMedia{addr: moved.addr, codec: media.PCMU, eventPT: 101, dir: sendrecv}, movedNAT.addr.Addr())
	if a.far.Load().latched != movedNAT.addr {
		t.Error("a refresh with the same SDP address dropped the latch")
	}
}

// BenchmarkReceiveStranger is what a flood of a stranger's packets costs a media loop
// once they are read: the admission check and a counter, no parsing, no allocation.
func BenchmarkReceiveStranger(b *testing.B) {
	obs := &countingObserver{}
	s := newLoopStream(b, obs, 0, make(chan rune, 1), func(error) {})
	far := netip.MustParseAddrPort("127.0.0.1:40000")
	s.setRemote(remoteMedia{addr: far, codec: media.PCMU, eventPT: 101, dir: sendrecv}, far.Addr())
	s.far.Load().settled.Store(true)
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: payload(0)}).Marshal()
	from := netip.MustParseAddrPort("127.0.0.2:40000")
	var rx rxScratch
	b.ReportAllocs()
	for b.Loop() {
		s.receive(pkt, from, &rx)
	}
	if obs.source.Load() == 0 {
		b.Fatal("nothing dropped")
	}
}
