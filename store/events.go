package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/leadline/leadline/dialer"
)

// A lead's events (migration 00007) are written in the transaction of the change they
// report, with their deliveries (deliver.go): CreateLead writes dialer.CreatedEvents of the new lead's status, UpdateLead the
// event of the status it writes (dialer.Status.Event), RecordEvent the events that are no
// change of status. Which change is which event is dialer's to say; the store applies it.
// Every write of an event first writes the lead's row (the lead itself, or its
// updated_at), so the events of one lead are written one transaction after another, in
// the order of their ids, on every node.

const (
	insertEventSQL = `INSERT INTO lead_events (lead_id, type, at) VALUES ($1, $2, $3) RETURNING id`

	selectEventsSQL = `SELECT e.id, e.lead_id, l.dealer, e.type, e.at FROM lead_events e
	JOIN leads l ON l.id = e.lead_id WHERE e.lead_id = $1 ORDER BY e.id`

	// touchLeadSQL locks a lead's row for RecordEvent and says whose it is.
	touchLeadSQL = `UPDATE leads SET updated_at = $2 WHERE id = $1 RETURNING dealer`
)

// eventQueries are the statements writeEvents runs: warm them before the transaction.
var eventQueries = []string{insertEventSQL, insertDeliverySQL, selectStreamOpenSQL}

// writeEvents writes events of types, of lead id of dealer, at at, inside tx, each with
// its deliveries to the dealer's webhook endpoints (deliver.go); fresh says the lead is
// being created in tx. The caller has written the lead's row in tx (so holds its lock).
func (db *DB) writeEvents(ctx context.Context, tx *sql.Tx, id, dealer string, at time.Time, fresh bool, types ...dialer.EventType) error {
	for i, t := range types {
		var eid int64
		if err := db.txRow(ctx, tx, insertEventSQL, id, string(t), millis(at)).Scan(&eid); err != nil {
			return fmt.Errorf("event %s: %w", t, err)
		}
		if err := db.writeDeliveries(ctx, tx, eid, id, dealer, t, fresh && i == 0); err != nil {
			return fmt.Errorf("event %s: %w", t, err)
		}
	}
	return nil
}

// RecordEvent writes event t of lead id, as happened at at, in a transaction that first
// touches the lead's row (so that its events keep their order across nodes).
// ErrNotFound when the lead is missing.
func (db *DB) RecordEvent(ctx context.Context, id string, t dialer.EventType, at time.Time) error {
	if !t.Valid() {
		return fmt.Errorf("record event of lead %s: unknown event type %q", id, t)
	}
	db.warm(ctx, eventQueries...)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var dealer string
		err := tx.QueryRowContext(ctx, touchLeadSQL, id, millis(db.now())).Scan(&dealer)
		if errors.Is(err, sql.ErrNoRows) {
			return dialer.ErrNotFound
		}
		if err != nil {
			return err
		}
		return db.writeEvents(ctx, tx, id, dealer, at, false, t)
	})
	if err != nil {
		return fmt.Errorf("record event %s of lead %s: %w", t, id, err)
	}
	return nil
}

// Events returns lead id's events, oldest first; none for a lead that has none or does
// not exist.
func (db *DB) Events(ctx context.Context, id string) ([]dialer.Event, error) {
	rows, err := db.r.QueryContext(ctx, selectEventsSQL, id)
	if err != nil {
		return nil, fmt.Errorf("events of lead %s: %w", id, err)
	}
	defer rows.Close()
	var es []dialer.Event
	for rows.Next() {
		var (
			e  dialer.Event
			t  string
			at int64
		)
		if err := rows.Scan(&e.ID, &e.LeadID, &e.Dealer, &t, &at); err != nil {
			return nil, fmt.Errorf("events of lead %s: %w", id, err)
		}
		e.Type, e.At = dialer.EventType(t), fromMillis(at)
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of lead %s: %w", id, err)
	}
	return es, nil
}

// inTx runs f in a transaction on the writer and commits it when f returns nil.
func (db *DB) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// setOutcomeSQL writes a call's outcome on a lead that has none; $1 id, $2 outcome,
// $3 person, $4 at.
const setOutcomeSQL = `UPDATE leads SET outcome = $2, outcome_by = $3, outcome_at = $4
	WHERE id = $1 AND outcome = ''`

// SetOutcome writes the call's outcome on lead id and its lead.outcome event in one
// transaction, whatever the lead's status; a lead that has an outcome keeps its first
// (and no second event is written).
func (db *DB) SetOutcome(ctx context.Context, id string, o dialer.CallOutcome) error {
	if o.ID == "" {
		return fmt.Errorf("set outcome of lead %s: empty outcome", id)
	}
	db.warm(ctx, append([]string{setOutcomeSQL}, eventQueries...)...)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var dealer string
		err := tx.QueryRowContext(ctx, touchLeadSQL, id, millis(db.now())).Scan(&dealer)
		if errors.Is(err, sql.ErrNoRows) {
			return dialer.ErrNotFound
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, setOutcomeSQL, id, o.ID, o.Person, millis(o.At))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // it had one already
		}
		return db.writeEvents(ctx, tx, id, dealer, o.At, false, dialer.EventOutcome)
	})
	if err != nil {
		return fmt.Errorf("set outcome of lead %s: %w", id, err)
	}
	return nil
}
