package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/leadline/leadline/phone"
)

// A flow is one lead's walk through its dealer's steps, in rounds:
//
//	ring a step → (whisper, gate on '1') → connecting → bridged → completed (→ outcome)
//	    ↓ nobody accepted: next step … owner → another round after a pause, or exhausted
//	connecting: customer not reached → a retry round (the salesperson who accepted,
//	    then the flow) at the dealer's next retry time, or customer_unreachable after
//	    the last
//
// A round that is scheduled for later ends the run; the lead's queue job starts the
// next run then, which reads from the attempts where the lead stands (readProgress).
//
// One goroutine, runFlow's, owns the flow: every field below, every attempt, every
// store write and every metric of the lead. The calls it places report to it on the
// events channel (fsm.go says what each state does with each event); the goroutines it
// starts for the blocking calls (Dial, Play, Speak: legs.go) hold no state of the flow,
// report what came of their call and end with an evExit, and the flow does not finish
// before every one has (settle), so a finished flow leaves nothing behind.
type flow struct {
	s     *Service
	d     *Dealer
	store FlowStore // the flow's part of the lead store
	lead  Lead
	log   *slog.Logger
	db    context.Context // for store writes: not canceled with the flow
	rules rules           // what step reads of the dealer

	progress  progress        // where the lead stood when this run began (run)
	attempted map[string]bool // people already rung in this round
	invited   bool            // the lead's first INVITE was measured (FirstInvite)
	accepted  string          // the person bridged to the customer, for the summary line
	finished  bool            // the lead's final status is written (finish ran)

	// The calls and their reports (loop.go).
	events  chan event    // reports of the flow's goroutines, timers and legs
	closed  chan struct{} // closed once settled: a late timer reports to no one
	running int           // goroutines started (spawn) and not yet ended (evExit)
	live    []*call       // the current step's salespeople's calls, and the one that won
	stopped bool          // the flow's context ended and its calls were let go
	// decided: the lead's run is over, as status and reason say (a connection ended).
	decided bool
	status  Status
	reason  string
}

// runFlow claims lead l unless CreateLead just stored it with this node's lease
// (claimed), runs its flow and records how it ended.
func (s *Service) runFlow(ctx context.Context, l Lead, claimed bool) {
	if !claimed {
		now := s.now()
		got, err := s.store.Claim(ctx, l.ID, s.node, now, now.Add(s.ttl))
		if err != nil {
			if !errors.Is(err, ErrLeaseHeld) {
				s.log.Warn("claiming lead", "lead_id", l.ID, "error", err)
			}
			return
		}
		l = got
	}
	if l.Status.Final() {
		return
	}
	id := l.ID
	log := s.log.With("lead_id", l.ID, "dealer", l.Dealer)
	f := &flow{s: s, store: s.store, lead: l, log: log, db: context.WithoutCancel(ctx),
		events: make(chan event, 16), closed: make(chan struct{})}
	d, ok := s.Dealer(l.Dealer)
	if !ok {
		f.finish(StatusFailed, fmt.Sprintf("dealer %q is no longer configured", l.Dealer))
		return
	}
	f.d = d
	f.rules = rules{outcomes: len(d.Outcomes)}

	s.hold(id)
	status, reason := f.runCaught(ctx)
	f.settle()
	s.unhold(id)
	if f.finished { // before the salesperson was asked for the call's outcome
		return
	}
	if status == "" { // shut down or taken over: another run resumes it
		if err := f.store.Release(f.db, id, s.node); err != nil {
			log.Warn("releasing lead", "error", err)
		}
		log.Info("flow interrupted", "reason", reason)
		return
	}
	f.finish(status, reason)
}

func (f *flow) finish(st Status, reason string) {
	l := &f.lead
	var updated bool
	err := f.retry(func() (err error) {
		updated, err = f.store.UpdateLead(f.db, LeadUpdate{ID: l.ID, Status: st, EndedAt: f.s.now(), Reason: reason})
		return err
	})
	if err != nil {
		f.log.Error("recording lead outcome", "status", st, "error", err)
		return
	}
	if updated {
		f.s.rec.LeadFinished(l.Dealer, st, l.SpeedToLead())
	}
	args := []any{"status", st, "reason", reason}
	if !l.ConnectedAt.IsZero() {
		args = append(args, "speed_to_lead_seconds", l.SpeedToLead().Seconds(), "person", f.accepted)
	}
	f.log.Info("lead finished", args...)
}

// stopped says how a flow whose ctx ended stops: canceled leads are final, anything
// else (shutdown, lease lost) leaves the lead to be resumed.
func stopped(ctx context.Context) (Status, string) { return stoppedBy(context.Cause(ctx)) }

// stoppedBy is stopped for the cause of the flow's context's end.
func stoppedBy(cause error) (Status, string) {
	switch {
	case errors.Is(cause, errLeadCanceled):
		return StatusCanceled, "canceled"
	case cause != nil:
		return "", cause.Error()
	}
	return "", "the flow stopped"
}

// runCaught is run, with a panic turned into a failed lead: a fault in one lead's flow
// must not end every call in the process. settle then lets the calls it placed go.
func (f *flow) runCaught(ctx context.Context) (st Status, reason string) {
	defer func() {
		if r := recover(); r != nil {
			f.log.Error("flow panicked", "panic", r, "stack", string(debug.Stack()))
			st, reason = StatusFailed, "internal error"
		}
	}()
	return f.run(ctx)
}

// caught recovers a panic in one of a flow's goroutines and logs it with its stack, so
// that the process and every other call go on. Defer it directly.
func (f *flow) caught(what string) {
	if r := recover(); r != nil {
		f.log.Error("panic in "+what, "panic", r, "stack", string(debug.Stack()))
	}
}

// run walks the flow from where an earlier run left it.
func (f *flow) run(ctx context.Context) (Status, string) {
	l := &f.lead
	var interrupted *Attempt // a customer leg left open by a node that stopped
	for i := range l.Attempts {
		if a := &l.Attempts[i]; a.Result == "" { // left open by a node that stopped
			f.end(a, ResultFailed, 0)
			if a.Leg == LegCustomer {
				interrupted = a
			}
		}
	}
	f.progress = readProgress(l, f.d.Flow)
	f.attempted = f.progress.attempted
	if c := f.progress.customer; c != nil {
		// A customer is dialled at most once per attempt, even across crashes.
		switch {
		case !l.ConnectedAt.IsZero():
			return StatusCompleted, "the call ended when its server stopped"
		case c == interrupted:
			return StatusFailed, "the server stopped while the customer was being called"
		}
		// The round ended unanswered, but the server stopped before it planned the next.
		return f.customerNotReached(c.Result)
	}
	now := f.s.now()
	if l.Status == StatusScheduled && l.NextAt.After(now) {
		return "", "scheduled for " + l.NextAt.UTC().Format(time.RFC3339)
	}
	zones := phone.Zones(l.Phone)
	if !f.d.earliest(now, zones).Equal(now) {
		return f.park(now, l.Round, outsideHours)
	}
	if l.Status != StatusDialing {
		ok, err := f.store.UpdateLead(f.db, LeadUpdate{ID: l.ID, Status: StatusDialing})
		switch {
		case err != nil:
			// The lead stays as it was; its queue job looks at it again later.
			return "", "could not mark the lead dialing: " + err.Error()
		case !ok:
			return "", "the lead ended before it was dialled" // canceled meanwhile
		}
		l.Status = StatusDialing
	}
	last := len(f.d.Flow) - 1
	for step, ids := range f.calls() {
		if now := f.s.now(); !f.d.earliest(now, zones).Equal(now) {
			// Closing time, or the customer's evening, came while the flow ran.
			return f.park(now, l.Round, outsideHours)
		}
		people := f.expand(ctx, f.resolve(ids))
		if len(people) == 0 {
			continue
		}
		var news EventType // the event this step is, written with its attempts
		if step == last && !f.progress.reachedOwner {
			f.progress.reachedOwner = true
			f.s.rec.ReachedOwner(l.Dealer)
			news = EventReachedOwner
		}
		if f.ring(ctx, step, people, news) {
			return f.status, f.reason // a salesperson accepted, and the connection ended
		}
		if ctx.Err() != nil {
			return stopped(ctx)
		}
	}
	return f.nobodyAccepted()
}

// outsideHours is the reason of a lead that waits for opening or calling hours.
const outsideHours = "outside opening or calling hours"

// park schedules the lead for round at the first moment from at that opening and
// calling hours allow; the flow then stops and the lead's queue job starts the round
// then, from the step it reached.
func (f *flow) park(at time.Time, round int, reason string) (Status, string) {
	at = f.d.earliest(at, phone.Zones(f.lead.Phone))
	if at.IsZero() {
		return StatusFailed, "the dealer has no opening hours in the coming year"
	}
	at = at.UTC().Truncate(time.Millisecond)
	u := LeadUpdate{ID: f.lead.ID, Status: StatusScheduled, NextAt: at, Reason: reason, Round: round}
	if err := f.retry(func() error { _, err := f.store.UpdateLead(f.db, u); return err }); err != nil {
		f.log.Error("scheduling lead", "error", err)
	}
	f.log.Info("lead scheduled", "round", round+1, "at", at, "reason", reason)
	return "", "scheduled for " + at.Format(time.RFC3339)
}

// resolve turns a step's people into the people to ring, skipping anyone unknown,
// already rung in this round or outside their own hours.
func (f *flow) resolve(ids []string) []Person {
	var out []Person
	for _, id := range ids {
		if id == Assigned {
			id = f.lead.AssignedTo
		}
		p, ok := f.d.People[id]
		if !ok || f.attempted[id] || (p.Hours != nil && !p.Hours.Open(f.s.now())) {
			continue
		}
		f.attempted[id] = true
		out = append(out, p)
	}
	return out
}

// trunkOf returns the trunk a leg or a Dial error names, or "".
func trunkOf(leg Leg, err error) string {
	if t, ok := leg.(Trunked); ok && leg != nil {
		return t.Trunk()
	}
	var t Trunked
	if errors.As(err, &t) {
		return t.Trunk()
	}
	return ""
}

// end records an attempt's outcome.
func (f *flow) end(a *Attempt, r Result, code int) {
	a.Result = r
	if code != 0 {
		a.SIPCode = code
	}
	a.EndedAt = f.s.now()
	f.save(a)
}

func (f *flow) save(a *Attempt) {
	if err := f.retry(func() error { return f.store.UpdateAttempt(f.db, *a) }); err != nil {
		f.log.Error("recording attempt", "person", a.Person, "error", err)
	}
}

// storeOutage is how long the flow keeps retrying a write while the store is away; calls
// in progress go on meanwhile.
const storeOutage = 2 * time.Minute

// retry runs write until it succeeds, backing off from 250 ms to 5 s, for at most
// storeOutage, or once only when the service is stopping at once (Drain's time is up).
// What happened on the phone is not thrown away because the database restarted.
func (f *flow) retry(write func() error) error {
	err := write()
	if err == nil || errors.Is(err, ErrNotFound) {
		return err
	}
	f.log.Warn("store write failed; retrying", "error", err)
	deadline := f.s.now().Add(storeOutage)
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for wait := 250 * time.Millisecond; f.s.now().Before(deadline); wait = min(2*wait, 5*time.Second) {
		t.Reset(wait)
		select {
		case <-t.C:
		case <-f.s.flowCtx.Done():
			return err
		}
		if err = write(); err == nil {
			return nil
		}
	}
	return err
}

// speak renders a prompt, or returns a second of silence when the speaker failed.
func (f *flow) speak(ctx context.Context, p Prompt) Audio {
	a, err := f.s.speaker.Speak(ctx, f.d.Language, p)
	if err != nil || len(a) == 0 {
		if ctx.Err() == nil {
			f.log.Warn("speech failed", "error", err)
		}
		return make(Audio, 8000)
	}
	return a
}
