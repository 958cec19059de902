package media

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// ev builds a telephone-event payload.
func ev(code uint8, end bool, dur uint16) []byte {
	b1 := byte(10)
	if end {
		b1 |= 0x80
	}
	return []byte{code, b1, byte(dur >> 8), byte(dur)}
}

type evPkt struct {
	payload []byte
	ts      uint32
}

// press returns the packets of one key press: updates every 160 units, then
// three end packets.
func press(code uint8, ts uint32, firstDur uint16, updates int) []evPkt {
	var p []evPkt
	d := firstDur
	for range updates {
		p = append(p, evPkt{ev(code, false, d), ts})
		d += 160
	}
	for range 3 {
		p = append(p, evPkt{ev(code, true, d), ts})
	}
	return p
}

func cat(parts ...[]evPkt) []evPkt {
	var out []evPkt
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestEventDecoderFeed(t *testing.T) {
	tests := []struct {
		name string
		pkts []evPkt
		want string
	}{
		{"one press", press(5, 1000, 160, 5), "5"},
		{"first duration 0", press(1, 1000, 0, 7), "1"},
		{"only end packets (start lost)", press(9, 1000, 0, 0), "9"},
		{"single end packet", []evPkt{{ev(11, true, 800), 42}}, "#"},
		{"timestamp 0", press(0, 0, 0, 3), "0"},
		{"two presses of one key", cat(press(1, 1000, 160, 3), press(1, 3000, 160, 3)), "11"},
		{"keys sharing a timestamp", cat(press(1, 1000, 160, 3), press(2, 1000, 160, 3)), "12"},
		{"all keys", func() []evPkt {
			var p []evPkt
			for c := range uint8(16) {
				p = append(p, press(c, uint32(c)*2000, 0, 2)...)
			}
			return p
		}(), "0123456789*#ABCD"},
		{"late end packet of previous press", cat(press(1, 1000, 160, 3), press(2, 3000, 160, 1), []evPkt{{ev(1, true, 640), 1000}}, press(2, 3000, 480, 1)), "12"},
		{"reordered update after end", cat(press(4, 1000, 160, 3), []evPkt{{ev(4, false, 320), 1000}}), "4"},
		{"timestamp wraps", cat(press(3, 0xFFFFFF00, 160, 3), press(3, 0x40, 160, 3)), "33"},
		{"non-DTMF events ignored", cat([]evPkt{{ev(16, false, 160), 1}, {ev(16, true, 800), 1}, {ev(255, false, 0), 2}}, press(7, 1, 160, 1)), "7"},
		{"short payloads ignored", []evPkt{{nil, 1}, {[]byte{5}, 1}, {[]byte{5, 0, 1}, 1}}, ""},
		{"longer payload uses first event", []evPkt{{append(ev(6, false, 160), 1, 2, 3, 4), 77}}, "6"},
		{"long press over two segments", cat(
			[]evPkt{{ev(8, false, 160), 5000}, {ev(8, false, 0xFF00), 5000}, {ev(8, false, 0xFFFF), 5000}},
			press(8, 5000+0xFFFF, 160, 3)), "8"},
		{"new press after a long press ended", cat(
			[]evPkt{{ev(8, false, 160), 5000}, {ev(8, true, 0xFFFF), 5000}},
			press(8, 5000+0xFFFF, 160, 3)), "88"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d EventDecoder
			var got []rune
			for _, p := range tt.pkts {
				if k, ok := d.Feed(p.payload, p.ts); ok {
					got = append(got, k)
				}
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", string(got), tt.want)
			}
		})
	}
}

func TestEventDecoderReset(t *testing.T) {
	var d EventDecoder
	p := ev(1, false, 160)
	if _, ok := d.Feed(p, 99); !ok {
		t.Fatal("first press not reported")
	}
	if _, ok := d.Feed(p, 99); ok {
		t.Fatal("repeat reported")
	}
	d.Reset()
	if _, ok := d.Feed(p, 99); !ok {
		t.Fatal("press after Reset not reported")
	}
}

func TestEventDigitCode(t *testing.T) {
	for code := range uint8(16) {
		k, ok := EventDigit(code)
		if !ok {
			t.Fatalf("EventDigit(%d) not ok", code)
		}
		if c, ok := EventCode(k); !ok || c != code {
			t.Errorf("EventCode(%q) = %d, %v; want %d", k, c, ok, code)
		}
	}
	for _, bad := range []uint8{16, 32, 255} {
		if _, ok := EventDigit(bad); ok {
			t.Errorf("EventDigit(%d) ok", bad)
		}
	}
	tests := []struct {
		in   rune
		want uint8
		ok   bool
	}{{'0', 0, true}, {'9', 9, true}, {'*', 10, true}, {'#', 11, true}, {'A', 12, true}, {'d', 15, true}, {'E', 0, false}, {'!', 0, false}, {' ', 0, false}}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			if c, ok := EventCode(tt.in); c != tt.want || ok != tt.ok {
				t.Errorf("EventCode(%q) = %d, %v", tt.in, c, ok)
			}
		})
	}
}

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		name   string
		digit  rune
		end    bool
		volume uint8
		dur    uint16
		want   []byte
	}{
		{"start", '1', false, 10, 0, []byte{1, 10, 0, 0}},
		{"end", '#', true, 10, 800, []byte{11, 0x8A, 0x03, 0x20}},
		{"volume capped", 'D', false, 200, 0xFFFF, []byte{15, 63, 0xFF, 0xFF}},
		{"not a key", 'x', false, 10, 160, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodeEvent([]byte{}, tt.digit, tt.end, tt.volume, tt.dur)
			if string(got) != string(tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
			if len(got) == 4 {
				e, ok := ParseEvent(got)
				if !ok || e.End != tt.end || e.Duration != tt.dur || e.Volume != min(tt.volume, 63) {
					t.Errorf("ParseEvent = %+v", e)
				}
			}
		})
	}
}

func TestEventPackets(t *testing.T) {
	tests := []struct {
		name      string
		ptime     time.Duration
		total     time.Duration
		durations []uint16 // per packet
		ends      int      // packets with the E bit
	}{
		{"100ms at 20ms", 20 * time.Millisecond, 100 * time.Millisecond, []uint16{160, 320, 480, 640, 800, 800, 800}, 3},
		{"90ms at 20ms", 20 * time.Millisecond, 90 * time.Millisecond, []uint16{160, 320, 480, 640, 720, 720, 720}, 3},
		{"shorter than ptime", 50 * time.Millisecond, 30 * time.Millisecond, []uint16{240, 240, 240}, 3},
		{"50ms at 50ms", 50 * time.Millisecond, 50 * time.Millisecond, []uint16{400, 400, 400}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts := EventPackets('7', tt.ptime, tt.total)
			if len(pkts) != len(tt.durations) {
				t.Fatalf("%d packets, want %d", len(pkts), len(tt.durations))
			}
			ends := 0
			for i, p := range pkts {
				e, ok := ParseEvent(p.Payload)
				if !ok || e.Code != 7 || e.Duration != tt.durations[i] || e.Volume != EventVolume {
					t.Errorf("packet %d: %+v", i, e)
				}
				if e.End {
					ends++
				}
				if p.Marker != (i == 0) || p.TimestampOffset != 0 || p.Offset != time.Duration(i)*tt.ptime {
					t.Errorf("packet %d: marker %v tsoff %d offset %v", i, p.Marker, p.TimestampOffset, p.Offset)
				}
			}
			if ends != tt.ends {
				t.Errorf("%d end packets, want %d", ends, tt.ends)
			}
		})
	}
	for _, bad := range []struct {
		k     rune
		ptime time.Duration
		total time.Duration
	}{{'x', 20 * time.Millisecond, time.Second}, {'1', 0, time.Second}, {'1', 20 * time.Millisecond, -1}} {
		if EventPackets(bad.k, bad.ptime, bad.total) != nil {
			t.Errorf("EventPackets(%q, %v, %v) != nil", bad.k, bad.ptime, bad.total)
		}
	}
}

// TestEventPacketsRoundTrip sends generated presses, marshalled with
// pion/rtp, through EventDecoder, including a 10 s press that needs two
// segments.
func TestEventPacketsRoundTrip(t *testing.T) {
	var d EventDecoder
	var got []rune
	ts := uint32(0xFFFF0000) // wraps during the long press
	seq := uint16(0xFFF0)
	for _, k := range "1#*D" + "5" {
		total := 120 * time.Millisecond
		if k == '5' {
			total = 10 * time.Second
		}
		pkts := EventPackets(k, FrameDuration, total)
		for _, p := range pkts {
			pkt := rtp.Packet{
				Header: rtp.Header{
					Version: 2, PayloadType: 101, Marker: p.Marker,
					SequenceNumber: seq, Timestamp: ts + p.TimestampOffset, SSRC: 0x1234,
				},
				Payload: p.Payload,
			}
			seq++
			raw, err := pkt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var in rtp.Packet
			if err := in.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			if key, ok := d.Feed(in.Payload, in.Timestamp); ok {
				got = append(got, key)
			}
		}
		if k == '5' {
			last := pkts[len(pkts)-1]
			if last.TimestampOffset != 0xFFFF {
				t.Errorf("10 s press: last segment at offset %d", last.TimestampOffset)
			}
			if e, _ := ParseEvent(last.Payload); int(last.TimestampOffset)+int(e.Duration) != 80000 {
				t.Errorf("10 s press ends at %d units", int(last.TimestampOffset)+int(e.Duration))
			}
		}
		ts += units(total) + 800 // then 100 ms of audio
	}
	if string(got) != "1#*D5" {
		t.Errorf("got %q", string(got))
	}
}

func ExampleEventPackets() {
	// A test phone presses 1 for 100 ms. start is its audio stream's RTP
	// timestamp when the key goes down; seq its next sequence number.
	start, seq := uint32(48000), uint16(1000)
	for _, p := range EventPackets('1', 20*time.Millisecond, 100*time.Millisecond) {
		pkt := rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				PayloadType:    101, // as negotiated in SDP
				Marker:         p.Marker,
				SequenceNumber: seq,
				Timestamp:      start + p.TimestampOffset,
				SSRC:           0x5eed,
			},
			Payload: p.Payload,
		}
		seq++
		// A real phone sleeps until p.Offset and writes pkt.Marshal().
		e, _ := ParseEvent(pkt.Payload)
		fmt.Printf("%3v marker=%-5v ts=%d end=%-5v duration=%d\n", p.Offset.Milliseconds(), pkt.Marker, pkt.Timestamp, e.End, e.Duration)
	}
	// Output:
	//   0 marker=true  ts=48000 end=false duration=160
	//  20 marker=false ts=48000 end=false duration=320
	//  40 marker=false ts=48000 end=false duration=480
	//  60 marker=false ts=48000 end=false duration=640
	//  80 marker=false ts=48000 end=true  duration=800
	// 100 marker=false ts=48000 end=true  duration=800
	// 120 marker=false ts=48000 end=true  duration=800
}

func BenchmarkEventDecoderFeed(b *testing.B) {
	pkts := press(5, 1000, 0, 5)
	var d EventDecoder
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pkts[i%len(pkts)]
		d.Feed(p.payload, p.ts+uint32(i/len(pkts))*2000)
		i++
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	dst := make([]byte, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		dst = EncodeEvent(dst[:0], '5', false, 10, 320)
	}
}
