package store_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/store"
)

func eventTypes(t *testing.T, db *store.DB, id string) []dialer.EventType {
	t.Helper()
	es, err := db.Events(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []dialer.EventType
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// Each change a lead goes through writes its event, in the order of the changes, and
// only changes that happened do: an UpdateLead refused because the lead is final writes
// none, nor do a repeat, a join or a move to dialing.
func TestEventsWithChanges(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		check := func(what string, want ...dialer.EventType) {
			t.Helper()
			if got := eventTypes(t, db, l.ID); !slices.Equal(got, want) {
				t.Errorf("%s: events %q, want %q", what, got, want)
			}
		}
		check("created", dialer.EventReceived)

		update := func(u dialer.LeadUpdate, want bool) {
			t.Helper()
			u.ID = l.ID
			if ok, err := db.UpdateLead(ctx, u); err != nil || ok != want {
				t.Fatalf("UpdateLead(%s) = %v, %v; want %v", u.Status, ok, err, want)
			}
		}
		update(dialer.LeadUpdate{Status: dialer.StatusDialing}, true)
		check("dialing", dialer.EventReceived)
		piet := dialer.Attempt{LeadID: l.ID, Step: 0, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0.Add(500 * time.Millisecond)}
		if err := db.InsertAttempt(ctx, &piet); err != nil {
			t.Fatal(err)
		}
		owner := dialer.Attempt{LeadID: l.ID, Step: 1, Leg: dialer.LegAgent, Person: "owner", StartedAt: t0.Add(time.Second)}
		if err := db.InsertAttempt(ctx, &owner, dialer.EventReachedOwner); err != nil || owner.ID <= piet.ID {
			t.Fatalf("InsertAttempt with an event: id %d, %v", owner.ID, err)
		}
		if got := mustGet(t, db, l.ID).Attempts; len(got) != 2 || got[1].Person != "owner" {
			t.Errorf("attempts %+v", got)
		}
		update(dialer.LeadUpdate{Status: dialer.StatusConnected, ConnectedAt: t0.Add(7 * time.Second)}, true)
		update(dialer.LeadUpdate{Status: dialer.StatusCompleted, EndedAt: t0.Add(time.Minute)}, true)
		update(dialer.LeadUpdate{Status: dialer.StatusCanceled, EndedAt: t0.Add(2 * time.Minute)}, false)
		if err := db.RecordEvent(ctx, l.ID, dialer.EventOutcome, t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("after the call", dialer.EventReceived, dialer.EventReachedOwner, dialer.EventConnected,
			dialer.EventCompleted, dialer.EventOutcome)

		es, err := db.Events(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantAt := []time.Time{t0, t0.Add(time.Second), t0.Add(7 * time.Second), t0.Add(time.Minute), t0.Add(3 * time.Minute)}
		for i, e := range es {
			if !e.At.Equal(wantAt[i]) || e.Dealer != "jansen" || e.LeadID != l.ID || (i > 0 && e.ID <= es[i-1].ID) {
				t.Errorf("event %d: %+v, want at %v", i, e, wantAt[i])
			}
		}

		// A lead stored scheduled is received and scheduled; a repeat of it is nothing.
		s := newLead("jansen")
		s.Status, s.NextAt, s.ExternalID = dialer.StatusScheduled, t0.Add(time.Hour), "crm-1"
		mustCreate(t, db, s)
		if got := eventTypes(t, db, s.ID); !slices.Equal(got, []dialer.EventType{dialer.EventReceived, dialer.EventScheduled}) {
			t.Errorf("created scheduled: %q", got)
		}
		again := newLead("jansen")
		again.ExternalID = "crm-1"
		if _, out, err := db.CreateLead(ctx, again, dialer.CreateOptions{}); err != nil || out != dialer.OutcomeRepeat {
			t.Fatalf("repeat: %v %v", out, err)
		}
		if got := eventTypes(t, db, again.ID); len(got) != 0 {
			t.Errorf("a repeat wrote events %q", got)
		}

		// A join writes no event, neither for the post nor for the lead it joined.
		open := newLead("bakker")
		open.Phone = "+31687654321"
		open = create(t, db, open, joinOpts(t0.Add(-time.Hour)), dialer.OutcomeCreated)
		join := submission("bakker")
		join.Phone = open.Phone
		create(t, db, join, joinOpts(t0.Add(-time.Hour)), dialer.OutcomeJoined)
		if got := eventTypes(t, db, open.ID); !slices.Equal(got, []dialer.EventType{dialer.EventReceived}) {
			t.Errorf("joined lead's events %q", got)
		}

		if err := db.RecordEvent(ctx, "no-such-lead", dialer.EventOutcome, t0); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("RecordEvent of a missing lead: %v", err)
		}
		if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: "no-such-lead", Leg: dialer.LegAgent}, dialer.EventReachedOwner); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("InsertAttempt with an event for a missing lead: %v", err)
		}
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: "no-such-lead", Status: dialer.StatusCompleted}); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("UpdateLead of a missing lead: %v", err)
		}
		if err := db.RecordEvent(ctx, l.ID, "lead.invented", t0); err == nil {
			t.Error("RecordEvent took an unknown type")
		}
	})
}

// Of a cancel and the flow's end racing on one lead (two nodes), one wins, and only its
// event is written: the event is in the transaction of the change.
func TestEventsOfRacingFinals(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		for range 10 {
			l := mustCreate(t, db, newLead("jansen"))
			var (
				wg  sync.WaitGroup
				won [2]bool
			)
			for i, st := range []dialer.Status{dialer.StatusCanceled, dialer.StatusExhausted} {
				wg.Go(func() {
					ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: st, EndedAt: t0.Add(time.Minute)})
					if err != nil {
						t.Error(err)
					}
					won[i] = ok
				})
			}
			wg.Wait()
			final := mustGet(t, db, l.ID).Status
			got := eventTypes(t, db, l.ID)
			if won[0] == won[1] || !slices.Equal(got, []dialer.EventType{dialer.EventReceived, final.Event()}) {
				t.Fatalf("won %v, lead %s, events %q", won, final, got)
			}
		}
	})
}

// The call's outcome is written on a lead that already ended, with its event; a second
// one changes nothing and writes no second event.
func TestSetOutcome(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		if ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCompleted, EndedAt: t0.Add(time.Minute)}); err != nil || !ok {
			t.Fatalf("UpdateLead = %v, %v", ok, err)
		}
		o := dialer.CallOutcome{ID: "appointment", Person: "piet", At: t0.Add(70 * time.Second)}
		if err := db.SetOutcome(ctx, l.ID, o); err != nil {
			t.Fatal(err)
		}
		if err := db.SetOutcome(ctx, l.ID, dialer.CallOutcome{ID: "not_interested", Person: "piet", At: t0.Add(80 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, l.ID)
		equal(t, "outcome", got.Outcome, o)
		if ev := eventTypes(t, db, l.ID); !slices.Equal(ev, []dialer.EventType{dialer.EventReceived, dialer.EventCompleted, dialer.EventOutcome}) {
			t.Errorf("events %q", ev)
		}
		if err := db.SetOutcome(ctx, "0190-missing", o); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("outcome of a missing lead: %v, want ErrNotFound", err)
		}
	})
}
