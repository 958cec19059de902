package recording_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/recording"
)

type spooler struct{ got []dialer.RecordingUpload }

func (s *spooler) RecordingSpooled(_ context.Context, lead string, d time.Duration, bytes int64, up dialer.RecordingUpload) error {
	if lead+".wav" != filepath.Base(up.Key) || d != time.Second || bytes != 44+8000*4 {
		return os.ErrInvalid
	}
	s.got = append(s.got, up)
	return nil
}

// TestRecoverRespools: at start, a finished recording still in the spool (its upload
// not done, or never queued) is queued for its upload again, as is one a crash left
// unfinished once repaired.
func TestRecoverRespools(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, finish bool) {
		p := filepath.Join(dir, "jansen", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		w, err := recording.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(make([]int16, 2*8000)); err != nil {
			t.Fatal(err)
		}
		if finish {
			if _, err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("lead-a.wav", true)
	write("lead-b.wav.part", false)
	sp := &spooler{}
	r, err := recording.New(recording.Options{Dir: dir, Store: recording.FileStore{Dir: dir}, Spool: &recording.Spool{Queue: "recordings_q", Spooler: sp}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"jansen/lead-a.wav": true, "jansen/lead-b.wav": true}
	for _, up := range sp.got {
		if !want[up.Key] || up.Queue != "recordings_q" || up.Path != filepath.Join(dir, filepath.FromSlash(up.Key)) {
			t.Errorf("spooled %+v", up)
		}
		delete(want, up.Key)
	}
	if len(want) > 0 || len(sp.got) != 2 {
		t.Errorf("spooled %+v; missing %v", sp.got, want)
	}
}
