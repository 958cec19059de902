package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/leadline/leadline/dialer"
)

// The archive (migration 00006): the original message of an e-mailed lead, written in
// the lead's transaction, and the messages that held no lead, each kept with its reason.

var _ dialer.Archive = (*DB)(nil)

const (
	insertOriginalSQL = `INSERT INTO lead_originals (lead_id, content_type, size, body) VALUES ($1, $2, $3, $4)`

	selectOriginalSQL = `SELECT o.content_type, o.size, o.body FROM lead_originals o
	JOIN leads l ON l.id = o.lead_id WHERE o.lead_id = $1 AND l.dealer = $2`

	// insertRejectionSQL keeps one rejection per dealer and Message-ID: a message sent
	// again (the sender never heard our answer) is not kept twice.
	insertRejectionSQL = `INSERT INTO rejections (id, dealer, channel, received_at, sender,
		message_id, subject, reason, content_type, size, body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT DO NOTHING`

	rejectionCols = `id, dealer, channel, received_at, sender, message_id, subject, reason, size`

	selectRejectionSQL = `SELECT ` + rejectionCols + `, content_type, body
	FROM rejections WHERE id = $1 AND dealer = $2`
)

// InsertRejection keeps r; a second one of the dealer with the same Message-ID is not
// kept again (kept is false).
func (db *DB) InsertRejection(ctx context.Context, r dialer.Rejection) (kept bool, err error) {
	var (
		ct   string
		size int64
		body []byte
	)
	if r.Original != nil {
		ct, size, body = r.Original.ContentType, r.Original.Size, r.Original.Body
	}
	res, err := db.w.ExecContext(ctx, insertRejectionSQL, r.ID, r.Dealer, string(channelOf(r.Channel)),
		millis(r.ReceivedAt), r.Sender, r.MessageID, r.Subject, r.Reason, ct, size, body)
	if err != nil {
		return false, fmt.Errorf("insert rejection: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert rejection: %w", err)
	}
	return n == 1, nil
}

// Rejections returns a page of the dealer's rejections, newest first, without their
// originals. limit below 1 means 50, above 100 means 100. dialer.ErrBadCursor for a
// cursor that is not a rejection id.
func (db *DB) Rejections(ctx context.Context, dealer string, limit int, cursor string) ([]dialer.Rejection, string, error) {
	if err := checkCursor(cursor); err != nil {
		return nil, "", fmt.Errorf("list rejections: %w", err)
	}
	if limit < 1 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	query := `SELECT ` + rejectionCols + ` FROM rejections WHERE dealer = $1`
	args := []any{dealer}
	if cursor != "" {
		query += ` AND id < $2`
		args = append(args, cursor)
	}
	args = append(args, limit+1)
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list rejections: %w", err)
	}
	defer rows.Close()
	var rs []dialer.Rejection
	for rows.Next() {
		r, err := scanRejection(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list rejections: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list rejections: %w", err)
	}
	var next string
	if len(rs) > limit {
		rs = rs[:limit]
		next = rs[limit-1].ID
	}
	return rs, next, nil
}

// Rejection returns one of the dealer's rejections with its original.
func (db *DB) Rejection(ctx context.Context, dealer, id string) (dialer.Rejection, error) {
	var (
		r    dialer.Rejection
		o    dialer.Original
		body []byte
	)
	row := db.r.QueryRowContext(ctx, selectRejectionSQL, id, dealer)
	r, err := scanRejection(row, &o.ContentType, &body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return dialer.Rejection{}, fmt.Errorf("get rejection %s: %w", id, dialer.ErrNotFound)
	case err != nil:
		return dialer.Rejection{}, fmt.Errorf("get rejection %s: %w", id, err)
	}
	if o.ContentType != "" {
		o.Body, o.Size = body, r.Size
		r.Original = &o
	}
	return r, nil
}

// Original returns the original message kept with the dealer's lead.
func (db *DB) Original(ctx context.Context, dealer, leadID string) (*dialer.Original, error) {
	var o dialer.Original
	err := db.r.QueryRowContext(ctx, selectOriginalSQL, leadID, dealer).Scan(&o.ContentType, &o.Size, &o.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("get original of lead %s: %w", leadID, dialer.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("get original of lead %s: %w", leadID, err)
	}
	return &o, nil
}

// scanRejection reads rejectionCols, then more into more.
func scanRejection(s scanner, more ...any) (dialer.Rejection, error) {
	var (
		r        dialer.Rejection
		channel  string
		received int64
	)
	dst := append([]any{&r.ID, &r.Dealer, &channel, &received, &r.Sender, &r.MessageID, &r.Subject, &r.Reason, &r.Size}, more...)
	if err := s.Scan(dst...); err != nil {
		return dialer.Rejection{}, err
	}
	r.Channel, r.ReceivedAt = dialer.Channel(channel), fromMillis(received)
	return r, nil
}
