package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// wavFile describes a WAV file to build for a test.
type wavFile struct {
	format, channels, bits uint16
	rate                   uint32
	riffSize, dataSize     uint32 // 0 means "the real size" unless stream is set
	stream                 bool   // write dataSize as given, even 0
	extensible             bool
	before                 []byte // raw chunks between fmt and data
	data                   []byte
}

func (w wavFile) bytes() []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	riff := w.riffSize
	if riff == 0 && !w.stream {
		riff = uint32(4 + 8 + 16 + len(w.before) + 8 + len(w.data))
	}
	le(riff)
	b.WriteString("WAVEfmt ")
	if w.extensible {
		le(uint32(40))
		le(uint16(0xFFFE))
	} else {
		le(uint32(16))
		le(w.format)
	}
	le(w.channels)
	le(w.rate)
	le(w.rate * uint32(w.channels) * uint32(w.bits) / 8)
	le(w.channels * w.bits / 8)
	le(w.bits)
	if w.extensible {
		le(uint16(22))
		le(w.bits)
		le(uint32(4))
		le(w.format) // sub-format GUID starts with the format tag
		b.Write([]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71})
	}
	b.Write(w.before)
	b.WriteString("data")
	size := w.dataSize
	if size == 0 && !w.stream {
		size = uint32(len(w.data))
	}
	le(size)
	b.Write(w.data)
	return b.Bytes()
}

func le16(s ...int16) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func TestReadWAV(t *testing.T) {
	samples := []int16{0, 1, -1, 32767, -32768, 1234}
	pcm16 := func(w wavFile) wavFile {
		w.format, w.channels, w.bits, w.rate = 1, 1, 16, 22050
		if w.data == nil {
			w.data = le16(samples...)
		}
		return w
	}
	list := append([]byte("LIST"), 3, 0, 0, 0, 'a', 'b', 'c', 0) // odd size, padded
	tests := []struct {
		name    string
		in      []byte
		want    []int16
		wantErr error
	}{
		{"plain", pcm16(wavFile{}).bytes(), samples, nil},
		{"streaming 0xFFFFFFFF", pcm16(wavFile{stream: true, riffSize: 0xFFFFFFFF, dataSize: 0xFFFFFFFF}).bytes(), samples, nil},
		{"streaming 0", pcm16(wavFile{stream: true}).bytes(), samples, nil},
		{"espeak-ng --stdout sizes", pcm16(wavFile{stream: true, riffSize: 0x7ffff024, dataSize: 0x7ffff000}).bytes(), samples, nil},
		{"declared size shorter", pcm16(wavFile{dataSize: 4}).bytes(), samples[:2], nil},
		{"odd trailing byte", pcm16(wavFile{data: append(le16(samples...), 0x7F)}).bytes(), samples, nil},
		{"LIST chunk before data", pcm16(wavFile{before: list}).bytes(), samples, nil},
		{"extensible PCM", pcm16(wavFile{extensible: true}).bytes(), samples, nil},
		{"empty data", pcm16(wavFile{data: []byte{}}).bytes(), nil, nil},
		{"stereo", wavFile{format: 1, channels: 2, bits: 16, rate: 8000, data: le16(samples...)}.bytes(), nil, ErrUnsupportedWAV},
		{"8-bit", wavFile{format: 1, channels: 1, bits: 8, rate: 8000, data: []byte{1, 2}}.bytes(), nil, ErrUnsupportedWAV},
		{"float", wavFile{format: 3, channels: 1, bits: 32, rate: 8000}.bytes(), nil, ErrUnsupportedWAV},
		{"A-law", wavFile{format: 6, channels: 1, bits: 8, rate: 8000}.bytes(), nil, ErrUnsupportedWAV},
		{"extensible float", wavFile{format: 3, channels: 1, bits: 32, rate: 8000, extensible: true}.bytes(), nil, ErrUnsupportedWAV},
		{"rate 0", wavFile{format: 1, channels: 1, bits: 16, rate: 0}.bytes(), nil, ErrUnsupportedWAV},
		{"empty", nil, nil, ErrNotWAV},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVEfmt "), nil, ErrNotWAV},
		{"not WAVE", []byte("RIFF\x00\x00\x00\x00AVI LIST"), nil, ErrNotWAV},
		{"no fmt", append([]byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00"), 1, 2), nil, ErrNotWAV},
		{"cut in fmt", pcm16(wavFile{}).bytes()[:30], nil, ErrNotWAV},
		{"no data chunk", pcm16(wavFile{}).bytes()[:36], nil, ErrNotWAV},
		{"huge chunk", append(pcm16(wavFile{}).bytes()[:36], "junk\xff\xff\xff\x7f"...), nil, ErrNotWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, rate, err := ReadWAV(bytes.NewReader(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rate != 22050 {
				t.Errorf("rate = %d", rate)
			}
			if len(pcm) != len(tt.want) {
				t.Fatalf("pcm = %v, want %v", pcm, tt.want)
			}
			for i := range pcm {
				if pcm[i] != tt.want[i] {
					t.Fatalf("pcm = %v, want %v", pcm, tt.want)
				}
			}
		})
	}
	t.Run("error text", func(t *testing.T) {
		_, _, err := ReadWAV(bytes.NewReader(wavFile{format: 1, channels: 2, bits: 16, rate: 8000}.bytes()))
		if err == nil || err.Error() != "read wav: unsupported wav format: 2 channels, want mono" {
			t.Errorf("err = %v", err)
		}
	})
}

// TestReadWAVEspeak reads espeak-ng's file and streaming output.
func TestReadWAVEspeak(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not on PATH")
	}
	out, err := exec.Command("espeak-ng", "-v", "en", "--stdout", "Press 1 to connect").Output()
	if err != nil {
		t.Skipf("espeak-ng: %v", err)
	}
	if size := binary.LittleEndian.Uint32(out[40:44]); size != uint32(len(out)-44) {
		t.Logf("streaming header: data size %#x for %d bytes", size, len(out)-44)
	}
	pcm, rate, err := ReadWAV(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if rate != 22050 || len(pcm) != (len(out)-44)/2 {
		t.Fatalf("rate %d, %d samples from %d bytes", rate, len(pcm), len(out))
	}
	tel := Resample(pcm, rate)
	if d := time.Duration(len(tel)) * time.Second / SampleRate; d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("speech lasts %v", d)
	}
}
