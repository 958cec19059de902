package media

import (
	"math"
	"time"
)

// DTMF frequencies (ITU-T Q.23): rows are the low group, columns the high.
var (
	dtmfRows = [4]float64{697, 770, 852, 941}
	dtmfCols = [4]float64{1209, 1336, 1477, 1633}
)

// dtmfKeys[row][col] is the key at that pair of frequencies.
var dtmfKeys = [4][4]rune{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// dtmfFreqs returns the row and column frequency of a key.
func dtmfFreqs(digit rune) (lo, hi float64, ok bool) {
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	for r, row := range dtmfKeys {
		for c, k := range row {
			if k == digit {
				return dtmfRows[r], dtmfCols[c], true
			}
		}
	}
	return 0, 0, false
}

// GenerateDTMF returns d of 8 kHz PCM holding the two tones of digit
// ('0'-'9', '*', '#', 'A'-'D'), each with peak amplitude amplitude (see
// [LevelDBm0]), with 2 ms ramps at both ends. It returns nil for a character
// that is not a DTMF key.
func GenerateDTMF(digit rune, d time.Duration, amplitude int16) []int16 {
	lo, hi, ok := dtmfFreqs(digit)
	if !ok {
		return nil
	}
	return appendTones(make([]int16, 0, samples(d)), samples(d), float64(amplitude), lo, hi)
}

// appendTones appends n samples of the sum of sines at freqs, each of peak
// amplitude amp, with short linear ramps at both ends to avoid clicks.
func appendTones(dst []int16, n int, amp float64, freqs ...float64) []int16 {
	const ramp = SampleRate * 2 / 1000 // 2 ms
	for i := range n {
		var v float64
		t := float64(i) / SampleRate
		for _, f := range freqs {
			v += math.Sin(2 * math.Pi * f * t)
		}
		g := min(1, float64(i+1)/ramp, float64(n-i)/ramp)
		dst = append(dst, clamp16(v*amp*g))
	}
	return dst
}

// samples converts d to a number of 8 kHz samples (at least 0).
func samples(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(d * SampleRate / time.Second)
}

func clamp16(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// Tone detector parameters. The detector runs eight Goertzel filters over a
// 160-sample (20 ms) window every 80 samples (10 ms): 50 Hz bins separate
// 697 and 770 Hz cleanly, and the overlap lets three consecutive windows
// span 40 ms.
const (
	toneWindow = 160 // samples per Goertzel window
	toneHop    = 80  // samples between windows

	// toneHits consecutive windows must agree before a key is reported; three
	// windows span 40 ms of audio (ITU-T Q.24: accept ≥ 40 ms). A tone
	// shorter than about 28 ms cannot pass.
	toneHits = 3
	// toneGap windows without the reported key re-arm it for a new press:
	// a 10 ms drop-out within one press is bridged, a 40 ms pause is not.
	toneGap = 3
)

// toneParams are the per-window acceptance thresholds.
type toneParams struct {
	minAmp       float64 // weakest peak amplitude per tone
	normalTwist  float64 // dB the high group may be stronger
	reverseTwist float64 // dB the low group may be stronger
	peak         float64 // dB the row/column must beat the others of its group
	harmonic     float64 // dB each tone must beat its own second harmonic
	share        float64 // least share of the window's energy in the two tones

	// derived by init
	minPower, normalRatio, reverseRatio, peakRatio, harmonicRatio, shareF float32
}

func (p toneParams) init() toneParams {
	p.minPower = float32(p.minAmp * p.minAmp * toneWindow / 2)
	p.normalRatio = float32(math.Pow(10, p.normalTwist/10))
	p.reverseRatio = float32(math.Pow(10, p.reverseTwist/10))
	p.peakRatio = float32(math.Pow(10, p.peak/10))
	p.harmonicRatio = float32(math.Pow(10, p.harmonic/10))
	p.shareF = float32(p.share)
	return p
}

var defaultToneParams = toneParams{
	minAmp:       400, // about -35 dBm0
	normalTwist:  8,
	reverseTwist: 4,
	peak:         8,
	harmonic:     10,
	// Half the energy: a ±1.5 % off-frequency tone loses up to 4 dB in its
	// 50 Hz bin and still passes with 10 dB of noise, while espeak-ng speech
	// (13 voices, 6 minutes, filtered and naively decimated) never reached
	// 0.45 in a window that passed the other checks. Extra filters detuned
	// by ±1.5 % to recover the loss let speech through, so there are none.
	share: 0.5,
}.init()

// Goertzel coefficients: rows 0-3, columns 4-7, their second harmonics 8-15.
var toneCoeffs = func() (c [16]float32) {
	for i, f := range append(dtmfRows[:], dtmfCols[:]...) {
		c[i] = goertzelCoeff(f)
		c[8+i] = goertzelCoeff(2 * f)
	}
	return c
}()

func goertzelCoeff(f float64) float32 { return float32(2 * math.Cos(2*math.Pi*f/SampleRate)) }

// rowHarmonicUsable[row][col] reports whether the row's second harmonic is
// far enough (≥ 150 Hz) from the column frequency to be measured; closer,
// the column tone leaks into it.
var rowHarmonicUsable = func() (u [4][4]bool) {
	for r, fr := range dtmfRows {
		for c, fc := range dtmfCols {
			u[r][c] = math.Abs(2*fr-fc) >= 150
		}
	}
	return u
}()

// ToneDetector finds in-band DTMF keys in 8 kHz linear PCM (ITU-T Q.23
// frequencies) and reports each press once.
//
// Every 10 ms it measures the eight DTMF frequencies over the last 20 ms with
// the Goertzel algorithm and accepts a key when one row and one column stand
// out: both above about -35 dBm0, twist within +8/-4 dB, each 8 dB above the
// other frequencies of its group and 10 dB above its own second harmonic,
// and together holding half of the window's energy. A key must hold for three
// consecutive windows (40 ms of audio) to be reported, and is reported again
// only after three windows without it: a 40 ms pause always re-arms it, a
// 10 ms drop-out never does. These checks keep speech, ringback, noise and
// silence from producing keys. The second harmonic of a row is not checked
// where it lies within 150 Hz of the column tone, which leaks into it.
//
// The zero value is ready to use. A ToneDetector must not be used from more
// than one goroutine.
type ToneDetector struct {
	buf  [toneWindow]float32 // last window; buf[fill:] is not yet filled
	fill int                 // samples in buf

	cand     rune // key seen in the last window(s), 0 for none
	candN    int  // consecutive windows with cand
	reported rune // key reported and not yet released, 0 for none
	misses   int  // consecutive windows without reported

	queue  [4]rune // keys found but not yet returned (long Feed calls)
	queued int
}

// Feed processes the next samples of the stream, normally one 20 ms frame,
// and returns a key the first time a press is recognised. Any length is
// accepted; if one call completes more than one press, the later keys are
// returned by the following calls (up to four are held). Feed never panics
// and does not allocate.
func (t *ToneDetector) Feed(pcm []int16) (digit rune, ok bool) {
	for len(pcm) > 0 {
		n := copyPCM(t.buf[t.fill:], pcm)
		pcm = pcm[n:]
		t.fill += n
		if t.fill < toneWindow {
			break
		}
		if k := t.step(t.window()); k != 0 && t.queued < len(t.queue) {
			t.queue[t.queued] = k
			t.queued++
		}
		copy(t.buf[:], t.buf[toneHop:])
		t.fill = toneWindow - toneHop
	}
	if t.queued == 0 {
		return 0, false
	}
	digit = t.queue[0]
	copy(t.queue[:], t.queue[1:t.queued])
	t.queued--
	return digit, true
}

// Reset returns the detector to its initial state.
func (t *ToneDetector) Reset() { *t = ToneDetector{} }

func copyPCM(dst []float32, src []int16) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = float32(src[i])
	}
	return n
}

// step feeds one window's verdict into the press state machine and returns
// a key to report, or 0.
func (t *ToneDetector) step(k rune) rune {
	if k == t.cand {
		t.candN++
	} else {
		t.cand, t.candN = k, 1
	}
	if t.reported != 0 {
		if k == t.reported {
			t.misses = 0
		} else if t.misses++; t.misses >= toneGap {
			t.reported = 0
		}
	}
	if k != 0 && t.candN >= toneHits && k != t.reported {
		t.reported, t.misses = k, 0
		return k
	}
	return 0
}

// window classifies the samples in t.buf: a key, or 0.
func (t *ToneDetector) window() rune { return classify(&t.buf, &defaultToneParams) }

// classify applies the per-window checks to x and returns a key, or 0.
func classify(x *[toneWindow]float32, tp *toneParams) rune {
	var energy float32
	for _, v := range x {
		energy += v * v
	}
	// Two tones at the minimum level hold at least 2·minPower.
	if energy < 2*tp.minPower {
		return 0
	}
	var p [8]float32
	p[0], p[1], p[2], p[3] = goertzel4(x, (*[4]float32)(toneCoeffs[0:4]))
	p[4], p[5], p[6], p[7] = goertzel4(x, (*[4]float32)(toneCoeffs[4:8]))
	row, col := 0, 4
	for i := 1; i < 4; i++ {
		if p[i] > p[row] {
			row = i
		}
		if p[4+i] > p[col] {
			col = 4 + i
		}
	}
	pr, pc := p[row], p[col]
	if pr < tp.minPower || pc < tp.minPower || pc > pr*tp.normalRatio || pr > pc*tp.reverseRatio {
		return 0
	}
	for i := range 4 {
		if i != row && p[i]*tp.peakRatio > pr || 4+i != col && p[4+i]*tp.peakRatio > pc {
			return 0
		}
	}
	if pr+pc < tp.shareF*energy {
		return 0
	}
	if goertzel(x, toneCoeffs[8+col])*tp.harmonicRatio > pc ||
		rowHarmonicUsable[row][col-4] && goertzel(x, toneCoeffs[8+row])*tp.harmonicRatio > pr {
		return 0
	}
	return dtmfKeys[row][col-4]
}

// goertzel returns the power at one frequency over the window, scaled so
// that a sine of peak amplitude A centred on it yields A²·N/2, the same as
// its share of Σx².
func goertzel(x *[toneWindow]float32, coeff float32) float32 {
	var s1, s2 float32
	for _, v := range x {
		s1, s2 = v+coeff*s1-s2, s1
	}
	return goertzelPower(s1, s2, coeff)
}

// goertzel4 runs four Goertzel filters in one pass; the independent
// recurrences overlap in the CPU, about three times faster than four passes.
func goertzel4(x *[toneWindow]float32, c *[4]float32) (p0, p1, p2, p3 float32) {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	var a1, a2, b1, b2, d1, d2, e1, e2 float32
	for _, v := range x {
		a1, a2 = v+c0*a1-a2, a1
		b1, b2 = v+c1*b1-b2, b1
		d1, d2 = v+c2*d1-d2, d1
		e1, e2 = v+c3*e1-e2, e1
	}
	return goertzelPower(a1, a2, c0), goertzelPower(b1, b2, c1),
		goertzelPower(d1, d2, c2), goertzelPower(e1, e2, c3)
}

func goertzelPower(s1, s2, coeff float32) float32 {
	return (s1*s1 + s2*s2 - coeff*s1*s2) * 2 / toneWindow
}
