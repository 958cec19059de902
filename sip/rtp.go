package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
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

func (p *portPool) listen() (*rtpSock, error) {
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
		c, err := listenRTP(netip.AddrPortFrom(p.ip, uint16(port)))
		if err == nil {
			p.next.Store(uint32(start + i))
			return c, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("rtp: no free port in %d-%d: %w", p.min, p.max, lastErr)
}

// stream is one leg's RTP endpoint: a socket, the far end's address and codec, the
// receive side that decodes digits and relays audio to a peer, and the outbound sequence.
//
// Its media loop is the only goroutine that reads sock and runs receive. Outbound
// packets come from two places, Play (generated audio) and the media loop relaying a
// peer's audio; mu serialises them so the far end sees one RTP stream.
type stream struct {
	sock    *rtpSock
	loop    *mediaLoop
	port    int
	obs     Observer
	timeout time.Duration // dead-media limit once armed; 0 disables

	far     atomic.Pointer[farEnd] // where media may come from and goes to; nil before the far end's SDP
	codec   atomic.Uint32          // media.Codec we send
	eventPT atomic.Int32           // -1: none
	armed   atomic.Bool            // dead-media watch enabled (after answer)
	nat     atomic.Bool            // the far end is a registered device: its SDP is read by fixNAT (nat.go)
	sendOK  atomic.Bool            // the far end receives (not sendonly or inactive)
	expect  atomic.Bool            // the far end sends: silence from it is dead media
	rx      atomic.Uint64          // RTP packets received, for the dead-media watch
	relayed atomic.Uint64          // packets relayed out through this stream, for send

	watchMu   sync.Mutex  // guards the following fields (the dead-media watch)
	watch     *time.Timer // checks rx every timeout/4 once armed; nil before
	watchRx   uint64      // rx at the last check that saw it change
	watchAt   time.Time   // when
	watchDone bool        // closed: do not re-arm

	peer   atomic.Pointer[stream] // where received media is relayed, or nil
	tap    atomic.Pointer[tapRef] // where relayed audio is also recorded, or nil (tap.go)
	digits chan<- rune
	ended  func(error) // called once when media dies

	// srtpIn decrypts what the far end sends (srtp.go); nil: plain RTP. The media loop
	// is its only user.
	srtpIn atomic.Pointer[srtpIn]
	// txKey is our SRTP master key (zero when the leg's SRTP is off), set before the
	// first offer and never changed.
	txKey masterKey

	// The receive side's state, owned by the media loop.
	rxSSRC uint32 // the far end's SSRC
	rxSeen bool   // a packet came
	events media.EventDecoder
	tones  media.ToneDetector

	mu        sync.Mutex // guards the following fields
	ssrc      uint32
	seq       uint16
	ts        uint32
	relaySSRC uint32 // source SSRC of the stream being relayed
	relaying  bool
	tsOffset  uint32        // relayed timestamp + tsOffset = our timestamp
	heldRelay uint64        // relayed at the last send that saw it change
	heldAt    time.Time     // when
	out       []byte        // packet buffer, with room for an SRTP tag after a full packet
	closed    bool          // sock is closed: its descriptor may already name another socket
	txCtx     *srtp.Context // encrypts with txKey; nil when the leg's SRTP is off
	tx        *srtp.Context // txCtx while the leg uses SRTP, else nil: what writeLocked encrypts with
	txHdr     rtp.Header    // EncryptRTP's scratch
}

// newStream reads sock on loop; it closes sock when it cannot.
func newStream(sock *rtpSock, loop *mediaLoop, obs Observer, timeout time.Duration, digits chan<- rune, ended func(error)) (*stream, error) {
	s := &stream{
		sock:    sock,
		loop:    loop,
		port:    int(sock.local.Port()),
		obs:     obs,
		timeout: timeout,
		digits:  digits,
		ended:   ended,
		ssrc:    rand.Uint32(),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		out:     make([]byte, 1500+srtpOverhead),
	}
	s.eventPT.Store(-1)
	s.sendOK.Store(true)
	s.expect.Store(true)
	if err := loop.add(s); err != nil {
		_ = sock.close()
		return nil, err
	}
	return s, nil
}

// setRemote applies the far end's SDP, which came in a SIP message from signal (the IP
// of its Source). A new address (early media, the answer, a re-INVITE or UPDATE moving
// the media) is the one media is taken from and sent to from now on, with one latch
// allowed again (rtpsource.go); the same address keeps what was latched. The direction
// says whether we may send and whether silence from the far end means dead media.
func (s *stream) setRemote(rm remoteMedia, signal netip.Addr) {
	if s.nat.Load() {
		rm = fixNAT(rm, signal)
	}
	if cur := s.far.Load(); cur == nil || cur.sdp != rm.addr {
		s.far.Store(&farEnd{sdp: rm.addr, signal: signal.Unmap()})
	}
	s.codec.Store(uint32(rm.codec))
	s.eventPT.Store(int32(rm.eventPT))
	s.sendOK.Store(rm.dir.receives())
	s.expect.Store(rm.dir.sends())
}

// latch makes from the far end's one latched source, unless setRemote replaced far
// meanwhile. It allocates, once per SDP address at most.
func (s *stream) latch(far *farEnd, from netip.AddrPort) bool {
	next := &farEnd{sdp: far.sdp, signal: far.signal, latched: from}
	next.settled.Store(true)
	return s.far.CompareAndSwap(far, next)
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
	s.loop.remove(s)
	// Under mu: a peer's media loop or Play may be about to send through sock. Once only:
	// a second close of the descriptor could close another leg's socket.
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		_ = s.sock.close()
	}
	s.mu.Unlock()
}

// rxScratch is a media loop's buffers for receive.
type rxScratch struct {
	buf     [1500]byte
	p       rtp.Packet
	scratch [1500]byte
	pcm     []int16
}

// receive handles one datagram that came to s from from: it drops what is not the far
// end's (rtpsource.go), decrypts and authenticates it on an SRTP leg (srtp.go), then
// counts the packet as live media, decodes digits and relays to the peer. Only the
// media loop calls it. An SRTP packet is decrypted in place, in b.
func (s *stream) receive(b []byte, from netip.AddrPort, rx *rxScratch) {
	far := s.far.Load()
	adm := far.admit(from)
	if adm == refuse {
		s.obs.RTPDropped(dropSource)
		return
	}
	// Not RTP version 2 (RTCP-muxed or stray packets, garbage): drop before parsing,
	// which would allocate an error.
	p := &rx.p
	if len(b) < 12 || b[0]>>6 != 2 {
		s.obs.RTPDropped(dropMalformed)
		return
	}
	if in := s.srtpIn.Load(); in != nil {
		if isRTCP(b) { // SRTCP is not read, nor taken for live media
			s.obs.RTPDropped(dropPayloadType)
			return
		}
		if _, err := p.Header.Unmarshal(b); err != nil {
			s.obs.RTPDropped(dropMalformed)
			return
		}
		plain, err := in.ctx.DecryptRTP(b[:0], b, &p.Header)
		if err != nil {
			s.obs.RTPDropped(dropAuth)
			return
		}
		b = plain
	}
	if p.Unmarshal(b) != nil {
		s.obs.RTPDropped(dropMalformed)
		return
	}
	pt := int32(p.PayloadType)
	event := pt == s.eventPT.Load() && pt >= 0
	// Either G.711 law may arrive whatever we send (RFC 3264 section 5.1: the
	// answerer may send any format in the answer; the offer listed both).
	codec, audio := media.CodecForPayloadType(p.PayloadType)
	if adm == latchSource {
		if (!event && !audio) || !s.latch(far, from) {
			s.obs.RTPDropped(dropSource)
			return
		}
	} else if !far.settled.Load() {
		far.settled.Store(true) // the SDP's address is in use: no latch from now on
	}
	s.rx.Add(1)
	if !event && !audio {
		// Comfort noise, or a format we did not offer: the far end is there (it keeps
		// the call alive) but there is nothing to decode or relay.
		s.obs.RTPDropped(dropPayloadType)
		return
	}
	if !s.rxSeen || p.SSRC != s.rxSSRC {
		// A new RTP stream (RFC 3550 section 8): its event timestamps start afresh.
		s.rxSeen, s.rxSSRC = true, p.SSRC
		s.events.Reset()
	}
	s.obs.RTPPacket("in")
	peer := s.peer.Load()
	if event {
		if d, ok := s.events.Feed(p.Payload, p.Timestamp); ok {
			s.digit(d)
		}
		if peer != nil {
			peer.relay(p, true, 0, rx.scratch[:0])
		}
		return
	}
	if peer != nil {
		peer.relay(p, false, codec, rx.scratch[:0])
		s.tapAudio(codec, p, rx) // tap.go
		return
	}
	rx.pcm = media.Decode(codec, rx.pcm[:0], p.Payload)
	if d, ok := s.tones.Feed(rx.pcm); ok {
		s.digit(d)
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
// telephone-event packet). It runs on the media loop of the other leg, which owns scratch.
func (s *stream) relay(p *rtp.Packet, event bool, from media.Codec, scratch []byte) {
	far := s.far.Load()
	if far == nil || !s.sendOK.Load() {
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
	s.writeLocked(far.sendTo(), pt, marker, payload)
}

// send sends one frame of generated audio unless relayed media holds the stream.
func (s *stream) send(payload []byte, marker bool) {
	far := s.far.Load()
	if far == nil || !s.sendOK.Load() {
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
	s.writeLocked(far.sendTo(), media.Codec(s.codec.Load()).PayloadType(), marker, payload)
}

func (s *stream) writeLocked(to netip.AddrPort, pt uint8, marker bool, payload []byte) {
	if s.closed {
		return
	}
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
	n += copy(s.out[n:len(s.out)-srtpOverhead], payload)
	pkt := s.out[:n]
	if s.tx != nil {
		// In place: s.out has room for the tag.
		if pkt, err = s.tx.EncryptRTP(pkt, pkt, &s.txHdr); err != nil {
			return
		}
	}
	if err := s.sock.sendTo(pkt, to); err == nil {
		s.obs.RTPPacket("out")
	}
}

// srtpOverhead is what SRTP adds to a packet with cryptoSuite: the 80-bit tag.
const srtpOverhead = 10

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
