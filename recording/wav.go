package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// A recording is a canonical 44-byte-header WAV file: PCM, 16-bit little-endian, 8 kHz,
// two channels (the salesperson left, the customer right), frames interleaved. While a
// call runs both sizes in the header say 0xFFFFFFFF ("unknown", as streaming writers
// do); Close writes the real ones. A file whose sizes disagree with its length, because
// the process died mid-call, is mended by Repair.

// Format of every recording.
const (
	SampleRate = 8000
	Channels   = 2
	bitsPer    = 16
	frameBytes = Channels * bitsPer / 8 // one sample of each channel
	headerSize = 44
	unknown    = 0xFFFFFFFF
)

// syncEvery is how often a Writer makes what it wrote durable: a crash (or a power
// cut) loses at most this much of the call.
const syncEvery = time.Second

// Writer appends frames to a recording being made. It is not safe for concurrent use.
type Writer struct {
	f        *os.File
	data     int64 // bytes of frames written
	buf      []byte
	lastSync time.Time
	now      func() time.Time
}

// Create makes a new recording at path (which must not exist) and writes its header.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, now: time.Now}
	if _, err := f.Write(header(unknown)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("wav header: %w", err)
	}
	w.lastSync = w.now()
	return w, nil
}

// header is the 44-byte header for data bytes of frames; unknown for both sizes.
func header(data uint32) []byte {
	h := make([]byte, headerSize)
	riff := uint32(unknown)
	if data != unknown {
		riff = 36 + data
	}
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], riff)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], Channels)
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], SampleRate*frameBytes)
	binary.LittleEndian.PutUint16(h[32:], frameBytes)
	binary.LittleEndian.PutUint16(h[34:], bitsPer)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], data)
	return h
}

// Write appends interleaved frames (left, right, left, right…): len(frames) must be
// even. It syncs the file when the last sync is syncEvery ago.
func (w *Writer) Write(frames []int16) error {
	w.buf = slices.Grow(w.buf[:0], 2*len(frames))[:2*len(frames)]
	for i, s := range frames {
		binary.LittleEndian.PutUint16(w.buf[2*i:], uint16(s))
	}
	n, err := w.f.Write(w.buf)
	w.data += int64(n)
	if err != nil {
		return err
	}
	if now := w.now(); now.Sub(w.lastSync) >= syncEvery {
		w.lastSync = now
		return w.f.Sync()
	}
	return nil
}

// Frames is how many frames (samples per channel) were written.
func (w *Writer) Frames() int64 { return w.data / frameBytes }

// Close writes the sizes into the header, syncs and closes the file. It returns the
// file's size.
func (w *Writer) Close() (int64, error) {
	data := min(w.data, maxData)
	_, err := w.f.WriteAt(header(uint32(data)), 0)
	if err == nil {
		err = w.f.Sync()
	}
	return headerSize + w.data, errors.Join(err, w.f.Close())
}

// maxData is the most frames a WAV file's 32-bit sizes can count (about 37 hours here).
const maxData = (1<<32 - 1 - 36) / frameBytes * frameBytes

// Header is what ReadHeader found in a WAV file.
type Header struct {
	Format     uint16 // 1: PCM
	Channels   uint16
	Rate       uint32
	Bits       uint16
	DataOffset int64  // where the frames start
	DataSize   uint32 // as the header says: unknown (0xFFFFFFFF) while being written
	RIFFSize   uint32 // as the header says
}

// Errors of ReadHeader.
var (
	ErrNotWAV   = errors.New("not a RIFF WAVE file")
	ErrNoData   = errors.New("wav: no data chunk")
	ErrBadChunk = errors.New("wav: malformed chunk")
)

// maxChunks bounds the chunks ReadHeader walks before the data chunk.
const maxChunks = 64

// ReadHeader reads a WAV file's RIFF header and walks its chunks up to the data chunk,
// which it does not read. size is the file's length: a chunk reaching past it is
// malformed (except the data chunk, whose size a crash left wrong).
func ReadHeader(r io.ReaderAt, size int64) (Header, error) {
	var h Header
	var b [12]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return h, ErrNotWAV
	}
	if string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return h, ErrNotWAV
	}
	h.RIFFSize = binary.LittleEndian.Uint32(b[4:8])
	off := int64(12)
	sawFmt := false
	for range maxChunks {
		var c [8]byte
		if _, err := r.ReadAt(c[:], off); err != nil {
			return h, ErrNoData
		}
		id, n := string(c[:4]), int64(binary.LittleEndian.Uint32(c[4:]))
		body := off + 8
		switch id {
		case "fmt ":
			if n < 16 || body+n > size {
				return h, ErrBadChunk
			}
			var f [16]byte
			if _, err := r.ReadAt(f[:], body); err != nil {
				return h, ErrBadChunk
			}
			h.Format = binary.LittleEndian.Uint16(f[0:])
			h.Channels = binary.LittleEndian.Uint16(f[2:])
			h.Rate = binary.LittleEndian.Uint32(f[4:])
			h.Bits = binary.LittleEndian.Uint16(f[14:])
			sawFmt = true
		case "data":
			if !sawFmt {
				return h, ErrBadChunk
			}
			h.DataOffset, h.DataSize = body, uint32(n)
			return h, nil
		default:
			if body+n > size {
				return h, ErrBadChunk
			}
		}
		off = body + n + n%2 // chunks are padded to even sizes
	}
	return h, ErrNoData
}

// Repair makes the sizes in the header of the recording at path match what the file
// holds, dropping a partial frame at its end: the state a crash mid-call leaves. It
// reports whether it changed anything and how many frames the file holds. A file that
// is not one of ours (another format) is an error and left alone.
func Repair(path string) (changed bool, frames int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, 0, err
	}
	size := st.Size()
	if size < headerSize {
		// The header itself was not written whole: an empty recording.
		if err := f.Truncate(0); err != nil {
			return false, 0, err
		}
		if _, err := f.WriteAt(header(0), 0); err != nil {
			return false, 0, err
		}
		return true, 0, f.Sync()
	}
	h, err := ReadHeader(f, size)
	if err != nil {
		return false, 0, fmt.Errorf("repair %s: %w", path, err)
	}
	if h.Format != 1 || h.Channels != Channels || h.Rate != SampleRate || h.Bits != bitsPer || h.DataOffset != headerSize {
		return false, 0, fmt.Errorf("repair %s: not a Leadline recording (format %d, %d channels, %d Hz, %d bits)",
			path, h.Format, h.Channels, h.Rate, h.Bits)
	}
	data := min((size-headerSize)/frameBytes*frameBytes, maxData)
	if int64(h.DataSize) == data && int64(h.RIFFSize) == 36+data && size == headerSize+data {
		return false, data / frameBytes, nil
	}
	if err := f.Truncate(headerSize + data); err != nil {
		return false, 0, err
	}
	if _, err := f.WriteAt(header(uint32(data)), 0); err != nil {
		return false, 0, err
	}
	return true, data / frameBytes, f.Sync()
}
