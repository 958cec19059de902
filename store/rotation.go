package store

import (
	"context"
	"fmt"
)

// turnSQL counts a round robin step's turns: the first call returns 0, each later one
// the next number. One statement, so concurrent callers on any node get distinct turns.
const turnSQL = `INSERT INTO rotations (dealer, step, turn) VALUES ($1, $2, 0)
	ON CONFLICT (dealer, step) DO UPDATE SET turn = rotations.turn + 1
	RETURNING turn`

// Turn returns the next turn of the round robin step keyed step at dealer. The count
// lives in the database, so the rotation stays fair across restarts and nodes.
func (db *DB) Turn(ctx context.Context, dealer, step string) (int64, error) {
	var turn int64
	if err := db.writeRow(ctx, turnSQL, dealer, step).Scan(&turn); err != nil {
		return 0, fmt.Errorf("round robin turn for %s: %w", dealer, err)
	}
	return turn, nil
}
