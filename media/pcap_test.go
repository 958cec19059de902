package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp"
)

// sippDir holds the captures shipped with Debian's sip-tester (SIPp).
const sippDir = "/usr/share/sip-tester"

// readPcapRTP returns the RTP packets in the UDP datagrams of a classic
// libpcap file: Ethernet (optionally 802.1Q-tagged), Linux cooked capture v1
// or v2, or raw IP; IPv4 only, unfragmented.
func readPcapRTP(path string) ([]rtp.Packet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, errors.New("short pcap header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("not a pcap file (magic %x)", b[:4])
	}
	link := bo.Uint32(b[20:24])
	var pkts []rtp.Packet
	for b = b[24:]; len(b) >= 16; {
		incl := int(bo.Uint32(b[8:12]))
		if len(b) < 16+incl {
			return nil, errors.New("truncated pcap record")
		}
		frame := b[16 : 16+incl]
		b = b[16+incl:]
		ip, ok := linkPayload(link, frame)
		if !ok {
			continue
		}
		udp, ok := ipv4UDP(ip)
		if !ok {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(udp); err != nil || p.Version != 2 {
			continue
		}
		p.Payload = append([]byte(nil), p.Payload...)
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// linkPayload strips the link-layer header and returns an IPv4 packet.
func linkPayload(link uint32, f []byte) ([]byte, bool) {
	var etype uint16
	switch link {
	case 1: // Ethernet
		if len(f) < 14 {
			return nil, false
		}
		etype, f = binary.BigEndian.Uint16(f[12:14]), f[14:]
		for etype == 0x8100 && len(f) >= 4 { // 802.1Q
			etype, f = binary.BigEndian.Uint16(f[2:4]), f[4:]
		}
	case 113: // Linux cooked capture
		if len(f) < 16 {
			return nil, false
		}
		etype, f = binary.BigEndian.Uint16(f[14:16]), f[16:]
	case 276: // Linux cooked capture v2
		if len(f) < 20 {
			return nil, false
		}
		etype, f = binary.BigEndian.Uint16(f[0:2]), f[20:]
	case 101, 228: // raw IP, raw IPv4
		etype = 0x0800
	default:
		return nil, false
	}
	return f, etype == 0x0800
}

// ipv4UDP returns the UDP payload of an unfragmented IPv4 packet.
func ipv4UDP(ip []byte) ([]byte, bool) {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return nil, false
	}
	ihl := int(ip[0]&0x0F) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if binary.BigEndian.Uint16(ip[6:8])&0x3FFF != 0 || ihl < 20 || total > len(ip) || total < ihl+8 {
		return nil, false
	}
	udp := ip[ihl:total]
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < 8 || ulen > len(udp) {
		return nil, false
	}
	return udp[8:ulen], true
}

func sippCapture(t *testing.T, name string) []rtp.Packet {
	t.Helper()
	path := filepath.Join(sippDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s absent (apt-get install sip-tester): %v", path, err)
	}
	pkts, err := readPcapRTP(path)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(pkts) == 0 {
		t.Fatalf("%s: no RTP packets", name)
	}
	return pkts
}

// TestEventDecoderSippCaptures replays SIPp's RFC 4733 captures. Each holds
// one key press of ten packets, the first with duration 0 (the one diago
// misses), and must yield exactly its key.
func TestEventDecoderSippCaptures(t *testing.T) {
	files := []struct {
		file string
		want rune
	}{
		{"dtmf_2833_0.pcap", '0'}, {"dtmf_2833_1.pcap", '1'}, {"dtmf_2833_2.pcap", '2'},
		{"dtmf_2833_3.pcap", '3'}, {"dtmf_2833_4.pcap", '4'}, {"dtmf_2833_5.pcap", '5'},
		{"dtmf_2833_6.pcap", '6'}, {"dtmf_2833_7.pcap", '7'}, {"dtmf_2833_8.pcap", '8'},
		{"dtmf_2833_9.pcap", '9'}, {"dtmf_2833_star.pcap", '*'}, {"dtmf_2833_pound.pcap", '#'},
	}
	var all EventDecoder // one decoder across all files, as in one call
	var allGot []rune
	for _, f := range files {
		t.Run(f.file, func(t *testing.T) {
			pkts := sippCapture(t, f.file)
			if ev, _ := ParseEvent(pkts[0].Payload); ev.Duration != 0 || !pkts[0].Marker {
				t.Logf("first packet: %+v marker %v", ev, pkts[0].Marker)
			}
			var d EventDecoder
			var got []rune
			for _, p := range pkts {
				if p.PayloadType != 101 {
					t.Fatalf("payload type %d, want 101", p.PayloadType)
				}
				if k, ok := d.Feed(p.Payload, p.Timestamp); ok {
					got = append(got, k)
				}
				if k, ok := all.Feed(p.Payload, p.Timestamp); ok {
					allGot = append(allGot, k)
				}
			}
			if string(got) != string(f.want) {
				t.Errorf("got %q, want %q", string(got), string(f.want))
			}
			// Losing the first packets (down to only the end packets) still
			// yields the key once.
			for skip := 1; skip < len(pkts); skip++ {
				var d EventDecoder
				n := 0
				for _, p := range pkts[skip:] {
					if k, ok := d.Feed(p.Payload, p.Timestamp); ok {
						n++
						if k != f.want {
							t.Errorf("skip %d: got %q", skip, k)
						}
					}
				}
				if n != 1 {
					t.Errorf("skip %d: %d keys, want 1", skip, n)
				}
			}
		})
	}
	// SIPp sends a capture's packets unchanged (it rewrites only the ports),
	// and these captures share one SSRC with distinct timestamps: played one
	// after another in a call they must give every key.
	if want := "0123456789*#"; string(allGot) != want && !t.Skipped() {
		t.Errorf("one decoder over all captures: %q, want %q", string(allGot), want)
	}
}

// TestToneDetectorSippSpeech decodes SIPp's 4.7 s PCMA speech capture: it
// must yield no key.
func TestToneDetectorSippSpeech(t *testing.T) {
	pkts := sippCapture(t, "g711a.pcap")
	var d ToneDetector
	var pcm []int16
	var got []rune
	for _, p := range pkts {
		if p.PayloadType != uint8(PCMA) {
			continue
		}
		pcm = Decode(PCMA, pcm[:0], p.Payload)
		if k, ok := d.Feed(pcm); ok {
			got = append(got, k)
		}
	}
	if len(got) != 0 {
		t.Errorf("detected %q in speech", string(got))
	}
	if len(pkts) < 100 {
		t.Errorf("only %d packets", len(pkts))
	}
}
