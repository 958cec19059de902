package store_test

import (
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

// LeadsBetween returns the dealer's leads of [from, to), oldest first, each with its
// own attempts.
func TestLeadsBetween(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		var ids []string
		for i, c := range []struct {
			dealer string
			at     time.Duration
		}{{"jansen", -time.Minute}, {"jansen", 0}, {"other", time.Hour}, {"jansen", 2 * time.Hour}, {"jansen", 24 * time.Hour}} {
			l := newLead(c.dealer)
			l.CreatedAt = t0.Add(c.at)
			mustCreate(t, db, l)
			for range i % 3 {
				if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: l.ID, Leg: dialer.LegAgent, Person: "piet", StartedAt: l.CreatedAt}); err != nil {
					t.Fatal(err)
				}
			}
			ids = append(ids, l.ID)
		}
		got, err := db.LeadsBetween(ctx, "jansen", t0, t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[3] {
			t.Fatalf("leads %v, want the second and the fourth", got)
		}
		if len(got[0].Attempts) != 1 || len(got[1].Attempts) != 0 || got[0].Attempts[0].LeadID != ids[1] {
			t.Errorf("attempts %+v and %+v; want one and none", got[0].Attempts, got[1].Attempts)
		}
	})
}
