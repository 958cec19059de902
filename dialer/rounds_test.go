package dialer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// roundResults is results with each attempt's round and step: "0/1 agent:piet:accepted".
func roundResults(l dialer.Lead) []string {
	var out []string
	for _, a := range l.Attempts {
		out = append(out, fmt.Sprintf("%d/%d %s:%s:%s", a.Round, a.Step, a.Leg, a.Person, a.Result))
	}
	return out
}

// waitScheduled lets virtual time pass until the lead waits, scheduled, for its next
// round, and returns it.
func waitScheduled(t *testing.T, e *env, id string) dialer.Lead {
	t.Helper()
	for range 3600 {
		l, err := e.svc.Get(context.Background(), "jansen", id)
		if err != nil {
			t.Fatal(err)
		}
		if l.Status == dialer.StatusScheduled && e.svc.Running() == 0 {
			return l
		}
		if l.Status.Final() {
			t.Fatalf("lead ended %s (%s), want scheduled", l.Status, l.Reason)
		}
		time.Sleep(time.Second)
	}
	t.Fatal("lead was not scheduled")
	return dialer.Lead{}
}

var noAnswer = dialertest.Script{Ring: 40 * time.Second, Code: 480}

// A customer who does not answer is rung again on the dealer's schedule, first through
// the salesperson who accepted; the third try reaches them.
func TestCustomerRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		third := answers
		second := dialertest.Script{Code: 486, Ring: time.Second, Then: &third}
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": accepts,
			customer:              {Never: true, Then: &second},
		}, func(d *dialer.Dealer) {
			d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
			d.Flow = []dialer.Step{{People: []string{"piet"}}, {People: []string{"owner"}}}
			d.Retries = []dialer.Retry{{After: 5 * time.Minute}, {After: 30 * time.Minute}}
		})
		start := time.Now()
		l := e.submit(t, dialer.LeadInput{Phone: customer, Name: "Eva"})

		got := waitScheduled(t, e, l.ID)
		first := got.Attempts[len(got.Attempts)-1] // the customer's first leg
		// Five minutes from the end of the call, after the salesperson heard the customer
		// was not reached.
		if d := got.NextAt.Sub(first.EndedAt); d < 5*time.Minute || d > 5*time.Minute+10*time.Second || got.Round != 1 {
			t.Errorf("after the first try: next in %v, round %d; want 5m after the call, round 1", d, got.Round)
		}
		if !strings.Contains(got.Reason, "retry 1 of 2") {
			t.Errorf("reason %q", got.Reason)
		}
		if a, p := got.Plan(); a != dialer.ActionRetryCustomer || p != "piet" {
			t.Errorf("plan %s %s, want retry with piet", a, p)
		}

		got = runQueue(t, e, l.ID)
		if got.Status != dialer.StatusCompleted {
			t.Fatalf("status %s (%s)", got.Status, got.Reason)
		}
		want := []string{
			"0/0 agent:piet:accepted", "0/0 customer:piet:no_answer",
			"1/-1 agent:piet:accepted", "1/-1 customer:piet:busy",
			"2/-1 agent:piet:accepted", "2/-1 customer:piet:answered",
		}
		if r := roundResults(got); !slices.Equal(r, want) {
			t.Errorf("attempts %q, want %q", r, want)
		}
		for i, wait := range []time.Duration{5 * time.Minute, 30 * time.Minute} {
			if d := got.Attempts[2+2*i].StartedAt.Sub(got.Attempts[1+2*i].EndedAt); d < wait || d > wait+10*time.Second {
				t.Errorf("round %d began %v after the try before, want %v", i+1, d, wait)
			}
		}
		if got.ConnectedAt.Sub(start) < 35*time.Minute {
			t.Errorf("connected after %v", got.ConnectedAt.Sub(start))
		}
		// The salesperson hears the lead again, marked as another try.
		said := e.speaker.Said()
		if n := len(slices.DeleteFunc(slices.Clone(said), func(s string) bool { return !strings.HasPrefix(s, "en: Another try. New lead") })); n != 2 {
			t.Errorf("%d retry whispers in %q", n, said)
		}
	})
}

// In a retry round the salesperson who accepted goes first; when they do not take it,
// the flow does, without ringing them twice.
func TestRetryFallsToFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  {Ring: 3 * time.Second, Press: '1', After: 4 * time.Second, Then: &voicemail},
			"sip:kees@192.0.2.11":  accepts,
			"sip:owner@192.0.2.13": accepts,
			customer:               {Ring: 40 * time.Second, Code: 480, Then: &answers},
		}, func(d *dialer.Dealer) {
			d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
			d.Flow = []dialer.Step{{People: []string{"piet"}}, {People: []string{"kees"}}, {People: []string{"owner"}}}
			d.Retries = []dialer.Retry{{After: 10 * time.Minute}}
		})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := runQueue(t, e, l.ID)
		want := []string{
			"0/0 agent:piet:accepted", "0/0 customer:piet:no_answer",
			"1/-1 agent:piet:no_accept", "1/1 agent:kees:accepted", "1/1 customer:kees:answered",
		}
		if r := roundResults(got); !slices.Equal(r, want) || got.Status != dialer.StatusCompleted {
			t.Errorf("%s: attempts %q, want %q", got.Status, r, want)
		}
	})
}

// After the last retry the lead is customer_unreachable; without retries it is at once.
func TestRetriesRunOut(t *testing.T) {
	for _, tc := range []struct {
		retries []dialer.Retry
		tries   int
		reason  string
	}{
		{nil, 1, "the customer was not reached (no_answer)"},
		{[]dialer.Retry{{After: 5 * time.Minute}, {After: time.Hour}}, 3, "the customer was not reached in 3 tries (last: no_answer)"},
	} {
		t.Run(fmt.Sprint(len(tc.retries)), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newScheduledEnv(t, map[string]dialertest.Script{
					"sip:piet@192.0.2.10": accepts,
					customer:              noAnswer,
				}, func(d *dialer.Dealer) {
					d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
					d.Flow = []dialer.Step{{People: []string{"piet"}}}
					d.Retries = tc.retries
				})
				l := e.submit(t, dialer.LeadInput{Phone: customer})
				got := runQueue(t, e, l.ID)
				if got.Status != dialer.StatusCustomerUnreachable || got.Reason != tc.reason {
					t.Errorf("%s (%s), want customer_unreachable (%s)", got.Status, got.Reason, tc.reason)
				}
				n := 0
				for _, a := range got.Attempts {
					if a.Leg == dialer.LegCustomer {
						n++
					}
				}
				if n != tc.tries {
					t.Errorf("customer rung %d times, want %d", n, tc.tries)
				}
			})
		})
	}
}

// A retry at the next opening waits over the weekend for Monday morning.
func TestRetryAtNextOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": accepts,
			customer:              {Ring: 40 * time.Second, Code: 480, Then: &answers},
		}, func(d *dialer.Dealer) {
			d.Hours = officeHours(t, "Europe/Amsterdam")
			d.Flow = []dialer.Step{{People: []string{"piet"}}}
			d.Retries = []dialer.Retry{{NextOpening: true}}
		})
		// Friday 2000-01-07 11:00 in Amsterdam.
		sleepUntil(t, time.Date(2000, 1, 7, 10, 0, 0, 0, time.UTC))
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := waitScheduled(t, e, l.ID)
		monday := time.Date(2000, 1, 10, 8, 0, 0, 0, time.UTC) // 09:00 in Amsterdam
		if !got.NextAt.Equal(monday) {
			t.Errorf("retry at %v, want %v", got.NextAt, monday)
		}
		got = runQueue(t, e, l.ID)
		if got.Status != dialer.StatusCompleted || !got.ConnectedAt.After(monday) {
			t.Errorf("%s connected %v", got.Status, got.ConnectedAt)
		}
	})
}

// A flow can run several rounds before the lead is exhausted; the owner counts once.
func TestRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  voicemail,
			"sip:owner@192.0.2.13": declines,
		}, func(d *dialer.Dealer) {
			d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
			d.Flow = []dialer.Step{{People: []string{"piet"}}, {People: []string{"owner"}}}
			d.Rounds, d.RoundPause = 3, 5*time.Minute
		})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		got := waitScheduled(t, e, l.ID)
		if a, _ := got.Plan(); a != dialer.ActionNextRound || got.Reason != "nobody accepted the lead in round 1 of 3" {
			t.Errorf("plan %s, reason %q", a, got.Reason)
		}
		got = runQueue(t, e, l.ID)
		want := []string{
			"0/0 agent:piet:no_accept", "0/1 agent:owner:declined",
			"1/0 agent:piet:no_accept", "1/1 agent:owner:declined",
			"2/0 agent:piet:no_accept", "2/1 agent:owner:declined",
		}
		if r := roundResults(got); !slices.Equal(r, want) {
			t.Errorf("attempts %q, want %q", r, want)
		}
		if got.Status != dialer.StatusExhausted || got.Reason != "nobody in the flow accepted the lead in 3 rounds" {
			t.Errorf("%s (%s)", got.Status, got.Reason)
		}
		if d := got.Attempts[2].StartedAt.Sub(got.Attempts[1].EndedAt); d < 5*time.Minute || d > 5*time.Minute+10*time.Second {
			t.Errorf("second round %v after the first, want 5m", d)
		}
		if e.rec.owner != 1 {
			t.Errorf("reached owner counted %d times", e.rec.owner)
		}
	})
}

// A round robin step starts with the next person for each lead: over 300 leads each of
// three people is rung first 100 times.
func TestRoundRobinSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": accepts,
			"sip:kees@192.0.2.11": accepts,
			"sip:anna@192.0.2.12": accepts,
			customer:              {Ring: time.Second, HangUp: time.Second},
		}, func(d *dialer.Dealer) {
			d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
			d.Flow = []dialer.Step{{People: []string{"piet", "kees", "anna"}, RoundRobin: true}, {People: []string{"owner"}}}
		})
		first := map[string]int{}
		for range 300 {
			l := e.submit(t, dialer.LeadInput{Phone: customer})
			got := e.wait(t, l.ID)
			first[got.Attempts[0].Person]++
			if len(got.Attempts) != 2 {
				t.Fatalf("attempts %q", results(got))
			}
		}
		if first["piet"] != 100 || first["kees"] != 100 || first["anna"] != 100 {
			t.Errorf("first rung %v, want 100 each", first)
		}
	})
}

// A round robin rings one person at a time, in turn from this lead's first: a second
// lead starts with the next person and goes round.
func TestRoundRobinOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  voicemail,
			"sip:kees@192.0.2.11":  busy,
			"sip:anna@192.0.2.12":  declines,
			"sip:owner@192.0.2.13": accepts,
			customer:               answers,
		}, func(d *dialer.Dealer) {
			d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
			d.Flow = []dialer.Step{{People: []string{"piet", "kees", "anna"}, RoundRobin: true}, {People: []string{"owner"}}}
		})
		var got [][]string
		for range 2 {
			l := e.submit(t, dialer.LeadInput{Phone: customer})
			done := e.wait(t, l.ID)
			got = append(got, results(done))
			// One at a time: each leg of the step starts after the one before ended.
			for i := 1; i < 3; i++ {
				if done.Attempts[i].StartedAt.Before(done.Attempts[i-1].EndedAt) {
					t.Errorf("lead %s: %s rung before %s's call ended", l.ID, done.Attempts[i].Person, done.Attempts[i-1].Person)
				}
			}
		}
		want := [][]string{
			{"agent:piet:no_accept", "agent:kees:busy:486", "agent:anna:declined", "agent:owner:accepted", "customer:owner:answered"},
			{"agent:kees:busy:486", "agent:anna:declined", "agent:piet:no_accept", "agent:owner:accepted", "customer:owner:answered"},
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("lead %d: %q, want %q", i, got[i], want[i])
			}
		}
	})
}

// A retry at the next opening over a weekend with a daylight-saving change opens at
// 09:00 local time on the new side of it, in Amsterdam (clocks back) and New York
// (clocks forward).
func TestRetryAcrossDaylightSaving(t *testing.T) {
	for _, tc := range []struct {
		zone, customer string
		call, want     time.Time
	}{
		// Friday 16:30 CEST; Monday 09:00 CET.
		{"Europe/Amsterdam", customer, time.Date(2000, 10, 27, 14, 30, 0, 0, time.UTC), time.Date(2000, 10, 30, 8, 0, 0, 0, time.UTC)},
		// Friday 16:30 EST; Monday 09:00 EDT.
		{"America/New_York", "+12125550123", time.Date(2000, 3, 31, 21, 30, 0, 0, time.UTC), time.Date(2000, 4, 3, 13, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newScheduledEnv(t, map[string]dialertest.Script{
					"sip:piet@192.0.2.10": accepts,
					tc.customer:           {Ring: 40 * time.Second, Code: 480, Then: &answers},
				}, func(d *dialer.Dealer) {
					d.Hours = officeHours(t, tc.zone)
					d.Flow = []dialer.Step{{People: []string{"piet"}}}
					d.Retries = []dialer.Retry{{NextOpening: true}}
				})
				e.svc.SetIntakeRules(dialer.IntakeRules{Countries: map[string][]string{"jansen": {"NL", "US"}}})
				sleepUntil(t, tc.call)
				l := e.submit(t, dialer.LeadInput{Phone: tc.customer})
				if got := waitScheduled(t, e, l.ID); !got.NextAt.Equal(tc.want) {
					t.Errorf("retry at %v, want %v", got.NextAt, tc.want)
				}
				if got := runQueue(t, e, l.ID); got.Status != dialer.StatusCompleted || got.Attempts[2].StartedAt.Before(tc.want) {
					t.Errorf("%s, retry rung at %v", got.Status, got.Attempts[2].StartedAt)
				}
			})
		})
	}
}

// A post that joins a lead waiting for its customer retry brings the retry forward: the
// customer has just shown they are there.
func TestJoinedPostBringsRetryForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newScheduledEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": accepts,
			customer:              {Ring: 40 * time.Second, Code: 480, Then: &answers},
		}, func(d *dialer.Dealer) {
			d.CustomerHours = dialer.Span{From: 0, To: 24 * 60}
			d.Flow = []dialer.Step{{People: []string{"piet"}}}
			d.Retries = []dialer.Retry{{After: time.Hour}}
			d.DuplicateWindow = 24 * time.Hour
		})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		waitScheduled(t, e, l.ID)
		time.Sleep(5 * time.Minute)
		joined, out, err := e.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer, Message: "Please call me now"})
		if err != nil || out != dialer.OutcomeJoined || joined.ID != l.ID {
			t.Fatalf("second post: %v, %v, %s", out, err, joined.ID)
		}
		if !joined.NextAt.Equal(time.Now().UTC().Truncate(time.Millisecond)) {
			t.Errorf("joined lead planned for %v, want now (%v)", joined.NextAt, time.Now().UTC())
		}
		got := runQueue(t, e, l.ID)
		if got.Status != dialer.StatusCompleted || got.Attempts[2].StartedAt.Sub(joined.NextAt) > time.Second {
			t.Errorf("%s: the retry began at %v, want at once (%v)", got.Status, got.Attempts[2].StartedAt, joined.NextAt)
		}
	})
}
