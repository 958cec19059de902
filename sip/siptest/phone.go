package siptest

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

	"github.com/leadline/leadline/sip/media"
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

	Tone       float64       // Hz of what the phone says once answered; 0: silence
	Mute       bool          // send no RTP at all (dead media)
	HangUp     time.Duration // hang up this long after answering; 0: wait for BYE
	EarlyMedia bool          // send 183 with SDP and the tone while ringing
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

	mu     sync.Mutex // guards the following fields
	calls  []*Call
	byUser map[string]Behaviour
}

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
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Phone{Name: name, b: defaults(b), log: log.With("phone", name)}
	var err error
	if p.conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	p.addr = p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name)); err != nil {
		return nil, err
	}
	if p.srv, err = sipgo.NewServer(p.ua); err != nil {
		return nil, err
	}
	client, err := sipgo.NewClient(p.ua, sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()))
	if err != nil {
		return nil, err
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: "127.0.0.1", Port: int(p.addr.Port())}}
	p.dlgs = sipgo.NewDialogServerCache(client, contact)
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dlgs.ReadAck(req, tx) })
	p.srv.OnBye(p.onBye)
	go func() { _ = p.srv.ServeUDP(p.conn) }()
	for i := 0; i < 1000; i++ {
		if c, _ := p.ua.TransportLayer().GetConnection("udp", p.conn.LocalAddr().String()); c != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return p, nil
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
	_ = p.ua.Close()
	_ = p.conn.Close()
}

// Call is one INVITE the phone received.
type Call struct {
	Invite *sip.Request
	p      *Phone
	b      Behaviour
	dlg    *sipgo.DialogServerSession
	rtp    *net.UDPConn
	remote netip.AddrPort
	codec  media.Codec
	evPT   uint8

	done     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex          // guards the following fields
	inband   []int16             // in-band key tone still to send
	events   []media.EventPacket // RFC 4733 press to send
	answered bool
	byUs     bool    // we hung up (BYE from the phone)
	heard    []int16 // decoded audio received after answering
	packets  int
	ssrcs    map[uint32]bool
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
	dlg, err := p.dlgs.ReadInvite(req, tx)
	if err != nil {
		p.log.Warn("read invite", "error", err)
		return
	}
	c := &Call{Invite: req.Clone(), p: p, b: p.b, dlg: dlg, done: make(chan struct{}), ssrcs: map[uint32]bool{}}
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
		go c.press(ctx)
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
	if c.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return err
	}
	go c.listen()
	return nil
}

func (c *Call) sdp() []byte {
	port := c.rtp.LocalAddr().(*net.UDPAddr).Port
	return fmt.Appendf(nil, "v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %d %d\r\na=rtpmap:%d %s/8000\r\na=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
		c.p.Name, port, c.codec, c.evPT, c.codec, c.codec, c.evPT, c.evPT)
}

func (c *Call) listen() {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, err := c.rtp.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		c.mu.Lock()
		c.packets++
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
	gen := (*media.ToneGen)(nil)
	if c.b.Tone > 0 {
		gen = media.NewToneGen(media.Tone{Freqs: [2]float64{c.b.Tone}, Level: -12})
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	h := rtp.Header{Version: 2, PayloadType: uint8(c.codec), SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	frame := make([]int16, 160)
	var payload, out []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		if gen != nil {
			frame = gen.Next(frame[:0])
		} else {
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
		c.mu.Unlock()
		if len(ev) > 0 {
			c.sendEvents(&h, ev)
		}
		payload = media.Encode(c.codec, payload[:0], frame)
		h.SequenceNumber++
		h.Timestamp += 160
		out, _ = (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		_, _ = c.rtp.WriteToUDPAddrPort(out, c.remote)
	}
}

// press sends the scripted key KeyAfter after answering.
func (c *Call) press(ctx context.Context) {
	b := c.b
	select {
	case <-time.After(b.KeyAfter):
	case <-ctx.Done():
		return
	}
	switch b.KeyBy {
	case "info":
		req := sip.NewRequest(sip.INFO, c.dlg.InviteRequest.Contact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody([]byte("Signal=" + string(b.Key) + "\r\nDuration=160\r\n"))
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := c.dlg.Do(ictx, req); err != nil {
			c.p.log.Warn("info", "error", err)
		}
	case "inband":
		c.mu.Lock()
		c.inband = append(media.GenerateDTMF(b.Key, 120*time.Millisecond, media.LevelDBm0(-8)), media.Silence(60*time.Millisecond)...)
		c.mu.Unlock()
	default:
		c.mu.Lock()
		c.events = media.EventPackets(b.Key, 20*time.Millisecond, 100*time.Millisecond)
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
		_, _ = c.rtp.WriteToUDPAddrPort(out, c.remote)
	}
	h.Timestamp = base + uint32(time.Since(start)/time.Millisecond)*8
}

// stop ends the call once; hangUp sends BYE first (the phone hangs up).
func (c *Call) stop(hangUp bool) {
	c.stopOnce.Do(func() {
		if hangUp {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.dlg.Bye(ctx)
			cancel()
			c.mu.Lock()
			c.byUs = true
			c.mu.Unlock()
		}
		close(c.done)
		if c.rtp != nil {
			_ = c.rtp.Close()
		}
	})
}
