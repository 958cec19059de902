package media

import (
	"math"
	"testing"

	"github.com/zaf/g711"
)

// TestG711MatchesReference compares every input of every table with
// github.com/zaf/g711, an independent implementation of the ITU reference.
func TestG711MatchesReference(t *testing.T) {
	var pcm [1]int16
	var b [1]byte
	for i := range 1 << 16 {
		s := int16(uint16(i))
		pcm[0] = s
		if got, want := Encode(PCMU, b[:0], pcm[:])[0], g711.EncodeUlawFrame(s); got != want {
			t.Fatalf("PCMU encode %d = %#02x, want %#02x", s, got, want)
		}
		if got, want := Encode(PCMA, b[:0], pcm[:])[0], g711.EncodeAlawFrame(s); got != want {
			t.Fatalf("PCMA encode %d = %#02x, want %#02x", s, got, want)
		}
	}
	var out [1]int16
	for i := range 256 {
		b[0] = byte(i)
		if got, want := Decode(PCMU, out[:0], b[:])[0], g711.DecodeUlawFrame(byte(i)); got != want {
			t.Fatalf("PCMU decode %#02x = %d, want %d", i, got, want)
		}
		if got, want := Decode(PCMA, out[:0], b[:])[0], g711.DecodeAlawFrame(byte(i)); got != want {
			t.Fatalf("PCMA decode %#02x = %d, want %d", i, got, want)
		}
		var o [1]byte
		if got, want := Transcode(PCMU, PCMA, o[:0], b[:])[0], g711.Ulaw2AlawFrame(byte(i)); got != want {
			t.Fatalf("μ→A %#02x = %#02x, want %#02x", i, got, want)
		}
		if got, want := Transcode(PCMA, PCMU, o[:0], b[:])[0], g711.Alaw2UlawFrame(byte(i)); got != want {
			t.Fatalf("A→μ %#02x = %#02x, want %#02x", i, got, want)
		}
	}
}

func TestG711RoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		codec  Codec
		maxErr float64 // worst relative error for |s| > 256
	}{
		{"PCMU", PCMU, 1.0 / 16},
		{"PCMA", PCMA, 1.0 / 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := make([]int16, 0, 1<<16)
			for i := range 1 << 16 {
				pcm = append(pcm, int16(uint16(i)))
			}
			got := Decode(tt.codec, nil, Encode(tt.codec, nil, pcm))
			if len(got) != len(pcm) {
				t.Fatalf("len = %d, want %d", len(got), len(pcm))
			}
			for i, s := range pcm {
				if s > -256 && s < 256 || s < -32000 || s > 32000 {
					continue
				}
				if e := math.Abs(float64(got[i])-float64(s)) / math.Abs(float64(s)); e > tt.maxErr {
					t.Fatalf("%d → %d: relative error %.3f", s, got[i], e)
				}
			}
			if s := Decode(tt.codec, nil, []byte{tt.codec.SilenceByte()})[0]; s < -8 || s > 8 {
				t.Errorf("silence byte decodes to %d", s)
			}
		})
	}
}

func TestG711AppendsAndKeepsPrefix(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32767, -32768}
	dst := []byte{0xAA}
	got := Encode(PCMA, dst, pcm)
	if len(got) != 6 || got[0] != 0xAA {
		t.Fatalf("Encode = %x", got)
	}
	dec := Decode(PCMA, []int16{7}, got[1:])
	if len(dec) != 6 || dec[0] != 7 {
		t.Fatalf("Decode = %v", dec)
	}
	same := Transcode(PCMU, PCMU, []byte{1}, []byte{2, 3})
	if string(same) != "\x01\x02\x03" {
		t.Fatalf("Transcode same = %x", same)
	}
	for _, bad := range []Codec{1, 9, 255} {
		if got := Encode(bad, dst, pcm); len(got) != 1 {
			t.Errorf("Encode(%v) grew dst", bad)
		}
		if got := Decode(bad, nil, []byte{1}); len(got) != 0 {
			t.Errorf("Decode(%v) grew dst", bad)
		}
		if got := Transcode(bad, PCMU, nil, []byte{1}); len(got) != 0 {
			t.Errorf("Transcode(%v) grew dst", bad)
		}
	}
}

func TestTranscodeCloseToDecodeEncode(t *testing.T) {
	// A→μ→A and μ→A→μ must lose at most one quantisation step.
	for i := range 256 {
		a := []byte{byte(i)}
		back := Transcode(PCMU, PCMA, nil, Transcode(PCMA, PCMU, nil, a))
		x, y := Decode(PCMA, nil, a)[0], Decode(PCMA, nil, back)[0]
		if d := math.Abs(float64(x) - float64(y)); d > math.Max(16, math.Abs(float64(x))/8) {
			t.Errorf("A %#02x: %d → %d", i, x, y)
		}
	}
}

func TestCodecHelpers(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Codec
		wantOK bool
	}{
		{"upper", "PCMU", PCMU, true},
		{"lower", "pcma", PCMA, true},
		{"rtpmap", "PCMU/8000", PCMU, true},
		{"rtpmap channels", "PCMA/8000/1", PCMA, true},
		{"wrong rate", "PCMU/16000", 0, false},
		{"other", "G722", 0, false},
		{"empty", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CodecByName(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CodecByName(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if c, ok := CodecForPayloadType(8); !ok || c != PCMA || c.PayloadType() != 8 || c.String() != "PCMA" {
		t.Errorf("payload type 8 → %v %v", c, ok)
	}
	if c, ok := CodecForPayloadType(0); !ok || c != PCMU || c.String() != "PCMU" {
		t.Errorf("payload type 0 → %v %v", c, ok)
	}
	if _, ok := CodecForPayloadType(101); ok {
		t.Error("payload type 101 accepted")
	}
	if s := Codec(18).String(); s != "Codec(18)" {
		t.Errorf("String = %q", s)
	}
	if FrameSamples != 160 {
		t.Errorf("FrameSamples = %d", FrameSamples)
	}
}

func BenchmarkEncode(b *testing.B) {
	pcm := GenerateDTMF('5', FrameDuration, 8000)
	dst := make([]byte, 0, FrameSamples)
	for _, c := range []Codec{PCMU, PCMA} {
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(FrameSamples))
			for b.Loop() {
				dst = Encode(c, dst[:0], pcm)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	dst := make([]int16, 0, FrameSamples)
	for _, c := range []Codec{PCMU, PCMA} {
		payload := Encode(c, nil, GenerateDTMF('5', FrameDuration, 8000))
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(FrameSamples))
			for b.Loop() {
				dst = Decode(c, dst[:0], payload)
			}
		})
	}
}

func BenchmarkTranscode(b *testing.B) {
	payload := Encode(PCMU, nil, GenerateDTMF('5', FrameDuration, 8000))
	dst := make([]byte, 0, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(int64(FrameSamples))
	for b.Loop() {
		dst = Transcode(PCMU, PCMA, dst[:0], payload)
	}
}
