package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Call recordings (migration 00013): what the recording package notes of each lead's
// recording, read back with the lead (details) and by the API and the retention job.

const recordingCols = `key, started_at, duration_ms, bytes, expires_at, deleted_at, deleted_reason`

// RecordingStarted notes that lead's call is being recorded (recording.Catalog). A
// lead recorded again (a resumed lead) keeps one row: the latest recording.
func (db *DB) RecordingStarted(ctx context.Context, leadID string, info dialer.RecordingInfo) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO recordings (lead_id, dealer, key, started_at, expires_at)
		SELECT id, dealer, $2, $3, $4 FROM leads WHERE id = $1
		ON CONFLICT (lead_id) DO UPDATE SET key = excluded.key, started_at = excluded.started_at,
			expires_at = excluded.expires_at, duration_ms = 0, bytes = 0, deleted_at = 0, deleted_reason = ''`,
		leadID, info.Key, millis(info.StartedAt), millis(info.ExpiresAt))
	if err != nil {
		return fmt.Errorf("recording of lead %s: %w", leadID, err)
	}
	return nil
}

// RecordingFinished notes a finished recording's length and size (recording.Catalog).
func (db *DB) RecordingFinished(ctx context.Context, leadID string, d time.Duration, bytes int64) error {
	res, err := db.w.ExecContext(ctx, `UPDATE recordings SET duration_ms = $2, bytes = $3 WHERE lead_id = $1 AND deleted_at = 0`,
		leadID, d.Milliseconds(), bytes)
	if err == nil {
		err = changed(res)
	}
	if err != nil {
		return fmt.Errorf("recording of lead %s: %w", leadID, err)
	}
	return nil
}

// Recording returns the dealer's lead's recording (dealer "" matches any);
// dialer.ErrNotFound when the lead has none or is another dealer's. A deleted
// recording is returned with DeletedAt set.
func (db *DB) Recording(ctx context.Context, dealer, leadID string) (dialer.RecordingInfo, error) {
	r, err := scanRecording(db.r.QueryRowContext(ctx, `SELECT `+recordingCols+`, dealer FROM recordings WHERE lead_id = $1`, leadID), leadID, &dealer)
	if errors.Is(err, sql.ErrNoRows) {
		err = dialer.ErrNotFound
	}
	if err != nil {
		return dialer.RecordingInfo{}, fmt.Errorf("recording of lead %s: %w", leadID, err)
	}
	return r, nil
}

// RecordingDeleted notes that the lead's recording was deleted, for reason, at at.
// dialer.ErrNotFound when it has none (or it is deleted already).
func (db *DB) RecordingDeleted(ctx context.Context, leadID, reason string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE recordings SET deleted_at = $2, deleted_reason = $3 WHERE lead_id = $1 AND deleted_at = 0`,
		leadID, millis(at), reason)
	if err == nil {
		err = changed(res)
	}
	if err != nil {
		return fmt.Errorf("delete recording of lead %s: %w", leadID, err)
	}
	return nil
}

// ExpiredRecordings returns up to limit recordings, not deleted yet, that expired at
// or before now, oldest expiry first.
func (db *DB) ExpiredRecordings(ctx context.Context, now time.Time, limit int) ([]dialer.RecordingInfo, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT lead_id, key FROM recordings
		WHERE deleted_at = 0 AND expires_at > 0 AND expires_at <= $1 ORDER BY expires_at LIMIT $2`, millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("expired recordings: %w", err)
	}
	defer rows.Close()
	var out []dialer.RecordingInfo
	for rows.Next() {
		var e dialer.RecordingInfo
		if err := rows.Scan(&e.LeadID, &e.Key); err != nil {
			return nil, fmt.Errorf("expired recordings: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// recording reads a lead's recording for details; nil when it has none.
func (db *DB) recording(ctx context.Context, leadID string) (*dialer.RecordingInfo, error) {
	r, err := scanRecording(db.r.QueryRowContext(ctx, `SELECT `+recordingCols+` FROM recordings WHERE lead_id = $1`, leadID), leadID, nil)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	return &r, nil
}

// scanRecording reads recordingCols, and the dealer when wantDealer is not nil (a
// row of another dealer than a non-empty *wantDealer is sql.ErrNoRows).
func scanRecording(s scanner, leadID string, wantDealer *string) (dialer.RecordingInfo, error) {
	var (
		r                              dialer.RecordingInfo
		started, dur, expires, deleted int64
		dealer                         string
		dest                           = []any{&r.Key, &started, &dur, &r.Bytes, &expires, &deleted, &r.DeletedReason}
	)
	if wantDealer != nil {
		dest = append(dest, &dealer)
	}
	if err := s.Scan(dest...); err != nil {
		return r, err
	}
	if wantDealer != nil && *wantDealer != "" && dealer != *wantDealer {
		return r, sql.ErrNoRows
	}
	r.LeadID = leadID
	r.StartedAt, r.ExpiresAt, r.DeletedAt = fromMillis(started), fromMillis(expires), fromMillis(deleted)
	r.Duration = time.Duration(dur) * time.Millisecond
	return r, nil
}

// changed is dialer.ErrNotFound when res changed no row.
func changed(res sql.Result) error {
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = dialer.ErrNotFound
	}
	return err
}
