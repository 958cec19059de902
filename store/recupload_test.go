package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

// uploader is a RecordingUploader that fails its first fail tries.
type uploader struct {
	mu      sync.Mutex
	fail    int
	puts    []string // key|path of each try
	deletes []string
	done    chan string // a key on each successful Put
}

func (u *uploader) Put(_ context.Context, key, path string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.puts = append(u.puts, key+"|"+path)
	if len(u.puts) <= u.fail {
		return errors.New("bucket away")
	}
	u.done <- key
	return nil
}

func (u *uploader) Delete(_ context.Context, key string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.deletes = append(u.deletes, key)
	return nil
}

// TestRecordingUpload: a spooled recording's length and size are noted with one upload
// job on the spool's queue, in one transaction (noting it again adds no second job);
// the job retries a failed upload; a recording that has no row left to note gets no job.
func TestRecordingUpload(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		db := mustOpen(t, u)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		key := "jansen/" + l.ID + ".wav"
		if err := db.RecordingStarted(ctx, l.ID, dialer.RecordingInfo{Key: key, StartedAt: t0}); err != nil {
			t.Fatal(err)
		}
		up := dialer.RecordingUpload{Queue: "recordings_0123456789abcdef", Key: key, Path: "/spool/" + key}
		for range 2 { // a restart that finds it still spooled notes it again
			if err := db.RecordingSpooled(ctx, l.ID, 2500*time.Millisecond, 80044, up); err != nil {
				t.Fatal(err)
			}
		}
		other := mustCreate(t, db, newLead("jansen")) // no recording row
		if err := db.RecordingSpooled(ctx, other.ID, time.Second, 1, up); !errors.Is(err, dialer.ErrNotFound) {
			t.Fatalf("spooling a recording without its row: %v; want ErrNotFound", err)
		}
		var jobs int
		if err := rawDB(t, b, u).QueryRowContext(ctx,
			`SELECT count(*) FROM river_job WHERE kind = 'leadline_upload_recording' AND queue = $1`, up.Queue).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 1 {
			t.Fatalf("%d upload jobs on the spool's queue; want 1", jobs)
		}
		got, err := db.GetLead(ctx, "jansen", l.ID)
		if err != nil || got.Recording == nil || got.Recording.Bytes != 80044 || got.Recording.Duration != 2500*time.Millisecond {
			t.Fatalf("lead's recording %+v (%v)", got.Recording, err)
		}

		upl := &uploader{fail: 1, done: make(chan string, 1)}
		if err := db.UploadRecordings(up.Queue, upl); err != nil {
			t.Fatal(err)
		}
		work(t, db, &courier{}, fastPolicy)
		select {
		case k := <-upl.done:
			if k != key {
				t.Fatalf("uploaded %s; want %s", k, key)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no upload within 60 s")
		}
		upl.mu.Lock()
		defer upl.mu.Unlock()
		if len(upl.puts) != 2 || upl.puts[1] != key+"|"+up.Path || len(upl.deletes) != 0 {
			t.Errorf("tries %v, deletes %v; want a failed try, then one upload of %s", upl.puts, upl.deletes, up.Path)
		}
	})
}
