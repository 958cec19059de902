package dialer_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// The races a flow's goroutine settles: two reports that come at the same virtual
// instant reach it in either order, and whichever comes first decides. Run these with
// -race and a -count of 20 or more, so that both orders are seen.

// oneStep makes e's dealer ring people as one step and nothing after.
func oneStep(e *env, people ...string) {
	d := testDealer()
	d.Flow = []dialer.Step{{People: people}}
	e.svc.SetDealers([]dialer.Dealer{d})
}

// phoneOf is the test dealer's phone of person.
func phoneOf(person string) string { return testDealer().People[person].Phone }

// callsTo returns the calls e's caller placed to target.
func callsTo(e *env, target string) []dialertest.Called {
	var out []dialertest.Called
	for _, c := range e.caller.Calls() {
		if c.Target == target {
			out = append(out, c)
		}
	}
	return out
}

// attempt returns l's attempt of person on a leg of kind leg.
func attempt(t *testing.T, l dialer.Lead, leg dialer.LegKind, person string) dialer.Attempt {
	t.Helper()
	for _, a := range l.Attempts {
		if a.Leg == leg && a.Person == person {
			return a
		}
	}
	t.Fatalf("no %s attempt of %s in %q", leg, person, results(l))
	return dialer.Attempt{}
}

// Two salespeople of a ring group press 1 at the same instant: exactly one is bridged
// to the customer, who is called once; the other is hung up, their attempt canceled and
// counted so.
func TestTwoPressOneAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		both := dialertest.Script{Ring: 3 * time.Second, Press: '1', After: 4 * time.Second}
		e := newEnv(t, map[string]dialertest.Script{"sip:kees@192.0.2.11": both, "sip:anna@192.0.2.12": both, customer: answers})
		oneStep(e, "kees", "anna")
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := e.wait(t, l.ID)
		if got.Status != dialer.StatusCompleted {
			t.Fatalf("status %s (%s), attempts %q", got.Status, got.Reason, results(got))
		}
		kees, anna := attempt(t, got, dialer.LegAgent, "kees"), attempt(t, got, dialer.LegAgent, "anna")
		winner, loser := "kees", "anna"
		if anna.Result == dialer.ResultAccepted {
			winner, loser = "anna", "kees"
		}
		want := map[string]dialer.Result{winner: dialer.ResultAccepted, loser: dialer.ResultCanceled}
		if kees.Result != want["kees"] || anna.Result != want["anna"] {
			t.Fatalf("kees %s, anna %s: want one accepted and the other canceled", kees.Result, anna.Result)
		}
		if c := attempt(t, got, dialer.LegCustomer, winner); c.Result != dialer.ResultAnswered {
			t.Errorf("customer attempt %+v", c)
		}
		if loserAtt := attempt(t, got, dialer.LegAgent, loser); loserAtt.AnsweredAt.IsZero() || loserAtt.EndedAt.IsZero() {
			t.Errorf("%s's attempt %+v: want answered and ended", loser, loserAtt)
		}
		cust := callsTo(e, customer)
		if len(cust) != 1 {
			t.Fatalf("customer called %d times, want once", len(cust))
		}
		w := callsTo(e, phoneOf(winner))[0].Leg
		lo := callsTo(e, phoneOf(loser))[0].Leg
		if cust[0].Leg.Bridged() != w || w.Bridged() != cust[0].Leg {
			t.Errorf("the customer is not bridged to %s, who won", winner)
		}
		if lo.Bridged() != nil || !lo.HungUpByUs() {
			t.Errorf("%s: bridged to %v, hung up by us %v; want hung up, not bridged", loser, lo.Bridged(), lo.HungUpByUs())
		}
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		counted := slices.Sorted(slices.Values(e.rec.agents))
		if wantCounted := slices.Sorted(slices.Values([]string{winner + ":accepted", loser + ":canceled"})); !slices.Equal(counted, wantCounted) {
			t.Errorf("counted %v, want %v", counted, wantCounted)
		}
	})
}

// A salesperson who hangs up while the whisper plays has passed: the attempt is
// no_accept and the flow goes on to the next step at once, without waiting for the
// accept timeout.
func TestHangUpWhileWhisperPlays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The whisper lasts 2 s (dialertest.Speaker); piet hangs up 1 s into it.
		e := newEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  {Ring: time.Second, HangUp: time.Second},
			"sip:owner@192.0.2.13": accepts,
			customer:               answers,
		})
		d := testDealer()
		d.Flow = []dialer.Step{{People: []string{"piet"}}, {People: []string{"owner"}}}
		e.svc.SetDealers([]dialer.Dealer{d})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := e.wait(t, l.ID)
		want := []string{"agent:piet:no_accept", "agent:owner:accepted", "customer:owner:answered"}
		if r := results(got); got.Status != dialer.StatusCompleted || !slices.Equal(r, want) {
			t.Fatalf("status %s, attempts %q; want completed, %q", got.Status, r, want)
		}
		piet, owner := attempt(t, got, dialer.LegAgent, "piet"), attempt(t, got, dialer.LegAgent, "owner")
		if want := piet.AnsweredAt.Add(time.Second); !piet.EndedAt.Equal(want) || !owner.StartedAt.Equal(want) {
			t.Errorf("piet ended %v, owner rung %v; want both at the hang-up, %v", piet.EndedAt, owner.StartedAt, want)
		}
		leg := callsTo(e, phoneOf("piet"))[0].Leg
		if !errors.Is(leg.Err(), dialer.ErrHungUp) || leg.Bridged() != nil {
			t.Errorf("piet's leg ended with %v, bridged to %v; want his own hang-up, not bridged", leg.Err(), leg.Bridged())
		}
		if p := leg.Played(); len(p) != 1 {
			t.Errorf("played %v to piet; want the whisper's first play only", p)
		}
	})
}

// A key 1 that comes at the instant the accept timeout runs out: either it counts and
// the customer is bridged, or the salesperson timed out and is hung up; never a mix
// (a customer bridged to a leg recorded no_accept, or a leg accepted and left alone).
func TestAcceptTimeoutRacesKeyOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Answered after 1 s; the whisper plays 2 s, then the accept timeout 10 s: the
		// key comes 12 s after the answer, as the timeout fires.
		e := newEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": {Ring: time.Second, Press: '1', After: 12 * time.Second},
			customer:              answers,
		})
		oneStep(e, "piet")
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := e.wait(t, l.ID)
		leg, cust := callsTo(e, phoneOf("piet"))[0].Leg, callsTo(e, customer)
		switch r := results(got); {
		case got.Status == dialer.StatusCompleted && slices.Equal(r, []string{"agent:piet:accepted", "customer:piet:answered"}):
			if len(cust) != 1 || leg.Bridged() != cust[0].Leg {
				t.Errorf("accepted, but the customer (%d calls) is not bridged to piet", len(cust))
			}
		case got.Status == dialer.StatusExhausted && slices.Equal(r, []string{"agent:piet:no_accept"}):
			if len(cust) != 0 || !leg.HungUpByUs() {
				t.Errorf("timed out, but the customer was called %d times and piet hung up by us: %v", len(cust), leg.HungUpByUs())
			}
		default:
			t.Errorf("status %s, attempts %q", got.Status, r)
		}
	})
}

// An API cancel at the instant the salesperson answers: whichever the flow hears first,
// the attempt is canceled, the phone is hung up and the customer is never called.
func TestCancelRacesAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": {Ring: 3 * time.Second, Press: '1', After: time.Second},
			customer:              answers,
		})
		oneStep(e, "piet")
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		time.Sleep(3 * time.Second) // virtual time: to the instant piet answers
		if _, err := e.svc.Cancel(context.Background(), "jansen", l.ID); err != nil {
			t.Fatal(err)
		}
		got := e.wait(t, l.ID)
		if r := results(got); got.Status != dialer.StatusCanceled || !slices.Equal(r, []string{"agent:piet:canceled"}) {
			t.Errorf("status %s, attempts %q; want canceled, piet canceled", got.Status, r)
		}
		if n := len(callsTo(e, customer)); n != 0 {
			t.Errorf("customer called %d times after the cancel", n)
		}
		if leg := callsTo(e, phoneOf("piet"))[0].Leg; leg != nil && !leg.HungUpByUs() {
			t.Error("piet answered and was left up")
		}
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		if !slices.Equal(e.rec.agents, []string{"piet:canceled"}) {
			t.Errorf("counted %v", e.rec.agents)
		}
	})
}

// A salesperson of the step answers at the instant another presses 1: they are let go
// (canceled, hung up if their answer got through), whether the flow heard the answer or
// the key first.
func TestAnswerAsAnotherAccepts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]dialertest.Script{
			"sip:kees@192.0.2.11": {Ring: time.Second, Press: '1', After: 2 * time.Second},
			"sip:anna@192.0.2.12": {Ring: 3 * time.Second, Press: '1', After: time.Second},
			customer:              answers,
		})
		oneStep(e, "kees", "anna")
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := e.wait(t, l.ID)
		want := []string{"agent:kees:accepted", "agent:anna:canceled", "customer:kees:answered"}
		if r := results(got); got.Status != dialer.StatusCompleted || !slices.Equal(r, want) {
			t.Fatalf("status %s, attempts %q; want completed, %q", got.Status, r, want)
		}
		if anna := callsTo(e, phoneOf("anna"))[0].Leg; anna != nil && (!anna.HungUpByUs() || anna.Bridged() != nil) {
			t.Errorf("anna answered; hung up by us %v, bridged to %v", anna.HungUpByUs(), anna.Bridged())
		}
		if n := len(callsTo(e, customer)); n != 1 {
			t.Errorf("customer called %d times", n)
		}
	})
}
