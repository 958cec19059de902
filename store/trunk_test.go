package store_test

import (
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

// An attempt keeps the trunk that carried it, as inserted and as updated, for GetLead
// and for the owner's report.
func TestAttemptTrunk(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		agent := dialer.Attempt{LeadID: l.ID, Leg: dialer.LegAgent, Person: "kees", StartedAt: t0, Trunk: "kpn"}
		cust := dialer.Attempt{LeadID: l.ID, Leg: dialer.LegCustomer, Person: "kees", StartedAt: t0.Add(time.Second)}
		for _, a := range []*dialer.Attempt{&agent, &cust} {
			if err := db.InsertAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		// The customer's trunk is known once the call went out: on update.
		cust.Trunk, cust.Result, cust.EndedAt = "telnyx", dialer.ResultAnswered, t0.Add(time.Minute)
		if err := db.UpdateAttempt(ctx, cust); err != nil {
			t.Fatal(err)
		}
		check := func(what string, as []dialer.Attempt) {
			t.Helper()
			if len(as) != 2 || as[0].Trunk != "kpn" || as[1].Trunk != "telnyx" {
				t.Errorf("%s: attempts %+v, want trunks kpn and telnyx", what, as)
			}
		}
		check("GetLead", mustGet(t, db, l.ID).Attempts)
		leads, err := db.LeadsBetween(ctx, "jansen", t0.Add(-time.Hour), t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(leads) != 1 {
			t.Fatalf("LeadsBetween: %d leads", len(leads))
		}
		check("LeadsBetween", leads[0].Attempts)
	})
}
