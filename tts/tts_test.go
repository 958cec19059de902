package tts

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

func TestEspeak(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed")
	}
	s, err := New(EngineEspeak, "", nil)
	if err != nil || !s.Speaking() {
		t.Fatalf("New: %v speaking=%v", err, s.Speaking())
	}
	for _, lang := range []string{"nl", "en", "de", "fr"} {
		t.Run(lang, func(t *testing.T) {
			p := dialer.Prompt{Name: dialer.PromptWhisper, Text: "New lead from the website: Eva Jansen, Volvo XC60. Press 1 to connect."}
			a, err := s.Speak(context.Background(), lang, p)
			if err != nil {
				t.Fatal(err)
			}
			if d := a.Duration(); d < 2*time.Second || d > 20*time.Second {
				t.Errorf("whisper lasts %v", d)
			}
			if rms(a) < 300 {
				t.Errorf("whisper is nearly silent: rms %.0f", rms(a))
			}
			again, _ := s.Speak(context.Background(), lang, p)
			if &again[0] != &a[0] {
				t.Error("second render not cached")
			}
		})
	}
	// Text that looks like an option is spoken, not obeyed.
	if _, err := s.Speak(context.Background(), "en", dialer.Prompt{Text: "--help -w /tmp/x"}); err != nil {
		t.Error(err)
	}
}

func TestTonesWithoutEngine(t *testing.T) {
	s := &Speaker{engine: EngineEspeak, cache: map[key]dialer.Audio{}}
	a, err := s.Speak(context.Background(), "nl", dialer.Prompt{Name: dialer.PromptWhisper, Text: "x"})
	if err != nil || a.Duration() < 500*time.Millisecond || rms(a) < 1000 {
		t.Errorf("tones: %v, %v, rms %.0f", err, a.Duration(), rms(a))
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "nl"), 0o755)
	writeWAV(t, filepath.Join(dir, "nl", "connecting.wav"), 16000, 16000)
	s, err := New(EngineFiles, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Speak(context.Background(), "nl", dialer.Prompt{Name: dialer.PromptConnecting})
	if err != nil || len(a) != 8000 {
		t.Errorf("got %d samples, %v; want 8000", len(a), err)
	}
	if _, err := s.Speak(context.Background(), "nl", dialer.Prompt{Name: "missing"}); err == nil {
		t.Error("missing prompt file: no error")
	}
	if _, err := New(EngineFiles, filepath.Join(dir, "nope"), nil); err == nil {
		t.Error("missing directory: no error")
	}
	if _, err := New("festival", "", nil); err == nil {
		t.Error("unknown engine: no error")
	}
}

func writeWAV(t *testing.T, path string, rate, n int) {
	t.Helper()
	data := make([]byte, 44+2*n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], uint32(rate))
	binary.LittleEndian.PutUint32(data[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := range n {
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(int16(8000*math.Sin(float64(i)/5))))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func rms(a dialer.Audio) float64 {
	var sum float64
	for _, v := range a {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(a), 1)))
}

// TestEspeakSeesNoControlCharacters runs a stand-in for espeak-ng that keeps what it
// reads: no control character (U+0001 starts an espeak-ng command) and no broken UTF-8
// reaches it, whatever the text holds.
func TestEspeakSeesNoControlCharacters(t *testing.T) {
	dir := t.TempDir()
	wav, got := filepath.Join(dir, "out.wav"), filepath.Join(dir, "stdin")
	writeWAV(t, wav, 8000, 800)
	fake := filepath.Join(dir, "espeak-ng")
	script := "#!/bin/sh\ncat > '" + got + "'\ncat '" + wav + "'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Speaker{engine: EngineEspeak, espeak: fake, cache: map[key]dialer.Audio{}}
	text := "Eva\x0150A Jansen\x01" + "2S, Volvo\u0085XC60\x7f\x1b[0m\r\n\tline\xff\xfetwo\x00. Druk op 1."
	if _, err := s.Speak(context.Background(), "nl", dialer.Prompt{Name: dialer.PromptWhisper, Text: text}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	const want = "Eva 50A Jansen 2S, Volvo XC60  [0m   line two . Druk op 1."
	if string(b) != want {
		t.Errorf("espeak-ng read %q, want %q", b, want)
	}
}

func TestSpeakable(t *testing.T) {
	for in, want := range map[string]string{
		"Eva Jansen, Volvo XC60": "Eva Jansen, Volvo XC60",
		"Zoë Ümit – Škoda":       "Zoë Ümit – Škoda",
		"a\x01b\x1fc\x7fd":       "a b c d",
		"a\u0080b\u009fc":        "a b c",
		"a\r\nb\tc":              "a  b c",
		"a\xffb\xc3":             "a b ",
	} {
		if got := speakable(in); got != want {
			t.Errorf("speakable(%q) = %q, want %q", in, got, want)
		}
	}
}
