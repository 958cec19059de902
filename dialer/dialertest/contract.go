package dialertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/leadline/leadline/dialer"
)

// TestLeadStore is the contract of dialer.LeadStore, as the dialer relies on it: run
// against the fake of this package and against every real store (SQLite, PostgreSQL),
// so that the fake the dialer's tests use cannot drift from what the stores do. open
// returns an empty store that lives until the test ends.
func TestLeadStore(t *testing.T, open func(t *testing.T) dialer.LeadStore) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	newLead := func(dealer, phone string) dialer.Lead {
		return dialer.Lead{
			ID: uuid.Must(uuid.NewV7()).String(), Dealer: dealer, Status: dialer.StatusQueued,
			Phone: phone, Name: "Eva Jansen", CreatedAt: t0,
		}
	}
	create := func(t *testing.T, s dialer.LeadStore, l dialer.Lead, o dialer.CreateOptions) (dialer.Lead, dialer.Outcome) {
		t.Helper()
		stored, out, err := s.CreateLead(ctx, l, o)
		if err != nil {
			t.Fatalf("CreateLead: %v", err)
		}
		return stored, out
	}
	get := func(t *testing.T, s dialer.LeadStore, id string) dialer.Lead {
		t.Helper()
		l, err := s.GetLead(ctx, "", id)
		if err != nil {
			t.Fatalf("GetLead(%s): %v", id, err)
		}
		return l
	}

	t.Run("created and read back, per dealer", func(t *testing.T) {
		s := open(t)
		l := newLead("jansen", "+31612345678")
		l.Interest, l.Source, l.ExternalID = "Volvo XC60", "website", "crm-1"
		stored, out := create(t, s, l, dialer.CreateOptions{})
		if out != dialer.OutcomeCreated || stored.ID != l.ID {
			t.Fatalf("CreateLead = %s %v, want created %s", stored.ID, out, l.ID)
		}
		got, err := s.GetLead(ctx, "jansen", l.ID)
		if err != nil || got.Phone != l.Phone || got.Name != l.Name || got.Interest != l.Interest ||
			got.Source != l.Source || got.ExternalID != l.ExternalID || got.Status != dialer.StatusQueued ||
			!got.CreatedAt.Equal(t0) {
			t.Errorf("GetLead = %+v, %v", got, err)
		}
		if _, err := s.GetLead(ctx, "bakker", l.ID); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("another dealer's GetLead: %v, want ErrNotFound", err)
		}
		if _, err := s.GetLead(ctx, "", uuid.Must(uuid.NewV7()).String()); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("GetLead of a missing lead: %v, want ErrNotFound", err)
		}
	})

	t.Run("repeats by idempotency key and external id, per dealer", func(t *testing.T) {
		s := open(t)
		first := newLead("jansen", "+31612345678")
		first.IdempotencyKey, first.ExternalID = "key-1", "ext-1"
		create(t, s, first, dialer.CreateOptions{})
		for name, edit := range map[string]func(*dialer.Lead){
			"same key":         func(l *dialer.Lead) { l.IdempotencyKey = "key-1" },
			"same external id": func(l *dialer.Lead) { l.ExternalID = "ext-1" },
		} {
			again := newLead("jansen", "+31687654321")
			edit(&again)
			stored, out := create(t, s, again, dialer.CreateOptions{})
			if out != dialer.OutcomeRepeat || stored.ID != first.ID {
				t.Errorf("%s: %v %s, want a repeat of %s", name, out, stored.ID, first.ID)
			}
			if _, err := s.GetLead(ctx, "", again.ID); !errors.Is(err, dialer.ErrNotFound) {
				t.Errorf("%s: the repeat was stored (%v)", name, err)
			}
		}
		other := newLead("bakker", "+31612345678")
		other.IdempotencyKey, other.ExternalID = "key-1", "ext-1"
		if _, out := create(t, s, other, dialer.CreateOptions{}); out != dialer.OutcomeCreated {
			t.Errorf("another dealer's lead with the same key: %v, want created", out)
		}
	})

	t.Run("joins an open lead for the number, not a final one", func(t *testing.T) {
		s := open(t)
		first := newLead("jansen", "+31612345678")
		create(t, s, first, dialer.CreateOptions{})
		dup := newLead("jansen", "+31612345678")
		dup.CreatedAt, dup.Interest = t0.Add(time.Minute), "Volvo V60"
		stored, out := create(t, s, dup, dialer.CreateOptions{JoinSince: t0.Add(-time.Hour)})
		if out != dialer.OutcomeJoined || stored.ID != first.ID {
			t.Fatalf("CreateLead = %v %s, want joined to %s", out, stored.ID, first.ID)
		}
		if got := get(t, s, first.ID); len(got.Duplicates) != 1 || got.Duplicates[0].Interest != "Volvo V60" {
			t.Errorf("duplicates %+v, want the joined submission", got.Duplicates)
		}
		late := newLead("jansen", "+31612345678")
		if _, out := create(t, s, late, dialer.CreateOptions{JoinSince: t0.Add(time.Second)}); out != dialer.OutcomeCreated {
			t.Errorf("a lead older than JoinSince was joined: %v", out)
		}
		if ok, err := s.UpdateLead(ctx, dialer.LeadUpdate{ID: first.ID, Status: dialer.StatusCompleted, EndedAt: t0.Add(2 * time.Minute)}); !ok || err != nil {
			t.Fatalf("UpdateLead: %v, %v", ok, err)
		}
		if ok, err := s.UpdateLead(ctx, dialer.LeadUpdate{ID: late.ID, Status: dialer.StatusCompleted, EndedAt: t0.Add(2 * time.Minute)}); !ok || err != nil {
			t.Fatalf("UpdateLead: %v, %v", ok, err)
		}
		after := newLead("jansen", "+31612345678")
		if _, out := create(t, s, after, dialer.CreateOptions{JoinSince: t0.Add(-time.Hour)}); out != dialer.OutcomeCreated {
			t.Errorf("a lead joined a final one: %v", out)
		}
	})

	t.Run("leases", func(t *testing.T) {
		s := open(t)
		l := newLead("jansen", "+31612345678")
		create(t, s, l, dialer.CreateOptions{Lease: dialer.Lease{Node: "a", Until: t0.Add(10 * time.Second)}})
		if _, err := s.Claim(ctx, l.ID, "b", t0.Add(5*time.Second), t0.Add(15*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("b's claim of a's live lease: %v, want ErrLeaseHeld", err)
		}
		r, err := s.RenewAll(ctx, "a", []string{l.ID}, t0.Add(20*time.Second))
		if err != nil || !r[l.ID].Held || r[l.ID].Status != dialer.StatusQueued {
			t.Errorf("a's RenewAll = %+v, %v; want held", r, err)
		}
		if r, err := s.RenewAll(ctx, "b", []string{l.ID}, t0.Add(20*time.Second)); err != nil || r[l.ID].Held {
			t.Errorf("b's RenewAll = %+v, %v; want not held", r, err)
		}
		if _, err := s.Claim(ctx, l.ID, "b", t0.Add(15*time.Second), t0.Add(30*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("b's claim of the renewed lease: %v, want ErrLeaseHeld", err)
		}
		got, err := s.Claim(ctx, l.ID, "b", t0.Add(21*time.Second), t0.Add(40*time.Second))
		if err != nil || got.ID != l.ID {
			t.Fatalf("b's claim after the lease lapsed: %v", err)
		}
		if err := s.Release(ctx, l.ID, "b"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if _, err := s.Claim(ctx, l.ID, "c", t0.Add(22*time.Second), t0.Add(50*time.Second)); err != nil {
			t.Errorf("c's claim after b released: %v", err)
		}
		if _, err := s.Claim(ctx, uuid.Must(uuid.NewV7()).String(), "a", t0, t0.Add(time.Minute)); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("claim of a missing lead: %v, want ErrNotFound", err)
		}
		if ok, err := s.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCanceled, EndedAt: t0.Add(time.Minute)}); !ok || err != nil {
			t.Fatalf("UpdateLead: %v, %v", ok, err)
		}
		if got, err := s.Claim(ctx, l.ID, "d", t0.Add(23*time.Second), t0.Add(time.Minute)); err != nil || got.Status != dialer.StatusCanceled {
			t.Errorf("claim of a final lead = %s, %v; want it returned, no error", got.Status, err)
		}
	})

	t.Run("attempts in order, with their results", func(t *testing.T) {
		s := open(t)
		l := newLead("jansen", "+31612345678")
		create(t, s, l, dialer.CreateOptions{})
		a := &dialer.Attempt{LeadID: l.ID, Round: 0, Step: 0, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0.Add(time.Second)}
		b := &dialer.Attempt{LeadID: l.ID, Round: 0, Step: 1, Leg: dialer.LegAgent, Person: "kees", StartedAt: t0.Add(2 * time.Second)}
		for _, at := range []*dialer.Attempt{a, b} {
			if err := s.InsertAttempt(ctx, at); err != nil || at.ID == 0 {
				t.Fatalf("InsertAttempt: id %d, %v", at.ID, err)
			}
		}
		a.Result, a.SIPCode, a.EndedAt = dialer.ResultBusy, 486, t0.Add(3*time.Second)
		if err := s.UpdateAttempt(ctx, *a); err != nil {
			t.Fatal(err)
		}
		got := get(t, s, l.ID).Attempts
		if len(got) != 2 || got[0].Person != "piet" || got[0].Result != dialer.ResultBusy || got[0].SIPCode != 486 ||
			!got[0].EndedAt.Equal(a.EndedAt) || got[1].Person != "kees" || got[1].Result != "" {
			t.Errorf("attempts %+v", got)
		}
	})

	t.Run("a final status is never left", func(t *testing.T) {
		s := open(t)
		l := newLead("jansen", "+31612345678")
		create(t, s, l, dialer.CreateOptions{})
		if ok, err := s.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusDialing}); !ok || err != nil {
			t.Fatalf("UpdateLead dialing: %v %v", ok, err)
		}
		if ok, err := s.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCanceled, EndedAt: t0.Add(time.Minute), Reason: "canceled"}); !ok || err != nil {
			t.Fatalf("UpdateLead canceled: %v %v", ok, err)
		}
		if ok, err := s.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusConnected, ConnectedAt: t0.Add(2 * time.Minute)}); ok || err != nil {
			t.Errorf("UpdateLead of a final lead = %v, %v; want not updated, no error", ok, err)
		}
		if got := get(t, s, l.ID); got.Status != dialer.StatusCanceled || got.Reason != "canceled" || !got.ConnectedAt.IsZero() {
			t.Errorf("lead %s (%s), connected at %v", got.Status, got.Reason, got.ConnectedAt)
		}
	})

	t.Run("the first outcome is kept", func(t *testing.T) {
		s := open(t)
		l := newLead("jansen", "+31612345678")
		create(t, s, l, dialer.CreateOptions{})
		first := dialer.CallOutcome{ID: "follow_up", Person: "piet", At: t0.Add(time.Minute)}
		if err := s.SetOutcome(ctx, l.ID, first); err != nil {
			t.Fatal(err)
		}
		if err := s.SetOutcome(ctx, l.ID, dialer.CallOutcome{ID: "appointment", Person: "piet", At: t0.Add(2 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, l.ID).Outcome; got.ID != first.ID || got.Person != first.Person || !got.At.Equal(first.At) {
			t.Errorf("outcome %+v, want %+v", got, first)
		}
		if err := s.SetOutcome(ctx, uuid.Must(uuid.NewV7()).String(), first); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("SetOutcome of a missing lead: %v, want ErrNotFound", err)
		}
	})

	t.Run("round robin turns count from 0 per dealer and step", func(t *testing.T) {
		s := open(t)
		for i, q := range []struct {
			dealer, step string
			want         int64
		}{{"jansen", "s1", 0}, {"jansen", "s1", 1}, {"jansen", "s2", 0}, {"bakker", "s1", 0}, {"jansen", "s1", 2}} {
			if got, err := s.Turn(ctx, q.dealer, q.step); err != nil || got != q.want {
				t.Errorf("turn %d (%s %s) = %d, %v; want %d", i, q.dealer, q.step, got, err, q.want)
			}
		}
	})

	t.Run("lists newest first, a page at a time", func(t *testing.T) {
		s := open(t)
		var ids []string
		for i := range 3 {
			l := newLead("jansen", "+3161234567"+string(rune('0'+i)))
			l.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
			create(t, s, l, dialer.CreateOptions{})
			ids = append(ids, l.ID)
		}
		create(t, s, newLead("bakker", "+31612345670"), dialer.CreateOptions{})
		page, next, err := s.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] || next == "" {
			t.Fatalf("first page %v, next %q, %v", leadIDs(page), next, err)
		}
		page, next, err = s.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Limit: 2, Cursor: next})
		if err != nil || len(page) != 1 || page[0].ID != ids[0] || next != "" {
			t.Errorf("second page %v, next %q, %v", leadIDs(page), next, err)
		}
		if _, _, err := s.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Limit: 2, Cursor: "not-a-cursor"}); !errors.Is(err, dialer.ErrBadCursor) {
			t.Errorf("a made-up cursor: %v, want ErrBadCursor", err)
		}
	})
}

func leadIDs(ls []dialer.Lead) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}
