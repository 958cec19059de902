package dialer_test

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// withWindow gives env's dealer a duplicate window, and adds a second dealer, bakker,
// with the same people and window.
func (e *env) withWindow(window time.Duration) {
	jansen, bakker := testDealer(), testDealer()
	jansen.DuplicateWindow, bakker.DuplicateWindow = window, window
	bakker.ID = "bakker"
	e.svc.SetDealers([]dialer.Dealer{jansen, bakker})
}

// targets counts the calls placed to each target.
func (e *env) targets() map[string]int {
	n := map[string]int{}
	for _, c := range e.caller.Calls() {
		n[c.Target]++
	}
	return n
}

// idle lets virtual time pass until no flow runs.
func (e *env) idle(t *testing.T) {
	t.Helper()
	for range 4 * 3600 {
		if e.svc.Running() == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatal("flows did not finish")
}

// A second post for a number while its lead is being dialled joins that lead: it is kept
// and shown, it rings nobody, and repeats of it are answered with the lead it joined.
func TestDuplicateJoinsOpenLead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := newEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  voicemail,
			"sip:kees@192.0.2.11":  declines,
			"sip:anna@192.0.2.12":  never,
			"sip:owner@192.0.2.13": accepts,
			customer:               answers,
		})
		e.withWindow(time.Hour)
		first := e.submit(t, dialer.LeadInput{Phone: "06-12345678", Name: "Eva", Interest: "Volvo XC60", IdempotencyKey: "k1"})

		time.Sleep(3 * time.Second) // piet's phone rings
		received := time.Now().UTC()
		second := dialer.LeadInput{Phone: "+31 6 1234 5678", Name: "Eva Jansen", Interest: "Volvo EX30",
			Message: "Also a trade-in", Source: "facebook", IdempotencyKey: "k2", ExternalID: "crm-2"}
		got, out, err := e.svc.Submit(ctx, "jansen", second)
		if err != nil || out != dialer.OutcomeJoined || got.ID != first.ID {
			t.Fatalf("second post: %v, %v, lead %s; want joined to %s", out, err, got.ID, first.ID)
		}
		wantDup := []dialer.Duplicate{{ReceivedAt: received, Name: "Eva Jansen", Interest: "Volvo EX30",
			Message: "Also a trade-in", Source: "facebook", ExternalID: "crm-2", IdempotencyKey: "k2", Channel: dialer.ChannelAPI}}
		if !reflect.DeepEqual(got.Duplicates, wantDup) {
			t.Errorf("duplicates in the answer:\n got %+v\nwant %+v", got.Duplicates, wantDup)
		}
		if got.Status != dialer.StatusDialing || got.Name != "Eva" {
			t.Errorf("answer is not the open lead as it is: %+v", got)
		}

		// Repeats of the joined post, by its key or its external id, are repeats of the
		// lead it joined: nothing more is kept.
		for _, in := range []dialer.LeadInput{
			{Phone: "06-12345678", IdempotencyKey: "k2"},
			{Phone: "06-12345678", ExternalID: "crm-2"},
			{Phone: "06-12345678", IdempotencyKey: "k1"}, // and the first post's key
		} {
			again, out, err := e.svc.Submit(ctx, "jansen", in)
			if err != nil || out != dialer.OutcomeRepeat || again.ID != first.ID {
				t.Errorf("repeat %+v: %v, %v, lead %s; want a repeat of %s", in, out, err, again.ID, first.ID)
			}
		}

		final := e.wait(t, first.ID)
		if final.Status != dialer.StatusCompleted {
			t.Errorf("lead %s (%s)", final.Status, final.Reason)
		}
		if !reflect.DeepEqual(final.Duplicates, wantDup) {
			t.Errorf("duplicates of the finished lead:\n got %+v\nwant %+v", final.Duplicates, wantDup)
		}
		// Each phone rang once: the joined post started no flow of its own.
		want := map[string]int{"sip:piet@192.0.2.10": 1, "sip:kees@192.0.2.11": 1, "sip:anna@192.0.2.12": 1,
			"sip:owner@192.0.2.13": 1, customer: 1}
		if got := e.targets(); !maps.Equal(got, want) {
			t.Errorf("calls by target %v, want %v", got, want)
		}
		for _, c := range e.caller.Calls() {
			if c.Opts.LeadID != first.ID {
				t.Errorf("call to %s for lead %s", c.Target, c.Opts.LeadID)
			}
		}
		e.rec.mu.Lock()
		if e.rec.received != 1 || e.rec.joined != 1 {
			t.Errorf("recorded %d received, %d joined; want 1 and 1", e.rec.received, e.rec.joined)
		}
		e.rec.mu.Unlock()

		// Once the lead is final, the next post is a lead of its own.
		next, out, err := e.svc.Submit(ctx, "jansen", dialer.LeadInput{Phone: "06-12345678", Name: "Eva"})
		if err != nil || out != dialer.OutcomeCreated || next.ID == first.ID || next.Duplicates != nil {
			t.Fatalf("post after the lead ended: %v, %v, lead %s (%d duplicates); want a new lead", out, err, next.ID, len(next.Duplicates))
		}
		e.wait(t, next.ID)
	})
}

// A lead is only joined by a post of the same dealer, within the window, while the
// dealer has one.
func TestDuplicateWindow(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration
		after  time.Duration // when the second post comes
		dealer string        // of the second post
	}{
		{name: "window off", window: 0, after: 3 * time.Second, dealer: "jansen"},
		{name: "after the window", window: 10 * time.Second, after: 11 * time.Second, dealer: "jansen"},
		{name: "another dealer", window: time.Hour, after: 3 * time.Second, dealer: "bakker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// piet answers at 5 s and waits for a key until about 17 s, and again
				// for the second lead: the first is open all the while.
				e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": voicemail})
				e.withWindow(tt.window)
				first := e.submit(t, dialer.LeadInput{Phone: customer})
				time.Sleep(tt.after)
				if l, _ := e.svc.Get(context.Background(), "jansen", first.ID); l.Status.Final() {
					t.Fatalf("first lead already %s", l.Status)
				}
				second, out, err := e.svc.Submit(context.Background(), tt.dealer, dialer.LeadInput{Phone: customer})
				if err != nil || out != dialer.OutcomeCreated || second.ID == first.ID {
					t.Fatalf("second post: %v, %v, lead %s; want a lead of its own", out, err, second.ID)
				}
				e.idle(t)
				if n := e.targets()["sip:piet@192.0.2.10"]; n != 2 {
					t.Errorf("piet rung %d times, want twice: once per lead", n)
				}
				e.rec.mu.Lock()
				defer e.rec.mu.Unlock()
				if e.rec.received != 2 || e.rec.joined != 0 {
					t.Errorf("recorded %d received, %d joined; want 2 and 0", e.rec.received, e.rec.joined)
				}
			})
		})
	}
}

// A lead waiting for opening hours is open too: a second post joins it and is not
// scheduled on its own.
func TestDuplicateJoinsScheduledLead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		d := testDealer()
		d.DuplicateWindow = time.Hour
		d.CustomerHours = dialer.Span{From: 8 * 60, To: 21 * 60} // synctest starts at midnight UTC
		e.svc.SetDealers([]dialer.Dealer{d})
		first := e.submit(t, dialer.LeadInput{Phone: customer})
		if first.Status != dialer.StatusScheduled {
			t.Fatalf("first lead %s, want scheduled", first.Status)
		}
		got, out, err := e.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer, Name: "again"})
		if err != nil || out != dialer.OutcomeJoined || got.ID != first.ID || len(got.Duplicates) != 1 {
			t.Fatalf("second post: %v, %v, lead %s; want joined to %s", out, err, got.ID, first.ID)
		}
		leads, _, err := e.store.ListLeads(context.Background(), dialer.ListQuery{Dealer: "jansen"})
		if err != nil || len(leads) != 1 {
			t.Errorf("%d leads stored (%v), want 1", len(leads), err)
		}
		if n := len(e.caller.Calls()); n != 0 {
			t.Errorf("%d calls at night", n)
		}
		if slices.ContainsFunc(got.Duplicates, func(d dialer.Duplicate) bool { return d.Name != "again" }) {
			t.Errorf("duplicates %+v", got.Duplicates)
		}
	})
}
