package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Softphones' registrations (dialer.Binding): the sip registrar writes them here, so that
// they outlive a restart and every node sees them, and reads them back when a flow rings
// a registered person (sip.BindingStore).

const bindingCols = `id, sip_user, dealer, person, binding_key, contact, source, transport, node,
	call_id, cseq, user_agent, expires_at, updated_at`

const (
	putBindingSQL = `INSERT INTO registrations (` + bindingCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (sip_user, binding_key) DO UPDATE SET
		dealer = excluded.dealer, person = excluded.person, contact = excluded.contact,
		source = excluded.source, transport = excluded.transport, node = excluded.node,
		call_id = excluded.call_id, cseq = excluded.cseq, user_agent = excluded.user_agent,
		expires_at = excluded.expires_at, updated_at = excluded.updated_at`
	bindingsSQL = `SELECT ` + bindingCols + ` FROM registrations
	WHERE sip_user = $1 AND expires_at > $2 ORDER BY updated_at, id`
	nodeBindingsSQL = `SELECT ` + bindingCols + ` FROM registrations
	WHERE node = $1 AND expires_at > $2 ORDER BY sip_user, updated_at, id`
	deleteBindingSQL  = `DELETE FROM registrations WHERE sip_user = $1 AND binding_key = $2`
	deleteBindingsSQL = `DELETE FROM registrations WHERE sip_user = $1`
	purgeBindingsSQL  = `DELETE FROM registrations WHERE expires_at <= $1`
)

// PutBinding stores b, replacing the user's binding with the same Key (b.ID is then
// left as it was stored first: a device keeps its id across refreshes).
func (db *DB) PutBinding(ctx context.Context, b dialer.Binding) error {
	_, err := db.write(ctx, putBindingSQL, b.ID, b.User, b.Dealer, b.Person, b.Key, b.Contact, b.Source,
		b.Transport, b.Node, b.CallID, int64(b.CSeq), b.UserAgent, millis(b.Expires), millis(b.Updated))
	if err != nil {
		return fmt.Errorf("store registration of %s: %w", b.User, err)
	}
	return nil
}

// Bindings returns user's registrations that have not expired by now, oldest first.
func (db *DB) Bindings(ctx context.Context, user string, now time.Time) ([]dialer.Binding, error) {
	return db.bindings(ctx, bindingsSQL, user, now)
}

// NodeBindings returns the registrations taken by node that have not expired by now,
// by user.
func (db *DB) NodeBindings(ctx context.Context, node string, now time.Time) ([]dialer.Binding, error) {
	return db.bindings(ctx, nodeBindingsSQL, node, now)
}

// DeleteBinding removes user's binding with key; none is not an error.
func (db *DB) DeleteBinding(ctx context.Context, user, key string) error {
	if _, err := db.write(ctx, deleteBindingSQL, user, key); err != nil {
		return fmt.Errorf("remove registration of %s: %w", user, err)
	}
	return nil
}

// DeleteBindings removes every binding of user (a REGISTER with Contact: *).
func (db *DB) DeleteBindings(ctx context.Context, user string) error {
	if _, err := db.write(ctx, deleteBindingsSQL, user); err != nil {
		return fmt.Errorf("remove registrations of %s: %w", user, err)
	}
	return nil
}

// PurgeBindings removes the registrations that expired by before and says how many.
func (db *DB) PurgeBindings(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.write(ctx, purgeBindingsSQL, millis(before))
	if err != nil {
		return 0, fmt.Errorf("purge registrations: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (db *DB) bindings(ctx context.Context, query, key string, now time.Time) ([]dialer.Binding, error) {
	rows, err := db.r.QueryContext(ctx, query, key, millis(now))
	if err != nil {
		return nil, fmt.Errorf("read registrations of %s: %w", key, err)
	}
	defer rows.Close()
	var out []dialer.Binding
	for rows.Next() {
		b, err := scanBinding(rows)
		if err != nil {
			return nil, fmt.Errorf("read registrations of %s: %w", key, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read registrations of %s: %w", key, err)
	}
	return out, nil
}

func scanBinding(rows *sql.Rows) (dialer.Binding, error) {
	var (
		b                 dialer.Binding
		cseq              int64
		expires, modified int64
	)
	err := rows.Scan(&b.ID, &b.User, &b.Dealer, &b.Person, &b.Key, &b.Contact, &b.Source, &b.Transport, &b.Node,
		&b.CallID, &cseq, &b.UserAgent, &expires, &modified)
	b.CSeq, b.Expires, b.Updated = uint32(cseq), fromMillis(expires), fromMillis(modified)
	return b, err
}
