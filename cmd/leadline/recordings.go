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
	if rs.Kind != "file" {
		return nil, fmt.Errorf("recordings: %s stores are not supported yet", rs.Kind)
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
