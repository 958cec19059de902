package sip

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
)

// key30 is a fixed master key and salt for tests: bytes 0..29.
func key30(first byte) masterKey {
	var k masterKey
	for i := range k {
		k[i] = first + byte(i)
	}
	return k
}

func TestParseCrypto(t *testing.T) {
	k := key30(0)
	inline := base64.StdEncoding.EncodeToString(k[:])
	for _, tt := range []struct {
		name, value string
		ok          bool
		tag         int
		mki         []byte
	}{
		{"plain", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline, true, 1, nil},
		{"another tag", "42 AES_CM_128_HMAC_SHA1_80 inline:" + inline, true, 42, nil},
		{"lifetime", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|2^31", true, 1, nil},
		{"decimal lifetime and mki", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|1048576|258:2", true, 1, []byte{1, 2}},
		{"mki only", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|7:4", true, 1, []byte{0, 0, 0, 7}},
		{"other suite", "1 AES_CM_128_HMAC_SHA1_32 inline:" + inline, false, 0, nil},
		{"aes 256", "1 AES_256_CM_HMAC_SHA1_80 inline:" + inline, false, 0, nil},
		{"session parameter", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + " UNENCRYPTED_SRTP", false, 0, nil},
		{"two keys", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|1:1;inline:" + inline + "|2:1", false, 0, nil},
		{"short key", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline[:20], false, 0, nil},
		{"not base64", "1 AES_CM_128_HMAC_SHA1_80 inline:" + strings.Repeat("*", 40), false, 0, nil},
		{"no inline", "1 AES_CM_128_HMAC_SHA1_80 " + inline, false, 0, nil},
		{"bad tag", "x AES_CM_128_HMAC_SHA1_80 inline:" + inline, false, 0, nil},
		{"mki too big", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|256:1", false, 0, nil},
		{"bad lifetime", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|2^x", false, 0, nil},
		{"empty", "", false, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCrypto(tt.value)
			if (err == nil) != tt.ok {
				t.Fatalf("parseCrypto: %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), inline[:8]) {
					t.Errorf("the error quotes the key: %v", err)
				}
				return
			}
			if c.tag != tt.tag || c.key != k || !bytes.Equal(c.mki, tt.mki) {
				t.Errorf("got tag %d mki %v, want tag %d mki %v (key equal: %v)", c.tag, c.mki, tt.tag, tt.mki, c.key == k)
			}
		})
	}
	// Our own attribute reads back.
	c, err := parseCrypto(sdesCrypto{tag: 1, key: k}.attribute())
	if err != nil || c.key != k || c.tag != 1 {
		t.Errorf("our attribute: %v, %v", c, err)
	}
}

// A key never prints, however a leg's state is formatted or logged.
func TestKeysNeverPrint(t *testing.T) {
	k := key30(0x41) // "ABCDEF…": would show up as text, and in base64
	inline := base64.StdEncoding.EncodeToString(k[:])
	c := sdesCrypto{tag: 1, key: k}
	rm := remoteMedia{cryptos: []sdesCrypto{c}}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", k, "crypto", c, "media", rm)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", k, "crypto", c, "media", rm)
	for _, s := range []string{
		fmt.Sprintf("%v %+v %#v %s", k, k, k, k),
		fmt.Sprintf("%v %+v %s", c, c, c),
		fmt.Sprintf("%v %+v %s", rm, rm, rm),
		fmt.Sprint(&in{c}),
		logged.String(),
	} {
		if strings.Contains(s, "ABCDEF") || strings.Contains(s, inline[:12]) || strings.Contains(s, "65 66 67") || strings.Contains(s, "0x41") {
			t.Errorf("a key shows in %q", s)
		}
	}
}

type in struct{ c sdesCrypto }

func (i *in) String() string { return i.c.String() }

// srtpPeer is a far end that speaks SRTP with key (what it sends) and reads what the
// leg sends with the leg's key.
type srtpPeer struct {
	*rtpPeer
	tx, rx *srtp.Context
}

func newSRTPPeer(tb testing.TB, key masterKey, legKey masterKey) *srtpPeer {
	tb.Helper()
	tx, err := encryptContext(key)
	if err != nil {
		tb.Fatal(err)
	}
	rx, err := decryptContext(sdesCrypto{key: legKey})
	if err != nil {
		tb.Fatal(err)
	}
	return &srtpPeer{rtpPeer: newRTPPeer(tb), tx: tx, rx: rx}
}

// sendSRTP sends an SRTP packet to s; tamper flips a bit of its tag.
func (p *srtpPeer) sendSRTP(tb testing.TB, to *stream, h rtp.Header, payload []byte, tamper bool) {
	tb.Helper()
	plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := p.tx.EncryptRTP(nil, plain, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if tamper {
		b[len(b)-1] ^= 0x80
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, to.localAddr()); err != nil {
		tb.Fatal(err)
	}
}

// recvSRTP reads and decrypts one packet (failing after a second).
func (p *srtpPeer) recvSRTP(tb testing.TB) rtp.Packet {
	tb.Helper()
	buf := make([]byte, 1500)
	_ = p.conn.SetReadDeadline(time.Now().Add(time.Second))
	n, err := p.conn.Read(buf)
	if err != nil {
		tb.Fatalf("peer %v: %v", p.addr, err)
	}
	plain, err := p.rx.DecryptRTP(nil, buf[:n], nil)
	if err != nil {
		tb.Fatalf("peer %v: decrypt: %v", p.addr, err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(plain); err != nil {
		tb.Fatal(err)
	}
	return pkt
}

// srtpStream is testStream on SRTP: our key legKey, the far end's farKey.
func srtpStream(tb testing.TB, obs Observer, peer *rtpPeer, farKey masterKey) (*stream, chan rune) {
	tb.Helper()
	s, digits, _ := testStream(tb, obs, peer, media.PCMU, 101)
	if err := s.initSRTP(); err != nil {
		tb.Fatal(err)
	}
	if err := s.useSRTP(&sdesCrypto{tag: 1, key: farKey}); err != nil {
		tb.Fatal(err)
	}
	return s, digits
}

// TestRelaySRTP: each leg of a bridge decrypts what its far end sends with that far
// end's key and encrypts what it sends with its own, renumbering SSRC, sequence and
// timestamp as with plain RTP; an event decrypted on one leg is a digit and is relayed.
// A plain leg bridged to an SRTP one gets the audio in the clear, and the other way.
func TestRelaySRTP(t *testing.T) {
	obs := &countingObserver{}
	keyA, keyB := key30(1), key30(100)
	// The legs' own keys are made by initSRTP: the peers learn them after.
	pa, pb := newSRTPPeer(t, keyA, masterKey{}), newSRTPPeer(t, keyB, masterKey{})
	a, digitsA := srtpStream(t, obs, pa.rtpPeer, keyA)
	b, _ := srtpStream(t, obs, pb.rtpPeer, keyB)
	if a.txKey == b.txKey || a.txKey == (masterKey{}) {
		t.Fatal("the legs share a key, or have none")
	}
	pa.rx, _ = decryptContext(sdesCrypto{key: a.txKey})
	pb.rx, _ = decryptContext(sdesCrypto{key: b.txKey})
	bridge(a, b)

	var got []rtp.Packet
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1111, SequenceNumber: 65534, Timestamp: 4294967000}
	for i := range 4 {
		pa.sendSRTP(t, a, h, payload(byte(i)), false)
		p := pb.recvSRTP(t)
		if !bytes.Equal(p.Payload, payload(byte(i))) {
			t.Fatalf("packet %d: payload changed", i)
		}
		got = append(got, p)
		h.SequenceNumber++
		h.Timestamp += 160
	}
	for i, p := range got {
		if p.SSRC != b.ssrc || i > 0 && (p.SequenceNumber != got[i-1].SequenceNumber+1 || p.Timestamp-got[i-1].Timestamp != 160) {
			t.Errorf("packet %d: SSRC %#x seq %d ts %d", i, p.SSRC, p.SequenceNumber, p.Timestamp)
		}
	}
	// And back.
	pb.sendSRTP(t, b, rtp.Header{Version: 2, SSRC: 0x2222, SequenceNumber: 9, Timestamp: 99}, payload(7), false)
	if p := pa.recvSRTP(t); p.SSRC != a.ssrc || !bytes.Equal(p.Payload, payload(7)) {
		t.Errorf("back: SSRC %#x", p.SSRC)
	}
	// An RFC 4733 event, decrypted, is a digit and goes on to the other leg.
	ev := media.EncodeEvent(nil, '1', false, 10, 160)
	pa.sendSRTP(t, a, rtp.Header{Version: 2, PayloadType: 101, Marker: true, SSRC: 0x1111, SequenceNumber: 5, Timestamp: 8000}, ev, false)
	if p := pb.recvSRTP(t); p.PayloadType != 101 || !bytes.Equal(p.Payload, ev) {
		t.Errorf("event relayed as PT %d", p.PayloadType)
	}
	select {
	case d := <-digitsA:
		if d != '1' {
			t.Errorf("digit %q", d)
		}
	case <-time.After(time.Second):
		t.Error("no digit from the decrypted event")
	}
	if n := obs.auth.Load(); n != 0 {
		t.Errorf("%d packets failed authentication", n)
	}

	// A plain leg: what it sends reaches the SRTP leg's far end encrypted; what that far
	// end sends reaches it in the clear.
	pc := newRTPPeer(t)
	c, _, _ := testStream(t, obs, pc, media.PCMU, 101)
	bridge(a, c)
	pc.send(t, c, rtp.Header{Version: 2, SSRC: 3, SequenceNumber: 1, Timestamp: 1}, payload(9))
	if p := pa.recvSRTP(t); !bytes.Equal(p.Payload, payload(9)) {
		t.Error("plain to SRTP: payload changed")
	}
	pa.sendSRTP(t, a, rtp.Header{Version: 2, SSRC: 0x1111, SequenceNumber: 6, Timestamp: 8160}, payload(11), false)
	if p := pc.recv(t); !bytes.Equal(p.Payload, payload(11)) {
		t.Error("SRTP to plain: payload changed")
	}
}

// TestTamperedSRTPDropped: packets from the far end's own address whose tag does not
// verify (tampered, or forged without the key), replays, plain RTP and RTCP on an SRTP
// leg are dropped before anything looks at them: no digit, no audio to the other leg,
// no latch, no live media; each counted, the SRTP failures as auth.
func TestTamperedSRTPDropped(t *testing.T) {
	obs := &countingObserver{}
	keyA := key30(1)
	pa := newSRTPPeer(t, keyA, masterKey{})
	pb := newRTPPeer(t)
	a, digitsA := srtpStream(t, obs, pa.rtpPeer, keyA)
	b, _, _ := testStream(t, obs, pb, media.PCMU, 101)
	bridge(a, b)

	ev := media.EncodeEvent(nil, '1', false, 10, 160)
	h := rtp.Header{Version: 2, PayloadType: 101, Marker: true, SSRC: 0x1111, SequenceNumber: 100, Timestamp: 1600}
	pa.sendSRTP(t, a, h, ev, true) // tampered event
	h.PayloadType, h.Marker = 0, false
	for i := range 5 { // tampered audio
		h.SequenceNumber++
		pa.sendSRTP(t, a, h, payload(byte(i)), true)
	}
	// Forged with another key.
	forger := newSRTPPeer(t, key30(200), masterKey{})
	forger.rtpPeer = pa.rtpPeer // from the far end's own address
	h.SequenceNumber++
	forger.sendSRTP(t, a, h, payload(50), false)
	// Plain RTP and RTCP from the far end's address.
	pa.send(t, a, rtp.Header{Version: 2, SSRC: 0x1111, SequenceNumber: 500, Timestamp: 1}, payload(60))
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0x11, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := pa.conn.WriteToUDPAddrPort(rtcp, a.localAddr()); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "the drops", func() bool { return obs.auth.Load() == 8 && obs.badType.Load() == 1 })
	if !pb.none(200 * time.Millisecond) {
		t.Error("a packet that did not authenticate reached the other leg")
	}
	select {
	case d := <-digitsA:
		t.Errorf("digit %q from a tampered event", d)
	default:
	}
	if a.rx.Load() != 0 || obs.in.Load() != 0 {
		t.Errorf("%d packets counted as live media, %d as in", a.rx.Load(), obs.in.Load())
	}

	// A good packet passes; replaying it is dropped.
	h.SequenceNumber = 200
	plain, _ := (&rtp.Packet{Header: h, Payload: payload(70)}).Marshal()
	good, _ := pa.tx.EncryptRTP(nil, plain, nil)
	for range 2 {
		if _, err := pa.conn.WriteToUDPAddrPort(good, a.localAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if p := pb.recv(t); !bytes.Equal(p.Payload, payload(70)) {
		t.Error("the good packet's payload changed")
	}
	wait.For(t, 5*time.Second, "the replay dropped", func() bool { return obs.auth.Load() == 9 })
	if !pb.none(200*time.Millisecond) || a.rx.Load() != 1 {
		t.Errorf("the replay went on, or counted as live media (%d)", a.rx.Load())
	}
}

// BenchmarkRelaySRTP is BenchmarkRelay with SRTP: a packet decrypted on one leg and
// encrypted on the other ("srtp both"), or on one side only. It reports allocations.
func BenchmarkRelaySRTP(b *testing.B) {
	for _, tc := range []struct {
		name    string
		in, out bool // SRTP on the receiving leg, on the sending leg
	}{{"srtp both", true, true}, {"srtp in, plain out", true, false}, {"plain in, srtp out", false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			obs := &countingObserver{}
			keyA, keyB := key30(1), key30(100)
			pa, pb := newSRTPPeer(b, keyA, masterKey{}), newRTPPeer(b)
			var a, s *stream
			if tc.in {
				a, _ = srtpStream(b, obs, pa.rtpPeer, keyA)
			} else {
				a, _, _ = testStream(b, obs, pa.rtpPeer, media.PCMU, 101)
			}
			if tc.out {
				s, _ = srtpStream(b, obs, pb, keyB)
			} else {
				s, _, _ = testStream(b, obs, pb, media.PCMU, 101)
			}
			bridge(a, s)
			plain, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, Timestamp: 1}, Payload: payload(0)}).Marshal()
			// The far end's encryption is not the relay's work: packets are encrypted
			// ahead, a thousand at a time, with the timer stopped.
			var ahead [][]byte
			next := 0
			to := a.localAddr()
			buf := make([]byte, 1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				plain[2], plain[3] = byte(i>>8), byte(i) // sequence number
				out := plain
				if tc.in {
					if next == len(ahead) {
						b.StopTimer()
						ahead, next = ahead[:0], 0
						for j := range 1000 {
							plain[2], plain[3] = byte((i+j)>>8), byte(i+j)
							e, err := pa.tx.EncryptRTP(nil, plain, nil)
							if err != nil {
								b.Fatal(err)
							}
							ahead = append(ahead, e)
						}
						b.StartTimer()
					}
					out = ahead[next]
					next++
				}
				if _, err := pa.conn.WriteToUDPAddrPort(out, to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := pb.conn.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if obs.auth.Load() != 0 {
				b.Fatalf("%d packets failed authentication", obs.auth.Load())
			}
		})
	}
}

// BenchmarkReceiveRelay is the media loop's work for one packet of a bridged call,
// without the wake-ups that dominate BenchmarkRelay: receive (source check, SRTP
// decryption, parse, relay: renumbering, SRTP encryption, sendto) of a packet already
// read, with both legs plain or both SRTP, so that the two differ by the crypto alone.
// The far end's encryption is done ahead, with the timer stopped. The other leg's far
// end does not read: the kernel drops what overflows its socket, after the send.
func BenchmarkReceiveRelay(b *testing.B) {
	for _, tc := range []struct {
		name string
		srtp bool
	}{{"plain", false}, {"srtp", true}} {
		b.Run(tc.name, func(b *testing.B) {
			obs := &countingObserver{}
			keyA, keyB := key30(1), key30(100)
			pa, pb := newSRTPPeer(b, keyA, masterKey{}), newRTPPeer(b)
			var a, s *stream
			if tc.srtp {
				a, _ = srtpStream(b, obs, pa.rtpPeer, keyA)
				s, _ = srtpStream(b, obs, pb, keyB)
			} else {
				a, _, _ = testStream(b, obs, pa.rtpPeer, media.PCMU, 101)
				s, _, _ = testStream(b, obs, pb, media.PCMU, 101)
			}
			bridge(a, s)
			const batch = 1024
			ahead := make([][]byte, batch)
			h := rtp.Header{Version: 2, SSRC: 1, Timestamp: 1}
			fill := func() {
				for j := range ahead {
					h.SequenceNumber++
					h.Timestamp += samplesPerPkt
					p, err := (&rtp.Packet{Header: h, Payload: payload(byte(j))}).Marshal()
					if err == nil && tc.srtp {
						p, err = pa.tx.EncryptRTP(nil, p, nil)
					}
					if err != nil {
						b.Fatal(err)
					}
					ahead[j] = p
				}
			}
			var rx rxScratch
			buf := make([]byte, 1500)
			from := pa.addr
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				if n%batch == 0 {
					b.StopTimer()
					fill()
					b.StartTimer()
				}
				a.receive(buf[:copy(buf, ahead[n%batch])], from, &rx)
				n++
			}
			b.StopTimer()
			if obs.auth.Load() != 0 || obs.in.Load() != int64(n) || obs.out.Load() != int64(n) {
				b.Fatalf("%d packets: %d in, %d out, %d failed authentication", n, obs.in.Load(), obs.out.Load(), obs.auth.Load())
			}
		})
	}
}
