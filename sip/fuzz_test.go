package sip

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
)

// FuzzParseAnswer feeds SDP to parseAnswer, which reads every answer and re-offer from
// the far end. It must not panic; what it accepts must be usable (a G.711 codec, an
// address and port, a dynamic telephone-event type or none), and our answer to it must
// read back as the same choice with the direction reversed.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		string(localSDP("192.0.2.1", 30000, 1, 1, nil, mediaSec{})),
		string(localSDP("192.0.2.1", 30000, 1, 1, nil, mediaSec{proto: "RTP/SAVP", crypto: sdesCrypto{tag: 1}.attribute()})),
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/SAVP 0\r\n" +
			"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNk|2^31|1:4\r\na=crypto:4 AES_256_CM_HMAC_SHA1_80 inline:x\r\n",
		"v=0\r\no=sipp 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
		"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n",
		"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 7078 RTP/AVP 18 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 224.2.1.1\r\ns=-\r\nc=IN IP4 224.2.1.1/127\r\nt=0 0\r\nm=video 1 RTP/AVP 31\r\nm=audio 0 RTP/AVP 0\r\n",
		"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 65536 RTP/AVP 0\r\nc=IN IP4 host.example\r\na=inactive\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rm, err := parseAnswer(body)
		if err != nil {
			return
		}
		if !rm.codec.Valid() || !rm.addr.IsValid() || rm.addr.Port() == 0 {
			t.Fatalf("accepted unusable media %+v", rm)
		}
		if rm.eventPT != -1 && (rm.eventPT < 96 || rm.eventPT > 127) {
			t.Fatalf("telephone-event payload type %d", rm.eventPT)
		}
		var sec mediaSec
		if len(rm.cryptos) > 0 {
			sec = mediaSec{proto: answerProto(rm.proto), crypto: sdesCrypto{tag: rm.cryptos[0].tag}.attribute()}
		}
		back, err := parseAnswer(localSDP("192.0.2.1", 30000, 1, 2, &rm, sec))
		if err != nil {
			t.Fatalf("our answer does not parse: %v", err)
		}
		if back.codec != rm.codec || back.eventPT != rm.eventPT || back.dir != rm.dir.answer() && !(rm.dir == inactive && back.dir == inactive) {
			t.Fatalf("answer %v to %v", back, rm)
		}
		if len(rm.cryptos) > 0 && (len(back.cryptos) != 1 || back.cryptos[0].tag != rm.cryptos[0].tag) {
			t.Fatalf("answer %v to %v: not one key with the offer's tag", back, rm)
		}
	})
}

// fuzzTx is a server transaction that records what the UA answers. Its Done channel is
// closed: nothing waits on it for long.
type fuzzTx struct {
	t     *testing.T
	done  chan struct{}
	acks  chan *sip.Request
	codes []int
}

func newFuzzTx(t *testing.T) *fuzzTx {
	d := make(chan struct{})
	close(d)
	return &fuzzTx{t: t, done: d, acks: make(chan *sip.Request)}
}

func (tx *fuzzTx) Respond(res *sip.Response) error {
	// Whatever the request held, our response is a status line and header fields we
	// mean to send, one per line: nothing in the request became a header of its own.
	out := res.String()
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if want := fmt.Sprintf("SIP/2.0 %d ", res.StatusCode); !strings.HasPrefix(lines[0], want) {
		tx.t.Fatalf("status line %q", lines[0])
	}
	for _, l := range lines[1:] {
		name, _, ok := strings.Cut(l, ":")
		if !ok || !responseHeaders[name] {
			tx.t.Fatalf("header line %q in response:\n%s", l, out)
		}
	}
	if len(body) > 0 && !strings.HasPrefix(body, "v=0\r\n") {
		tx.t.Fatalf("body %q", body)
	}
	tx.codes = append(tx.codes, res.StatusCode)
	return nil
}

// responseHeaders are the header fields our responses carry: copied from the request
// (RFC 3261 section 8.2.6.2) or our own.
var responseHeaders = map[string]bool{
	"Via": true, "From": true, "To": true, "Call-ID": true, "CSeq": true, "Record-Route": true, "Timestamp": true,
	"Content-Length": true, "Content-Type": true, "Contact": true, "Allow": true, "Accept": true, "Supported": true,
	"Require": true, "Session-Expires": true, "Unsupported": true, "Retry-After": true,
}

func (tx *fuzzTx) Acks() <-chan *sip.Request          { return tx.acks }
func (tx *fuzzTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (tx *fuzzTx) Terminate()                         {}
func (tx *fuzzTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *fuzzTx) Done() <-chan struct{}              { return tx.done }
func (tx *fuzzTx) Err() error                         { return nil }

// fuzzCall puts an answered leg in u with fixed dialog identifiers (Call-ID fuzz-call,
// our tag ltag, theirs rtag), so that fuzzed in-dialog requests reach refresh, INFO and
// BYE handling. Its far end is u itself, which answers our BYE 481 at once.
func fuzzCall(t testing.TB, u *UA) *Call {
	sock, err := u.ports.listen()
	if err != nil {
		t.Fatal(err)
	}
	c := &Call{
		ua: u, log: u.log, kind: dialer.LegAgent, callID: "fuzz-call", localTag: "ltag", sessID: 1,
		forks: map[string]bool{}, digits: make(chan rune, 32), done: make(chan struct{}), stKick: make(chan struct{}, 1),
	}
	c.ctx, c.cancelCtx = context.WithCancel(context.Background())
	if c.media, err = newStream(sock, u.mediaLoop(), u.obs, 0, c.digits, func(err error) { c.end(err, true) }); err != nil {
		t.Fatal(err)
	}
	var uri sip.Uri
	_ = sip.ParseUri(fmt.Sprintf("sip:fuzz@%s", u.Addr()), &uri)
	c.invite = u.newInvite(c, uri, dialer.DialOpts{LeadID: "fuzz", CallerID: "+31201234567"})
	// As buildOpt does: the dialog's requests leave from the listening socket.
	c.invite.Laddr = sip.Addr{IP: net.IP(u.addr.Addr().AsSlice()), Port: int(u.addr.Port()), Hostname: u.addr.Addr().String()}
	res := sip.NewResponseFromRequest(c.invite, 200, "OK", nil)
	res.To().Params.Add("tag", "rtag")
	res.AppendHeader(&sip.ContactHeader{Address: uri})
	c.answer = res
	c.media.setRemote(remoteMedia{addr: sock.local, codec: media.PCMU, eventPT: 101}, sock.local.Addr())
	u.register(c)
	return c
}

// inDialogSeeds are requests within fuzzCall's dialog, from its far end.
func inDialogSeeds() []string {
	req := func(method, extra, body string) string {
		return method + " sip:leadline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-seed-" + method +
			"\r\nMax-Forwards: 70\r\nFrom: <sip:far@127.0.0.1>;tag=rtag\r\nTo: <sip:+31201234567@127.0.0.1>;tag=ltag\r\n" +
			"Call-ID: fuzz-call\r\nCSeq: 7 " + method + "\r\nContact: <sip:far@127.0.0.1:5999>\r\n" + extra +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	}
	sdp := "v=0\r\no=far 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
	return []string{
		req("UPDATE", "Content-Type: application/sdp\r\nSession-Expires: 90;refresher=uac\r\nSupported: timer\r\n", sdp),
		req("UPDATE", "Session-Expires: 1800\r\nRequire: timer\r\n", ""),
		req("INFO", "Content-Type: application/dtmf-relay\r\n", "Signal=5\r\nDuration=160\r\n"),
		req("BYE", "", ""),
		req("ACK", "", ""),
		req("INVITE", "Content-Type: application/sdp\r\nRequire: 100rel\r\n", sdp),
		req("OPTIONS", "", ""),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-gone\r\nFrom: <sip:+31201234567@127.0.0.1>;tag=ltag\r\n" +
			"To: <sip:fuzz@127.0.0.1>;tag=fork2\r\nCall-ID: fuzz-call\r\nCSeq: 1 INVITE\r\nContact: <sip:far@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n",
	}
}

// FuzzSIPRequest feeds bytes through sipgo's parser, as the transport does, and then
// through the UA's own handling: the checks of RFC 3261 section 8.2 and the handler of
// the method (requests sipgo's transaction layer cannot key never get that far), with
// an answered leg in place so that in-dialog requests reach refresh,
// INFO and BYE, and responses through the stray-2xx path. Nothing may panic, every
// response must read back as one SIP message, and no request from outside may start a
// call. Seeds: the RFC 4475 torture messages and testdata/fuzz/FuzzSIPRequest.
func FuzzSIPRequest(f *testing.F) {
	if dir, err := tortureDirOf(); err == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*.dat"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range inDialogSeeds() {
		f.Add([]byte(s))
	}
	u, err := Listen(Config{Listen: "127.0.0.1:0", RTPPortMin: 42000, RTPPortMax: 42999})
	if err != nil {
		f.Fatal(err)
	}
	defer u.Close()
	handlers := u.handlers()
	parser := sip.NewParser()
	call := fuzzCall(f, u)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := parser.ParseSIP(data)
		if err != nil {
			return
		}
		if res, ok := msg.(*sip.Response); ok {
			u.onUnhandledResponse(res)
			return
		}
		req := msg.(*sip.Request)
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return // sipgo's transaction layer answers it 400 itself, statelessly
		}
		req.SetSource("127.0.0.1:5999")
		req.SetTransport("UDP")
		select {
		case <-call.Done(): // a fuzzed BYE (or a failed re-INVITE) ended it
			call = fuzzCall(t, u)
		default:
		}
		h, ok := handlers[req.Method]
		if !ok {
			h = handlers[""]
		}
		tx := newFuzzTx(t)
		h(req, tx)
		if len(tx.codes) > 1 {
			t.Fatalf("answered %v", tx.codes)
		}
		if !req.IsAck() && len(tx.codes) == 0 && req.Via() != nil {
			t.Fatalf("%s not answered", req.Method)
		}
		if n := u.ActiveCalls(); n > 1 {
			t.Fatalf("%d calls: a request started one", n)
		}
	})
}

// FuzzRTPReceive feeds any datagram to a bridged leg's receive side, as its media loop
// does: nothing may panic, and what is relayed is well-formed RTP in the other leg's
// numbering.
func FuzzRTPReceive(f *testing.F) {
	for _, p := range []*rtp.Packet{
		{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1, SequenceNumber: 1, Timestamp: 160}, Payload: payload(0)},
		{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 1, SequenceNumber: 2, Timestamp: 320}, Payload: payload(1)},
		{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, SSRC: 1, SequenceNumber: 3, Timestamp: 480}, Payload: []byte{1, 0x80, 0, 160}},
		{Header: rtp.Header{Version: 2, PayloadType: 13, SSRC: 2}, Payload: []byte{40}},
		{Header: rtp.Header{Version: 2, Extension: true, ExtensionProfile: 0xBEDE, CSRC: []uint32{7}}, Payload: payload(2)},
	} {
		b, _ := p.Marshal()
		f.Add(b)
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xc8, 0, 6, 0, 0, 0, 1}) // RTCP sender report, muxed
	pa, pb := newRTPPeer(f), newRTPPeer(f)
	a, _, _ := testStream(f, nopObserver{}, pa, media.PCMU, 101)
	b, _, _ := testStream(f, nopObserver{}, pb, media.PCMA, 96)
	bridge(a, b)
	var rx rxScratch
	buf := make([]byte, 1500)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) > len(rx.buf) {
			return // the loop reads at most a buffer
		}
		a.receive(pkt, pa.addr, &rx) // only the test calls it: nothing sends to a's port
		_ = pb.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		n, err := pb.conn.Read(buf)
		if err != nil {
			return // dropped
		}
		var out rtp.Packet
		if err := out.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("relayed a packet that is not RTP: %v", err)
		}
		if out.SSRC != b.ssrc || (out.PayloadType != 8 && out.PayloadType != 96) {
			t.Fatalf("relayed %+v", out.Header)
		}
	})
}
