package media

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>; run a target with
// go test -run '^$' -fuzz '^FuzzEventDecoder$' -fuzztime 30s ./media/

// eventStream splits fuzz input into (timestamp, payload) records: four
// bytes of big-endian timestamp, one length byte (mod 8), then the payload.
func eventStream(data []byte, fn func(ts uint32, payload []byte)) {
	for len(data) >= 5 {
		ts := binary.BigEndian.Uint32(data)
		n := min(int(data[4]%8), len(data)-5)
		fn(ts, data[5:5+n])
		data = data[5+n:]
	}
}

func FuzzEventDecoder(f *testing.F) {
	f.Add([]byte("\x00\x00\x03\xe8\x04\x05\x0a\x00\xa0\x00\x00\x03\xe8\x04\x05\x8a\x03\x20"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d EventDecoder
		eventStream(data, func(ts uint32, payload []byte) {
			k, ok := d.Feed(payload, ts)
			if !ok {
				return
			}
			if len(payload) < 4 || !strings.ContainsRune(eventDigits, k) {
				t.Fatalf("Feed(% x, %d) = %q", payload, ts, k)
			}
			if want, _ := EventDigit(payload[0]); want != k {
				t.Fatalf("Feed(% x) = %q, want %q", payload, k, want)
			}
			// The same packet again is never a new press.
			if k2, ok := d.Feed(payload, ts); ok {
				t.Fatalf("repeat of % x at %d reported %q", payload, ts, k2)
			}
		})
	})
}

func FuzzParseInfoDigit(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=1\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("11"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		k, ok := ParseInfoDigit(ct, body)
		if ok != (k != 0) || ok && !strings.ContainsRune(eventDigits, k) {
			t.Fatalf("ParseInfoDigit(%q, %q) = %q, %v", ct, body, k, ok)
		}
	})
}

func FuzzReadWAV(f *testing.F) {
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00\x44\xac\x00\x00\x02\x00\x10\x00data\xff\xff\xff\xff\x01\x00\x02\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, rate, err := ReadWAV(bytes.NewReader(data))
		if err != nil {
			if pcm != nil || rate != 0 {
				t.Fatalf("error %v with %d samples at %d Hz", err, len(pcm), rate)
			}
			return
		}
		if rate <= 0 || 2*len(pcm) > len(data) {
			t.Fatalf("%d samples at %d Hz from %d bytes", len(pcm), rate, len(data))
		}
	})
}

func FuzzToneDetector(f *testing.F) {
	f.Add(le16(GenerateDTMF('5', 3*FrameDuration, LevelDBm0(-10))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		// Detection works sample by sample: the chunking must not matter.
		var a, b ToneDetector
		got := feedFrames(&a, pcm)
		var other []rune
		for rest := pcm; len(rest) > 0; {
			n := min(37, len(rest))
			if k, ok := b.Feed(rest[:n]); ok {
				other = append(other, k)
			}
			rest = rest[n:]
		}
		for k, ok := b.Feed(nil); ok; k, ok = b.Feed(nil) {
			other = append(other, k)
		}
		if got != string(other) {
			t.Fatalf("20 ms frames gave %q, 37-sample chunks %q", got, string(other))
		}
		for _, k := range got {
			if !strings.ContainsRune(eventDigits, k) {
				t.Fatalf("reported %q", k)
			}
		}
	})
}
