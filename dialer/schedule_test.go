package dialer_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// sleepUntil moves synctest's clock (which starts at 2000-01-01 00:00 UTC, a Saturday)
// to t.
func sleepUntil(t *testing.T, at time.Time) {
	t.Helper()
	if d := time.Until(at); d > 0 {
		time.Sleep(d)
	}
}

func officeHours(t *testing.T, zone string) *dialer.Hours {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	h := &dialer.Hours{Loc: loc}
	for d := time.Monday; d <= time.Friday; d++ {
		h.Week[d] = []dialer.Span{{From: 9 * 60, To: 17 * 60}}
	}
	return h
}

func newScheduledEnv(t *testing.T, scripts map[string]dialertest.Script, edit func(*dialer.Dealer)) *env {
	t.Helper()
	e := newEnv(t, scripts)
	d := testDealer()
	d.CustomerHours = dialer.Span{} // the default 08:00-21:00
	edit(&d)
	e.svc.SetDealers([]dialer.Dealer{d})
	return e
}

// runQueue plays the River job of a lead: Watch, then again after what it asks, until
// the lead is final. The real queue also runs the job earlier when the lead's flow ends
// (Release) or its node dies (the sweep of lapsed leases): at most a minute apart here.
func runQueue(t *testing.T, e *env, id string) dialer.Lead {
	t.Helper()
	for deadline := time.Now().Add(8 * 24 * time.Hour); time.Now().Before(deadline); {
		again, err := e.svc.Watch(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if again == 0 {
			l, _ := e.svc.Get(context.Background(), "jansen", id)
			return l
		}
		time.Sleep(min(again, time.Minute))
	}
	t.Fatal("lead never finished")
	return dialer.Lead{}
}

// A lead seconds before closing is dialled at once; when the step after closing comes,
// it waits, scheduled, for Monday's opening and continues there.
func TestLeadSecondsBeforeClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  busy,
			"sip:kees@192.0.2.11":  never,
			"sip:owner@192.0.2.13": accepts,
			customer:               answers,
		}, func(d *dialer.Dealer) {
			d.Hours = officeHours(t, "Europe/Amsterdam")
			d.Flow = []dialer.Step{{People: []string{"piet"}}, {People: []string{"kees"}}, {People: []string{"owner"}}}
		})
		// Friday 2000-01-07 16:59:58 in Amsterdam (UTC+1).
		sleepUntil(t, time.Date(2000, 1, 7, 15, 59, 58, 0, time.UTC))
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		if l.Status != dialer.StatusDialing {
			t.Fatalf("status %s, want dialing right away", l.Status)
		}
		// piet is busy at once; kees rings (20 s) past 17:00; then the flow stops.
		time.Sleep(time.Minute)
		got, _ := e.svc.Get(context.Background(), "jansen", l.ID)
		monday := time.Date(2000, 1, 10, 8, 0, 0, 0, time.UTC) // 09:00 in Amsterdam
		if got.Status != dialer.StatusScheduled || !got.NextAt.Equal(monday) {
			t.Fatalf("after closing: %s next %v, want scheduled for %v", got.Status, got.NextAt, monday)
		}
		got = runQueue(t, e, l.ID)
		if got.Status != dialer.StatusCompleted {
			t.Fatalf("status %s (%s)", got.Status, got.Reason)
		}
		want := []string{"agent:piet:busy:486", "agent:kees:no_answer", "agent:owner:accepted", "customer:owner:answered"}
		if r := results(got); !slices.Equal(r, want) {
			t.Errorf("attempts %q, want %q", r, want)
		}
		owner := got.Attempts[2]
		if owner.StartedAt.Before(monday) {
			t.Errorf("owner rung at %v, before the opening", owner.StartedAt)
		}
	})
}

// Customers are never rung outside 08:00-21:00 in their own time; a night's leads are
// staggered from the morning.
func TestCustomerQuietHoursAndStagger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": accepts,
			customer:              answers,
			"+12125550123":        answers,
		}, func(d *dialer.Dealer) {
			d.Flow = []dialer.Step{{People: []string{"piet"}}}
			d.Stagger = 30 * time.Second
		})
		e.svc.SetIntakeRules(dialer.IntakeRules{Countries: map[string][]string{"jansen": {"NL", "US"}}})
		sleepUntil(t, time.Date(2000, 1, 8, 1, 30, 0, 0, time.UTC)) // Saturday 02:30 in Amsterdam
		var leads []dialer.Lead
		for range 3 {
			leads = append(leads, e.submit(t, dialer.LeadInput{Phone: customer}))
		}
		eight := time.Date(2000, 1, 8, 7, 0, 0, 0, time.UTC) // 08:00 in Amsterdam
		for i, l := range leads {
			want := eight.Add(time.Duration(i) * 30 * time.Second)
			if l.Status != dialer.StatusScheduled || !l.NextAt.Equal(want) {
				t.Errorf("lead %d: %s at %v, want scheduled at %v", i, l.Status, l.NextAt, want)
			}
		}
		// Another node, or this one restarted, plans after the leads the store has.
		other := dialer.New(dialer.Options{Store: e.store, Caller: e.caller, Speaker: e.speaker, NodeID: "node-b"})
		d, _ := e.svc.Dealer("jansen")
		other.SetDealers([]dialer.Dealer{*d})
		other.SetIntakeRules(dialer.IntakeRules{Countries: map[string][]string{"jansen": {"NL", "US"}}})
		fourth, _, err := other.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer})
		if want := eight.Add(90 * time.Second); err != nil || !fourth.NextAt.Equal(want) {
			t.Errorf("lead from another node: at %v (%v), want %v", fourth.NextAt, err, want)
		}
		if n := len(e.caller.Calls()); n != 0 {
			t.Fatalf("%d calls placed at night", n)
		}
		got := runQueue(t, e, leads[0].ID)
		if got.Status != dialer.StatusCompleted || got.Attempts[1].StartedAt.Before(eight) {
			t.Errorf("first lead: %s, customer rung at %v", got.Status, got.Attempts[1].StartedAt)
		}

		// At 10:00 in Amsterdam it is 04:00 in New York: that customer waits for 08:00
		// there, 13:00 UTC.
		sleepUntil(t, time.Date(2000, 1, 8, 9, 0, 0, 0, time.UTC))
		ny := e.submit(t, dialer.LeadInput{Phone: "+1 212-555-0123"})
		if want := time.Date(2000, 1, 8, 13, 0, 0, 0, time.UTC); ny.Status != dialer.StatusScheduled || !ny.NextAt.Equal(want) {
			t.Errorf("new york lead: %s at %v, want %v", ny.Status, ny.NextAt, want)
		}
	})
}

// A person outside their own hours is skipped.
func TestPersonOutsideHoursIsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  accepts,
			"sip:owner@192.0.2.13": accepts,
			customer:               answers,
		}, func(d *dialer.Dealer) {
			p := d.People["piet"]
			p.Hours = officeHours(t, "Europe/Amsterdam")
			d.People["piet"] = p
			d.Flow = []dialer.Step{{People: []string{"piet"}}, {People: []string{"owner"}}}
		})
		sleepUntil(t, time.Date(2000, 1, 8, 11, 0, 0, 0, time.UTC)) // Saturday noon
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := e.wait(t, l.ID)
		want := []string{"agent:owner:accepted", "customer:owner:answered"}
		if r := results(got); !slices.Equal(r, want) {
			t.Errorf("attempts %q, want %q", r, want)
		}
	})
}
