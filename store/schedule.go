package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// turnSQL counts a round robin step's turns: the first call returns 0, each later one
// the next number. One statement, so concurrent callers on any node get distinct turns.
const turnSQL = `INSERT INTO rotations (dealer, step, turn) VALUES ($1, $2, 0)
	ON CONFLICT (dealer, step) DO UPDATE SET turn = rotations.turn + 1
	RETURNING turn`

// lastPlannedSQL is the latest planned start of a dealer's scheduled leads from $2 on
// (leads_dealer_status_id finds the dealer's scheduled leads).
const lastPlannedSQL = `SELECT COALESCE(MAX(next_at), 0) FROM leads
	WHERE dealer = $1 AND status = 'scheduled' AND next_at >= $2`

// LastPlanned returns the latest NextAt of dealer's scheduled leads at or after from,
// or the zero time: the stagger plans a new scheduled lead after it.
func (db *DB) LastPlanned(ctx context.Context, dealer string, from time.Time) (time.Time, error) {
	var last int64
	if err := db.r.QueryRowContext(ctx, lastPlannedSQL, dealer, millis(from)).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("last planned lead of %s: %w", dealer, err)
	}
	return fromMillis(last), nil
}

// advanceSQL moves a scheduled lead's start forward; it returns the lead's queue job.
const advanceSQL = `UPDATE leads SET next_at = $2, updated_at = $3
	WHERE id = $1 AND status = 'scheduled' AND next_at > $2
	RETURNING job_id`

// Advance moves the scheduled lead id's NextAt forward to at, when it is later, and
// makes its watch job due now (the job snoozes until at if at is still ahead), in one
// transaction. updated is false, and nothing is written, for a lead that is not
// scheduled or is due by at already.
func (db *DB) Advance(ctx context.Context, id string, at time.Time) (bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("advance lead %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var job int64
	err = tx.QueryRowContext(ctx, advanceSQL, id, millis(at), millis(db.now())).Scan(&job)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("advance lead %s: %w", id, err)
	}
	if job != 0 {
		if err := db.q.wake(ctx, tx, job); err != nil {
			return false, fmt.Errorf("advance lead %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("advance lead %s: %w", id, err)
	}
	return true, nil
}

// Turn returns the next turn of the round robin step keyed step at dealer. The count
// lives in the database, so the rotation stays fair across restarts and nodes.
func (db *DB) Turn(ctx context.Context, dealer, step string) (int64, error) {
	var turn int64
	if err := db.writeRow(ctx, turnSQL, dealer, step).Scan(&turn); err != nil {
		return 0, fmt.Errorf("round robin turn for %s: %w", dealer, err)
	}
	return turn, nil
}
