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

func withOutcomes() dialer.Dealer {
	d := testDealer()
	d.Outcomes = []dialer.OutcomeChoice{{"appointment", "for an appointment"}, {"follow_up", "to follow up later"},
		{"not_interested", "if the customer is not interested"}}
	return d
}

// When the customer hangs up, the salesperson is asked what came of the call; the key
// they press is stored on the lead with its lead.outcome event after lead.completed,
// and counted. Hanging up instead, a key that is no outcome, or none at all, records
// nothing; nor is anything asked when the salesperson ended the call.
func TestCallOutcome(t *testing.T) {
	tests := []struct {
		name     string
		piet     dialertest.Script
		customer dialertest.Script
		want     string // outcome id, "" for none
	}{
		{"key 2 after the customer hung up", dialertest.Script{Ring: time.Second, Press: '1', After: 2 * time.Second, Later: '2', LaterAfter: 40 * time.Second},
			dialertest.Script{Ring: 2 * time.Second, HangUp: 30 * time.Second}, "follow_up"},
		{"a key that is no outcome", dialertest.Script{Ring: time.Second, Press: '1', After: 2 * time.Second, Later: '7', LaterAfter: 40 * time.Second},
			dialertest.Script{Ring: 2 * time.Second, HangUp: 30 * time.Second}, ""},
		{"no key", accepts, dialertest.Script{Ring: 2 * time.Second, HangUp: 30 * time.Second}, ""},
		{"the salesperson hung up", dialertest.Script{Ring: time.Second, Press: '1', After: 2 * time.Second, HangUp: 20 * time.Second, Later: '1', LaterAfter: time.Minute},
			dialertest.Script{Ring: 2 * time.Second}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": tt.piet, customer: tt.customer})
				e.svc.SetDealers([]dialer.Dealer{withOutcomes()})
				l := e.submit(t, dialer.LeadInput{Phone: customer, AssignedTo: "piet"})
				got := e.wait(t, l.ID)
				synctest.Wait() // the outcome is asked after the lead is final
				for e.svc.Running() > 0 {
					time.Sleep(time.Second)
				}
				got, _ = e.svc.Get(context.Background(), "jansen", l.ID)
				if got.Status != dialer.StatusCompleted {
					t.Fatalf("status %s (%s)", got.Status, got.Reason)
				}
				if got.Outcome.ID != tt.want {
					t.Errorf("outcome %+v, want %q", got.Outcome, tt.want)
				}
				events := e.store.Events(l.ID)
				if has := slices.Contains(events, dialer.EventOutcome); has != (tt.want != "") {
					t.Errorf("events %v", events)
				}
				if tt.want == "" {
					return
				}
				if got.Outcome.Person != "piet" || got.Outcome.At.IsZero() {
					t.Errorf("outcome %+v: want piet's, with a time", got.Outcome)
				}
				if i, j := slices.Index(events, dialer.EventCompleted), slices.Index(events, dialer.EventOutcome); i < 0 || j < i {
					t.Errorf("events %v: want lead.outcome after lead.completed", events)
				}
				if want := []string{"piet:" + tt.want}; !slices.Equal(e.rec.outcomes, want) {
					t.Errorf("counted %v, want %v", e.rec.outcomes, want)
				}
				if !got.EndedAt.Before(got.Outcome.At) {
					t.Errorf("ended %v, outcome %v: the lead ends when the customer hangs up, before the question", got.EndedAt, got.Outcome.At)
				}
			})
		})
	}
}
