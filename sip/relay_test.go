package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/recording"
)

// countingObserver counts RTP packets, and those dropped by reason, as the metrics do
// (an atomic add each).
type countingObserver struct {
	nopObserver
	in, out                          atomic.Int64
	source, malformed, badType, auth atomic.Int64
}

func (o *countingObserver) RTPPacket(direction string) {
	if direction == "in" {
		o.in.Add(1)
	} else {
		o.out.Add(1)
	}
}

func (o *countingObserver) RTPDropped(reason string) {
	switch reason {
	case dropSource:
		o.source.Add(1)
	case dropMalformed:
		o.malformed.Add(1)
	case dropPayloadType:
		o.badType.Add(1)
	case dropAuth:
		o.auth.Add(1)
	default:
		panic("unknown drop reason " + reason)
	}
}

// rtpPeer is a far end's RTP socket on loopback.
type rtpPeer struct {
	conn *net.UDPConn
	addr netip.AddrPort
}

func newRTPPeer(tb testing.TB) *rtpPeer {
	tb.Helper()
	return peerOn(tb, "udp4", "127.0.0.1:0")
}

// peerOn is a far end's RTP socket on addr; a network the machine lacks skips the test.
func peerOn(tb testing.TB, network, addr string) *rtpPeer {
	tb.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		tb.Skipf("cannot listen on %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rtpPeer{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// recv reads one RTP packet (failing after a second).
func (p *rtpPeer) recv(tb testing.TB) rtp.Packet {
	tb.Helper()
	buf := make([]byte, 1500)
	_ = p.conn.SetReadDeadline(time.Now().Add(time.Second))
	n, err := p.conn.Read(buf)
	if err != nil {
		tb.Fatalf("peer %v: %v", p.addr, err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		tb.Fatal(err)
	}
	return pkt
}

// none reports whether nothing arrives within d.
func (p *rtpPeer) none(d time.Duration) bool {
	buf := make([]byte, 1500)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	_, err := p.conn.Read(buf)
	return err != nil
}

func (p *rtpPeer) send(tb testing.TB, to *stream, h rtp.Header, payload []byte) {
	tb.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to.localAddr()); err != nil {
		tb.Fatal(err)
	}
}

func (s *stream) localAddr() netip.AddrPort { return s.sock.local }

// streamOn is a stream bound to bind and read on loop; it is closed when the test ends
// (closing it earlier is fine). A bind address the machine lacks skips the test.
func streamOn(tb testing.TB, loop *mediaLoop, bind string, obs Observer, timeout time.Duration, digits chan rune, ended func(error)) *stream {
	tb.Helper()
	sock, err := listenRTP(netip.MustParseAddrPort(bind))
	if err != nil {
		tb.Skipf("cannot bind %s: %v", bind, err)
	}
	s, err := newStream(sock, loop, obs, timeout, digits, ended)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.close)
	return s
}

// newTestLoop is a media loop closed when the test ends, after its streams.
func newTestLoop(tb testing.TB) *mediaLoop {
	tb.Helper()
	l, err := newMediaLoop()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.close)
	return l
}

// newLoopStream is a stream on a loopback port of its own, read by a media loop of its
// own.
func newLoopStream(tb testing.TB, obs Observer, timeout time.Duration, digits chan rune, ended func(error)) *stream {
	tb.Helper()
	return streamOn(tb, newTestLoop(tb), "127.0.0.1:0", obs, timeout, digits, ended)
}

// testStream is a leg's stream on loopback whose far end is peer, with its SDP.
func testStream(tb testing.TB, obs Observer, peer *rtpPeer, codec media.Codec, eventPT int) (*stream, chan rune, chan error) {
	tb.Helper()
	digits, ended := make(chan rune, 8), make(chan error, 1)
	s := newLoopStream(tb, obs, 0, digits, func(err error) { ended <- err })
	s.setRemote(remoteMedia{addr: peer.addr, codec: codec, eventPT: eventPT, dir: sendrecv}, peer.addr.Addr())
	return s, digits, ended
}

func bridge(a, b *stream) {
	a.peer.Store(b)
	b.peer.Store(a)
}

func payload(b byte) []byte {
	p := make([]byte, 160)
	for i := range p {
		p[i] = b + byte(i)
	}
	return p
}

// Relayed packets are renumbered into the outgoing leg's own stream: its SSRC, a
// sequence number that goes up by one per packet and a timestamp that keeps the
// source's spacing; a new source SSRC (a re-INVITE, a transfer at the carrier) continues
// that stream with the marker bit set instead of jumping.
func TestRelayRewritesSSRCSequenceTimestamp(t *testing.T) {
	pa, pb := newRTPPeer(t), newRTPPeer(t)
	a, _, _ := testStream(t, nopObserver{}, pa, media.PCMU, 101)
	b, _, _ := testStream(t, nopObserver{}, pb, media.PCMU, 101)
	bridge(a, b)

	var got []rtp.Packet
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1111, SequenceNumber: 65534, Timestamp: 4294967000}
	for range 4 {
		pa.send(t, a, h, payload(1))
		got = append(got, pb.recv(t))
		h.SequenceNumber++
		h.Timestamp += 160
	}
	// A new source, numbered anywhere.
	h = rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x2222, SequenceNumber: 7, Timestamp: 123}
	for range 3 {
		pa.send(t, a, h, payload(2))
		got = append(got, pb.recv(t))
		h.SequenceNumber++
		h.Timestamp += 160
	}
	for i, p := range got {
		if p.SSRC != b.ssrc {
			t.Errorf("packet %d: SSRC %#x, want the leg's %#x", i, p.SSRC, b.ssrc)
		}
		if i > 0 {
			if p.SequenceNumber != got[i-1].SequenceNumber+1 {
				t.Errorf("packet %d: sequence %d after %d", i, p.SequenceNumber, got[i-1].SequenceNumber)
			}
			if d := p.Timestamp - got[i-1].Timestamp; d != 160 {
				t.Errorf("packet %d: timestamp step %d, want 160", i, d)
			}
		}
		if want := i == 0 || i == 4; p.Marker != want {
			t.Errorf("packet %d: marker %v, want %v", i, p.Marker, want)
		}
		if p.PayloadType != 0 || len(p.Payload) != 160 {
			t.Errorf("packet %d: PT %d, %d bytes", i, p.PayloadType, len(p.Payload))
		}
	}
}

// Telephone-events are relayed with the payload type the other leg negotiated (here 96
// in, 101 out), unchanged otherwise, and still read as digits on the leg they came in on;
// a leg without telephone-event gets none. PCMU is transcoded to PCMA by table.
func TestRelayMapsEventsAndTranscodes(t *testing.T) {
	pa, pb, pc := newRTPPeer(t), newRTPPeer(t), newRTPPeer(t)
	a, digitsA, _ := testStream(t, nopObserver{}, pa, media.PCMU, 96)
	b, _, _ := testStream(t, nopObserver{}, pb, media.PCMA, 101)
	bridge(a, b)

	ev := media.EncodeEvent(nil, '7', false, 10, 160)
	pa.send(t, a, rtp.Header{Version: 2, PayloadType: 96, Marker: true, SSRC: 9, SequenceNumber: 1, Timestamp: 800}, ev)
	got := pb.recv(t)
	if got.PayloadType != 101 || string(got.Payload) != string(ev) {
		t.Errorf("event relayed as PT %d %x, want PT 101 %x", got.PayloadType, got.Payload, ev)
	}
	select {
	case d := <-digitsA:
		if d != '7' {
			t.Errorf("digit %q", d)
		}
	case <-time.After(time.Second):
		t.Error("no digit on the leg the event came in on")
	}

	in := payload(3)
	pa.send(t, a, rtp.Header{Version: 2, PayloadType: 0, SSRC: 9, SequenceNumber: 2, Timestamp: 960}, in)
	got = pb.recv(t)
	if want := media.Transcode(media.PCMU, media.PCMA, nil, in); got.PayloadType != 8 || string(got.Payload) != string(want) {
		t.Errorf("PCMU relayed as PT %d, payload transcoded wrongly", got.PayloadType)
	}

	// A leg that negotiated no telephone-event gets none; audio still passes.
	c, _, _ := testStream(t, nopObserver{}, pc, media.PCMU, -1)
	bridge(a, c)
	// One read loop relays a's packets in order: the audio sent after the event is the
	// first packet c gets, unless the event went through.
	pa.send(t, a, rtp.Header{Version: 2, PayloadType: 96, SSRC: 9, SequenceNumber: 3, Timestamp: 1120}, ev)
	pa.send(t, a, rtp.Header{Version: 2, PayloadType: 8, SSRC: 9, SequenceNumber: 4, Timestamp: 1280}, in)
	got = pc.recv(t)
	if got.PayloadType == 96 || got.PayloadType == 101 {
		t.Fatal("telephone-event sent to a leg that did not negotiate it")
	}
	if got.PayloadType != 0 || string(got.Payload) != string(media.Transcode(media.PCMA, media.PCMU, nil, in)) {
		t.Errorf("PCMA relayed to a PCMU leg as PT %d", got.PayloadType)
	}
}

// The RFC 4733 decoder starts afresh when the source changes SSRC: the same key pressed
// on the new source with a timestamp the old one used is a new press.
func TestEventDecoderResetOnNewSSRC(t *testing.T) {
	pa := newRTPPeer(t)
	a, digits, _ := testStream(t, nopObserver{}, pa, media.PCMU, 101)
	ev := media.EncodeEvent(nil, '5', false, 10, 160)
	for _, ssrc := range []uint32{1, 2} {
		pa.send(t, a, rtp.Header{Version: 2, PayloadType: 101, Marker: true, SSRC: ssrc, SequenceNumber: 10, Timestamp: 4000}, ev)
		select {
		case d := <-digits:
			if d != '5' {
				t.Errorf("digit %q", d)
			}
		case <-time.After(time.Second):
			t.Fatalf("press on SSRC %d not reported", ssrc)
		}
	}
}

// No RTP for the dead-media limit ends the leg with ErrMediaTimeout; packets keep it up.
func TestDeadMediaLimit(t *testing.T) {
	pa := newRTPPeer(t)
	ended := make(chan error, 1)
	s := newLoopStream(t, nopObserver{}, 300*time.Millisecond, make(chan rune, 1), func(err error) { ended <- err })
	s.setRemote(remoteMedia{addr: pa.addr, codec: media.PCMU, eventPT: 101}, pa.addr.Addr())
	s.arm()
	for i := range 10 { // 500 ms of packets, longer than the limit
		select {
		case err := <-ended:
			t.Fatalf("ended with %v while packets came in", err)
		default:
		}
		pa.send(t, s, rtp.Header{Version: 2, SSRC: 1, SequenceNumber: uint16(i), Timestamp: uint32(i * 160)}, payload(0))
		time.Sleep(50 * time.Millisecond) // paces the far end's packets, as a phone's would be
	}
	select {
	case err := <-ended:
		if !errors.Is(err, dialer.ErrMediaTimeout) {
			t.Errorf("ended with %v, want ErrMediaTimeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dead media did not end the leg")
	}
}

// The dead-media limit defaults to 30 s.
func TestDeadMediaDefault(t *testing.T) {
	u, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.cfg.MediaTimeout != 30*time.Second {
		t.Errorf("MediaTimeout %v", u.cfg.MediaTimeout)
	}
}

// BenchmarkRelay is the hot path: one RTP packet into a bridged leg, out of the other
// (parse, rewrite, transcode PCMU→PCMA, send), through real loopback sockets, and the
// same with the call recorded (the packet also decoded and placed in a real recording's
// mixer; its writer goroutine runs meanwhile). The allocations reported are the whole
// process's: both legs' read loops included. cpu-ns/op is the process's CPU time (user
// and system, every goroutine) per packet.
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct {
		name     string
		from, to media.Codec
		recorded bool
	}{
		{"same codec", media.PCMU, media.PCMU, false}, {"transcode", media.PCMU, media.PCMA, false},
		{"same codec recorded", media.PCMU, media.PCMU, true}, {"transcode recorded", media.PCMU, media.PCMA, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			obs := &countingObserver{}
			pa, pb := newRTPPeer(b), newRTPPeer(b)
			a, _, _ := testStream(b, obs, pa, tc.from, 101)
			s, _, _ := testStream(b, obs, pb, tc.to, 101)
			bridge(a, s)
			if tc.recorded {
				rec, err := recording.New(recording.Options{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				r, err := rec.Start(b.Context(), dialer.RecordingStart{LeadID: "bench", Dealer: "jansen", At: time.Now()})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = r.Finish(context.Background()) })
				a.tap.Store(&tapRef{tap: r, channel: dialer.ChannelCustomer})
			}
			var ru0 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			defer func() {
				var ru1 syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
				cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}()
			pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, Timestamp: 1}, Payload: payload(0)}).Marshal()
			to := a.localAddr()
			buf := make([]byte, 1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				pkt[3] = byte(i) // sequence number
				if _, err := pa.conn.WriteToUDPAddrPort(pkt, to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := pb.conn.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
