package media

import (
	"math"
	"slices"
	"testing"
)

func sine(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = clamp16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

func TestResample(t *testing.T) {
	const amp = 10000
	tests := []struct {
		name    string
		rate    int
		freq    float64
		minGain float64 // in dB, output vs input level
		maxGain float64
	}{
		{"22050 1 kHz passes", 22050, 1000, -0.1, 0.1},
		{"22050 3.4 kHz passes", 22050, 3400, -0.1, 0.1},
		{"22050 4.2 kHz stopped", 22050, 4200, math.Inf(-1), -75},
		{"22050 5 kHz stopped", 22050, 5000, math.Inf(-1), -60},
		{"22050 7 kHz stopped", 22050, 7000, math.Inf(-1), -60},
		{"22050 10 kHz stopped", 22050, 10000, math.Inf(-1), -60},
		{"16000 1 kHz passes", 16000, 1000, -0.1, 0.1},
		{"16000 6 kHz stopped", 16000, 6000, math.Inf(-1), -60},
		{"44100 300 Hz passes", 44100, 300, -0.1, 0.1},
		{"48000 12 kHz stopped", 48000, 12000, math.Inf(-1), -60},
		{"6000 1 kHz up", 6000, 1000, -0.1, 0.1},
		{"11025 2 kHz up-ish", 11025, 2000, -0.1, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(tt.freq, tt.rate, tt.rate, amp) // 1 s
			out := Resample(in, tt.rate)
			if want := SampleRate; len(out) != want {
				t.Fatalf("len = %d, want %d", len(out), want)
			}
			mid := out[SampleRate/4 : 3*SampleRate/4] // skip edges
			gain := 20 * math.Log10(rms(mid)/(amp/math.Sqrt2))
			if gain < tt.minGain || gain > tt.maxGain {
				t.Errorf("gain %.2f dB, want %.1f..%.1f", gain, tt.minGain, tt.maxGain)
			}
		})
	}
}

func TestResampleEdges(t *testing.T) {
	if Resample([]int16{1, 2}, 0) != nil || Resample([]int16{1}, -8000) != nil {
		t.Error("non-positive rate should give nil")
	}
	in := []int16{1, 2, 3}
	out := Resample(in, SampleRate)
	out[0] = 9
	if in[0] != 1 || len(out) != 3 {
		t.Error("8 kHz should copy")
	}
	if got := len(Resample(make([]int16, 7), 22050)); got != 3 {
		t.Errorf("7 samples at 22050 → %d, want 3", got)
	}
	if got := Resample(nil, 22050); len(got) != 0 {
		t.Errorf("nil → %v", got)
	}
	dc := make([]int16, 22050)
	for i := range dc {
		dc[i] = 1000
	}
	out = Resample(dc, 22050)
	for i := 100; i < len(out)-100; i++ {
		if out[i] != 1000 {
			t.Fatalf("DC: out[%d] = %d", i, out[i])
		}
	}
	// Full scale clips rather than wrapping around.
	full := Resample(sine(1000, 22050, 22050, 32767), 22050)
	if lo, hi := slices.Min(full), slices.Max(full); lo > -32000 || hi < 32000 {
		t.Errorf("full scale sine → %d..%d", lo, hi)
	}
}

func BenchmarkResample22050(b *testing.B) {
	in := sine(440, 22050, 22050, 10000) // 1 s
	b.ReportAllocs()
	for b.Loop() {
		Resample(in, 22050)
	}
}
