package store

import (
	"context"
	"fmt"
	"time"

	"github.com/leadline/leadline/dialer"
)

var _ dialer.AbuseStore = (*DB)(nil)

// leadsToNumberSQL counts a number's leads since a time, over every dealer; the
// leads_phone_created index (migration 00002) answers it.
const leadsToNumberSQL = `SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM leads
	WHERE phone = $1 AND created_at >= $2`

// LeadsToNumber returns how many leads of any dealer have the E.164 number phone and
// were created at or after since, and the creation time of the oldest of them (zero
// when there are none).
func (db *DB) LeadsToNumber(ctx context.Context, phone string, since time.Time) (int, time.Time, error) {
	var n, oldest int64
	if err := db.r.QueryRowContext(ctx, leadsToNumberSQL, phone, since.UnixMilli()).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("leads to number: %w", err)
	}
	return int(n), fromMillis(oldest), nil
}

// FindRepeat returns the dealer's lead with the non-empty idempotencyKey or, failing
// that, with the non-empty externalID, as CreateLead would return it for a repeat: with
// its attempts and duplicates, and the lead a joined submission with the key joined.
// found is false when there is none.
func (db *DB) FindRepeat(ctx context.Context, dealer, idempotencyKey, externalID string) (dialer.Lead, bool, error) {
	l, found, err := db.repeatOf(ctx, dealer, idempotencyKey, externalID)
	if err == nil && found {
		err = db.details(ctx, &l)
	}
	if err != nil {
		return dialer.Lead{}, false, fmt.Errorf("find repeat: %w", err)
	}
	return l, found, nil
}
