package media

import (
	"math"
	"testing"
	"time"
)

// rms returns the root mean square of pcm.
func rms(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(len(pcm), 1)))
}

// power returns the normalised power of pcm at freq (A²/2 for a sine of
// peak A at freq).
func power(pcm []int16, freq float64) float64 {
	var re, im float64
	for i, v := range pcm {
		ph := 2 * math.Pi * freq * float64(i) / SampleRate
		re += float64(v) * math.Cos(ph)
		im += float64(v) * math.Sin(ph)
	}
	n := float64(len(pcm))
	return 2 * (re*re + im*im) / (n * n)
}

func TestRingbackCadence(t *testing.T) {
	tests := []struct {
		name   string
		region string
		freqs  []float64
		on     []time.Duration // expected on/off pattern in one period
	}{
		{"EU default", "", []float64{425}, []time.Duration{time.Second, 4 * time.Second}},
		{"NL", "nl", []float64{425}, []time.Duration{time.Second, 4 * time.Second}},
		{"US", "US", []float64{440, 480}, []time.Duration{2 * time.Second, 4 * time.Second}},
		{"UK", "gb", []float64{400, 450}, []time.Duration{400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Ringback(tt.region)
			var period time.Duration
			for _, d := range tt.on {
				period += d
			}
			frame := make([]int16, 0, FrameSamples)
			var all []int16
			for range 2 * int(period/FrameDuration) {
				frame = g.Next(frame[:0])
				if len(frame) != FrameSamples {
					t.Fatalf("frame of %d samples", len(frame))
				}
				all = append(all, frame...)
			}
			// Walk the expected cadence twice; check the middle of each phase.
			pos := 0
			for rep := range 2 {
				for i, d := range tt.on {
					n := samples(d)
					mid := all[pos+n/4 : pos+3*n/4]
					on := i%2 == 0
					if got := rms(mid) > 100; got != on {
						t.Errorf("rep %d phase %d (%v): on=%v, want %v", rep, i, d, got, on)
					}
					if on {
						for _, f := range tt.freqs {
							if p := power(mid, f); p < 0.2*rms(mid)*rms(mid) {
								t.Errorf("phase %d: little power at %v Hz", i, f)
							}
						}
					}
					pos += n
				}
			}
		})
	}
}

func TestToneGenContinuity(t *testing.T) {
	g := NewToneGen(Tone{Freqs: [2]float64{425}, Level: -10})
	var all []int16
	for range 500 { // 10 s, continuous
		all = g.Next(all)
	}
	amp := float64(LevelDBm0(-10))
	// No clicks between frames: the sample-to-sample step of a 425 Hz sine
	// never exceeds 2π·425/8000·A.
	maxStep := 2*math.Pi*425/SampleRate*amp + 2
	for i := FrameSamples; i < len(all); i++ {
		if d := math.Abs(float64(all[i]) - float64(all[i-1])); d > maxStep {
			t.Fatalf("sample %d: step %.0f > %.0f", i, d, maxStep)
		}
	}
	// The amplitude does not drift.
	tail := all[len(all)-SampleRate:]
	if r := rms(tail) * math.Sqrt2; math.Abs(r-amp) > amp*0.01 {
		t.Errorf("peak after 10 s = %.0f, want %.0f", r, amp)
	}
	if got := LevelDBm0(0); got < 22000 || got > 23000 {
		t.Errorf("LevelDBm0(0) = %d", got)
	}
}

func TestBeepSilence(t *testing.T) {
	b := Beep(1000, 250*time.Millisecond)
	if len(b) != 2000 {
		t.Fatalf("Beep len %d", len(b))
	}
	if p := power(b, 1000); p < 0.9*rms(b)*rms(b) {
		t.Errorf("Beep: power at 1 kHz %.0f of %.0f", p, rms(b)*rms(b))
	}
	if b[0] > 2000 || b[0] < -2000 {
		t.Errorf("Beep starts at %d: no ramp", b[0])
	}
	s := Silence(30 * time.Millisecond)
	if len(s) != 240 || rms(s) != 0 {
		t.Errorf("Silence: %d samples, rms %v", len(s), rms(s))
	}
	if Silence(-time.Second) == nil || len(Silence(-time.Second)) != 0 {
		t.Error("Silence(negative) should be empty")
	}
}

func BenchmarkToneGenNext(b *testing.B) {
	g := Ringback("EU")
	dst := make([]int16, 0, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		dst = g.Next(dst[:0])
	}
}
