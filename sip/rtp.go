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

// relatchAfter is how many packets in a row from a new source move a latched stream to
// it (half a second of 20 ms packets).
const relatchAfter = 25

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

	remote  atomic.Pointer[netip.AddrPort] // where we send: the SDP address, or where the far end sends from once latched
	sdpAddr atomic.Pointer[netip.AddrPort] // the address in the far end's last SDP
	latched atomic.Bool
	codec   atomic.Uint32 // media.Codec we send
	eventPT atomic.Int32  // -1: none
	armed   atomic.Bool   // dead-media watch enabled (after answer)
	sendOK  atomic.Bool   // the far end receives (not sendonly or inactive)
	expect  atomic.Bool   // the far end sends: silence from it is dead media
	rx      atomic.Uint64 // RTP packets received, for the dead-media watch
	relayed atomic.Uint64 // packets relayed out through this stream, for send

	watchMu   sync.Mutex  // guards the following fields (the dead-media watch)
	watch     *time.Timer // checks rx every timeout/4 once armed; nil before
	watchRx   uint64      // rx at the last check that saw it change
	watchAt   time.Time   // when
	watchDone bool        // closed: do not re-arm

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
	tsOffset  uint32    // relayed timestamp + tsOffset = our timestamp
	heldRelay uint64    // relayed at the last send that saw it change
	heldAt    time.Time // when
	out       []byte    // packet buffer
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
	s.sendOK.Store(true)
	s.expect.Store(true)
	go s.readLoop()
	return s
}

// setRemote applies the far end's SDP. A new address (a re-INVITE moving the media)
// replaces the latched one until the far end's packets latch again; the direction says
// whether we may send and whether silence from the far end means dead media.
func (s *stream) setRemote(rm remoteMedia) {
	a := rm.addr
	if prev := s.sdpAddr.Load(); prev == nil || *prev != a {
		s.sdpAddr.Store(&a)
		s.remote.Store(&a)
		s.latched.Store(false)
	}
	s.codec.Store(uint32(rm.codec))
	s.eventPT.Store(int32(rm.eventPT))
	s.sendOK.Store(rm.dir.receives())
	s.expect.Store(rm.dir.sends())
}

// arm starts the dead-media watch: every timeout/4 a timer looks whether packets came;
// when none came for timeout while the far end should be sending, the stream ends with
// ErrMediaTimeout. The read loop only counts packets: no clock, no deadline per packet.
// While the far end holds its media (sendonly from us, inactive) silence is no fault.
func (s *stream) arm() {
	if s.timeout <= 0 || s.armed.Swap(true) {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchDone {
		return
	}
	s.watchRx, s.watchAt = s.rx.Load(), time.Now()
	s.watch = time.AfterFunc(s.timeout/4, s.checkMedia)
}

func (s *stream) checkMedia() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchDone {
		return
	}
	now := time.Now()
	if rx := s.rx.Load(); rx != s.watchRx || !s.expect.Load() {
		s.watchRx, s.watchAt = rx, now
	} else if now.Sub(s.watchAt) >= s.timeout {
		s.watchDone = true
		go s.ended(dialer.ErrMediaTimeout) // ended closes the stream
		return
	}
	s.watch.Reset(s.timeout / 4)
}

func (s *stream) close() {
	s.watchMu.Lock()
	s.watchDone = true
	if s.watch != nil {
		s.watch.Stop()
	}
	s.watchMu.Unlock()
	_ = s.conn.Close()
	<-s.loopDone
}

func (s *stream) readLoop() {
	defer close(s.loopDone)
	buf := make([]byte, 1500)
	scratch := make([]byte, 0, 1500)
	pcm := make([]int16, 0, 1500)
	var (
		p      rtp.Packet
		events media.EventDecoder
		tones  media.ToneDetector
		ssrc   uint32
		seen   bool
		cand   netip.AddrPort // another source sending to us since the last packet from remote
		candN  int            // its packets in a row
	)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		s.rx.Add(1)
		// Not RTP version 2 (RTCP-muxed or stray packets, garbage): drop before parsing,
		// which would allocate an error.
		if n < 12 || buf[0]>>6 != 2 || p.Unmarshal(buf[:n]) != nil {
			continue
		}
		// Symmetric RTP (RFC 4961): send to where the far end really sends from, learnt
		// from its first packet. Later, the address its SDP names wins at once, and
		// another source takes over only after relatchAfter packets in a row with none
		// from the latched one (NAT rebinding), so a stray packet cannot hijack the leg.
		if !s.latched.Load() {
			f := from
			s.remote.Store(&f)
			s.latched.Store(true)
		} else if r := s.remote.Load(); from != *r {
			if from != cand {
				cand, candN = from, 0
			}
			candN++
			if sdp := s.sdpAddr.Load(); (sdp != nil && from == *sdp) || candN >= relatchAfter {
				f := from
				s.remote.Store(&f)
				cand, candN = netip.AddrPort{}, 0
			}
		} else {
			candN = 0
		}
		if !seen || p.SSRC != ssrc {
			// A new RTP stream (RFC 3550 section 8): its event timestamps start afresh.
			seen, ssrc = true, p.SSRC
			events.Reset()
		}
		s.obs.RTPPacket("in")
		pt := int32(p.PayloadType)
		peer := s.peer.Load()
		if pt == s.eventPT.Load() && pt >= 0 {
			if d, ok := events.Feed(p.Payload, p.Timestamp); ok {
				s.digit(d)
			}
			if peer != nil {
				peer.relay(&p, true, 0, scratch)
			}
			continue
		}
		// Either G.711 law may arrive whatever we send (RFC 3264 section 5.1: the
		// answerer may send any format in the answer; the offer listed both).
		codec, ok := media.CodecForPayloadType(p.PayloadType)
		if !ok {
			continue // comfort noise, or a format we did not offer
		}
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
	if remote == nil || !s.sendOK.Load() {
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
	s.relayed.Add(1)
	s.writeLocked(*remote, pt, marker, payload)
}

// send sends one frame of generated audio unless relayed media holds the stream.
func (s *stream) send(payload []byte, marker bool) {
	remote := s.remote.Load()
	if remote == nil || !s.sendOK.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Relayed media holds the stream until relayHold after its last packet. The relay
	// only counts packets (no clock per packet); generated audio, 50 frames a second,
	// looks at the count and the time.
	now := time.Now()
	if r := s.relayed.Load(); r != s.heldRelay {
		s.heldRelay, s.heldAt = r, now
		return
	}
	if !s.heldAt.IsZero() && now.Sub(s.heldAt) < relayHold {
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
