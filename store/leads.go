package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/leadline/leadline/dialer"
)

var _ dialer.LeadStore = (*DB)(nil)

// Every statement below is plain SQL with $N parameters that both PostgreSQL (pgx) and
// SQLite (modernc) accept. Times are unix milliseconds; 0 means unset.
const (
	leadCols = `id, dealer, status, name, phone, email, source, interest, message, assigned_to,
		external_id, idempotency_key, created_at, connected_at, ended_at, reason, next_at, round,
		channel, sender, message_id, outcome, outcome_by, outcome_at`
	attemptCols = `id, lead_id, round, step, leg, person, result, sip_code,
		started_at, answered_at, accepted_at, ended_at, trunk`

	// Default and cap of ListLeads.
	defaultListLimit = 50
	maxListLimit     = 100
)

var (
	// finalSQL is "('completed', …)", the final statuses as an SQL list. The values are
	// constants of package dialer, never input.
	finalSQL = func() string {
		q := make([]string, len(dialer.FinalStatuses))
		for i, s := range dialer.FinalStatuses {
			q[i] = "'" + string(s) + "'"
		}
		return "(" + strings.Join(q, ", ") + ")"
	}()

	// insertLeadSQL writes nothing when the dealer already has the idempotency key or the
	// external id, on a lead (partial unique indexes) or on a submission that joined one
	// (lead_joins, join.go), or the id is taken, and then returns no row. The numbers are
	// cast because PostgreSQL types the parameters of INSERT … SELECT as text.
	insertLeadSQL = `INSERT INTO leads (id, dealer, status, name, phone, email, source, interest,
		message, assigned_to, external_id, idempotency_key, created_at, connected_at, ended_at,
		reason, updated_at, lease_node, lease_until, job_id, next_at, channel, sender, message_id)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CAST($13 AS BIGINT), CAST($14 AS BIGINT),
		CAST($15 AS BIGINT), $16, CAST($17 AS BIGINT), $18, CAST($19 AS BIGINT), CAST($20 AS BIGINT),
		CAST($21 AS BIGINT), $22, $23, $24
	WHERE NOT EXISTS (SELECT 1 FROM lead_joins
			WHERE dealer = $2 AND idempotency_key = $12 AND idempotency_key <> '')
		AND NOT EXISTS (SELECT 1 FROM lead_joins
			WHERE dealer = $2 AND external_id = $11 AND external_id <> '')
	ON CONFLICT DO NOTHING
	RETURNING ` + leadCols

	selectLeadSQL = `SELECT ` + leadCols + ` FROM leads WHERE id = $1`

	// Each lookup repeats its index predicate so that PostgreSQL's generic plan may use
	// the partial unique index.
	selectByIdempotencyKeySQL = `SELECT ` + leadCols + ` FROM leads
		WHERE dealer = $1 AND idempotency_key = $2 AND idempotency_key <> ''`
	selectByExternalIDSQL = `SELECT ` + leadCols + ` FROM leads
		WHERE dealer = $1 AND external_id = $2 AND external_id <> ''`

	selectAttemptsSQL = `SELECT ` + attemptCols + ` FROM attempts WHERE lead_id = $1 ORDER BY id`

	// claimSQL takes the lease when nobody holds it, node holds it already, or it expired.
	// $2 node, $3 until, $4 now.
	claimSQL = `UPDATE leads SET lease_node = $2, lease_until = $3, updated_at = $4
	WHERE id = $1 AND status NOT IN ` + finalSQL + `
		AND (lease_node = '' OR lease_node = $2 OR lease_until < $4)
	RETURNING ` + leadCols

	releaseSQL = `UPDATE leads SET lease_node = '', lease_until = 0, updated_at = $3
	WHERE id = $1 AND lease_node = $2
	RETURNING job_id`

	// updateLeadSQL never touches a final lead; a final status clears the lease.
	// $2 status, $3 connected_at, $4 ended_at (0: keep), $5 reason, $6 updated_at,
	// $7 next_at, $8 round (only ever raised).
	updateLeadSQL = `UPDATE leads SET
		status = $2,
		connected_at = CASE WHEN CAST($3 AS BIGINT) <> 0 THEN CAST($3 AS BIGINT) ELSE connected_at END,
		ended_at = CASE WHEN CAST($4 AS BIGINT) <> 0 THEN CAST($4 AS BIGINT) ELSE ended_at END,
		reason = $5,
		next_at = $7,
		round = CASE WHEN CAST($8 AS INTEGER) > round THEN CAST($8 AS INTEGER) ELSE round END,
		lease_node = CASE WHEN $2 IN ` + finalSQL + ` THEN '' ELSE lease_node END,
		lease_until = CASE WHEN $2 IN ` + finalSQL + ` THEN 0 ELSE lease_until END,
		updated_at = $6
	WHERE id = $1 AND status NOT IN ` + finalSQL

	// updateLeadEventSQL is updateLeadSQL saying whose lead it changed, for its event.
	updateLeadEventSQL = updateLeadSQL + ` RETURNING dealer`

	insertAttemptSQL = `INSERT INTO attempts (lead_id, round, step, leg, person, result, sip_code,
		started_at, answered_at, accepted_at, ended_at, trunk)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
	RETURNING id`

	updateAttemptSQL = `UPDATE attempts SET result = $2, sip_code = $3,
		started_at = $4, answered_at = $5, accepted_at = $6, ended_at = $7, trunk = $8
	WHERE id = $1`
)

// CreateLead stores l and returns it as stored (times at millisecond precision, UTC)
// with OutcomeCreated. When the dealer already has a lead, or a submission that joined
// one, with l's non-empty IdempotencyKey, or else with its non-empty ExternalID, nothing
// is written and that lead is returned, with its attempts and duplicates, and
// OutcomeRepeat. With o.JoinSince set, a number that has an open lead of the dealer
// created at or after it joins that lead instead (OutcomeJoined; see createOrJoin). The
// checks and the insert are one statement, or one transaction, so of concurrent creates
// with one key exactly one is created. l.ID must be new.
func (db *DB) CreateLead(ctx context.Context, l dialer.Lead, o dialer.CreateOptions) (dialer.Lead, dialer.Outcome, error) {
	if err := checkNewLead(&l); err != nil {
		return dialer.Lead{}, 0, fmt.Errorf("create lead: %w", err)
	}
	stored, out, err := db.createLead(ctx, l, o)
	db.noteWrite(err)
	return stored, out, err
}

func (db *DB) createLead(ctx context.Context, l dialer.Lead, o dialer.CreateOptions) (dialer.Lead, dialer.Outcome, error) {
	var (
		stored dialer.Lead
		joined string // the open lead l joined
		err    error
	)
	if o.JoinSince.IsZero() || l.Phone == "" {
		stored, err = db.insertLead(ctx, &l, o)
	} else {
		stored, joined, err = db.createOrJoin(ctx, &l, o)
	}
	switch {
	case err == nil && joined != "":
		if stored, err = db.leadWithDetails(ctx, joined); err != nil {
			return dialer.Lead{}, 0, fmt.Errorf("create lead: joined %s: %w", joined, err)
		}
		return stored, dialer.OutcomeJoined, nil
	case err == nil:
		stored.Attempts = []dialer.Attempt{}
		return stored, dialer.OutcomeCreated, nil
	case !errors.Is(err, sql.ErrNoRows):
		return dialer.Lead{}, 0, fmt.Errorf("create lead: %w", err)
	}

	// A conflict: the row that caused it is committed by now (PostgreSQL waits for the
	// inserting transaction; SQLite has a single writer) and leads are never deleted.
	existing, err := db.duplicateOf(ctx, &l)
	if err == nil {
		err = db.details(ctx, &existing)
	}
	if err != nil {
		return dialer.Lead{}, 0, fmt.Errorf("create lead: %w", err)
	}
	return existing, dialer.OutcomeRepeat, nil
}

// insertLead writes l (holding o.Lease), its original, its queue job and its events in
// one transaction; sql.ErrNoRows when l conflicts with an existing lead or join (nothing is
// written then).
func (db *DB) insertLead(ctx context.Context, l *dialer.Lead, o dialer.CreateOptions) (dialer.Lead, error) {
	insert, err := db.prepared(ctx, insertLeadSQL) // before BeginTx: see writeRow
	if err != nil {
		return dialer.Lead{}, err
	}
	db.warm(ctx, eventQueries...)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dialer.Lead{}, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	stored, err := db.insertLeadTx(ctx, tx, insert, l, o)
	if err != nil {
		return dialer.Lead{}, err
	}
	return stored, tx.Commit()
}

// insertLeadTx writes l (holding o.Lease), its original, its queue job and its events
// inside tx with insert, the prepared insertLeadSQL; sql.ErrNoRows when l conflicts (the
// caller rolls back).
func (db *DB) insertLeadTx(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, l *dialer.Lead, o dialer.CreateOptions) (dialer.Lead, error) {
	lease := o.Lease
	job, err := db.q.enqueue(ctx, tx, l.ID, l.CreatedAt, l.NextAt, lease.Node != "")
	if err != nil {
		return dialer.Lead{}, fmt.Errorf("queue: %w", err)
	}
	stored, err := scanLead(tx.StmtContext(ctx, insert).QueryRowContext(ctx,
		l.ID, l.Dealer, string(l.Status), l.Name, l.Phone, l.Email, l.Source, l.Interest,
		l.Message, l.AssignedTo, l.ExternalID, l.IdempotencyKey,
		millis(l.CreatedAt), millis(l.ConnectedAt), millis(l.EndedAt), l.Reason,
		millis(db.now()), lease.Node, millis(lease.Until), job, millis(l.NextAt),
		string(channelOf(l.Channel)), l.Sender, l.MessageID))
	if err != nil {
		return stored, err
	}
	if o.Original != nil {
		if _, err := tx.ExecContext(ctx, insertOriginalSQL, l.ID, o.Original.ContentType, o.Original.Size, o.Original.Body); err != nil {
			return dialer.Lead{}, fmt.Errorf("original: %w", err)
		}
	}
	if err := db.writeEvents(ctx, tx, stored.ID, stored.Dealer, stored.CreatedAt, true, dialer.CreatedEvents(stored.Status)...); err != nil {
		return dialer.Lead{}, err
	}
	return stored, nil
}

// channelOf is how a lead or submission is stored: ChannelAPI when unset.
func channelOf(c dialer.Channel) dialer.Channel {
	if c == "" {
		return dialer.ChannelAPI
	}
	return c
}

func checkNewLead(l *dialer.Lead) error {
	switch {
	case l.ID == "":
		return errors.New("lead has no id")
	case l.Dealer == "":
		return errors.New("lead has no dealer")
	case !l.Status.Valid():
		return fmt.Errorf("lead has unknown status %q", l.Status)
	case l.CreatedAt.IsZero():
		return errors.New("lead has no created_at")
	}
	return nil
}

// duplicateOf finds the lead an insert of l conflicted with (see repeatOf); an error when
// there is none, as for an id that is taken.
func (db *DB) duplicateOf(ctx context.Context, l *dialer.Lead) (dialer.Lead, error) {
	d, found, err := db.repeatOf(ctx, l.Dealer, l.IdempotencyKey, l.ExternalID)
	switch {
	case err != nil:
		return dialer.Lead{}, err
	case !found:
		return dialer.Lead{}, fmt.Errorf("lead id %s already exists", l.ID)
	}
	return d, nil
}

// repeatOf finds the dealer's lead that a lead with idempotencyKey and externalID repeats:
// the one with the key first (the same request again), then the one with the external
// id; for each, a lead that has it, then the lead a submission with it joined. It returns
// the lead without attempts; found is false when there is none.
func (db *DB) repeatOf(ctx context.Context, dealer, idempotencyKey, externalID string) (dialer.Lead, bool, error) {
	for _, q := range []struct{ sql, key string }{
		{selectByIdempotencyKeySQL, idempotencyKey},
		{selectJoinedByIdempotencyKeySQL, idempotencyKey},
		{selectByExternalIDSQL, externalID},
		{selectJoinedByExternalIDSQL, externalID},
	} {
		if q.key == "" {
			continue
		}
		l, err := scanLead(db.r.QueryRowContext(ctx, q.sql, dealer, q.key))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return dialer.Lead{}, false, err
		}
		return l, true, nil
	}
	return dialer.Lead{}, false, nil
}

// GetLead returns the lead with its attempts and duplicates, each oldest first.
// ErrNotFound when the lead does not exist or belongs to another dealer (dealer "" matches
// any dealer).
func (db *DB) GetLead(ctx context.Context, dealer, id string) (dialer.Lead, error) {
	l, err := db.lead(ctx, id)
	if err == nil && dealer != "" && l.Dealer != dealer {
		err = dialer.ErrNotFound
	}
	if err == nil {
		err = db.details(ctx, &l)
	}
	if err != nil {
		return dialer.Lead{}, fmt.Errorf("get lead %s: %w", id, err)
	}
	return l, nil
}

// ListLeads returns a page of leads newest first (by id: uuid v7 ids are time-ordered),
// without attempts. q.Dealer "" lists every dealer's. q.Limit below 1 means 50; above 100
// means 100. next is the Cursor for the following page, "" on the last one: the id of
// the page's last lead. dialer.ErrBadCursor for a Cursor that is not a lead id as
// Leadline makes them (a UUID, in its canonical lower-case form, so that it sorts as
// ids do).
func (db *DB) ListLeads(ctx context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error) {
	if q.Status != "" && !q.Status.Valid() {
		return nil, "", fmt.Errorf("list leads: unknown status %q", q.Status)
	}
	if err := checkCursor(q.Cursor); err != nil {
		return nil, "", fmt.Errorf("list leads: %w", err)
	}
	limit := q.Limit
	if limit < 1 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)

	// One statement per combination of filters, so that each gets its own plan and index.
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.Dealer != "" {
		add("dealer =", q.Dealer)
	}
	if q.Status != "" {
		add("status =", string(q.Status))
	}
	if q.Cursor != "" {
		add("id <", q.Cursor)
	}
	query := "SELECT " + leadCols + " FROM leads"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	query += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))

	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list leads: %w", err)
	}
	defer rows.Close()
	leads := make([]dialer.Lead, 0, limit+1)
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list leads: %w", err)
		}
		leads = append(leads, l)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list leads: %w", err)
	}
	var next string
	if len(leads) > limit {
		leads = leads[:limit]
		next = leads[limit-1].ID
	}
	return leads, next, nil
}

// Claim takes the lease on an unfinished lead for node until the given time, when no other
// node holds an unexpired lease at now (node may re-claim its own). It returns the lead
// with its attempts. ErrLeaseHeld when another node holds it; ErrNotFound when missing. A
// lead in a final status is returned with no lease taken and no error.
func (db *DB) Claim(ctx context.Context, id, node string, now, until time.Time) (dialer.Lead, error) {
	if node == "" {
		return dialer.Lead{}, fmt.Errorf("claim lead %s: empty node name", id)
	}
	l, err := scanLead(db.writeRow(ctx, claimSQL, id, node, millis(until), millis(now)))
	if errors.Is(err, sql.ErrNoRows) {
		// Not claimable: missing, final, or held by another node.
		l, err = db.lead(ctx, id)
		if err == nil && !l.Status.Final() {
			err = dialer.ErrLeaseHeld
		}
	}
	if err != nil {
		return dialer.Lead{}, fmt.Errorf("claim lead %s: %w", id, err)
	}
	if l.Attempts, err = db.attempts(ctx, id); err != nil {
		return dialer.Lead{}, fmt.Errorf("claim lead %s: %w", id, err)
	}
	return l, nil
}

// renewBatch bounds the ids of one RenewAll statement (SQLite allows 32,766 parameters).
const renewBatch = 500

// RenewAll extends node's lease to until on each of ids that node holds and that is not
// final, with one UPDATE per renewBatch ids, and reports every id that exists: its status
// and whether node holds it. A lease that expired but that nobody took since is still
// node's and is renewed. A lead that became final meanwhile (a cancel through the API,
// which also drops the lease) is reported with its final status, so the flow sees why it
// must stop.
func (db *DB) RenewAll(ctx context.Context, node string, ids []string, until time.Time) (map[string]dialer.Renewal, error) {
	if node == "" {
		return nil, errors.New("renew leases: empty node name")
	}
	out := make(map[string]dialer.Renewal, len(ids))
	for batch := range slices.Chunk(ids, renewBatch) {
		if err := db.renewBatch(ctx, node, batch, until, out); err != nil {
			return nil, fmt.Errorf("renew leases: %w", err)
		}
	}
	return out, nil
}

func (db *DB) renewBatch(ctx context.Context, node string, ids []string, until time.Time, out map[string]dialer.Renewal) error {
	// The ids are $4… in the UPDATE and $1… in the SELECT.
	args := []any{millis(until), millis(db.now()), node}
	update, sel := make([]string, len(ids)), make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		update[i], sel[i] = "$"+strconv.Itoa(i+4), "$"+strconv.Itoa(i+1)
	}
	before := len(out)
	// Not prepared: the statement differs with the number of ids, and runs once every
	// few seconds per node.
	rows, err := db.w.QueryContext(ctx, `UPDATE leads SET lease_until = $1, updated_at = $2
	WHERE lease_node = $3 AND status NOT IN `+finalSQL+` AND id IN (`+strings.Join(update, ", ")+`)
	RETURNING id, status`, args...)
	if err != nil {
		return err
	}
	if err := scanRenewals(rows, true, out); err != nil {
		return err
	}
	if len(out)-before == len(ids) {
		return nil
	}
	// Those not renewed: taken over, released, or final.
	rows, err = db.r.QueryContext(ctx, `SELECT id, status FROM leads WHERE id IN (`+strings.Join(sel, ", ")+`)`, args[3:]...)
	if err != nil {
		return err
	}
	return scanRenewals(rows, false, out)
}

// scanRenewals adds the (id, status) rows to out as held, without replacing an entry.
func scanRenewals(rows *sql.Rows, held bool, out map[string]dialer.Renewal) error {
	defer rows.Close()
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return err
		}
		if _, seen := out[id]; !seen {
			out[id] = dialer.Renewal{Status: dialer.Status(status), Held: held}
		}
	}
	return rows.Err()
}

// Release gives up node's lease at once, so another node may claim the lead. Releasing a
// lease node does not hold is a no-op; ErrNotFound when the lead is missing.
func (db *DB) Release(ctx context.Context, id, node string) error {
	if node == "" {
		return fmt.Errorf("release lease %s: empty node name", id)
	}
	err := db.release(ctx, id, node)
	if errors.Is(err, sql.ErrNoRows) {
		// Not node's lease (any more), or no such lead.
		if _, err = db.lead(ctx, id); err == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("release lease %s: %w", id, err)
	}
	return nil
}

// release drops node's lease and makes the lead's watch job due now, in one transaction.
func (db *DB) release(ctx context.Context, id, node string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var job int64
	if err := tx.QueryRowContext(ctx, releaseSQL, id, node, millis(db.now())).Scan(&job); err != nil {
		return err
	}
	if job != 0 {
		if err := db.q.wake(ctx, tx, job); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// InsertAttempt records a leg before its INVITE is sent and sets a.ID, which grows with
// every insert. events, when given, are written in the same transaction, as happened at
// a.StartedAt. ErrNotFound when a.LeadID names no lead.
func (db *DB) InsertAttempt(ctx context.Context, a *dialer.Attempt, events ...dialer.EventType) error {
	args := []any{a.LeadID, a.Round, a.Step, string(a.Leg), a.Person, string(a.Result), a.SIPCode,
		millis(a.StartedAt), millis(a.AnsweredAt), millis(a.AcceptedAt), millis(a.EndedAt), a.Trunk}
	var err error
	if len(events) == 0 {
		err = db.writeRow(ctx, insertAttemptSQL, args...).Scan(&a.ID)
	} else {
		err = db.insertAttemptWithEvents(ctx, a, args, events)
	}
	if err != nil {
		// Most likely the foreign key: say so in the store's terms.
		if _, lerr := db.lead(ctx, a.LeadID); errors.Is(lerr, dialer.ErrNotFound) {
			err = lerr
		}
		return fmt.Errorf("insert attempt for lead %s: %w", a.LeadID, err)
	}
	return nil
}

// insertAttemptWithEvents inserts attempt a (args) and events in one transaction that
// first touches the lead's row, as RecordEvent does.
func (db *DB) insertAttemptWithEvents(ctx context.Context, a *dialer.Attempt, args []any, events []dialer.EventType) error {
	db.warm(ctx, append([]string{insertAttemptSQL}, eventQueries...)...)
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var dealer string
		if err := tx.QueryRowContext(ctx, touchLeadSQL, a.LeadID, millis(db.now())).Scan(&dealer); err != nil {
			return err // sql.ErrNoRows: the foreign key's case, reported as ErrNotFound
		}
		if err := db.txRow(ctx, tx, insertAttemptSQL, args...).Scan(&a.ID); err != nil {
			return err
		}
		return db.writeEvents(ctx, tx, a.LeadID, dealer, a.StartedAt, false, events...)
	})
}

// UpdateAttempt writes a's result, SIP code, trunk and all four timestamps (a zero time
// clears one). ErrNotFound when no attempt has a.ID.
func (db *DB) UpdateAttempt(ctx context.Context, a dialer.Attempt) error {
	res, err := db.write(ctx, updateAttemptSQL, a.ID, string(a.Result), a.SIPCode,
		millis(a.StartedAt), millis(a.AnsweredAt), millis(a.AcceptedAt), millis(a.EndedAt), a.Trunk)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = dialer.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("update attempt %d: %w", a.ID, err)
	}
	return nil
}

// UpdateLead writes status, reason and the non-zero connected_at and ended_at, and the
// event the status reports (dialer.Status.Event) in the same transaction. It never moves
// a lead out of a final status: updated is false and nothing, no event either, is
// written when the lead is already final. Writing a final status drops the lease.
// ErrNotFound when the lead is missing. The event happened at u.EndedAt, else
// u.ConnectedAt, else now.
func (db *DB) UpdateLead(ctx context.Context, u dialer.LeadUpdate) (bool, error) {
	if !u.Status.Valid() {
		return false, fmt.Errorf("update lead %s: unknown status %q", u.ID, u.Status)
	}
	args := []any{u.ID, string(u.Status),
		millis(u.ConnectedAt), millis(u.EndedAt), u.Reason, millis(db.now()), millis(u.NextAt), u.Round}
	var err error
	if t := u.Status.Event(); t == "" {
		// No event (dialing): one statement, as before events.
		var res sql.Result
		if res, err = db.write(ctx, updateLeadSQL, args...); err == nil {
			err = db.mustChange(ctx, res, u.ID)
		}
	} else {
		err = db.updateWithEvent(ctx, u, t, args)
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errUnchanged):
		return false, nil
	default:
		return false, fmt.Errorf("update lead %s: %w", u.ID, err)
	}
}

// updateWithEvent runs updateLeadSQL with args and writes event t in one transaction;
// errUnchanged (and nothing written) when the lead is final.
func (db *DB) updateWithEvent(ctx context.Context, u dialer.LeadUpdate, t dialer.EventType, args []any) error {
	update, err := db.prepared(ctx, updateLeadEventSQL) // before BeginTx: see writeRow
	if err != nil {
		return err
	}
	db.warm(ctx, eventQueries...)
	at := u.EndedAt
	if at.IsZero() {
		at = u.ConnectedAt
	}
	if at.IsZero() {
		at = db.now()
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var dealer string
		if err := tx.StmtContext(ctx, update).QueryRowContext(ctx, args...).Scan(&dealer); err != nil {
			return err
		}
		return db.writeEvents(ctx, tx, u.ID, dealer, at, false, t)
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Final, or missing. Read outside the transaction: on :memory: it held the one
		// connection.
		if _, err := db.lead(ctx, u.ID); err != nil {
			return err // dialer.ErrNotFound
		}
		return errUnchanged
	}
	return err
}

// errUnchanged says a guarded UPDATE matched no row of a lead that exists.
var errUnchanged = errors.New("unchanged")

// mustChange returns nil when res changed a row; otherwise errUnchanged, or ErrNotFound
// when lead id does not exist.
func (db *DB) mustChange(ctx context.Context, res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil || n > 0 {
		return err
	}
	var one int
	err = db.r.QueryRowContext(ctx, `SELECT 1 FROM leads WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return dialer.ErrNotFound
	case err != nil:
		return err
	}
	return errUnchanged
}

// lead reads one lead without attempts; ErrNotFound when missing.
func (db *DB) lead(ctx context.Context, id string) (dialer.Lead, error) {
	l, err := scanLead(db.r.QueryRowContext(ctx, selectLeadSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = dialer.ErrNotFound
	}
	return l, err
}

// attempts reads a lead's attempts, oldest first; never nil.
func (db *DB) attempts(ctx context.Context, leadID string) ([]dialer.Attempt, error) {
	rows, err := db.r.QueryContext(ctx, selectAttemptsSQL, leadID)
	if err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	defer rows.Close()
	as := []dialer.Attempt{}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("attempts: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	return as, nil
}

type scanner interface {
	Scan(dest ...any) error
}

// scanAttempt reads attemptCols.
func scanAttempt(s scanner) (dialer.Attempt, error) {
	var (
		a                                  dialer.Attempt
		leg, result                        string
		started, answered, accepted, ended int64
	)
	if err := s.Scan(&a.ID, &a.LeadID, &a.Round, &a.Step, &leg, &a.Person, &result, &a.SIPCode,
		&started, &answered, &accepted, &ended, &a.Trunk); err != nil {
		return dialer.Attempt{}, err
	}
	a.Leg, a.Result = dialer.LegKind(leg), dialer.Result(result)
	a.StartedAt, a.AnsweredAt = fromMillis(started), fromMillis(answered)
	a.AcceptedAt, a.EndedAt = fromMillis(accepted), fromMillis(ended)
	return a, nil
}

// scanLead reads the leadCols of one row.
func scanLead(s scanner) (dialer.Lead, error) {
	var (
		l                       dialer.Lead
		status, channel         string
		created, connected, end int64
		next, outcomeAt         int64
	)
	err := s.Scan(&l.ID, &l.Dealer, &status, &l.Name, &l.Phone, &l.Email, &l.Source,
		&l.Interest, &l.Message, &l.AssignedTo, &l.ExternalID, &l.IdempotencyKey,
		&created, &connected, &end, &l.Reason, &next, &l.Round,
		&channel, &l.Sender, &l.MessageID, &l.Outcome.ID, &l.Outcome.Person, &outcomeAt)
	if err != nil {
		return dialer.Lead{}, err
	}
	l.Status, l.Channel = dialer.Status(status), dialer.Channel(channel)
	l.CreatedAt, l.ConnectedAt, l.EndedAt = fromMillis(created), fromMillis(connected), fromMillis(end)
	l.NextAt, l.Outcome.At = fromMillis(next), fromMillis(outcomeAt)
	return l, nil
}

// millis stores a time as unix milliseconds; the zero time as 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// checkCursor accepts "" and ids as Leadline makes them (UUIDs in their canonical
// lower-case form, which sort as the ids do); anything else is dialer.ErrBadCursor.
func checkCursor(c string) error {
	if c == "" {
		return nil
	}
	if u, err := uuid.Parse(c); err != nil || u.String() != c {
		return dialer.ErrBadCursor
	}
	return nil
}
