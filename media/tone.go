package media

import (
	"math"
	"slices"
	"strings"
	"time"
)

// LevelDBm0 returns the peak amplitude of a sine at the given level in dBm0
// (ITU-T G.711: a 0 dBm0 sine peaks 3.17 dB below μ-law full scale, at
// about 22,660). Results are clamped to the int16 range.
func LevelDBm0(dbm0 float64) int16 {
	return clamp16(22656 * math.Pow(10, dbm0/20))
}

// Tone describes a call-progress tone: one or two frequencies and an on/off
// cadence.
type Tone struct {
	Freqs [2]float64 // Hz; 0 for an unused slot
	// Cadence alternates on and off times, starting with on, and repeats;
	// zero entries are ignored. A cadence without off time is a continuous
	// tone.
	Cadence [4]time.Duration
	Level   float64 // per frequency, in dBm0
}

// Call-progress tones (ITU-T E.180 and national variants).
var (
	// RingbackEU is the CEPT ringback tone: 425 Hz, 1 s on, 4 s off.
	RingbackEU = Tone{Freqs: [2]float64{425}, Cadence: [4]time.Duration{time.Second, 4 * time.Second}, Level: -13}
	// RingbackUS is the North American ringback: 440+480 Hz, 2 s on, 4 s off.
	RingbackUS = Tone{Freqs: [2]float64{440, 480}, Cadence: [4]time.Duration{2 * time.Second, 4 * time.Second}, Level: -19}
	// RingbackUK is the British ringback: 400+450 Hz, 0.4 on, 0.2 off,
	// 0.4 on, 2 s off.
	RingbackUK = Tone{Freqs: [2]float64{400, 450}, Cadence: [4]time.Duration{400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second}, Level: -19}
	// BusyEU is the CEPT busy tone: 425 Hz, 0.5 s on, 0.5 s off.
	BusyEU = Tone{Freqs: [2]float64{425}, Cadence: [4]time.Duration{500 * time.Millisecond, 500 * time.Millisecond}, Level: -13}
)

// Ringback returns a generator for the ringback tone of an ISO 3166 region:
// "US" and "CA" get [RingbackUS], "GB" and "UK" get [RingbackUK], anything
// else (including "") gets the European [RingbackEU].
func Ringback(region string) *ToneGen {
	switch strings.ToUpper(strings.TrimSpace(region)) {
	case "US", "CA":
		return NewToneGen(RingbackUS)
	case "GB", "UK":
		return NewToneGen(RingbackUK)
	}
	return NewToneGen(RingbackEU)
}

// ToneGen produces a [Tone] one frame at a time, keeping the oscillator phase
// and the position in the cadence across calls. Bursts start and stop with
// 4 ms ramps, so frame edges never click. A ToneGen must not be used from
// more than one goroutine.
type ToneGen struct {
	rot    [2]complex128 // per-sample phase rotation of each frequency
	osc    [2]complex128 // oscillator state (unit phasors)
	nfreq  int
	amp    float64
	phases [4]int // cadence entries in samples
	period int    // sum of phases; 0 for a continuous tone
	pos    int    // position within period
}

// NewToneGen returns a generator for t, starting at the beginning of its
// first burst.
func NewToneGen(t Tone) *ToneGen {
	g := &ToneGen{amp: float64(LevelDBm0(t.Level))}
	for _, f := range t.Freqs {
		if f > 0 && f < SampleRate/2 {
			s, c := math.Sincos(2 * math.Pi * f / SampleRate)
			g.rot[g.nfreq] = complex(c, s)
			g.osc[g.nfreq] = 1
			g.nfreq++
		}
	}
	var off int
	for i, d := range t.Cadence {
		g.phases[i] = samples(d)
		g.period += g.phases[i]
		if i%2 == 1 {
			off += g.phases[i]
		}
	}
	if off == 0 { // never off: a continuous tone
		g.period = 0
	}
	return g
}

// Next appends one 20 ms frame ([FrameSamples] samples) to dst and returns
// the extended slice. It does not allocate when dst has capacity.
func (g *ToneGen) Next(dst []int16) []int16 {
	n := len(dst)
	dst = slices.Grow(dst, FrameSamples)[:n+FrameSamples]
	out := dst[n:]
	const ramp = SampleRate * 4 / 1000
	for i := range out {
		gain := 1.0
		if g.period > 0 {
			on, left, elapsed := g.cadence()
			if !on {
				out[i] = 0
				g.pos = (g.pos + 1) % g.period
				if left == 1 { // a burst starts next: restart the phase
					g.osc = [2]complex128{1, 1}
				}
				continue
			}
			gain = min(1, float64(elapsed+1)/ramp, float64(left)/ramp)
			g.pos = (g.pos + 1) % g.period
		}
		var v float64
		for k := range g.nfreq {
			v += imag(g.osc[k])
			g.osc[k] *= g.rot[k]
		}
		out[i] = clamp16(v * g.amp * gain)
	}
	// Renormalise the phasors so rounding never changes the amplitude.
	for k := range g.nfreq {
		if a := cmplxAbs(g.osc[k]); a != 0 {
			g.osc[k] /= complex(a, 0)
		}
	}
	return dst
}

// cadence reports whether g.pos is in an on phase, how many samples are left
// in that phase (including the current one) and how many have elapsed.
func (g *ToneGen) cadence() (on bool, left, elapsed int) {
	p := g.pos
	for i, d := range g.phases {
		if p < d {
			return i%2 == 0, d - p, p
		}
		p -= d
	}
	return false, 1, 0
}

func cmplxAbs(c complex128) float64 { return math.Hypot(real(c), imag(c)) }

// Beep returns d of a sine at freq Hz at -13 dBm0, with 4 ms ramps.
func Beep(freq float64, d time.Duration) []int16 {
	n := samples(d)
	out := make([]int16, 0, n)
	const ramp = SampleRate * 4 / 1000
	amp := float64(LevelDBm0(-13))
	for i := range n {
		g := min(1, float64(i+1)/ramp, float64(n-i)/ramp)
		out = append(out, clamp16(amp*g*math.Sin(2*math.Pi*freq*float64(i)/SampleRate)))
	}
	return out
}

// Silence returns d of silence.
func Silence(d time.Duration) []int16 {
	return make([]int16, samples(d))
}
