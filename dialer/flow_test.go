package dialer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"text/template"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

const customer = "+31612345678"

// recorder is a dialer.Recorder that keeps what it was told.
type recorder struct {
	mu        sync.Mutex
	received  int
	joined    int
	finished  []string // "status"
	agents    []string // "person:result"
	customers []string // results
	owner     int
	intake    []string // "channel:result"
	invites   []string // channels of FirstInvite
	outcomes  []string // "person:outcome"
}

func (r *recorder) Intake(_ string, ch dialer.Channel, res dialer.IntakeResult) {
	r.mu.Lock()
	r.intake = append(r.intake, string(ch)+":"+string(res))
	r.mu.Unlock()
}

func (r *recorder) CallOutcome(_, person, outcome string) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, person+":"+outcome)
	r.mu.Unlock()
}

func (r *recorder) FirstInvite(_ string, ch dialer.Channel, _ time.Duration) {
	r.mu.Lock()
	r.invites = append(r.invites, string(ch))
	r.mu.Unlock()
}

func (r *recorder) LeadReceived(string) { r.mu.Lock(); r.received++; r.mu.Unlock() }
func (r *recorder) LeadJoined(string)   { r.mu.Lock(); r.joined++; r.mu.Unlock() }
func (r *recorder) LeadFinished(_ string, s dialer.Status, _ time.Duration) {
	r.mu.Lock()
	r.finished = append(r.finished, string(s))
	r.mu.Unlock()
}
func (r *recorder) AgentAttempt(_, p string, res dialer.Result, _ time.Duration) {
	r.mu.Lock()
	r.agents = append(r.agents, p+":"+string(res))
	r.mu.Unlock()
}
func (r *recorder) ReachedOwner(string) { r.mu.Lock(); r.owner++; r.mu.Unlock() }
func (r *recorder) CustomerAttempt(_ string, res dialer.Result) {
	r.mu.Lock()
	r.customers = append(r.customers, string(res))
	r.mu.Unlock()
}

type env struct {
	svc     *dialer.Service
	store   *dialertest.Store
	caller  *dialertest.Caller
	speaker *dialertest.Speaker
	rec     *recorder
}

func testDealer() dialer.Dealer {
	return dialer.Dealer{
		ID: "jansen", Name: "Autohuis Jansen", Language: "en", Country: "NL", CallerID: "+31201234567",
		RingTimeout: 20 * time.Second, AcceptTimeout: 10 * time.Second,
		CustomerRingTimeout: 30 * time.Second, MaxCallLength: 2 * time.Hour,
		Whisper: template.Must(template.New("w").Parse("New lead from {{.Source}}: {{.Name}}, {{.Interest}}. Press 1.")),
		People: map[string]dialer.Person{
			"piet":  {ID: "piet", Name: "Piet", Phone: "sip:piet@192.0.2.10"},
			"kees":  {ID: "kees", Name: "Kees", Phone: "sip:kees@192.0.2.11"},
			"anna":  {ID: "anna", Name: "Anna", Phone: "sip:anna@192.0.2.12"},
			"owner": {ID: "owner", Name: "Jan", Phone: "sip:owner@192.0.2.13"},
		},
		Flow: []dialer.Step{{People: []string{dialer.Assigned}}, {People: []string{"piet"}}, {People: []string{"kees", "anna"}}, {People: []string{"owner"}}},
		// synctest's clock starts at midnight; these tests are about the flow, not the
		// hours (schedule_test.go is).
		CustomerHours: dialer.Span{From: 0, To: 24 * 60},
	}
}

func newEnv(t *testing.T, scripts map[string]dialertest.Script) *env {
	t.Helper()
	e := &env{
		store: dialertest.NewStore(), caller: dialertest.NewCaller(scripts),
		speaker: &dialertest.Speaker{}, rec: &recorder{},
	}
	e.svc = dialer.New(dialer.Options{
		Store: e.store, Archive: e.store, Caller: e.caller, Speaker: e.speaker, Recorder: e.rec, NodeID: "node-a",
		Ringback: make(dialer.Audio, 8000),
	})
	e.svc.SetDealers([]dialer.Dealer{testDealer()})
	return e
}

func (e *env) submit(t *testing.T, in dialer.LeadInput) dialer.Lead {
	t.Helper()
	l, out, err := e.svc.Submit(context.Background(), "jansen", in)
	if err != nil || out != dialer.OutcomeCreated {
		t.Fatalf("Submit: %v, err=%v; want created", out, err)
	}
	return l
}

// wait lets virtual time pass until the lead is final.
func (e *env) wait(t *testing.T, id string) dialer.Lead {
	t.Helper()
	for range 4 * 3600 {
		l, err := e.svc.Get(context.Background(), "jansen", id)
		if err != nil {
			t.Fatal(err)
		}
		if l.Status.Final() && e.svc.Running() == 0 {
			return l
		}
		time.Sleep(time.Second)
	}
	t.Fatal("lead did not finish")
	return dialer.Lead{}
}

func results(l dialer.Lead) []string {
	var out []string
	for _, a := range l.Attempts {
		s := fmt.Sprintf("%s:%s:%s", a.Leg, a.Person, a.Result)
		if a.SIPCode != 0 {
			s += fmt.Sprintf(":%d", a.SIPCode)
		}
		out = append(out, s)
	}
	return out
}

var (
	accepts   = dialertest.Script{Ring: 3 * time.Second, Press: '1', After: 4 * time.Second}
	busy      = dialertest.Script{Ring: time.Second, Code: 486}
	voicemail = dialertest.Script{Ring: 5 * time.Second}
	declines  = dialertest.Script{Ring: 2 * time.Second, Press: '2', After: time.Second}
	never     = dialertest.Script{Never: true}
	answers   = dialertest.Script{Ring: 4 * time.Second, HangUp: 3 * time.Minute}
)

func TestFlows(t *testing.T) {
	tests := []struct {
		name     string
		scripts  map[string]dialertest.Script
		assigned string
		status   dialer.Status
		attempts []string
		events   []dialer.EventType // after lead.received
	}{
		{
			name:     "assigned salesperson accepts",
			scripts:  map[string]dialertest.Script{"sip:kees@192.0.2.11": accepts, customer: answers},
			assigned: "kees",
			status:   dialer.StatusCompleted,
			attempts: []string{"agent:kees:accepted", "customer:kees:answered"},
			events:   []dialer.EventType{dialer.EventConnected, dialer.EventCompleted},
		},
		{
			name: "busy then ring group, anna first",
			scripts: map[string]dialertest.Script{
				"sip:piet@192.0.2.10": busy,
				"sip:kees@192.0.2.11": {Ring: 3 * time.Second, Press: '1', After: 9 * time.Second},
				"sip:anna@192.0.2.12": {Ring: 2 * time.Second, Press: '1', After: 3 * time.Second},
				customer:              answers,
			},
			status:   dialer.StatusCompleted,
			attempts: []string{"agent:piet:busy:486", "agent:kees:canceled", "agent:anna:accepted", "customer:anna:answered"},
			events:   []dialer.EventType{dialer.EventConnected, dialer.EventCompleted},
		},
		{
			name: "voicemail and decline fall through to the owner",
			scripts: map[string]dialertest.Script{
				"sip:piet@192.0.2.10":  voicemail,
				"sip:kees@192.0.2.11":  declines,
				"sip:anna@192.0.2.12":  never,
				"sip:owner@192.0.2.13": accepts,
				customer:               answers,
			},
			status: dialer.StatusCompleted,
			attempts: []string{"agent:piet:no_accept", "agent:kees:declined", "agent:anna:no_answer",
				"agent:owner:accepted", "customer:owner:answered"},
			events: []dialer.EventType{dialer.EventReachedOwner, dialer.EventConnected, dialer.EventCompleted},
		},
		{
			name: "nobody takes it: exhausted",
			scripts: map[string]dialertest.Script{
				"sip:piet@192.0.2.10":  {Ring: time.Second, Code: 603},
				"sip:kees@192.0.2.11":  busy,
				"sip:owner@192.0.2.13": voicemail,
			},
			status: dialer.StatusExhausted,
			attempts: []string{"agent:piet:rejected:603", "agent:kees:busy:486", "agent:anna:failed",
				"agent:owner:no_accept"},
			events: []dialer.EventType{dialer.EventReachedOwner, dialer.EventExhausted},
		},
		{
			name: "customer busy",
			scripts: map[string]dialertest.Script{
				"sip:piet@192.0.2.10": accepts,
				customer:              {Ring: 2 * time.Second, Code: 486},
			},
			status:   dialer.StatusCustomerUnreachable,
			attempts: []string{"agent:piet:accepted", "customer:piet:busy:486"},
			events:   []dialer.EventType{dialer.EventCustomerUnreachable},
		},
		{
			name: "customer never answers",
			scripts: map[string]dialertest.Script{
				"sip:piet@192.0.2.10": accepts,
				customer:              never,
			},
			status:   dialer.StatusCustomerUnreachable,
			attempts: []string{"agent:piet:accepted", "customer:piet:no_answer"},
			events:   []dialer.EventType{dialer.EventCustomerUnreachable},
		},
		{
			name: "salesperson hangs up while the customer rings",
			scripts: map[string]dialertest.Script{
				"sip:piet@192.0.2.10": {Ring: time.Second, Press: '1', After: time.Second, HangUp: 4 * time.Second},
				customer:              never,
			},
			status:   dialer.StatusFailed,
			attempts: []string{"agent:piet:accepted", "customer:piet:failed"},
			events:   []dialer.EventType{dialer.EventFailed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tt.scripts)
				l := e.submit(t, dialer.LeadInput{Phone: "06-12345678", Name: "Eva Jansen", Interest: "Volvo XC60", AssignedTo: tt.assigned})
				got := e.wait(t, l.ID)
				if got.Status != tt.status {
					t.Errorf("status = %s (%s), want %s", got.Status, got.Reason, tt.status)
				}
				if r := results(got); !slices.Equal(r, tt.attempts) {
					t.Errorf("attempts = %q\nwant %q", r, tt.attempts)
				}
				if ev, want := e.store.Events(l.ID), append([]dialer.EventType{dialer.EventReceived}, tt.events...); !slices.Equal(ev, want) {
					t.Errorf("events = %q\nwant %q", ev, want)
				}
				for _, a := range got.Attempts {
					if a.EndedAt.IsZero() || a.StartedAt.IsZero() {
						t.Errorf("attempt %s:%s not closed: %+v", a.Leg, a.Person, a)
					}
				}
				if tt.status == dialer.StatusCompleted {
					if got.ConnectedAt.IsZero() || got.SpeedToLead() <= 0 {
						t.Errorf("connected_at %v speed %v", got.ConnectedAt, got.SpeedToLead())
					}
				} else if !got.ConnectedAt.IsZero() {
					t.Errorf("connected_at set on %s lead", got.Status)
				}
				e.rec.mu.Lock()
				defer e.rec.mu.Unlock()
				if !slices.Equal(e.rec.finished, []string{string(tt.status)}) {
					t.Errorf("recorded finishes %v", e.rec.finished)
				}
				var agents, customers []string
				for _, a := range got.Attempts {
					if a.Leg == dialer.LegAgent {
						agents = append(agents, a.Person+":"+string(a.Result))
					} else {
						customers = append(customers, string(a.Result))
					}
				}
				slices.Sort(agents)
				slices.Sort(e.rec.agents)
				if !slices.Equal(e.rec.agents, agents) || !slices.Equal(e.rec.customers, customers) {
					t.Errorf("recorded agents %v customers %v, want %v %v", e.rec.agents, e.rec.customers, agents, customers)
				}
				// Every leg Leadline answered is hung up by the end.
				for _, c := range e.caller.Calls() {
					if c.Leg != nil {
						select {
						case <-c.Leg.Done():
						default:
							t.Errorf("call to %s still up", c.Target)
						}
					}
				}
			})
		})
	}
}

func TestAcceptedCallIsWhisperedAndBridged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": accepts, customer: answers})
		start := time.Now()
		l := e.submit(t, dialer.LeadInput{Phone: "+31 6 1234 5678", Name: "Eva \"Evil\" <sip:x@y>; Jansen", Interest: "Volvo XC60", Source: "website"})
		got := e.wait(t, l.ID)
		calls := e.caller.Calls()
		if len(calls) != 2 {
			t.Fatalf("calls = %+v", calls)
		}
		agent, cust := calls[0], calls[1]
		if agent.Opts.Kind != dialer.LegAgent || agent.Opts.CallerID != "+31201234567" || agent.Opts.DisplayName != "Lead Eva \"Evil\" <sip:x@y>; Jansen" || agent.Opts.LeadID != l.ID {
			t.Errorf("agent dial opts %+v", agent.Opts)
		}
		if cust.Target != customer || cust.Opts.Kind != dialer.LegCustomer || cust.Opts.CallerID != "+31201234567" || cust.Opts.EarlyMedia != agent.Leg {
			t.Errorf("customer dial %s %+v", cust.Target, cust.Opts)
		}
		if agent.Leg.Bridged() != cust.Leg {
			t.Error("legs not bridged")
		}
		said := e.speaker.Said()
		if !slices.Contains(said, "en: New lead from website: Eva \"Evil\" <sip:x@y>; Jansen, Volvo XC60. Press 1.") || !slices.Contains(said, "en: Connecting you now.") {
			t.Errorf("speaker said %q", said)
		}
		// ring 3 s + key after 4 s + customer ring 4 s.
		if want := 11 * time.Second; got.SpeedToLead() != want {
			t.Errorf("speed to lead %v, want %v", got.SpeedToLead(), want)
		}
		if want := start.Add(11*time.Second + 3*time.Minute); !got.EndedAt.Equal(want) {
			t.Errorf("ended at %v, want %v", got.EndedAt, want)
		}
		if !strings.Contains(got.Reason, "customer hung up") {
			t.Errorf("reason %q", got.Reason)
		}
		if !agent.Leg.HungUpByUs() {
			t.Error("salesperson not hung up after the customer left")
		}
	})
}

func TestAcceptTimeoutStartsAfterFirstWhisper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Whisper lasts 2 s; a key 11.5 s after answer is inside 2 s + 10 s.
		e := newEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10": {Ring: time.Second, Press: '1', After: 11500 * time.Millisecond},
			customer:              answers,
		})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		if got := e.wait(t, l.ID); got.Status != dialer.StatusCompleted {
			t.Fatalf("status %s: %q", got.Status, results(got))
		}
		played := e.caller.Calls()[0].Leg.Played()
		if len(played) < 3 { // whisper, pause, whisper again…
			t.Errorf("whisper not repeated: %v", played)
		}
	})
}

func TestCancelStopsDialling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": voicemail})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		time.Sleep(7 * time.Second) // piet answered, whisper playing
		got, err := e.svc.Cancel(context.Background(), "jansen", l.ID)
		if err != nil || got.Status != dialer.StatusCanceled {
			t.Fatalf("cancel: %v %v", got.Status, err)
		}
		got = e.wait(t, l.ID)
		if r := results(got); !slices.Equal(r, []string{"agent:piet:canceled"}) {
			t.Errorf("attempts %q", r)
		}
		if !e.caller.Calls()[0].Leg.HungUpByUs() {
			t.Error("piet not hung up")
		}
		if len(e.caller.Calls()) != 1 {
			t.Errorf("dialled on after cancel: %+v", e.caller.Calls())
		}
	})
}

func TestValidation(t *testing.T) {
	e := newEnv(t, nil)
	_, _, err := e.svc.Submit(context.Background(), "jansen", dialer.LeadInput{
		Phone: "12", AssignedTo: "kess", Email: "not-an-address", Name: strings.Repeat("x", 201),
	})
	var ve *dialer.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	var fields []string
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
	}
	slices.Sort(fields)
	if want := []string{"assigned_to", "email", "name", "phone"}; !slices.Equal(fields, want) {
		t.Errorf("fields %v (%v), want %v", fields, err, want)
	}
	_, _, err = e.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Name: "x"})
	if !errors.As(err, &ve) || ve.Fields[0].Field != "phone" || ve.Fields[0].Detail != "is required" {
		t.Errorf("missing phone: %v", err)
	}
	if leads, _, _ := e.store.ListLeads(context.Background(), dialer.ListQuery{Dealer: "jansen"}); len(leads) != 0 {
		t.Errorf("refused leads were stored: %v", leads)
	}
	if len(e.caller.Calls()) != 0 {
		t.Error("refused lead was dialled")
	}
}

func TestRepeatedLeadStartsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": busy, "sip:kees@192.0.2.11": busy, "sip:owner@192.0.2.13": busy})
		in := dialer.LeadInput{Phone: customer, ExternalID: "crm-1"}
		first := e.submit(t, in)
		in.Name = "changed"
		again, out, err := e.svc.Submit(context.Background(), "jansen", in)
		if err != nil || out != dialer.OutcomeRepeat || again.ID != first.ID {
			t.Fatalf("repeat: %v id=%s err=%v", out, again.ID, err)
		}
		e.wait(t, first.ID)
		if n := len(e.caller.Calls()); n != 4 { // piet, kees, anna (no script), owner: once each
			t.Errorf("%d calls, want 4", n)
		}
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		if e.rec.received != 1 || e.rec.owner != 1 {
			t.Errorf("received %d, reached owner %d", e.rec.received, e.rec.owner)
		}
	})
}

func TestStoreDownRefusesLead(t *testing.T) {
	e := newEnv(t, nil)
	e.store.Down = true
	_, _, err := e.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer})
	if !errors.Is(err, dialer.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// A lead interrupted mid-flow resumes at the next step, never rings people it finished
// with and never dials the customer twice.
func TestResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": accepts, "sip:anna@192.0.2.12": accepts, "sip:owner@192.0.2.13": accepts, customer: answers})
		// As if node-x died while ringing kees and anna after piet was busy.
		now := time.Now()
		l := dialer.Lead{ID: "0190-resume", Dealer: "jansen", Status: dialer.StatusDialing, Phone: customer, CreatedAt: now}
		e.store.CreateLead(ctx, l, dialer.CreateOptions{})
		e.store.Claim(ctx, l.ID, "node-x", now, now.Add(15*time.Second))
		for _, a := range []dialer.Attempt{
			{LeadID: l.ID, Step: 1, Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultBusy, StartedAt: now, EndedAt: now},
			{LeadID: l.ID, Step: 2, Leg: dialer.LegAgent, Person: "kees", StartedAt: now},
		} {
			e.store.InsertAttempt(ctx, &a)
		}
		// The queue's job comes due after node-x's lease ran out.
		time.Sleep(16 * time.Second) // node-x claimed until +15 s
		if again, err := e.svc.Watch(ctx, l.ID); err != nil || again != 10*time.Second {
			t.Fatalf("Watch = %v, %v", again, err)
		}
		got := e.wait(t, l.ID)
		if again, err := e.svc.Watch(ctx, l.ID); err != nil || again != 0 {
			t.Errorf("Watch of a final lead = %v, %v; want 0", again, err)
		}
		want := []string{"agent:piet:busy", "agent:kees:failed", "agent:owner:accepted", "customer:owner:answered"}
		if r := results(got); !slices.Equal(r, want) {
			t.Errorf("attempts %q, want %q", r, want)
		}
		if got.Status != dialer.StatusCompleted {
			t.Errorf("status %s", got.Status)
		}

		// A lead whose customer was being called when its node died is not dialled again.
		l2 := dialer.Lead{ID: "0190-resume-2", Dealer: "jansen", Status: dialer.StatusDialing, Phone: customer, CreatedAt: now}
		e.store.CreateLead(ctx, l2, dialer.CreateOptions{})
		for _, a := range []dialer.Attempt{
			{LeadID: l2.ID, Step: 0, Leg: dialer.LegAgent, Person: "anna", Result: dialer.ResultAccepted, StartedAt: now},
			{LeadID: l2.ID, Step: 0, Leg: dialer.LegCustomer, Person: "anna", StartedAt: now},
		} {
			e.store.InsertAttempt(ctx, &a)
		}
		calls := len(e.caller.Calls())
		e.svc.Watch(ctx, l2.ID)
		got = e.wait(t, l2.ID)
		if got.Status != dialer.StatusFailed || len(e.caller.Calls()) != calls {
			t.Errorf("status %s, %d new calls", got.Status, len(e.caller.Calls())-calls)
		}
	})
}

// Drain waits for flows; past its deadline it hangs up and leaves leads resumable.
func TestDrainLeavesLeadResumable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": voicemail})
		l := e.submit(t, dialer.LeadInput{Phone: customer})
		time.Sleep(6 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		e.svc.Drain(ctx)
		if _, _, err := e.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer}); !errors.Is(err, dialer.ErrDraining) {
			t.Errorf("submit while draining: %v", err)
		}
		got, _ := e.svc.Get(context.Background(), "jansen", l.ID)
		if got.Status.Final() {
			t.Errorf("interrupted lead is %s", got.Status)
		}
		now := time.Now()
		if _, err := e.store.Claim(context.Background(), l.ID, "node-b", now, now.Add(time.Minute)); err != nil {
			t.Errorf("another node cannot take the lead over: %v", err)
		}
		if again, _ := e.svc.Watch(context.Background(), l.ID); again == 0 || e.svc.Running() != 0 {
			t.Errorf("a draining node resumed a lead (again %v, running %d)", again, e.svc.Running())
		}
		if !e.caller.Calls()[0].Leg.HungUpByUs() {
			t.Error("leg left up")
		}
	})
}

// failingAttempts is a store that cannot record attempts.
type failingAttempts struct{ *dialertest.Store }

func (failingAttempts) InsertAttempt(context.Context, *dialer.Attempt, ...dialer.EventType) error {
	return errors.New("disk full")
}

// A salesperson's attempt is written while the INVITE leaves; when it cannot be written
// the call is ended at once rather than left ringing unaccounted for.
func TestUnrecordedAttemptEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := failingAttempts{dialertest.NewStore()}
		caller := dialertest.NewCaller(map[string]dialertest.Script{"sip:piet@192.0.2.10": never})
		svc := dialer.New(dialer.Options{Store: store, Caller: caller, Speaker: &dialertest.Speaker{}, NodeID: "node-a"})
		d := testDealer()
		d.Flow = []dialer.Step{{People: []string{"piet"}}}
		svc.SetDealers([]dialer.Dealer{d})
		l, _, err := svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		synctest.Wait()
		for svc.Running() > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("the unrecorded call rang for %v", took)
		}
		got, _ := svc.Get(context.Background(), "jansen", l.ID)
		if n := len(caller.Calls()); n != 1 || got.Status != dialer.StatusExhausted || len(got.Attempts) != 0 {
			t.Errorf("%d calls, lead %s with %d attempts", n, got.Status, len(got.Attempts))
		}
	})
}
