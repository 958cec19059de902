package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/recording"
)

// openRecordings sets up where call recordings are written and kept, and finishes the
// recordings a crash left unfinished (their WAV headers repaired) before any call.
func openRecordings(ctx context.Context, cfg *config.Config, a *app, log *slog.Logger, o appOptions) (*recording.Recorder, error) {
	rs := cfg.RecordingStore
	opts := recording.Options{Dir: rs.Dir, Logger: log, Now: o.now, Catalog: a.db, Observer: a.met}
	switch rs.Kind {
	case "file":
	case "s3":
		// Written to the spool while calls run, uploaded after each call by a job on
		// the spool's own queue (recording/spool.go).
		remote, err := recording.NewS3Store(recording.S3Config{
			Endpoint: rs.Endpoint, Region: rs.Region, Bucket: rs.Bucket, Prefix: rs.Prefix, Insecure: rs.Insecure,
		})
		if err != nil {
			return nil, err
		}
		queue, err := recording.SpoolQueue(rs.Spool)
		if err != nil {
			return nil, err
		}
		spooled := &recording.SpooledStore{Dir: rs.Spool, Remote: remote, Observer: a.met}
		opts.Dir, opts.Store = rs.Spool, spooled
		opts.Spool = &recording.Spool{Queue: queue, Spooler: a.db}
		if err := a.db.UploadRecordings(queue, spooled); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("recordings: %s stores are not supported", rs.Kind)
	}
	rec, err := recording.New(opts)
	if err != nil {
		return nil, err
	}
	if n, err := rec.Recover(ctx); err != nil {
		log.Error("recordings: recovering unfinished recordings", "error", err)
	} else if n > 0 {
		log.Info("recordings: finished recordings a crash interrupted", "count", n)
	}
	a.lib = &recording.Library{Store: rec.Store(), Index: a.db, Now: o.now, Observer: a.met, Logger: log}
	return rec, nil
}

// retentionEvery is how often expired recordings are looked for.
const retentionEvery = time.Minute
