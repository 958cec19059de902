package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WAV errors. ReadWAV wraps them with detail; test with errors.Is.
var (
	// ErrNotWAV means the input is not a RIFF/WAVE file or is cut short
	// before its audio data.
	ErrNotWAV = errors.New("not a wav file")
	// ErrUnsupportedWAV means a WAVE file whose audio is not 16-bit linear
	// PCM mono.
	ErrUnsupportedWAV = errors.New("unsupported wav format")
)

// maxWAVSamples bounds what ReadWAV will read (one hour at 48 kHz), so a
// hostile file cannot make it allocate without limit.
const maxWAVSamples = 48000 * 3600

// ReadWAV reads a RIFF/WAVE file of 16-bit little-endian linear PCM mono and
// returns its samples and sample rate. Other formats (stereo, 8-bit, float,
// A-law…) fail with an error wrapping [ErrUnsupportedWAV]; input that is not
// a WAVE file fails with [ErrNotWAV].
//
// It tolerates streaming headers, as written by espeak-ng --stdout: a data
// chunk size of 0, 0xFFFFFFFF or more than is present means "until end of
// input", and the RIFF size is ignored. A trailing odd byte is dropped.
// WAVE_FORMAT_EXTENSIBLE with a PCM sub-format is accepted. Chunks other
// than "fmt " and "data" are skipped.
func ReadWAV(r io.Reader) (pcm []int16, rate int, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("read wav header: %w: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("read wav header: %w: missing RIFF/WAVE magic", ErrNotWAV)
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, 0, fmt.Errorf("read wav: %w: no data chunk", ErrNotWAV)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, 0, fmt.Errorf("read wav: %w: two fmt chunks", ErrNotWAV)
			}
			if rate, err = readWAVFormat(r, size); err != nil {
				return nil, 0, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, fmt.Errorf("read wav: %w: data before fmt chunk", ErrNotWAV)
			}
			pcm, err := readWAVData(r, size)
			if err != nil {
				return nil, 0, err
			}
			return pcm, rate, nil
		default:
			if err := skip(r, int64(size)+int64(size&1)); err != nil {
				return nil, 0, fmt.Errorf("read wav: %w: chunk %q cut short", ErrNotWAV, id)
			}
		}
	}
}

// readWAVFormat parses a "fmt " chunk of the given size and returns the
// sample rate.
func readWAVFormat(r io.Reader, size uint32) (int, error) {
	if size < 16 || size > 1024 {
		return 0, fmt.Errorf("read wav: %w: fmt chunk of %d bytes", ErrNotWAV, size)
	}
	b := make([]byte, size+size&1)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, fmt.Errorf("read wav: %w: fmt chunk cut short", ErrNotWAV)
	}
	format := binary.LittleEndian.Uint16(b[0:2])
	channels := binary.LittleEndian.Uint16(b[2:4])
	rate := binary.LittleEndian.Uint32(b[4:8])
	bits := binary.LittleEndian.Uint16(b[14:16])
	const (
		formatPCM        = 1
		formatExtensible = 0xFFFE
	)
	if format == formatExtensible && size >= 40 {
		format = binary.LittleEndian.Uint16(b[24:26]) // sub-format GUID's first bytes
	}
	switch {
	case format != formatPCM:
		return 0, fmt.Errorf("read wav: %w: format tag %#04x, want 1 (PCM)", ErrUnsupportedWAV, format)
	case channels != 1:
		return 0, fmt.Errorf("read wav: %w: %d channels, want mono", ErrUnsupportedWAV, channels)
	case bits != 16:
		return 0, fmt.Errorf("read wav: %w: %d bits per sample, want 16", ErrUnsupportedWAV, bits)
	case rate == 0 || rate > 384000:
		return 0, fmt.Errorf("read wav: %w: sample rate %d", ErrUnsupportedWAV, rate)
	}
	return int(rate), nil
}

// readWAVData reads the samples of a data chunk of the given declared size.
func readWAVData(r io.Reader, size uint32) ([]int16, error) {
	limit := int64(maxWAVSamples) * 2
	if size != 0 && size != 0xFFFFFFFF {
		limit = min(limit, int64(size))
	}
	var pcm []int16
	var buf [4096]byte
	lr := io.LimitReader(r, limit)
	off := 0 // an odd byte carried over from the previous read
	for {
		n, err := lr.Read(buf[off:])
		n += off
		even := n &^ 1
		for i := 0; i < even; i += 2 {
			pcm = append(pcm, int16(binary.LittleEndian.Uint16(buf[i:])))
		}
		off = n - even
		if off == 1 {
			buf[0] = buf[even]
		}
		if err == io.EOF {
			return pcm, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read wav data: %w", err)
		}
	}
}

func skip(r io.Reader, n int64) error {
	m, err := io.CopyN(io.Discard, r, n)
	if m == n {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}
