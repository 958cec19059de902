package recording

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Catalog notes recordings with their leads. *store.DB implements it.
type Catalog interface {
	// RecordingStarted notes that the lead's call is being recorded (before the first
	// frame is written), with its key, start and expiry.
	RecordingStarted(ctx context.Context, leadID string, info dialer.RecordingInfo) error
	// RecordingFinished notes the finished recording's length and size.
	RecordingFinished(ctx context.Context, leadID string, d time.Duration, bytes int64) error
}

// Observer counts what recordings do; *metrics.Metrics implements it.
type Observer interface {
	RecordingWritten(bytes int64)
	// RecordingFailed counts a recording that could not be made, finished or stored,
	// by stage: "start", "write", "finish", "store", "repair".
	RecordingFailed(stage string)
	RecordingDeleted(reason string)
}

type nopObserver struct{}

func (nopObserver) RecordingWritten(int64)  {}
func (nopObserver) RecordingFailed(string)  {}
func (nopObserver) RecordingDeleted(string) {}

// Options configure a Recorder.
type Options struct {
	// Dir is where recordings are written while calls run: "<dir>/<dealer>/<lead
	// id>.wav.part", renamed to ".wav" when finished. With no Store it is also where
	// they are kept.
	Dir string
	// Store keeps finished recordings; nil: FileStore{Dir}.
	Store Store
	// Catalog notes recordings with their leads; nil: nothing is noted.
	Catalog Catalog
	// Spool, with an object Store (a SpooledStore on Dir), makes Dir a spool: a finished
	// recording stays there and Spool.Spooler notes it and enqueues its upload, instead
	// of Store.Put and Catalog.RecordingFinished (spool.go).
	Spool    *Spool
	Observer Observer
	Logger   *slog.Logger
	// Now is the clock of start and expiry times; nil: time.Now. The mixer always runs
	// on the wall clock (it places packets as they arrive).
	Now func() time.Time
}

// Recorder makes recordings. It implements dialer.CallRecorder.
type Recorder struct {
	o  Options
	fl flusher
}

var _ dialer.CallRecorder = (*Recorder)(nil)

// New returns a Recorder writing under o.Dir, which its first recording creates.
func New(o Options) (*Recorder, error) {
	if o.Dir == "" {
		return nil, errors.New("recording: no directory")
	}
	if o.Store == nil {
		o.Store = FileStore{Dir: o.Dir}
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Recorder{o: o}, nil
}

// Store is where the Recorder keeps finished recordings.
func (r *Recorder) Store() Store { return r.o.Store }

// Key is where the recording of dealer's lead is kept.
func Key(dealer, leadID string) string { return dealer + "/" + leadID + ".wav" }

const partSuffix = ".part"

// path is where key is written while its call runs.
func (r *Recorder) path(key string) string {
	return filepath.Join(r.o.Dir, filepath.FromSlash(key)) + partSuffix
}

// Start implements dialer.CallRecorder.
func (r *Recorder) Start(ctx context.Context, s dialer.RecordingStart) (dialer.ActiveRecording, error) {
	if !safeName(s.Dealer) || !safeName(s.LeadID) {
		return nil, fmt.Errorf("recording: bad dealer or lead id %q/%q", s.Dealer, s.LeadID)
	}
	key := Key(s.Dealer, s.LeadID)
	info := dialer.RecordingInfo{Key: key, StartedAt: s.At}
	if s.Retention > 0 {
		info.ExpiresAt = s.At.Add(s.Retention)
	}
	path := r.path(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		r.o.Observer.RecordingFailed("start")
		return nil, fmt.Errorf("recording: %w", err)
	}
	if r.o.Catalog != nil {
		if err := r.o.Catalog.RecordingStarted(ctx, s.LeadID, info); err != nil {
			r.o.Observer.RecordingFailed("start")
			return nil, fmt.Errorf("recording: %w", err)
		}
	}
	w, err := Create(path)
	if err != nil {
		r.o.Observer.RecordingFailed("start")
		return nil, fmt.Errorf("recording: %w", err)
	}
	a := &active{r: r, w: w, lead: s.LeadID, key: key, path: path}
	a.mixer.now = time.Now
	a.mixer.start = time.Now()
	r.add(a)
	return a, nil
}

// safeName is a dealer or lead id that can name a file.
func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`+"\x00")
}

// flushEvery is how often the recordings' frames are written to their files.
const flushEvery = 200 * time.Millisecond

// active is one recording being made.
type active struct {
	mixer
	r    *Recorder
	w    *Writer
	lead string
	key  string
	path string

	fmu      sync.Mutex // guards the following: one flush at a time
	buf      []int16
	final    bool  // the last frames are written
	writeErr error // the first write error; later frames are dropped

	finishOnce sync.Once
	finishErr  error
}

// flusher is the Recorder's one goroutine that writes every recording's frames every
// flushEvery: one wake-up for all the calls, not one per call (the media loop shares its
// core with it). It runs while there are recordings.
type flusher struct {
	mu      sync.Mutex // guards the following
	active  map[*active]struct{}
	running bool
}

// add makes a's frames written every flushEvery until remove.
func (r *Recorder) add(a *active) {
	r.fl.mu.Lock()
	defer r.fl.mu.Unlock()
	if r.fl.active == nil {
		r.fl.active = map[*active]struct{}{}
	}
	r.fl.active[a] = struct{}{}
	if !r.fl.running {
		r.fl.running = true
		go r.flushLoop()
	}
}

func (r *Recorder) remove(a *active) {
	r.fl.mu.Lock()
	delete(r.fl.active, a)
	r.fl.mu.Unlock()
}

// flushLoop flushes the recordings every flushEvery; it ends when there are none.
func (r *Recorder) flushLoop() {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	var todo []*active
	for range t.C {
		r.fl.mu.Lock()
		if len(r.fl.active) == 0 {
			r.fl.running = false
			r.fl.mu.Unlock()
			return
		}
		todo = todo[:0]
		for a := range r.fl.active {
			todo = append(todo, a)
		}
		r.fl.mu.Unlock()
		for _, a := range todo {
			a.flush(false)
		}
		clear(todo) // keep no finished recording alive
	}
}

// flush writes the mixer's frames up to margin behind the clock (final: all of them,
// and no more after).
func (a *active) flush(final bool) {
	a.fmu.Lock()
	defer a.fmu.Unlock()
	if a.final {
		return
	}
	if a.buf == nil {
		a.buf = make([]int16, 0, 2*ringFrames)
	}
	a.buf = a.take(a.buf[:0], final)
	a.final = final
	if a.writeErr == nil && len(a.buf) > 0 {
		if err := a.w.Write(a.buf); err != nil {
			a.writeErr = err
			a.r.o.Observer.RecordingFailed("write")
			a.r.o.Logger.Error("recording: write failed; the rest of the call is not recorded", "lead_id", a.lead, "error", err)
		}
	}
	if final {
		a.buf = nil
	}
}

// Finish implements dialer.ActiveRecording.
func (a *active) Finish(ctx context.Context) error {
	a.finishOnce.Do(func() { a.finishErr = a.finish(ctx) })
	return a.finishErr
}

func (a *active) finish(ctx context.Context) error {
	a.r.remove(a)
	a.flush(true)
	frames := a.w.Frames()
	size, err := a.w.Close()
	if err != nil {
		a.r.o.Observer.RecordingFailed("finish")
		return fmt.Errorf("recording %s: %w", a.key, err)
	}
	return a.r.finished(ctx, a.lead, a.key, a.path, frames, size)
}

// finished hands a finished file (at path, still with its .part name) to the store
// and notes it.
func (r *Recorder) finished(ctx context.Context, lead, key, path string, frames, size int64) error {
	done := strings.TrimSuffix(path, partSuffix)
	if err := os.Rename(path, done); err != nil {
		r.o.Observer.RecordingFailed("finish")
		return fmt.Errorf("recording %s: %w", key, err)
	}
	d := time.Duration(frames) * time.Second / SampleRate
	if sp := r.o.Spool; sp != nil {
		up := dialer.RecordingUpload{Queue: sp.Queue, Key: key, Path: done}
		if err := sp.Spooler.RecordingSpooled(ctx, lead, d, size, up); err != nil {
			r.o.Observer.RecordingFailed("finish")
			return fmt.Errorf("recording %s: %w", key, err)
		}
		r.o.Observer.RecordingWritten(size)
		r.o.Logger.Info("recording finished; spooled for its upload", "lead_id", lead, "key", key, "seconds", d.Seconds(), "bytes", size)
		return nil
	}
	if err := r.o.Store.Put(ctx, key, done); err != nil {
		r.o.Observer.RecordingFailed("store")
		return fmt.Errorf("recording %s: %w", key, err)
	}
	if r.o.Catalog != nil {
		if err := r.o.Catalog.RecordingFinished(ctx, lead, d, size); err != nil {
			r.o.Observer.RecordingFailed("finish")
			return fmt.Errorf("recording %s: %w", key, err)
		}
	}
	r.o.Observer.RecordingWritten(size)
	r.o.Logger.Info("recording finished", "lead_id", lead, "key", key, "seconds", d.Seconds(), "bytes", size)
	return nil
}

// maxRecover bounds the unfinished recordings Recover looks at in one start.
const maxRecover = 100000

// Recover finishes the recordings a crash left unfinished under Dir: each ".part" file
// gets its header's sizes repaired and is handed to the store as Finish would have. A
// file that cannot be repaired is left as it is and logged. It returns how many it
// finished. Run it at start, before calls are made.
func (r *Recorder) Recover(ctx context.Context) (int, error) {
	var parts, spooled []string
	err := filepath.WalkDir(r.o.Dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == r.o.Dir {
			return fs.SkipAll // nothing was ever recorded here
		}
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".wav"+partSuffix) && len(parts) < maxRecover {
			parts = append(parts, path)
		}
		if r.o.Spool != nil && !d.IsDir() && strings.HasSuffix(path, ".wav") && len(spooled) < maxRecover {
			spooled = append(spooled, path)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("recording: recover: %w", err)
	}
	n := 0
	for _, path := range parts {
		rel, err := filepath.Rel(r.o.Dir, strings.TrimSuffix(path, partSuffix))
		if err != nil {
			continue
		}
		key := filepath.ToSlash(rel)
		lead := strings.TrimSuffix(filepath.Base(key), ".wav")
		changed, frames, err := Repair(path)
		if err != nil {
			r.o.Observer.RecordingFailed("repair")
			r.o.Logger.Error("recording: cannot repair an unfinished recording", "path", path, "error", err)
			continue
		}
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		r.o.Logger.Info("recording: finishing a recording a crash interrupted", "lead_id", lead, "key", key, "repaired", changed)
		if err := r.finished(ctx, lead, key, path, frames, st.Size()); err != nil {
			r.o.Logger.Error("recording: recover", "key", key, "error", err)
			continue
		}
		n++
	}
	// Finished recordings still in the spool: their upload job is enqueued again, which
	// adds none when it exists (one that was not, because the database was away when
	// the call ended, is then).
	for _, path := range spooled {
		if err := r.respool(ctx, path); err != nil {
			r.o.Logger.Error("recording: a spooled recording cannot be queued for its upload", "path", path, "error", err)
		}
	}
	return n, nil
}

// respool notes the finished recording at path in the spool and enqueues its upload.
func (r *Recorder) respool(ctx context.Context, path string) error {
	rel, err := filepath.Rel(r.o.Dir, path)
	if err != nil {
		return err
	}
	key := filepath.ToSlash(rel)
	lead := strings.TrimSuffix(filepath.Base(key), ".wav")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	h, err := ReadHeader(f, st.Size())
	if err != nil {
		return err
	}
	frames := int64(h.DataSize) / frameBytes
	d := time.Duration(frames) * time.Second / SampleRate
	up := dialer.RecordingUpload{Queue: r.o.Spool.Queue, Key: key, Path: path}
	return r.o.Spool.Spooler.RecordingSpooled(ctx, lead, d, st.Size(), up)
}
