package sip_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// Issue 14, item 2: a stranger who finds a leg's RTP port (it is in every INVITE's SDP,
// and ports are easy to scan) sends to it from its own address. These tests run a real
// call over SIP on loopback with simphone phones, and a stranger's UDP socket on
// 127.0.0.2 sending to the leg's RTP port.

// stranger is a UDP socket on 127.0.0.2 that sends RTP to a leg's port.
type stranger struct {
	conn *net.UDPConn
	to   netip.AddrPort
	h    rtp.Header
}

// newStranger aims at the RTP port Leadline's INVITE to call offered.
func newStranger(t *testing.T, u *sip.UA, call *simphone.Call) *stranger {
	t.Helper()
	m := regexp.MustCompile(`m=audio (\d+) `).FindSubmatch(call.Invite.Body())
	if m == nil {
		t.Fatalf("no media port in the INVITE's SDP:\n%s", call.Invite.Body())
	}
	port, _ := strconv.Atoi(string(m[1]))
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	to := netip.AddrPortFrom(u.Addr().Addr(), uint16(port))
	return &stranger{conn: c, to: to, h: rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: 1, Timestamp: 1000}}
}

func (s *stranger) send(t *testing.T, pt uint8, marker bool, payload []byte) {
	t.Helper()
	s.h.PayloadType, s.h.Marker = pt, marker
	b, err := (&rtp.Packet{Header: s.h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.conn.WriteToUDPAddrPort(b, s.to); err != nil {
		t.Fatal(err)
	}
	s.h.SequenceNumber++
}

// press sends a whole RFC 4733 press of key with the payload type the phones use (101),
// as fast as it can: how many packets it sent.
func (s *stranger) press(t *testing.T, key rune) int {
	t.Helper()
	evs := media.EventPackets(key, 20*time.Millisecond, 100*time.Millisecond)
	base := s.h.Timestamp
	for _, e := range evs {
		s.h.Timestamp = base + e.TimestampOffset
		s.send(t, 101, e.Marker, e.Payload)
	}
	s.h.Timestamp = base + 1600
	return len(evs)
}

// received reports whether anything reached the stranger within d.
func (s *stranger) received(d time.Duration) bool {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	_, _, err := s.conn.ReadFromUDPAddrPort(make([]byte, 1500))
	return err == nil
}

// While the whisper plays, a stranger's RFC 4733 '1' is not the salesperson's key: the
// first key the leg reports is the one the salesperson's phone presses ('2', pass it
// on), a second later.
func TestStrangerCannotPressOne(t *testing.T) {
	m, reg := newMetrics(t)
	u := newUA(t, sip.Config{Observer: m})
	p := newPhone(t, "piet", simphone.Behaviour{Tone: 1000, Key: '2', KeyAfter: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, p.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup(ctx)
	go leg.Play(ctx, tone(440, 3*time.Second)) // the whisper
	s := newStranger(t, u, p.Calls()[0])
	before := metricValue(t, reg, "leadline_rtp_dropped_total", "reason", "source")
	n := s.press(t, '1')
	wait.Until(5*time.Second, func() bool {
		return metricValue(t, reg, "leadline_rtp_dropped_total", "reason", "source")-before >= float64(n)
	})
	select {
	case d := <-leg.Digits():
		if d != '2' {
			t.Errorf("first key %q, want the phone's '2': a stranger pressed a key", d)
		}
	case <-ctx.Done():
		t.Fatal("no key at all")
	}
	if got := metricValue(t, reg, "leadline_rtp_dropped_total", "reason", "source") - before; got != float64(n) {
		t.Errorf("leadline_rtp_dropped_total{reason=\"source\"} rose by %v, want the stranger's %d packets", got, n)
	}
}

// In a bridged call a stranger sending to the salesperson's leg: (a) its RFC 4733 '1'
// is no key; (b) 1500 packets in bursts do not move where the leg sends: the stranger
// receives nothing, the salesperson's phone keeps receiving; (c) its audio does not
// reach the customer. leadline_rtp_dropped_total{reason="source"} counts every packet.
func TestStrangerMediaInBridgedCall(t *testing.T) {
	m, reg := newMetrics(t)
	u := newUA(t, sip.Config{Observer: m})
	agentPhone := newPhone(t, "anna", simphone.Behaviour{Tone: 1000, Codec: media.PCMU})
	custPhone := newPhone(t, "eva", simphone.Behaviour{Tone: 1500, Codec: media.PCMA})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	agent, err := u.Dial(ctx, agentPhone.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Hangup(ctx)
	cust, err := u.Dial(ctx, custPhone.URI(), opts(dialer.LegCustomer))
	if err != nil {
		t.Fatal(err)
	}
	defer cust.Hangup(ctx)
	if err := agent.Bridge(cust); err != nil {
		t.Fatal(err)
	}
	agentCall, custCall := agentPhone.Calls()[0], custPhone.Calls()[0]
	if !wait.Until(5*time.Second, func() bool { return agentCall.Packets() > 10 && custCall.Packets() > 10 }) {
		t.Fatal("no media across the bridge")
	}
	s := newStranger(t, u, agentCall)
	dropped := func() float64 { return metricValue(t, reg, "leadline_rtp_dropped_total", "reason", "source") }
	before := dropped()

	// (a) A key press.
	sent := s.press(t, '1')
	wait.Until(5*time.Second, func() bool { return dropped()-before >= float64(sent) })
	select {
	case d := <-agent.Digits():
		t.Errorf("a stranger's RFC 4733 event became the key %q", d)
	default:
	}

	// (b) and (c): bursts of full-scale audio (PCMU 0x00 decodes to -32124; the
	// phones' tones stay far below) for a few hundred milliseconds, each burst longer
	// than the 25 packets in a row that used to move the leg, with pauses that let the
	// leg's media loop keep up (the kernel would drop what overflows its socket buffer,
	// and the count below is exact).
	loud := make([]byte, 160)
	for range 50 {
		for range 30 {
			s.send(t, 0, false, loud)
			s.h.Timestamp += 160
		}
		sent += 30
		time.Sleep(3 * time.Millisecond)
	}
	wait.Until(5*time.Second, func() bool { return dropped()-before >= float64(sent) })
	got := agentCall.Packets()
	if !wait.Until(5*time.Second, func() bool { return agentCall.Packets() >= got+25 }) {
		t.Errorf("the salesperson's phone stopped receiving after the stranger's burst (%d packets since)", agentCall.Packets()-got)
	}
	if s.received(200 * time.Millisecond) {
		t.Error("the stranger received the leg's media (RTP bleed)")
	}
	for _, v := range custCall.Heard() {
		if v < -30000 {
			t.Error("the stranger's audio reached the customer")
			break
		}
	}
	if got := dropped() - before; got != float64(sent) {
		t.Errorf("leadline_rtp_dropped_total{reason=\"source\"} rose by %v, want the stranger's %d packets", got, sent)
	}
	select {
	case <-agent.Done():
		t.Errorf("the call ended: %v", agent.Err())
	default:
	}
}

// A stranger's packets do not count as media: a leg whose far end went silent ends at
// the dead-media limit however much a stranger sends to its port.
func TestStrangerDoesNotKeepDeadCallUp(t *testing.T) {
	m, reg := newMetrics(t)
	u := newUA(t, sip.Config{Observer: m, MediaTimeout: 300 * time.Millisecond})
	p := newPhone(t, "mute", simphone.Behaviour{Mute: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, p.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup(ctx)
	s := newStranger(t, u, p.Calls()[0])
	sent := 0
	for ; sent < 250 && leg.Err() == nil; sent++ { // 5 s of 20 ms packets, many times the limit
		s.send(t, 0, false, make([]byte, 160))
		s.h.Timestamp += 160
		time.Sleep(20 * time.Millisecond)
	}
	if err := leg.Err(); err == nil {
		t.Fatalf("the leg is still up after %d packets from a stranger", sent)
	} else if !errors.Is(err, dialer.ErrMediaTimeout) {
		t.Errorf("leg ended with %v, want dead media", err)
	}
	if got := metricValue(t, reg, "leadline_rtp_dropped_total", "reason", "source"); got == 0 {
		t.Error("the stranger's packets were not counted as dropped")
	}
}
