package main

import (
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// TestCallOutcomeEndToEnd: the customer hangs up; piet, still on the line, hears the
// outcome question and presses 2 (follow up later). The lead shows the outcome, is
// counted, and piet's call ends after the thanks.
func TestCallOutcomeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 100 * time.Millisecond, Key: '1', KeyAfter: 500 * time.Millisecond, Tone: 700})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	carrier.Behave("+31612345678", simphone.Behaviour{Ring: 100 * time.Millisecond, Tone: 500, HangUp: 2 * time.Second})
	ta := startTestApp(t, appSpec{
		rtp: rtpMail, trunk: carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}}, flow: "[piet]",
		dealerExtra: "    outcomes: [appointment, follow_up, not_interested]",
	})
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	var l struct {
		Status  string `json:"status"`
		Outcome *struct {
			ID, Person string
		} `json:"outcome"`
	}
	// Once the customer has hung up, piet presses 2 (follow up) until Leadline takes it:
	// a key pressed before the question is asked is not an answer.
	wait.For(t, 30*time.Second, "the customer to answer and hang up", func() bool {
		cc := callsTo(carrier, "+31612345678")
		if len(cc) == 0 {
			return false
		}
		select {
		case <-cc[0].Done():
			return true
		default:
			return false
		}
	})
	var pressed time.Time
	wait.For(t, 30*time.Second, "the outcome", func() bool {
		ta.leadAs(t, id, &l)
		if l.Outcome == nil && time.Since(pressed) > 500*time.Millisecond {
			piet.Calls()[0].Press(t.Context(), '2')
			pressed = time.Now()
		}
		return l.Outcome != nil
	})
	if l.Status != "completed" || l.Outcome.ID != "follow_up" || l.Outcome.Person != "piet" {
		t.Errorf("lead %s, outcome %+v; want completed with piet's follow_up", l.Status, l.Outcome)
	}
	wait.Closed(t, piet.Calls()[0].Done(), 10*time.Second, "piet's call to end after the thanks")
	if piet.Calls()[0].HungUpByPhone() {
		t.Error("piet hung up; Leadline should have, after the thanks")
	}
	if got, _ := metricValue(ta.metrics(t), `leadline_call_outcomes_total{dealer="jansen",outcome="follow_up",person="piet"}`); got != 1 {
		t.Errorf("outcome counted %v times, want 1", got)
	}
}
