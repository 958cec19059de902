package recording

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriterClose: a finished recording's header counts exactly its frames.
func TestWriterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]int16, 2*8000)
	for i := range frames {
		frames[i] = int16(i)
	}
	if err := w.Write(frames); err != nil {
		t.Fatal(err)
	}
	size, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if int64(len(b)) != size || size != 44+4*8000 {
		t.Fatalf("size %d, file %d; want %d", size, len(b), 44+4*8000)
	}
	h, err := ReadHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if h.DataSize != 4*8000 || h.RIFFSize != 36+4*8000 || h.Channels != 2 || h.Rate != 8000 || h.Bits != 16 || h.DataOffset != 44 {
		t.Fatalf("header %+v", h)
	}
	if got := int16(binary.LittleEndian.Uint16(b[44+2*1234:])); got != 1234 {
		t.Fatalf("sample 1234 is %d", got)
	}
	if changed, n, err := Repair(path); err != nil || changed || n != 8000 {
		t.Fatalf("Repair of a finished file: changed %v, %d frames, %v; want unchanged, 8000", changed, n, err)
	}
}

// TestRepair: the state a crash leaves (sizes unknown, a partial frame at the end) is
// mended, and sox reads the result, its length the frames written.
func TestRepair(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.wav")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(make([]int16, 2*4000)); err != nil {
		t.Fatal(err)
	}
	// Killed: no Close. A partial frame at the end, as an interrupted write leaves.
	w.f.Write([]byte{1, 2, 3})
	w.f.Close()
	changed, frames, err := Repair(path)
	if err != nil || !changed || frames != 4000 {
		t.Fatalf("Repair: changed %v, %d frames, %v; want changed, 4000 frames", changed, frames, err)
	}
	st, _ := os.Stat(path)
	if st.Size() != 44+4*4000 {
		t.Fatalf("repaired size %d", st.Size())
	}
	if sox, err := exec.LookPath("soxi"); err == nil {
		out, err := exec.Command(sox, "-s", path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "4000" {
			t.Fatalf("soxi -s: %s %v; want 4000 samples", out, err)
		}
	} else {
		t.Log("soxi not installed (scripts/deps.sh installs sox): checked with ReadHeader only")
	}

	// A header cut short is a recording of nothing.
	short := filepath.Join(t.TempDir(), "short.wav")
	os.WriteFile(short, header(unknown)[:20], 0o600)
	if changed, frames, err := Repair(short); err != nil || !changed || frames != 0 {
		t.Fatalf("Repair of a cut header: %v %d %v", changed, frames, err)
	}
	// Someone else's file is left alone.
	other := filepath.Join(t.TempDir(), "other.wav")
	h := header(100)
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	os.WriteFile(other, append(h, make([]byte, 100)...), 0o600)
	if _, _, err := Repair(other); err == nil {
		t.Fatal("Repair of a mono file: no error")
	}
}

// FuzzReadHeader: any bytes give a header or an error, never a panic or a data chunk
// outside the file.
func FuzzReadHeader(f *testing.F) {
	f.Add(header(0))
	f.Add(append(header(8), 1, 2, 3, 4, 5, 6, 7, 8))
	f.Add(header(unknown))
	f.Add([]byte("RIFF\x04\x00\x00\x00WAVE"))
	withList := append([]byte("RIFF\xff\xff\xff\xffWAVELIST\x04\x00\x00\x00abcd"), header(0)[12:]...)
	f.Add(withList)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if h.DataOffset < 12 || h.DataOffset > int64(len(b)) {
			t.Fatalf("data offset %d in %d bytes", h.DataOffset, len(b))
		}
	})
}

// FuzzRepair: repairing any file never panics, and a file it accepts comes out with
// sizes that match its length.
func FuzzRepair(f *testing.F) {
	f.Add(header(unknown))
	f.Add(append(header(unknown), 1, 2, 3, 4, 5))
	f.Add(append(header(4), 1, 2, 3, 4, 5, 6, 7, 8, 9))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "f.wav")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, frames, err := Repair(path); err == nil {
			got, _ := os.ReadFile(path)
			h, err := ReadHeader(bytes.NewReader(got), int64(len(got)))
			if err != nil || int64(h.DataSize) != frames*4 || int64(len(got)) != 44+frames*4 {
				t.Fatalf("after Repair: %+v %v, %d frames, %d bytes", h, err, frames, len(got))
			}
		}
	})
}
