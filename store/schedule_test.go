package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/store"
)

// Turns count from 0 per dealer and step, and concurrent callers never share one.
func TestTurn(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		const n = 40
		var (
			mu  sync.Mutex
			got = map[int64]bool{}
			wg  sync.WaitGroup
		)
		for range n {
			wg.Go(func() {
				turn, err := db.Turn(ctx, "jansen", "piet,kees,anna")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[turn] = true
				mu.Unlock()
			})
		}
		wg.Wait()
		for i := range int64(n) {
			if !got[i] {
				t.Errorf("turn %d not handed out; got %v", i, got)
			}
		}
		for _, k := range [][2]string{{"jansen", "piet,kees"}, {"other", "piet,kees,anna"}} {
			if turn, err := db.Turn(ctx, k[0], k[1]); err != nil || turn != 0 {
				t.Errorf("Turn(%s, %s) = %d, %v; want a count of its own from 0", k[0], k[1], turn, err)
			}
		}
	})
}

// The turn survives a restart: the rotation goes on where it was.
func TestTurnAfterReopen(t *testing.T) {
	t.Parallel()
	u := sqliteURL(t)
	db, err := store.OpenAndMigrate(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := db.Turn(t.Context(), "jansen", "piet,kees"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if turn, err := mustOpen(t, u).Turn(t.Context(), "jansen", "piet,kees"); err != nil || turn != 2 {
		t.Errorf("after reopening: turn %d, %v; want 2", turn, err)
	}
}

// A lead's round is stored, only ever raised, and attempts keep theirs.
func TestRounds(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		a := dialer.Attempt{LeadID: l.ID, Round: 0, Step: 0, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0}
		if err := db.InsertAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}
		next := t0.Add(5 * time.Minute)
		for _, u := range []dialer.LeadUpdate{
			{ID: l.ID, Status: dialer.StatusScheduled, NextAt: next, Round: 2},
			{ID: l.ID, Status: dialer.StatusScheduled, NextAt: next, Round: 1}, // lower: kept at 2
			{ID: l.ID, Status: dialer.StatusDialing},                           // none: kept
		} {
			if _, err := db.UpdateLead(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		r := dialer.Attempt{LeadID: l.ID, Round: 2, Step: dialer.RetryStep, Leg: dialer.LegAgent, Person: "piet", StartedAt: next}
		if err := db.InsertAttempt(ctx, &r); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, l.ID)
		if got.Round != 2 {
			t.Errorf("round %d, want 2", got.Round)
		}
		equal(t, "attempts", got.Attempts, []dialer.Attempt{a, r})
	})
}

// LastPlanned is the latest planned start of the dealer's scheduled leads from a time on.
func TestLastPlanned(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		if last, err := db.LastPlanned(ctx, "jansen", t0); err != nil || !last.IsZero() {
			t.Errorf("no leads: %v, %v", last, err)
		}
		opening := t0.Add(22 * time.Hour)
		for i, at := range []time.Time{opening.Add(-24 * time.Hour), opening, opening.Add(30 * time.Second)} {
			l := newLead("jansen")
			l.Phone = fmt.Sprintf("+3161234567%d", i)
			l.Status, l.NextAt = dialer.StatusScheduled, at
			mustCreate(t, db, l)
		}
		other := newLead("other") // another dealer's plan does not count
		other.Status, other.NextAt = dialer.StatusScheduled, opening.Add(time.Hour)
		mustCreate(t, db, other)
		if last, err := db.LastPlanned(ctx, "jansen", opening); err != nil || !last.Equal(opening.Add(30*time.Second)) {
			t.Errorf("LastPlanned = %v, %v; want %v", last, err, opening.Add(30*time.Second))
		}
		if last, err := db.LastPlanned(ctx, "jansen", opening.Add(time.Minute)); err != nil || !last.IsZero() {
			t.Errorf("after the last: %v, %v", last, err)
		}
	})
}

// Advance moves a scheduled lead's start forward, never back, and leaves other leads alone.
func TestAdvance(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := newLead("jansen")
		l.Status, l.NextAt = dialer.StatusScheduled, t0.Add(time.Hour)
		l = mustCreate(t, db, l)
		for _, tc := range []struct {
			at   time.Time
			want bool
		}{{t0.Add(2 * time.Hour), false}, {t0.Add(time.Minute), true}, {t0.Add(time.Minute), false}} {
			if ok, err := db.Advance(ctx, l.ID, tc.at); ok != tc.want || err != nil {
				t.Errorf("Advance to %v = %v, %v; want %v", tc.at, ok, err, tc.want)
			}
		}
		if got := mustGet(t, db, l.ID); !got.NextAt.Equal(t0.Add(time.Minute)) || got.Status != dialer.StatusScheduled {
			t.Errorf("after Advance: %s at %v", got.Status, got.NextAt)
		}
		dialing := mustCreate(t, db, func() dialer.Lead { d := newLead("jansen"); d.Phone = "+31612345670"; return d }())
		if ok, err := db.Advance(ctx, dialing.ID, t0); ok || err != nil {
			t.Errorf("Advance of a queued lead = %v, %v", ok, err)
		}
	})
}

// The job of a lead created with a lease waits while the lease is live (its flow runs on
// the node that holds it: no look after the takeover time), and the sweep makes it due
// once the lease lapsed, however long it was snoozed (its node held the lease, then
// died): some node resumes the lead within about a takeover time.
func TestSweepWakesLapsedLease(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db, err := store.OpenAndMigrate(t.Context(), b.newURL(t), store.WithTakeover(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		l := newLead("jansen")
		l.Status, l.CreatedAt = dialer.StatusDialing, time.Now()
		until := l.CreatedAt.Add(3 * time.Second)
		if _, _, err := db.CreateLead(t.Context(), l, dialer.CreateOptions{Lease: dialer.Lease{Node: "n1", Until: until}}); err != nil {
			t.Fatal(err)
		}
		calls := make(chan time.Time, 4)
		var n atomic.Int32
		if err := db.Work(t.Context(), func(_ context.Context, id string) (time.Duration, error) {
			calls <- time.Now()
			if n.Add(1) == 1 {
				return dialer.LocalWatch, nil // as for a flow running on its node
			}
			return 0, nil
		}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = db.StopWork(ctx)
		}()
		for i := range 2 {
			select {
			case at := <-calls:
				t.Logf("watch %d after %v", i+1, at.Sub(l.CreatedAt).Round(100*time.Millisecond))
				if at.Before(until) {
					t.Fatalf("watch %d came %v before the lease lapsed: a leased lead's job must wait", i+1, until.Sub(at))
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("watch %d did not come within 30 s", i+1)
			}
		}
	})
}
