package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

func TestLeadsToNumber(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := context.Background()
		const eva, noah = "+31612345678", "+31687654321"
		add := func(dealer, phone string, at time.Time) {
			l := newLead(dealer)
			l.Phone, l.CreatedAt = phone, at
			mustCreate(t, db, l)
		}
		add("jansen", eva, t0.Add(-30*time.Hour)) // more than a day ago: not counted
		add("jansen", eva, t0.Add(-20*time.Hour))
		add("devries", eva, t0.Add(-2*time.Hour)) // another dealer: counted
		add("jansen", eva, t0.Add(-time.Minute))
		add("jansen", noah, t0.Add(-time.Minute)) // another number

		since := t0.Add(-24 * time.Hour)
		n, oldest, err := db.LeadsToNumber(ctx, eva, since)
		if err != nil || n != 3 || !oldest.Equal(t0.Add(-20*time.Hour)) {
			t.Errorf("LeadsToNumber(eva) = %d, %v, %v; want 3, %v", n, oldest, err, t0.Add(-20*time.Hour))
		}
		n, oldest, err = db.LeadsToNumber(ctx, "+32470123456", since)
		if err != nil || n != 0 || !oldest.IsZero() {
			t.Errorf("LeadsToNumber(unknown) = %d, %v, %v; want 0, zero", n, oldest, err)
		}
		// The boundary is inclusive.
		if n, _, _ := db.LeadsToNumber(ctx, eva, t0.Add(-2*time.Hour)); n != 2 {
			t.Errorf("LeadsToNumber since the third lead = %d, want 2", n)
		}
	})
}

func TestFindRepeat(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := context.Background()
		a := newLead("jansen")
		a.IdempotencyKey = "idem-1"
		a = mustCreate(t, db, a)
		c := newLead("jansen")
		c.ExternalID = "crm-7"
		c = mustCreate(t, db, c)
		if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: c.ID, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0}); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name, dealer, key, ext string
			want                   string // lead id, "" for none
		}{
			{"idempotency key", "jansen", "idem-1", "", a.ID},
			{"key wins over external id", "jansen", "idem-1", "crm-7", a.ID},
			{"external id", "jansen", "", "crm-7", c.ID},
			{"unknown key falls back to external id", "jansen", "idem-2", "crm-7", c.ID},
			{"other dealer", "devries", "idem-1", "crm-7", ""},
			{"nothing given", "jansen", "", "", ""},
			{"unknown", "jansen", "idem-9", "crm-9", ""},
		}
		for _, tt := range tests {
			l, found, err := db.FindRepeat(ctx, tt.dealer, tt.key, tt.ext)
			if err != nil || found != (tt.want != "") || l.ID != tt.want {
				t.Errorf("%s: FindRepeat = %q, %v, %v; want %q", tt.name, l.ID, found, err, tt.want)
			}
		}
		if l, _, _ := db.FindRepeat(ctx, "jansen", "", "crm-7"); len(l.Attempts) != 1 {
			t.Errorf("repeat has %d attempts, want 1 (as CreateLead returns it)", len(l.Attempts))
		}
	})
}
