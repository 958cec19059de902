package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// rtpRules is TestRoundRobinAndRetry's RTP range (see harness_test.go).
const rtpRules = "24000-24099"

// planView is what a scheduled lead shows of its next action, and its attempts' rounds.
type planView struct {
	Status           string    `json:"status"`
	Reason           string    `json:"reason"`
	NextAction       string    `json:"next_action"`
	NextActionAt     time.Time `json:"next_action_at"`
	NextActionPerson string    `json:"next_action_person"`
	Attempts         []struct {
		Round   int       `json:"round"`
		Leg     string    `json:"leg"`
		Person  string    `json:"person"`
		Result  string    `json:"result"`
		EndedAt time.Time `json:"ended_at"`
	} `json:"attempts"`
}

func (ta *testApp) plan(t testing.TB, id string) planView {
	t.Helper()
	var v planView
	ta.leadAs(t, id, &v)
	return v
}

// TestRoundRobinAndRetry runs the rules of engagement on the wire, across a restart on
// one SQLite file: a round robin step starts with the next salesperson for each lead,
// also after the restart; a customer who was busy is rung again a minute later,
// through the salesperson who accepted, and the lead shows that plan meanwhile.
func TestRoundRobinAndRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a minute for the retry; skipped with -short")
	}
	t.Parallel()
	accepts := simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond}
	piet, kees, anna := newPhone(t, "piet", accepts), newPhone(t, "kees", accepts), newPhone(t, "anna", accepts)
	owner := newPhone(t, "owner", accepts)
	carrier := newPhone(t, "carrier", simphone.Behaviour{Ring: 200 * time.Millisecond, HangUp: time.Second})
	const busyFirst = "+31612345671"
	carrier.Behave(busyFirst, simphone.Behaviour{Ring: 200 * time.Millisecond, Code: 486})

	spec := appSpec{
		db:    filepath.Join(t.TempDir(), "leadline.db"),
		rtp:   rtpRules,
		trunk: carrier.Addr().String(),
		people: []person{{"piet", "Piet", piet.URI()}, {"kees", "Kees", kees.URI()},
			{"anna", "Anna", anna.URI()}, {"owner", "Jan", owner.URI()}},
		flow:        "[{round_robin: [piet, kees, anna]}, owner]",
		dealerExtra: "    customer_retries: [1m]\n",
		nodeID:      "rules-before",
	}
	first := startTestApp(t, spec)
	retried := first.postLead(t, map[string]string{"name": "Eva", "phone": busyFirst})
	wait.For(t, 15*time.Second, "the busy customer's lead to wait for its retry", func() bool {
		return first.plan(t, retried).Status == "scheduled"
	})
	v := first.plan(t, retried)
	if v.NextAction != "retry_customer" || v.NextActionPerson != "piet" || len(v.Attempts) != 2 {
		t.Fatalf("scheduled lead: %+v; want a retry with piet after piet accepted and the customer was busy", v)
	}
	// The app runs on a clock of its own (middayClock): compare its times.
	if wait := v.NextActionAt.Sub(v.Attempts[1].EndedAt); wait < time.Minute || wait > time.Minute+10*time.Second {
		t.Errorf("retry %v after the busy call, want a minute", wait)
	}
	// kees's turn for the next lead.
	second := first.postLead(t, map[string]string{"name": "Tom", "phone": "+31612345672"})
	if l := first.waitFinal(t, second, 20*time.Second); l.Status != "completed" || l.Attempts[0].Person != "kees" {
		t.Errorf("second lead: %s, first rung %s; want completed by kees", l.Status, l.Attempts[0].Person)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	// After the restart it is anna's turn; the retry still comes.
	spec.nodeID = "rules-after"
	again := startTestApp(t, spec)
	third := again.postLead(t, map[string]string{"name": "Ada", "phone": "+31612345673"})
	if l := again.waitFinal(t, third, 20*time.Second); l.Status != "completed" || l.Attempts[0].Person != "anna" {
		t.Errorf("third lead: %s, first rung %s; want completed by anna (the turn survives the restart)", l.Status, l.Attempts[0].Person)
	}
	carrier.Behave(busyFirst, simphone.Behaviour{Ring: 200 * time.Millisecond, HangUp: time.Second})
	l := again.waitFinal(t, retried, 90*time.Second)
	if l.Status != "completed" {
		t.Fatalf("retried lead %s (%s)", l.Status, l.Reason)
	}
	got := again.plan(t, retried)
	want := []string{"1 agent piet accepted", "1 customer piet busy", "2 agent piet accepted", "2 customer piet answered"}
	if len(got.Attempts) != len(want) {
		t.Fatalf("attempts %+v, want %q", got.Attempts, want)
	}
	for i, a := range got.Attempts {
		if s := fmt.Sprintf("%d %s %s %s", a.Round, a.Leg, a.Person, a.Result); s != want[i] {
			t.Errorf("attempt %d: %s, want %s", i, s, want[i])
		}
	}
	if len(piet.Calls()) != 2 || len(kees.Calls()) != 1 || len(anna.Calls()) != 1 || len(owner.Calls()) != 0 {
		t.Errorf("calls: piet %d, kees %d, anna %d, owner %d; want 2, 1, 1, 0",
			len(piet.Calls()), len(kees.Calls()), len(anna.Calls()), len(owner.Calls()))
	}
	// The flow's log lines of a call carry the call's SIP Call-ID.
	agent := piet.Calls()[1].Invite.CallID().Value()
	cust := callsTo(carrier, busyFirst)[1].Invite.CallID().Value()
	for _, want := range []string{
		"msg=\"salesperson accepted\" lead_id=" + retried + " dealer=jansen person=piet call_id=" + agent,
		"msg=\"customer bridged\" lead_id=" + retried + " dealer=jansen call_id=" + cust + " agent_call_id=" + agent,
	} {
		if !strings.Contains(again.logs.String(), want) {
			t.Errorf("log has no line with %s", want)
		}
	}
}
