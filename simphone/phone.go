package simphone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"github.com/leadline/leadline/media"
)

// Behaviour scripts a phone.
type Behaviour struct {
	Ring  time.Duration // ring this long before the final answer
	Never bool          // ring until canceled
	Code  int           // refuse with this final status (486, 603…) instead of answering
	Codec media.Codec   // preferred codec when offered (PCMU by default)

	Key      rune          // pressed KeyAfter after answering; 0: none (voicemail)
	KeyAfter time.Duration // see Key
	KeyBy    string        // "rfc4733" (default), "info" or "inband"
	// Then, when set, is a second key pressed ThenAfter after answering (the same way
	// as Key): a salesperson's answer to the outcome question after the call.
	Then      rune
	ThenAfter time.Duration

	Tone float64 // Hz of what the phone says once answered; 0: silence
	// Noise, when not 0, makes the phone say noise instead of Tone: Noise(Noise, n) is
	// the first n samples it sends after answering, so a recording can be matched
	// against it sample by sample.
	Noise      uint64
	Mute       bool          // send no RTP at all (dead media)
	Quiet      time.Duration // send no RTP for this long after answering
	HangUp     time.Duration // hang up this long after answering; 0: wait for BYE
	EarlyMedia bool          // send 183 with SDP and the tone while ringing

	// SRTP answers an offer's a=crypto (AES_CM_128_HMAC_SHA1_80, SDES, RFC 4568) with a
	// key of its own on the offer's transport protocol, and then sends and receives
	// SRTP (srtp.go). An offer without a key is answered in plain RTP; without SRTP
	// every offer is answered RTP/AVP without a key, as a phone that knows no SRTP does.
	SRTP bool
	// TamperSRTP flips a bit of the authentication tag of every SRTP packet the phone
	// sends: what a forger who does not know the key produces.
	TamperSRTP bool
}

// Phone is one simulated SIP phone listening on loopback.
type Phone struct {
	Name string
	b    Behaviour
	log  *slog.Logger
	addr netip.AddrPort
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	dlgs *sipgo.DialogServerCache
	conn net.PacketConn

	// sendMu is held for reading while a request leaves and for writing by Close: a
	// request sent after sipgo dropped its connections would open a socket nobody closes.
	sendMu sync.RWMutex
	closed bool // guarded by sendMu

	mu     sync.Mutex // guards the following fields
	calls  []*Call
	byUser map[string]Behaviour
	wire   []Packet
	// private, when valid, is the address the phone claims in Contact, Via and SDP as
	// if behind NAT (BehindNAT); its media then binds the address it listens on.
	private netip.Addr

	regMu sync.Mutex // guards reg
	reg   *regState  // the phone's registrations (register.go)
}

// Packet is one SIP message as the phone's socket received it, before parsing.
type Packet struct {
	From netip.AddrPort // source address
	Data []byte
}

// maxWire bounds the packets a phone keeps (Received).
const maxWire = 1000

// Behave makes calls to user (the Request-URI's user part, e.g. an E.164 number when the
// phone stands in for a carrier) follow b instead of the phone's own behaviour.
func (p *Phone) Behave(user string, b Behaviour) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byUser == nil {
		p.byUser = map[string]Behaviour{}
	}
	p.byUser[user] = defaults(b)
}

func defaults(b Behaviour) Behaviour {
	if !b.Codec.Valid() {
		b.Codec = media.PCMU
	}
	return b
}

// NewPhone starts a phone on 127.0.0.1 with a free port.
func NewPhone(name string, b Behaviour, log *slog.Logger) (*Phone, error) {
	return NewPhoneAt(name, "127.0.0.1:0", b, log)
}

// NewPhoneAt starts a phone whose SIP socket listens on addr, an IPv4 "ip:port" (port 0
// picks a free port), so that a configuration can name its URI in advance. The Contact
// and URI carry addr's IP, which therefore may not be unspecified (0.0.0.0).
//
// Its media binds and advertises 127.0.0.1: the caller must share the phone's network
// namespace (the same host, or in docker-compose network_mode "service:leadline").
func NewPhoneAt(name, addr string, b Behaviour, log *slog.Logger) (_ *Phone, err error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("phone %s: listen address: %w", name, err)
	}
	if !ap.Addr().Is4() || ap.Addr().IsUnspecified() {
		return nil, fmt.Errorf("phone %s: listen address %s: need a specific IPv4 address", name, addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Phone{Name: name, b: defaults(b), log: log.With("phone", name)}
	if p.conn, err = net.ListenPacket("udp4", addr); err != nil {
		return nil, fmt.Errorf("phone %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			if p.ua != nil {
				_ = p.ua.Close()
			}
			_ = p.conn.Close()
		}
	}()
	p.addr = p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(p.capture))); err != nil {
		return nil, err
	}
	if p.srv, err = sipgo.NewServer(p.ua); err != nil {
		return nil, err
	}
	client, err := sipgo.NewClient(p.ua, sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()))
	if err != nil {
		return nil, err
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}}
	p.dlgs = sipgo.NewDialogServerCache(client, contact)
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dlgs.ReadAck(req, tx) })
	p.srv.OnBye(p.onBye)
	go func() { _ = p.srv.ServeUDP(p.conn) }()
	for range 1000 {
		if c, _ := p.ua.TransportLayer().GetConnection("udp", p.conn.LocalAddr().String()); c != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return p, nil
}

// capture records what the socket received, with its source (up to maxWire packets).
func (p *Phone) capture(props sip.TransportReadProps, data []byte) ([]byte, error) {
	var from netip.AddrPort
	if a, ok := props.RemoteAddr.(*net.UDPAddr); ok {
		from = a.AddrPort()
	}
	p.mu.Lock()
	if len(p.wire) < maxWire {
		p.wire = append(p.wire, Packet{From: from, Data: append([]byte(nil), data...)})
	}
	p.mu.Unlock()
	return data, nil
}

// Received returns the SIP messages the phone received, raw, in order (the first
// thousand).
func (p *Phone) Received() []Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Packet(nil), p.wire...)
}

// fromListener makes a request the phone sends within a dialog leave from its SIP socket,
// as Via and Contact say (sipgo sends dialog requests from a new socket otherwise).
func (p *Phone) fromListener(req *sip.Request) *sip.Request {
	req.Laddr = sip.Addr{IP: net.IP(p.addr.Addr().AsSlice()), Port: int(p.addr.Port()), Hostname: p.addr.Addr().String()}
	return req
}

// URI is the phone's SIP address, to put in a person's phone field.
func (p *Phone) URI() string { return fmt.Sprintf("sip:%s@%s", p.Name, p.addr) }

// Addr is where the phone listens.
func (p *Phone) Addr() netip.AddrPort { return p.addr }

// Calls returns the calls the phone received, in order.
func (p *Phone) Calls() []*Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Call(nil), p.calls...)
}

// Close hangs up and stops the phone.
func (p *Phone) Close() {
	for _, c := range p.Calls() {
		c.stop(false)
	}
	p.sendMu.Lock()
	p.closed = true
	p.sendMu.Unlock()
	_ = p.conn.Close()
	_ = p.ua.Close()
}

var errPhoneClosed = errors.New("phone closed")

// send runs f, which sends a request, unless the phone is closed.
func (p *Phone) send(f func() error) error {
	p.sendMu.RLock()
	defer p.sendMu.RUnlock()
	if p.closed {
		return errPhoneClosed
	}
	return f()
}

// Call is one INVITE the phone received.
type Call struct {
	Invite *sip.Request
	p      *Phone
	b      Behaviour
	dlg    *sipgo.DialogServerSession
	evPT   uint8

	done     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex          // guards the following fields
	rtp      *net.UDPConn        // the phone's RTP socket (a re-offer may move it)
	remote   netip.AddrPort      // where the phone sends RTP
	codec    media.Codec         // what the phone sends
	sending  bool                // the phone sends media (not on hold or inactive)
	offered  []byte              // our SDP while a re-offer is in progress
	pts      map[uint8]int       // RTP packets received, by payload type
	inband   []int16             // in-band key tone still to send
	events   []media.EventPacket // RFC 4733 press to send
	answered bool
	byUs     bool    // we hung up (BYE from the phone)
	heard    []int16 // decoded audio received after answering
	packets  int
	ssrcs    map[uint32]bool
	srtp     *srtpLeg // the call's SRTP, when it uses SRTP (srtp.go)
	offer    offered  // what Leadline's offer said about SRTP
}

// Header returns the value of a header of the INVITE, or "".
func (c *Call) Header(name string) string {
	if h := c.Invite.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Answered reports whether the phone answered this call.
func (c *Call) Answered() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.answered }

// HungUpByPhone reports whether the phone, not Leadline, ended the call.
func (c *Call) HungUpByPhone() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.byUs }

// Heard returns the audio received, decoded to 8 kHz PCM.
func (c *Call) Heard() []int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int16(nil), c.heard...)
}

// Packets is the number of RTP packets received.
func (c *Call) Packets() int { c.mu.Lock(); defer c.mu.Unlock(); return c.packets }

// Level is the strength of freq in pcm relative to its total energy (0..1), by Goertzel.
func Level(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, total float64
	for _, v := range pcm {
		x := float64(v)
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
		total += x * x
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if total == 0 {
		return 0
	}
	return 2 * power / (float64(len(pcm)) * total)
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		p.inDialog(req, tx)
		return
	}
	dlg, err := p.dlgs.ReadInvite(req, tx)
	if err != nil {
		p.log.Warn("read invite", "error", err)
		return
	}
	c := &Call{Invite: req.Clone(), p: p, b: p.b, dlg: dlg, done: make(chan struct{}), ssrcs: map[uint32]bool{}, pts: map[uint8]int{}, sending: true}
	p.mu.Lock()
	if b, ok := p.byUser[req.Recipient.User]; ok {
		c.b = b
	}
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	if err := c.setupMedia(req.Body()); err != nil {
		_ = dlg.Respond(488, "Not Acceptable Here", nil)
		c.stop(false)
		return
	}
	_ = dlg.Respond(100, "Trying", nil)
	if c.b.EarlyMedia {
		_ = dlg.Respond(183, "Session Progress", c.sdp(), sip.NewHeader("Content-Type", "application/sdp"))
		go c.talk(dlg.Context())
	} else {
		_ = dlg.Respond(180, "Ringing", nil)
	}
	var ring <-chan time.Time
	if !c.b.Never {
		ring = time.After(c.b.Ring)
	}
	select {
	case <-ring:
	case <-dlg.Context().Done(): // CANCEL
		c.stop(false)
		return
	}
	if c.b.Code != 0 {
		_ = dlg.Respond(c.b.Code, "Refused", nil)
		c.stop(false)
		return
	}
	if err := dlg.RespondSDP(c.sdp()); err != nil {
		c.stop(false)
		return
	}
	c.mu.Lock()
	c.answered = true
	c.heard = c.heard[:0]
	c.mu.Unlock()
	ctx := dlg.Context()
	if !c.b.EarlyMedia {
		go c.talk(ctx)
	}
	if c.b.Key != 0 {
		go c.press(ctx, c.b.Key, c.b.KeyAfter)
	}
	if c.b.Then != 0 {
		go c.press(ctx, c.b.Then, c.b.ThenAfter)
	}
	var hang <-chan time.Time
	if c.b.HangUp > 0 {
		hang = time.After(c.b.HangUp)
	}
	select {
	case <-hang:
		c.stop(true)
	case <-ctx.Done(): // BYE from Leadline
		c.stop(false)
	case <-c.done: // phone closed
	}
}

// inDialog answers Leadline's re-INVITE or UPDATE (a session refresh) with the phone's
// current SDP, unchanged.
func (p *Phone) inDialog(req *sip.Request, tx sip.ServerTransaction) {
	var c *Call
	for _, cc := range p.Calls() {
		if cc.Invite.CallID().Value() == req.CallID().Value() {
			c = cc
		}
	}
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	var body []byte
	if req.Method == sip.INVITE || len(req.Body()) > 0 {
		body = c.sdp()
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if h := req.GetHeader("Session-Expires"); h != nil {
		res.AppendHeader(sip.NewHeader("Session-Expires", h.Value()))
	}
	_ = tx.Respond(res)
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := p.dlgs.ReadBye(req, tx); err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}

func (c *Call) setupMedia(offer []byte) error {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(offer); err != nil {
		return err
	}
	if len(sd.MediaDescriptions) == 0 {
		return errors.New("no media")
	}
	md := sd.MediaDescriptions[0]
	host := sd.ConnectionInformation.Address.Address
	if md.ConnectionInformation != nil {
		host = md.ConnectionInformation.Address.Address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remote = netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value))
	offered := map[string]bool{}
	for _, f := range md.MediaName.Formats {
		offered[f] = true
	}
	c.codec = c.b.Codec
	if !offered[strconv.Itoa(int(c.codec))] {
		c.codec = media.PCMU
	}
	c.evPT = 101
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" && strings.Contains(strings.ToLower(a.Value), "telephone-event") {
			if n, err := strconv.Atoi(strings.Fields(a.Value)[0]); err == nil {
				c.evPT = uint8(n)
			}
		}
	}
	c.offer = readOffer(md)
	if c.b.SRTP && c.offer.key != nil {
		if c.srtp, err = newSRTPLeg(c.offer); err != nil {
			return err
		}
		c.srtp.tamper = c.b.TamperSRTP
	}
	if c.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(c.p.mediaIP().AsSlice())}); err != nil {
		return err
	}
	go c.listen(c.rtp)
	return nil
}

func (c *Call) sdp() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offered != nil {
		return c.offered
	}
	return c.sdpLocked(1, c.codec, "sendrecv", true)
}

// sdpLocked is the phone's SDP; with secure, its SRTP key when the call uses SRTP.
func (c *Call) sdpLocked(version int, codec media.Codec, dir string, secure bool) []byte {
	port := c.rtp.LocalAddr().(*net.UDPAddr).Port
	host := c.p.sdpHost()
	proto, crypto := "RTP/AVP", ""
	if c.srtp != nil && secure {
		proto, crypto = c.offer.proto, c.srtp.attribute()
	}
	return fmt.Appendf(nil, "v=0\r\no=%s 1 %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d %s %d %d\r\na=rtpmap:%d %s/8000\r\na=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n%sa=ptime:20\r\na=%s\r\n",
		c.p.Name, version, host, host, port, proto, codec, c.evPT, codec, codec, c.evPT, c.evPT, crypto, dir)
}

// listen reads conn until it is closed (at hang-up, or when a re-offer moves the media).
func (c *Call) listen(conn *net.UDPConn) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		b := buf[:n]
		c.mu.Lock()
		leg := c.srtp
		c.mu.Unlock()
		if leg != nil {
			if b, err = leg.decrypt(b); err != nil {
				continue
			}
		}
		if pkt.Unmarshal(b) != nil {
			continue
		}
		c.mu.Lock()
		c.packets++
		c.pts[pkt.PayloadType]++
		c.ssrcs[pkt.SSRC] = true
		if codec, ok := media.CodecForPayloadType(pkt.PayloadType); ok && len(c.heard) < 8000*120 {
			c.heard = media.Decode(codec, c.heard, pkt.Payload)
		}
		c.mu.Unlock()
	}
}

// talk sends 20 ms packets of the phone's tone (or silence) until ctx ends, with any
// in-band key press mixed in.
func (c *Call) talk(ctx context.Context) {
	if c.b.Mute {
		return
	}
	if c.b.Quiet > 0 {
		select {
		case <-time.After(c.b.Quiet):
		case <-ctx.Done():
			return
		case <-c.done:
			return
		}
	}
	gen := (*media.ToneGen)(nil)
	if c.b.Tone > 0 {
		gen = media.NewToneGen(media.Tone{Freqs: [2]float64{c.b.Tone}, Level: -12})
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	h := rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	frame := make([]int16, 160)
	noise := noiseGen{state: c.b.Noise}
	var payload, out []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		switch {
		case c.b.Noise != 0:
			noise.fill(frame)
		case gen != nil:
			frame = gen.Next(frame[:0])
		default:
			clear(frame)
		}
		c.mu.Lock()
		inband := c.inband
		if len(inband) > 0 {
			n := min(160, len(inband))
			copy(frame, inband[:n])
			c.inband = inband[n:]
		}
		ev := c.events
		c.events = nil
		codec, conn, remote, sending := c.codec, c.rtp, c.remote, c.sending
		c.mu.Unlock()
		if !sending {
			continue
		}
		if len(ev) > 0 {
			c.sendEvents(&h, ev)
		}
		payload = media.Encode(codec, payload[:0], frame)
		h.PayloadType = uint8(codec)
		h.SequenceNumber++
		h.Timestamp += 160
		out, _ = (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		_, _ = conn.WriteToUDPAddrPort(c.protect(out), remote)
	}
}

// Press sends key now, the way the phone's Behaviour.KeyBy says: for a test that
// presses when something has happened rather than at a time.
func (c *Call) Press(ctx context.Context, key rune) { c.press(ctx, key, 0) }

// press sends key after after answering, the way Behaviour.KeyBy says.
func (c *Call) press(ctx context.Context, key rune, after time.Duration) {
	b := c.b
	select {
	case <-time.After(after):
	case <-ctx.Done():
		return
	}
	switch b.KeyBy {
	case "info":
		req := c.p.fromListener(sip.NewRequest(sip.INFO, c.dlg.InviteRequest.Contact().Address))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody([]byte("Signal=" + string(key) + "\r\nDuration=160\r\n"))
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := c.p.send(func() error { _, err := c.dlg.Do(ictx, req); return err }); err != nil {
			c.p.log.Warn("info", "error", err)
		}
	case "inband":
		c.mu.Lock()
		c.inband = append(media.GenerateDTMF(key, 120*time.Millisecond, media.LevelDBm0(-8)), media.Silence(60*time.Millisecond)...)
		c.mu.Unlock()
	default:
		c.mu.Lock()
		c.events = media.EventPackets(key, 20*time.Millisecond, 100*time.Millisecond)
		c.mu.Unlock()
	}
}

// sendEvents sends one RFC 4733 key press at its pace; h continues the audio stream.
func (c *Call) sendEvents(h *rtp.Header, ev []media.EventPacket) {
	start := time.Now()
	base := h.Timestamp + 160
	for _, e := range ev {
		if d := time.Until(start.Add(e.Offset)); d > 0 {
			time.Sleep(d)
		}
		h.SequenceNumber++
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.evPT, Marker: e.Marker, SequenceNumber: h.SequenceNumber,
			Timestamp: base + e.TimestampOffset, SSRC: h.SSRC}, Payload: e.Payload}
		out, _ := p.Marshal()
		c.mu.Lock()
		conn, remote := c.rtp, c.remote
		c.mu.Unlock()
		_, _ = conn.WriteToUDPAddrPort(c.protect(out), remote)
	}
	h.Timestamp = base + uint32(time.Since(start)/time.Millisecond)*8
}

// stop ends the call once; hangUp sends BYE first (the phone hangs up).
func (c *Call) stop(hangUp bool) {
	c.stopOnce.Do(func() {
		if hangUp {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			bye := c.p.fromListener(sip.NewRequest(sip.BYE, c.dlg.InviteRequest.Contact().Address))
			bye.SetTransport(c.dlg.InviteRequest.Transport())
			_ = c.p.send(func() error { return c.dlg.WriteBye(ctx, bye) })
			cancel()
			c.mu.Lock()
			c.byUs = true
			c.mu.Unlock()
		}
		close(c.done)
		c.mu.Lock()
		if c.rtp != nil {
			_ = c.rtp.Close()
		}
		c.mu.Unlock()
	})
}

// PayloadTypes returns how many RTP packets the phone received, by payload type.
func (c *Call) PayloadTypes() map[uint8]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint8]int, len(c.pts))
	for k, v := range c.pts {
		out[k] = v
	}
	return out
}

// Reoffer is a mid-call re-INVITE or UPDATE the phone sends, as a carrier or PBX does for
// hold, resume, a codec change or a session refresh.
type Reoffer struct {
	Method    sip.RequestMethod // sip.INVITE (default) or sip.UPDATE
	NoSDP     bool              // send no offer: a re-INVITE then gets the offer in the 200 and answers in the ACK
	Codec     media.Codec       // the one codec offered (with telephone-event), or answered in the ACK; the phone then sends it
	Direction string            // "sendonly" (hold), "inactive", "recvonly"; "" is sendrecv
	NewPort   bool              // move the phone's media to a new port
	PlainRTP  bool              // offer (or answer) RTP/AVP without the phone's SRTP key, on a call that uses SRTP
}

// Reoffer sends r in the call's dialog and waits for the final response; a 2xx to a
// re-INVITE is ACKed (with the phone's answer when Leadline made the offer) and the
// phone's media follows what was agreed.
func (c *Call) Reoffer(ctx context.Context, r Reoffer) (*sip.Response, error) {
	if r.Method == "" {
		r.Method = sip.INVITE
	}
	if !r.Codec.Valid() {
		r.Codec = media.PCMU
	}
	if r.Direction == "" {
		r.Direction = "sendrecv"
	}
	c.mu.Lock()
	oldConn := c.rtp
	if r.NewPort {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(c.p.mediaIP().AsSlice())})
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.rtp = conn
		go c.listen(conn)
	}
	var body []byte
	if !r.NoSDP {
		body = c.sdpLocked(2, r.Codec, r.Direction, !r.PlainRTP)
		c.offered = body
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.offered = nil
		c.mu.Unlock()
	}()

	req := c.p.fromListener(sip.NewRequest(r.Method, c.dlg.InviteRequest.Contact().Address))
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	var res *sip.Response
	if err := c.p.send(func() (err error) { res, err = c.dlg.Do(ctx, req); return err }); err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return res, nil
	}
	codec := r.Codec
	if r.Method == sip.INVITE {
		ack := c.p.fromListener(sip.NewRequest(sip.ACK, c.dlg.InviteRequest.Contact().Address))
		if r.NoSDP {
			// Leadline offered: answer with r.Codec if offered.
			if !strings.Contains(string(res.Body()), fmt.Sprintf("a=rtpmap:%d ", codec)) {
				codec = media.PCMU
			}
			c.mu.Lock()
			ans := c.sdpLocked(3, codec, "sendrecv", !r.PlainRTP)
			c.mu.Unlock()
			ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody(ans)
		}
		if err := c.p.send(func() error { return c.dlg.WriteRequest(ack) }); err != nil {
			return res, err
		}
	}
	c.mu.Lock()
	if !r.NoSDP || r.Method == sip.INVITE {
		c.codec = codec
		c.sending = r.Direction == "sendrecv" || r.Direction == "sendonly"
	}
	c.mu.Unlock()
	if r.NewPort {
		_ = oldConn.Close()
	}
	return res, nil
}

// noiseGen is the noise a phone with Behaviour.Noise says: white noise of moderate
// level from a xorshift generator seeded with Noise.
type noiseGen struct{ state uint64 }

func (g *noiseGen) fill(frame []int16) {
	for i := range frame {
		g.state ^= g.state << 13
		g.state ^= g.state >> 7
		g.state ^= g.state << 17
		frame[i] = int16(int64(g.state>>48)%8001 - 4000)
	}
}

// Noise returns the first n samples a phone with Behaviour.Noise seed says.
func Noise(seed uint64, n int) []int16 {
	g := noiseGen{state: seed}
	out := make([]int16, n)
	g.fill(out)
	return out
}
