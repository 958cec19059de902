package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/sip/media"
)

// relayHold is how long relayed media keeps generated audio (prompts, ringback) off a
// stream after the last relayed packet.
const relayHold = 100 * time.Millisecond

// portPool hands out even RTP ports from a range (RFC 3550 section 11). A port in use by
// anything else is skipped; the cursor rotates so a port just freed is not reused at once.
type portPool struct {
	ip       netip.Addr
	min, max int
	next     atomic.Uint32
}

func (p *portPool) listen() (*net.UDPConn, error) {
	span := (p.max - p.min + 1) / 2
	if span <= 0 {
		return nil, errors.New("rtp: empty port range")
	}
	start := int(p.next.Add(1))
	var lastErr error
	for i := range span {
		port := p.min + ((start+i)%span)*2
		if port%2 == 1 {
			port++
		}
		if port > p.max {
			continue
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err == nil {
			p.next.Store(uint32(start + i))
			return c, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("rtp: no free port in %d-%d: %w", p.min, p.max, lastErr)
}

// stream is one leg's RTP endpoint: a socket, the far end's address and codec, a read
// loop that decodes digits and relays audio to a peer, and the outbound sequence.
//
// The read loop is the only goroutine that reads conn; it ends when conn is closed.
// Outbound packets come from two places, Play (generated audio) and a peer's read loop
// (relayed audio); mu serialises them so the far end sees one RTP stream.
type stream struct {
	conn    *net.UDPConn
	port    int
	obs     Observer
	timeout time.Duration // dead-media limit once armed; 0 disables

	remote  atomic.Pointer[netip.AddrPort]
	latched atomic.Bool
	codec   atomic.Uint32 // media.Codec
	eventPT atomic.Int32  // -1: none
	armed   atomic.Bool   // dead-media timer running (after answer)

	peer   atomic.Pointer[stream] // where received media is relayed, or nil
	digits chan<- rune
	ended  func(error) // called once by the read loop when media dies

	loopDone chan struct{}

	mu        sync.Mutex // guards the following fields
	ssrc      uint32
	seq       uint16
	ts        uint32
	relaySSRC uint32 // source SSRC of the stream being relayed
	relaying  bool
	tsOffset  uint32 // relayed timestamp + tsOffset = our timestamp
	lastRelay time.Time
	out       []byte // packet buffer
}

func newStream(conn *net.UDPConn, obs Observer, timeout time.Duration, digits chan<- rune, ended func(error)) *stream {
	s := &stream{
		conn:     conn,
		port:     conn.LocalAddr().(*net.UDPAddr).Port,
		obs:      obs,
		timeout:  timeout,
		digits:   digits,
		ended:    ended,
		loopDone: make(chan struct{}),
		ssrc:     rand.Uint32(),
		seq:      uint16(rand.Uint32()),
		ts:       rand.Uint32(),
		out:      make([]byte, 1500),
	}
	s.eventPT.Store(-1)
	go s.readLoop()
	return s
}

// setRemote applies the far end's SDP.
func (s *stream) setRemote(rm remoteMedia) {
	if !s.latched.Load() {
		a := rm.addr
		s.remote.Store(&a)
	}
	s.codec.Store(uint32(rm.codec))
	s.eventPT.Store(int32(rm.eventPT))
}

// arm starts the dead-media timer.
func (s *stream) arm() {
	if s.timeout > 0 {
		s.armed.Store(true)
		_ = s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	}
}

func (s *stream) close() {
	_ = s.conn.Close()
	<-s.loopDone
}

func (s *stream) readLoop() {
	defer close(s.loopDone)
	buf := make([]byte, 1500)
	scratch := make([]byte, 0, 1500)
	pcm := make([]int16, 0, 1500)
	var (
		p           rtp.Packet
		events      media.EventDecoder
		tones       media.ToneDetector
		lastRefresh time.Time
	)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				go s.ended(dialer.ErrMediaTimeout) // ended closes the stream and waits for this loop
				return
			}
			return // closed
		}
		if s.armed.Load() {
			if now := time.Now(); now.Sub(lastRefresh) > time.Second {
				lastRefresh = now
				_ = s.conn.SetReadDeadline(now.Add(s.timeout))
			}
		}
		if p.Unmarshal(buf[:n]) != nil || p.Version != 2 {
			continue
		}
		// Symmetric RTP (RFC 4961): send to where the far end really sends from.
		if !s.latched.Load() {
			f := from
			s.remote.Store(&f)
			s.latched.Store(true)
		}
		s.obs.RTPPacket("in")
		codec := media.Codec(s.codec.Load())
		pt := int32(p.PayloadType)
		peer := s.peer.Load()
		switch {
		case pt == s.eventPT.Load() && pt >= 0:
			if d, ok := events.Feed(p.Payload, p.Timestamp); ok {
				s.digit(d)
			}
			if peer != nil {
				peer.relay(&p, true, codec, scratch)
			}
		case pt == int32(codec.PayloadType()):
			if peer != nil {
				peer.relay(&p, false, codec, scratch)
				continue
			}
			pcm = media.Decode(codec, pcm[:0], p.Payload)
			if d, ok := tones.Feed(pcm); ok {
				s.digit(d)
			}
		}
	}
}

func (s *stream) digit(d rune) {
	select {
	case s.digits <- d:
	default: // nobody is listening for keys; drop
	}
}

// relay sends a packet received on another leg out through this one, rewriting SSRC,
// sequence number and timestamp into this stream's numbering, transcoding G.711 when the
// legs chose different codecs, and mapping telephone-event payload types (event marks a
// telephone-event packet). It runs on the other leg's read loop, which owns scratch.
func (s *stream) relay(p *rtp.Packet, event bool, from media.Codec, scratch []byte) {
	remote := s.remote.Load()
	if remote == nil {
		return
	}
	var pt uint8
	payload := p.Payload
	if event {
		ept := s.eventPT.Load()
		if ept < 0 {
			return // this leg cannot carry RFC 4733 events
		}
		pt = uint8(ept)
	} else {
		to := media.Codec(s.codec.Load())
		pt = to.PayloadType()
		if to != from {
			payload = media.Transcode(from, to, scratch[:0], payload)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	marker := p.Marker
	if !s.relaying || p.SSRC != s.relaySSRC {
		// A new source: continue our timeline from where it stands.
		s.relaying, s.relaySSRC = true, p.SSRC
		s.tsOffset = s.ts + samplesPerPkt - p.Timestamp
		marker = true
	}
	s.seq++
	s.ts = p.Timestamp + s.tsOffset
	s.lastRelay = time.Now()
	s.writeLocked(*remote, pt, marker, payload)
}

// send sends one frame of generated audio unless relayed media holds the stream.
func (s *stream) send(payload []byte, marker bool) {
	remote := s.remote.Load()
	if remote == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastRelay.IsZero() && time.Since(s.lastRelay) < relayHold {
		return
	}
	if s.relaying {
		s.relaying = false
		marker = true
	}
	s.seq++
	s.ts += samplesPerPkt
	s.writeLocked(*remote, media.Codec(s.codec.Load()).PayloadType(), marker, payload)
}

func (s *stream) writeLocked(to netip.AddrPort, pt uint8, marker bool, payload []byte) {
	h := rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    pt,
		SequenceNumber: s.seq,
		Timestamp:      s.ts,
		SSRC:           s.ssrc,
	}
	n, err := h.MarshalTo(s.out)
	if err != nil {
		return
	}
	n += copy(s.out[n:], payload)
	if _, err := s.conn.WriteToUDPAddrPort(s.out[:n], to); err == nil {
		s.obs.RTPPacket("out")
	}
}

// play sends a as 20 ms packets paced by the clock, until it is all sent, ctx ends or
// done is closed.
func (s *stream) play(ctx context.Context, done <-chan struct{}, a dialer.Audio) error {
	frames := (len(a) + samplesPerPkt - 1) / samplesPerPkt
	payload := make([]byte, 0, samplesPerPkt)
	frame := make([]int16, samplesPerPkt)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for i := range frames {
		n := copy(frame, a[i*samplesPerPkt:min(len(a), (i+1)*samplesPerPkt)])
		clear(frame[n:])
		payload = media.Encode(media.Codec(s.codec.Load()), payload[:0], frame)
		s.send(payload, i == 0)
		t.Reset(time.Until(start.Add(time.Duration(i+1) * ptimeMillis * time.Millisecond)))
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return errLegEnded
		}
	}
	return nil
}

var errLegEnded = errors.New("leg ended")
