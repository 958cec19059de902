package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/leadline/leadline/dialer"
)

// A lead for a number that already has an open lead at the same dealer, created within
// the dealer's duplicate window, joins that lead: it is kept in lead_joins (migration
// 00004) with everything the customer sent, and no lead, queue job or call is made for
// it. Whether the number has an open lead and the write that follows (of the lead or the
// join) are one transaction, serialised per number: on SQLite by its single writer (w has
// one connection and begins IMMEDIATE), on PostgreSQL by a transaction-level advisory
// lock on the dealer and number, so that of two posts for one number on two nodes one
// becomes the lead and the other joins it.
//
// An idempotency key or external id is unique within leads and within lead_joins by
// index; across the two, by the NOT EXISTS checks of insertLeadSQL and insertJoinSQL.
// Two posts with one key but different numbers (a client reusing a key for another
// request) take different number locks, so on PostgreSQL the transaction also locks its
// key and external id: otherwise one could create a lead and the other join another
// number's lead, both checks passing at the same moment.

var (
	// lockSQL takes a transaction-level advisory lock (createLocks).
	lockSQL = `SELECT pg_advisory_xact_lock($1)`

	// openLeadSQL finds the newest unfinished lead of dealer $1 for number $2 created at
	// or after $3. The leads_phone_created index (migration 00002) finds the number's
	// leads of the window, a handful while the daily cap per number holds; dealer and
	// status are filtered on those. There is no upper bound on created_at: a lead stamped
	// a little ahead by another node's clock is still the open one.
	openLeadSQL = `SELECT id FROM leads
	WHERE phone = $2 AND created_at >= $3 AND dealer = $1 AND status NOT IN ` + finalSQL + `
	ORDER BY created_at DESC, id DESC
	LIMIT 1`

	// insertJoinSQL keeps a submission with lead $1. Like insertLeadSQL it writes nothing,
	// and returns no row, when the dealer already has the idempotency key or the external
	// id, on a lead or on another join; the caller then answers with that lead.
	insertJoinSQL = `INSERT INTO lead_joins (lead_id, dealer, received_at, name, email, source,
		interest, message, assigned_to, external_id, idempotency_key, channel, sender, message_id)
	SELECT $1, $2, CAST($3 AS BIGINT), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
	WHERE NOT EXISTS (SELECT 1 FROM leads
			WHERE dealer = $2 AND idempotency_key = $11 AND idempotency_key <> '')
		AND NOT EXISTS (SELECT 1 FROM leads
			WHERE dealer = $2 AND external_id = $10 AND external_id <> '')
	ON CONFLICT DO NOTHING
	RETURNING id`

	// The repeat lookups of a joined submission's keys: the lead it joined. The unique
	// indexes of lead_joins make the subquery return one row at most.
	selectJoinedByIdempotencyKeySQL = `SELECT ` + leadCols + ` FROM leads WHERE id = (
		SELECT lead_id FROM lead_joins WHERE dealer = $1 AND idempotency_key = $2 AND idempotency_key <> '')`
	selectJoinedByExternalIDSQL = `SELECT ` + leadCols + ` FROM leads WHERE id = (
		SELECT lead_id FROM lead_joins WHERE dealer = $1 AND external_id = $2 AND external_id <> '')`

	selectDuplicatesSQL = `SELECT received_at, name, email, source, interest, message,
		assigned_to, external_id, idempotency_key, channel, sender, message_id
	FROM lead_joins WHERE lead_id = $1 ORDER BY id`
)

// createOrJoin stores l, or joins it to the newest open lead of its dealer for its number
// created at or after o.JoinSince, in one transaction serialised per number. It returns
// the stored lead, or the id of the lead l joined. sql.ErrNoRows when l repeats a lead or
// join (same idempotency key or external id): nothing is written then.
func (db *DB) createOrJoin(ctx context.Context, l *dialer.Lead, o dialer.CreateOptions) (stored dialer.Lead, joined string, err error) {
	// Prepared before BeginTx: see writeRow.
	var stmts [3]*sql.Stmt
	for i, q := range []string{openLeadSQL, insertJoinSQL, insertLeadSQL} {
		if stmts[i], err = db.prepared(ctx, q); err != nil {
			return dialer.Lead{}, "", err
		}
	}
	open, join, insert := stmts[0], stmts[1], stmts[2]
	db.warm(ctx, eventQueries...)

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dialer.Lead{}, "", err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if db.dialect == Postgres {
		// Held until commit. Each later statement of this READ COMMITTED transaction
		// sees what the previous holder committed.
		for _, k := range createLocks(l) {
			if _, err := tx.ExecContext(ctx, lockSQL, k); err != nil {
				return dialer.Lead{}, "", fmt.Errorf("lock: %w", err)
			}
		}
	}
	err = tx.StmtContext(ctx, open).QueryRowContext(ctx, l.Dealer, l.Phone, millis(o.JoinSince)).Scan(&joined)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		stored, err = db.insertLeadTx(ctx, tx, insert, l, o)
		if err != nil {
			return dialer.Lead{}, "", err
		}
		return stored, "", tx.Commit()
	case err != nil:
		return dialer.Lead{}, "", fmt.Errorf("open lead: %w", err)
	}
	var id int64
	err = tx.StmtContext(ctx, join).QueryRowContext(ctx, joined, l.Dealer, millis(l.CreatedAt),
		l.Name, l.Email, l.Source, l.Interest, l.Message, l.AssignedTo, l.ExternalID, l.IdempotencyKey,
		string(channelOf(l.Channel)), l.Sender, l.MessageID,
	).Scan(&id)
	if err != nil {
		return dialer.Lead{}, "", err // sql.ErrNoRows: a repeat
	}
	return dialer.Lead{}, joined, tx.Commit()
}

// createLocks are the advisory lock keys a create of l takes on PostgreSQL, in ascending
// order so that two creates never wait for each other in a cycle: its number's, and its
// idempotency key's and external id's when it has them.
func createLocks(l *dialer.Lead) []int64 {
	keys := []int64{advisoryKey(l.Dealer, l.Phone)}
	if l.IdempotencyKey != "" {
		keys = append(keys, advisoryKey(l.Dealer, "idempotency_key:"+l.IdempotencyKey))
	}
	if l.ExternalID != "" {
		keys = append(keys, advisoryKey(l.Dealer, "external_id:"+l.ExternalID))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// advisoryKey is the advisory lock key of a dealer's name for something (a customer
// number as it is, a key with its kind before it): the FNV-1a hash of both. A collision
// only makes two creates wait for each other for a moment.
func advisoryKey(dealer, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(dealer))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// leadWithDetails reads one lead with its attempts and duplicates; ErrNotFound when
// missing.
func (db *DB) leadWithDetails(ctx context.Context, id string) (dialer.Lead, error) {
	l, err := db.lead(ctx, id)
	if err == nil {
		err = db.details(ctx, &l)
	}
	return l, err
}

// details reads l's attempts and duplicates into it.
func (db *DB) details(ctx context.Context, l *dialer.Lead) (err error) {
	if l.Attempts, err = db.attempts(ctx, l.ID); err != nil {
		return err
	}
	if l.Duplicates, err = db.duplicates(ctx, l.ID); err != nil {
		return err
	}
	l.Recording, err = db.recording(ctx, l.ID) // recordings.go
	return err
}

// duplicates reads the submissions that joined a lead, oldest first; nil when none did.
func (db *DB) duplicates(ctx context.Context, leadID string) ([]dialer.Duplicate, error) {
	rows, err := db.r.QueryContext(ctx, selectDuplicatesSQL, leadID)
	if err != nil {
		return nil, fmt.Errorf("duplicates: %w", err)
	}
	defer rows.Close()
	var ds []dialer.Duplicate
	for rows.Next() {
		var (
			d        dialer.Duplicate
			received int64
			channel  string
		)
		if err := rows.Scan(&received, &d.Name, &d.Email, &d.Source, &d.Interest, &d.Message,
			&d.AssignedTo, &d.ExternalID, &d.IdempotencyKey, &channel, &d.Sender, &d.MessageID); err != nil {
			return nil, fmt.Errorf("duplicates: %w", err)
		}
		d.ReceivedAt, d.Channel = fromMillis(received), dialer.Channel(channel)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duplicates: %w", err)
	}
	return ds, nil
}
