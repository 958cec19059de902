package media

import "math"

// Resampler design: a Kaiser-windowed sinc low-pass with its cutoff at 95 %
// of the lower Nyquist frequency (3.8 kHz when going down to 8 kHz) and 24
// zero crossings per side: flat (±0.1 dB) to 3.4 kHz, at least 75 dB down
// from 4.2 kHz, so aliases land only between 3.8 and 4 kHz. The kernel is
// tabulated at 256 points per zero crossing and interpolated linearly.
const (
	rsCutoff   = 0.95
	rsZeros    = 24
	rsPerZero  = 256
	rsKaiserBe = 8.0 // β: about -80 dB side lobes
)

var rsKernel = func() []float64 {
	k := make([]float64, rsZeros*rsPerZero+2)
	i0b := besselI0(rsKaiserBe)
	for i := range k {
		x := float64(i) / rsPerZero // in zero crossings
		if x > rsZeros {
			continue
		}
		r := x / rsZeros
		w := besselI0(rsKaiserBe*math.Sqrt(1-r*r)) / i0b
		s := 1.0
		if x != 0 {
			s = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		k[i] = s * w
	}
	return k
}()

// besselI0 is the zeroth-order modified Bessel function of the first kind.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-16 {
			break
		}
	}
	return sum
}

// Resample converts pcm sampled at fromRate Hz to 8 kHz, low-pass filtering
// first (Kaiser-windowed sinc FIR: flat to 3.4 kHz, -75 dB from 4.2 kHz) so
// nothing aliases into the telephone band; upsampling uses the same filter,
// scaled to the input's Nyquist frequency, as interpolator. The result has
// len(pcm)·8000/fromRate samples, rounded up. At 8 kHz it returns a copy; for
// fromRate ≤ 0 it returns nil. It allocates the result and is meant for
// preparing prompts, not for the per-packet path.
func Resample(pcm []int16, fromRate int) []int16 {
	switch {
	case fromRate <= 0:
		return nil
	case fromRate == SampleRate:
		return append([]int16(nil), pcm...)
	}
	outLen := int((int64(len(pcm))*SampleRate + int64(fromRate) - 1) / int64(fromRate))
	out := make([]int16, outLen)
	// The cutoff is fc = rsCutoff·min(fromRate, 8000)/2 Hz, so the sinc's
	// zero crossings lie zc = fromRate/(2·fc) input samples apart; the
	// filter spans ±rsZeros·zc.
	zc := float64(fromRate) / (rsCutoff * float64(min(fromRate, SampleRate)))
	span := rsZeros * zc
	step := float64(fromRate) / SampleRate
	for n := range out {
		t := float64(n) * step // centre, in input samples
		lo := max(int(math.Ceil(t-span)), 0)
		hi := min(int(math.Floor(t+span)), len(pcm)-1)
		var acc, wsum float64
		for k := int(math.Ceil(t - span)); k <= int(math.Floor(t+span)); k++ {
			w := kernelAt(math.Abs(t-float64(k)) / zc)
			wsum += w
			if k >= lo && k <= hi {
				acc += w * float64(pcm[k])
			}
		}
		if wsum != 0 {
			out[n] = clamp16(acc / wsum)
		}
	}
	return out
}

// kernelAt interpolates the tabulated kernel at x zero crossings.
func kernelAt(x float64) float64 {
	p := x * rsPerZero
	i := int(p)
	if i >= len(rsKernel)-1 {
		return 0
	}
	f := p - float64(i)
	return rsKernel[i]*(1-f) + rsKernel[i+1]*f
}
