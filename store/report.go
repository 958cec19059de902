package store

import (
	"context"
	"fmt"
	"time"

	"github.com/leadline/leadline/dialer"
)

var _ dialer.ReportStore = (*DB)(nil)

const (
	// The period's leads by creation time; the leads_dealer_created index (migration
	// 00008) finds them.
	selectLeadsBetweenSQL = `SELECT ` + leadCols + ` FROM leads
	WHERE dealer = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id`
	selectAttemptsBetweenSQL = `SELECT a.id, a.lead_id, a.round, a.step, a.leg, a.person, a.result, a.sip_code,
		a.started_at, a.answered_at, a.accepted_at, a.ended_at, a.trunk
	FROM attempts a JOIN leads l ON l.id = a.lead_id
	WHERE l.dealer = $1 AND l.created_at >= $2 AND l.created_at < $3 ORDER BY a.lead_id, a.id`
)

// LeadsBetween returns the dealer's leads created at or after from and before to,
// oldest first, each with its attempts (no duplicates), for the owner's report.
func (db *DB) LeadsBetween(ctx context.Context, dealer string, from, to time.Time) ([]dialer.Lead, error) {
	rows, err := db.r.QueryContext(ctx, selectLeadsBetweenSQL, dealer, millis(from), millis(to))
	if err != nil {
		return nil, fmt.Errorf("leads between: %w", err)
	}
	var leads []dialer.Lead
	index := map[string]int{}
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("leads between: %w", err)
		}
		index[l.ID] = len(leads)
		leads = append(leads, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leads between: %w", err)
	}
	rows, err = db.r.QueryContext(ctx, selectAttemptsBetweenSQL, dealer, millis(from), millis(to))
	if err != nil {
		return nil, fmt.Errorf("leads between: attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("leads between: attempts: %w", err)
		}
		if i, ok := index[a.LeadID]; ok { // a lead created after the first query
			leads[i].Attempts = append(leads[i].Attempts, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leads between: attempts: %w", err)
	}
	return leads, nil
}
