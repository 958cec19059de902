package media

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// feedFrames feeds pcm to d in 20 ms frames and returns the keys reported.
func feedFrames(d *ToneDetector, pcm []int16) string {
	var got []rune
	for len(pcm) > 0 {
		n := min(FrameSamples, len(pcm))
		if k, ok := d.Feed(pcm[:n]); ok {
			got = append(got, k)
		}
		pcm = pcm[n:]
	}
	for { // drain keys queued by a long last frame
		k, ok := d.Feed(nil)
		if !ok {
			break
		}
		got = append(got, k)
	}
	return string(got)
}

// detect runs a fresh detector over pcm.
func detect(pcm []int16) string {
	var d ToneDetector
	return feedFrames(&d, pcm)
}

// addNoise adds white noise of the given RMS level, deterministically.
func addNoise(pcm []int16, rms float64, seed uint64) []int16 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, len(pcm))
	for i, s := range pcm {
		out[i] = clamp16(float64(s) + r.NormFloat64()*rms)
	}
	return out
}

// viaG711 encodes and decodes pcm.
func viaG711(c Codec, pcm []int16) []int16 {
	return Decode(c, nil, Encode(c, nil, pcm))
}

// concat joins pieces of PCM.
func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// twoTones returns d of lo and hi Hz with separate amplitudes.
func twoTones(lo, hi float64, aLo, aHi float64, d time.Duration) []int16 {
	n := samples(d)
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / SampleRate
		out[i] = clamp16(aLo*math.Sin(2*math.Pi*lo*t) + aHi*math.Sin(2*math.Pi*hi*t))
	}
	return out
}

const allKeys = "123A456B789C*0#D"

func TestGenerateDTMF(t *testing.T) {
	if GenerateDTMF('x', time.Second, 1000) != nil {
		t.Error("GenerateDTMF('x') != nil")
	}
	pcm := GenerateDTMF('d', 100*time.Millisecond, 1000)
	if len(pcm) != 800 {
		t.Fatalf("len = %d, want 800", len(pcm))
	}
	if got := detect(pcm); got != "D" {
		t.Errorf("lower-case d detected as %q", got)
	}
}

func TestToneDetectorAllKeys(t *testing.T) {
	level := LevelDBm0(-10)                      // per tone
	noiseRMS := float64(level) / math.Sqrt2 / 10 // 20 dB below each tone
	gap := Silence(60 * time.Millisecond)
	tests := []struct {
		name string
		make func(key rune) []int16
	}{
		{"clean 100ms", func(k rune) []int16 { return GenerateDTMF(k, 100*time.Millisecond, level) }},
		{"clean 40ms", func(k rune) []int16 { return GenerateDTMF(k, 40*time.Millisecond, level) }},
		{"clean 2s", func(k rune) []int16 { return GenerateDTMF(k, 2*time.Second, level) }},
		{"-25 dBm0", func(k rune) []int16 { return GenerateDTMF(k, 80*time.Millisecond, LevelDBm0(-25)) }},
		{"-3 dBm0", func(k rune) []int16 { return GenerateDTMF(k, 80*time.Millisecond, LevelDBm0(-3)) }},
		{"noise 20dB", func(k rune) []int16 {
			return addNoise(concat(gap, GenerateDTMF(k, 80*time.Millisecond, level), gap), noiseRMS, uint64(k))
		}},
		{"PCMU", func(k rune) []int16 { return viaG711(PCMU, GenerateDTMF(k, 60*time.Millisecond, level)) }},
		{"PCMA", func(k rune) []int16 { return viaG711(PCMA, GenerateDTMF(k, 60*time.Millisecond, level)) }},
		{"PCMA noise 20dB", func(k rune) []int16 {
			return viaG711(PCMA, addNoise(concat(gap, GenerateDTMF(k, 80*time.Millisecond, level), gap), noiseRMS, uint64(k)))
		}},
		{"PCMU -25 dBm0 noise", func(k rune) []int16 {
			a := LevelDBm0(-25)
			return viaG711(PCMU, addNoise(GenerateDTMF(k, 80*time.Millisecond, a), float64(a)/math.Sqrt2/10, uint64(k)))
		}},
		{"twist +6dB", func(k rune) []int16 {
			lo, hi, _ := dtmfFreqs(k)
			return twoTones(lo, hi, float64(level)/2, float64(level), 80*time.Millisecond)
		}},
		{"twist -3dB", func(k rune) []int16 {
			lo, hi, _ := dtmfFreqs(k)
			return twoTones(lo, hi, float64(level), float64(level)*0.7, 80*time.Millisecond)
		}},
		{"freq +1.5%", func(k rune) []int16 {
			lo, hi, _ := dtmfFreqs(k)
			return twoTones(lo*1.015, hi*1.015, float64(level), float64(level), 80*time.Millisecond)
		}},
		{"freq -1.5%", func(k rune) []int16 {
			lo, hi, _ := dtmfFreqs(k)
			return twoTones(lo*0.985, hi*0.985, float64(level), float64(level), 80*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range allKeys {
				// Offset the tone inside the frame grid: 37 samples of silence.
				pcm := concat(make([]int16, 37), tt.make(k), gap)
				if got := detect(pcm); got != string(k) {
					t.Errorf("key %c: detected %q", k, got)
				}
			}
		})
	}
}

func TestToneDetectorSequences(t *testing.T) {
	level := LevelDBm0(-10)
	key := func(k rune, ms int) []int16 { return GenerateDTMF(k, time.Duration(ms)*time.Millisecond, level) }
	pause := func(ms int) []int16 { return Silence(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name string
		pcm  []int16
		want string
	}{
		{"dialled string", concat(key('1', 60), pause(50), key('2', 60), pause(50), key('#', 60), pause(50), key('*', 60), pause(50), key('0', 60)), "12#*0"},
		{"same key twice, 40ms pause", concat(key('5', 60), pause(40), key('5', 60), pause(40)), "55"},
		{"same key, 10ms drop-out", concat(key('7', 150), pause(10), key('7', 150)), "7"},
		{"key change without pause", concat(key('1', 100), key('9', 100)), "19"},
		{"held key", key('3', 5000), "3"},
		{"too short 20ms", concat(key('4', 20), pause(100)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detect(tt.pcm); got != tt.want {
				t.Errorf("detected %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("long Feed calls", func(t *testing.T) {
		var pcm []int16
		for _, k := range "147*" {
			pcm = concat(pcm, key(k, 60), pause(60))
		}
		var d ToneDetector
		k, ok := d.Feed(pcm)
		got := string(k)
		for ok {
			if k, ok = d.Feed(nil); ok {
				got += string(k)
			}
		}
		if got != "147*" {
			t.Errorf("detected %q, want %q", got, "147*")
		}
	})
}

func TestToneDetectorRejects(t *testing.T) {
	tone := func(tn Tone, d time.Duration) []int16 {
		g := NewToneGen(tn)
		var out []int16
		for range int(d / FrameDuration) {
			out = g.Next(out)
		}
		return out
	}
	level := float64(LevelDBm0(-10))
	tests := []struct {
		name string
		pcm  []int16
	}{
		{"silence", Silence(5 * time.Second)},
		{"white noise -10dBm0", addNoise(Silence(5*time.Second), level/math.Sqrt2, 1)},
		{"white noise loud", addNoise(Silence(5*time.Second), 8000, 2)},
		{"white noise quiet", addNoise(Silence(5*time.Second), 100, 3)},
		{"ringback EU", tone(RingbackEU, 10*time.Second)},
		{"ringback EU loud", tone(Tone{Freqs: [2]float64{425}, Level: 0}, 3*time.Second)},
		{"ringback US", tone(RingbackUS, 10*time.Second)},
		{"ringback US loud", tone(Tone{Freqs: [2]float64{440, 480}, Level: -3}, 3*time.Second)},
		{"ringback UK", tone(RingbackUK, 10*time.Second)},
		{"busy EU", tone(BusyEU, 5*time.Second)},
		{"beep 1 kHz", Beep(1000, time.Second)},
		{"one row tone 697 Hz", twoTones(697, 0, level, 0, time.Second)},
		{"one column tone 1336 Hz", twoTones(1336, 0, level, 0, time.Second)},
		{"twist 12dB", twoTones(770, 1336, level/4, level, time.Second)},
		{"reverse twist 8dB", twoTones(770, 1336, level, level/2.5, time.Second)},
		{"-45 dBm0", GenerateDTMF('5', time.Second, LevelDBm0(-45))},
		{"two rows", twoTones(697, 852, level, level, time.Second)},
		{"ringback PCMA", viaG711(PCMA, tone(RingbackEU, 10*time.Second))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := detect(tt.pcm); got != "" {
				t.Errorf("detected %q in %s", got, tt.name)
			}
		})
	}
}

// TestToneDetectorSpeech is the talk-off test: synthetic speech from
// espeak-ng in several voices must produce no key.
func TestToneDetectorSpeech(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not on PATH")
	}
	texts := []struct {
		name, voice, text string
	}{
		{"en whisper", "en", "New lead from the website, Eva Jansen, Volvo XC60. Press 1 to connect"},
		{"en female", "en+f3", "New lead from the website, Eva Jansen, Volvo XC60. Press 1 to connect, press 2 to pass."},
		{"en numbers", "en-us", "One two three four five six seven eight nine zero, star, hash. Oh, ah, ee, oo, mmm."},
		{"en sung vowels", "en+klatt", "Aaaaaah. Eeeeeeee. Ooooooooh. Uuuuuuh. Hello? Hello? Are you there?"},
		{"nl", "nl", "Nieuwe aanvraag via de website van Eva Jansen voor een Volvo XC60. Druk op 1 om te verbinden."},
		{"de", "de", "Neue Anfrage von der Webseite, Eva Jansen, Volvo XC60. Drücken Sie die Eins zum Verbinden."},
		{"fr high pitch", "fr+f5", "Nouveau contact depuis le site web, Eva Jansen, Volvo XC60. Appuyez sur un pour connecter."},
	}
	dir := t.TempDir()
	for i, tt := range texts {
		t.Run(tt.name, func(t *testing.T) {
			wav := filepath.Join(dir, "speech"+strconv.Itoa(i)+".wav")
			args := []string{"-v", tt.voice, "-w", wav, tt.text}
			if out, err := exec.Command("espeak-ng", args...).CombinedOutput(); err != nil {
				t.Skipf("espeak-ng %v: %v: %s", args, err, out)
			}
			b, err := os.ReadFile(wav)
			if err != nil {
				t.Fatal(err)
			}
			pcm, rate, err := ReadWAV(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			pcm8 := Resample(pcm, rate)
			if len(pcm8) < SampleRate {
				t.Fatalf("only %d samples of speech", len(pcm8))
			}
			// Also try louder speech: talk-off gets harder with level.
			loud := make([]int16, len(pcm8))
			for i, s := range pcm8 {
				loud[i] = clamp16(float64(s) * 2)
			}
			for name, p := range map[string][]int16{
				"linear": pcm8, "PCMA": viaG711(PCMA, pcm8), "PCMU": viaG711(PCMU, pcm8), "loud": loud,
				"naive decimation": decimate(pcm, rate),
			} {
				if got := detect(p); got != "" {
					t.Errorf("%s: detected %q in speech", name, got)
				}
			}
		})
	}
}

// decimate resamples by picking the nearest sample, with no filter: the
// aliasing makes it a harder talk-off test than Resample.
func decimate(pcm []int16, rate int) []int16 {
	n := len(pcm) * SampleRate / rate
	out := make([]int16, n)
	for i := range out {
		out[i] = pcm[i*rate/SampleRate]
	}
	return out
}

func BenchmarkToneDetectorFeed(b *testing.B) {
	speech := addNoise(Silence(time.Second), 3000, 9)
	key := GenerateDTMF('8', time.Second, LevelDBm0(-10))
	for _, bc := range []struct {
		name string
		pcm  []int16
	}{{"silence", Silence(time.Second)}, {"noise", speech}, {"key", key}} {
		b.Run(bc.name, func(b *testing.B) {
			var d ToneDetector
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.Feed(bc.pcm[i : i+FrameSamples])
				i = (i + FrameSamples) % len(bc.pcm)
			}
		})
	}
}
