package media

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Audio format constants shared by the call path.
const (
	// SampleRate is the G.711 sample rate in Hz.
	SampleRate = 8000
	// FrameDuration is the packet time used by Leadline (SDP ptime 20).
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples (and G.711 bytes) in one frame.
	FrameSamples = SampleRate * int(FrameDuration/time.Millisecond) / 1000
)

// Codec is a G.711 companding law. Its value is its static RTP payload type
// (RFC 3551 §6), so the zero value is PCMU.
type Codec uint8

// The G.711 codecs.
const (
	PCMU Codec = 0 // G.711 μ-law, RTP payload type 0
	PCMA Codec = 8 // G.711 A-law, RTP payload type 8
)

// String returns the SDP encoding name ("PCMU", "PCMA"), or "Codec(n)".
func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// PayloadType returns the static RTP payload type of c.
func (c Codec) PayloadType() uint8 { return uint8(c) }

// Valid reports whether c is PCMU or PCMA.
func (c Codec) Valid() bool { return c == PCMU || c == PCMA }

// SilenceByte returns the payload byte that decodes to (near) zero: 0xFF for
// PCMU, 0xD5 for PCMA.
func (c Codec) SilenceByte() byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}

// CodecForPayloadType maps RTP payload type 0 or 8 to its codec.
func CodecForPayloadType(pt uint8) (Codec, bool) {
	c := Codec(pt)
	return c, c.Valid()
}

// CodecByName maps an SDP encoding name ("PCMU", "pcma", "PCMU/8000") to its
// codec. A clock rate other than 8000 is rejected.
func CodecByName(name string) (Codec, bool) {
	name, rate, hasRate := strings.Cut(strings.TrimSpace(name), "/")
	if hasRate {
		rate, _, _ = strings.Cut(rate, "/") // channels
		if strings.TrimSpace(rate) != "8000" {
			return 0, false
		}
	}
	switch {
	case strings.EqualFold(name, "PCMU"):
		return PCMU, true
	case strings.EqualFold(name, "PCMA"):
		return PCMA, true
	}
	return 0, false
}

// Encode appends the G.711 encoding of pcm (one byte per sample) to dst and
// returns the extended slice. It does not allocate when dst has capacity for
// len(pcm) more bytes. For an invalid codec it returns dst unchanged.
func Encode(c Codec, dst []byte, pcm []int16) []byte {
	var out []byte
	switch c {
	case PCMU:
		dst, out = grow(dst, len(pcm))
		out = out[:len(pcm)] // drop the bounds checks below
		for i, s := range pcm {
			out[i] = ulawEnc[uint16(s)>>2]
		}
	case PCMA:
		dst, out = grow(dst, len(pcm))
		out = out[:len(pcm)]
		for i, s := range pcm {
			out[i] = alawEnc[uint16(s)>>3]
		}
	}
	return dst
}

// Decode appends the linear PCM decoding of a G.711 payload to dst and
// returns the extended slice. It does not allocate when dst has capacity for
// len(payload) more samples. For an invalid codec it returns dst unchanged.
func Decode(c Codec, dst []int16, payload []byte) []int16 {
	var tab *[256]int16
	switch c {
	case PCMU:
		tab = &ulawDec
	case PCMA:
		tab = &alawDec
	default:
		return dst
	}
	n := len(dst)
	dst = slices.Grow(dst, len(payload))[:n+len(payload)]
	out := dst[n:]
	out = out[:len(payload)] // drop the bounds checks below
	for i, b := range payload {
		out[i] = tab[b]
	}
	return dst
}

// Transcode appends payload, converted from one G.711 law to the other by
// direct table lookup (ITU-T G.711 Tables 3 and 4), to dst and returns the
// extended slice. When from == to the payload is copied. It does not allocate
// when dst has capacity. For an invalid codec it returns dst unchanged.
func Transcode(from, to Codec, dst, payload []byte) []byte {
	if !from.Valid() || !to.Valid() {
		return dst
	}
	if from == to {
		return append(dst, payload...)
	}
	tab := &ulawToAlaw
	if from == PCMA {
		tab = &alawToUlaw
	}
	var out []byte
	dst, out = grow(dst, len(payload))
	out = out[:len(payload)] // drop the bounds checks below
	for i, b := range payload {
		out[i] = tab[b]
	}
	return dst
}

// grow extends dst by n bytes and returns it with the new tail.
func grow(dst []byte, n int) (all, tail []byte) {
	l := len(dst)
	dst = slices.Grow(dst, n)[:l+n]
	return dst, dst[l:]
}

// Lookup tables, built once at init from the reference algorithms below.
// Encoding depends only on the top 14 (μ-law) or 13 (A-law) bits of a
// sample, so the encoders index by uint16(s)>>2 and uint16(s)>>3.
var (
	ulawEnc    [1 << 14]byte
	alawEnc    [1 << 13]byte
	ulawDec    [256]int16
	alawDec    [256]int16
	ulawToAlaw [256]byte
	alawToUlaw [256]byte
)

func init() {
	for i := range ulawEnc {
		ulawEnc[i] = ulawEncode(int16(uint16(i) << 2))
	}
	for i := range alawEnc {
		alawEnc[i] = alawEncode(int16(uint16(i) << 3))
	}
	for i := range 256 {
		ulawDec[i] = ulawDecode(byte(i))
		alawDec[i] = alawDecode(byte(i))
	}
	for i := range 256 {
		ulawToAlaw[i] = alawEncode(ulawDec[i])
		alawToUlaw[i] = ulawEncode(alawDec[i])
	}
}

// ulawEncode is the ITU-T G.711 μ-law encoder (14-bit magnitude, bias 33),
// as in the Sun reference implementation.
func ulawEncode(s int16) byte {
	const (
		bias = 0x21
		clip = 0x1FFF
	)
	v := int32(s) >> 2
	mask := byte(0xFF)
	if v < 0 {
		v = -v - 1 // one's complement magnitude, as the reference does
		mask = 0x7F
	}
	v += bias
	if v > clip {
		v = clip
	}
	seg := byte(0)
	for t := v >> 6; t != 0; t >>= 1 {
		seg++
	}
	return (seg<<4 | byte(v>>(seg+1))&0x0F) ^ mask
}

func ulawDecode(u byte) int16 {
	u = ^u
	t := (int32(u&0x0F)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// alawEncode is the ITU-T G.711 A-law encoder (13-bit magnitude).
func alawEncode(s int16) byte {
	v := int32(s) >> 3
	mask := byte(0xD5)
	if v < 0 {
		v = -v - 1
		mask = 0x55
	}
	seg := byte(0)
	for t := v >> 5; t != 0; t >>= 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	var a byte
	if seg < 2 {
		a = byte(v>>1) & 0x0F
	} else {
		a = byte(v>>seg) & 0x0F
	}
	return (seg<<4 | a) ^ mask
}

func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
