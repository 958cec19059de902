package store

import (
	"context"
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

// Turn returns the next turn of the round robin step keyed step at dealer. The count
// lives in the database, so the rotation stays fair across restarts and nodes.
func (db *DB) Turn(ctx context.Context, dealer, step string) (int64, error) {
	var turn int64
	if err := db.writeRow(ctx, turnSQL, dealer, step).Scan(&turn); err != nil {
		return 0, fmt.Errorf("round robin turn for %s: %w", dealer, err)
	}
	return turn, nil
}
