package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/riverqueue/river"

	"github.com/leadline/leadline/dialer"
)

// Uploads of call recordings to object storage (recording.SpooledStore). A recording
// finished in a node's spool directory gets an upload job in the transaction that notes
// its length and size, on the spool's own queue (recording.SpoolQueue): only a process
// using that directory works it, so the job runs where the file is. It is retried with
// backoff, up to 15 minutes apart, for about ten days; the file stays in the spool until
// its upload succeeds.

// RecordingUploader uploads a spooled recording and deletes an uploaded one.
// *recording.SpooledStore implements it.
type RecordingUploader interface {
	// Put uploads the spooled file at path under key and removes it from the spool. A
	// file no longer there whose object is not uploaded is fs.ErrNotExist.
	Put(ctx context.Context, key, path string) error
	Delete(ctx context.Context, key string) error
}

type uploaderBox struct{ RecordingUploader }

type uploadArgs struct {
	LeadID string `json:"lead_id"`
	Key    string `json:"key"`
	Path   string `json:"path"`
}

func (uploadArgs) Kind() string { return "leadline_upload_recording" }

// uploadAttempts are the tries of an upload: with uploadBackoff, about ten days.
const uploadAttempts = 1000

// uploadBackoff is how long after the attempt-th failed try the next comes: doubling from
// a second, at most 15 minutes.
func uploadBackoff(attempt int) time.Duration {
	if attempt >= 10 {
		return 15 * time.Minute
	}
	return min(time.Second<<max(attempt-1, 0), 15*time.Minute)
}

type uploadWorker struct {
	river.WorkerDefaults[uploadArgs]
	db interface{ Load() *DB }
}

// Timeout is under the queue's rescue of stuck jobs (2 minutes): at 32 kB per second
// of call, an hour's recording (115 MB) uploads in it at 10 Mbit/s.
func (w *uploadWorker) Timeout(*river.Job[uploadArgs]) time.Duration { return 110 * time.Second }

func (w *uploadWorker) NextRetry(job *river.Job[uploadArgs]) time.Time {
	return time.Now().Add(uploadBackoff(job.Attempt))
}

func (w *uploadWorker) Work(ctx context.Context, job *river.Job[uploadArgs]) error {
	db := w.db.Load()
	u := db.uploader.Load()
	if u == nil {
		return river.JobSnooze(time.Second) // not wired yet
	}
	a := job.Args
	err := u.Put(ctx, a.Key, a.Path)
	if errors.Is(err, fs.ErrNotExist) {
		// Neither in the spool nor uploaded: erased meanwhile, or lost with the disk.
		db.log.Warn("recording upload: the file is gone from the spool and not in the bucket", "lead_id", a.LeadID, "key", a.Key, "path", a.Path)
		return nil
	}
	if err != nil {
		db.log.Warn("recording upload failed; tried again later", "lead_id", a.LeadID, "key", a.Key, "attempt", job.Attempt, "error", err)
		return err
	}
	// An erasure or expiry that ran while the upload was in flight deleted the spooled
	// file and no object yet: delete the object it left.
	var deleted int64
	err = db.r.QueryRowContext(ctx, `SELECT deleted_at FROM recordings WHERE lead_id = $1 AND key = $2`, a.LeadID, a.Key).Scan(&deleted)
	if errors.Is(err, sql.ErrNoRows) || err == nil && deleted > 0 {
		return u.Delete(ctx, a.Key)
	}
	if err != nil {
		return fmt.Errorf("recording upload of lead %s: %w", a.LeadID, err)
	}
	db.log.Info("recording uploaded", "lead_id", a.LeadID, "key", a.Key)
	return nil
}

// UploadRecordings has this process work the upload jobs of the spool queue with u.
// Call it once, before Work.
func (db *DB) UploadRecordings(queue string, u RecordingUploader) error {
	db.uploader.Store(&uploaderBox{u})
	if err := db.q.client.Queues().Add(queue, river.QueueConfig{MaxWorkers: 4}); err != nil {
		return fmt.Errorf("recording uploads: %w", err)
	}
	return nil
}

// RecordingSpooled notes a finished recording's length and size, and enqueues its
// upload from the spool on up.Queue, in one transaction (recording.Spooler). One job per
// recording: noting it again (a restart that finds it still spooled) adds none.
func (db *DB) RecordingSpooled(ctx context.Context, leadID string, d time.Duration, bytes int64, up dialer.RecordingUpload) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE recordings SET duration_ms = $2, bytes = $3 WHERE lead_id = $1 AND deleted_at = 0`,
			leadID, d.Milliseconds(), bytes)
		if err == nil {
			err = changed(res)
		}
		if err != nil {
			return err
		}
		_, err = db.q.client.InsertTx(ctx, tx, uploadArgs{LeadID: leadID, Key: up.Key, Path: up.Path}, &river.InsertOpts{
			Queue: up.Queue, MaxAttempts: uploadAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("recording of lead %s: %w", leadID, err)
	}
	return nil
}
