package dialer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadline/leadline/phone"
)

// A flow is one lead's walk through its dealer's steps, in rounds:
//
//	ringStep → (whisper, gate on '1') → connect → bridged → completed
//	    ↓ nobody accepted: next step … owner → another round after a pause, or exhausted
//	connect: customer not reached → a retry round (the salesperson who accepted, then
//	    the flow) at the dealer's next retry time, or customer_unreachable after the last
//
// A round that is scheduled for later ends the run; the lead's queue job starts the
// next run then, which reads from the attempts where the lead stands (readProgress).
//
// runFlow's goroutine is the only one that changes the lead. Each agent leg runs in a
// goroutine of its own that owns its Attempt; the flow waits for all of them (legs)
// before it finishes, so a finished flow leaves nothing behind.
type flow struct {
	s    *Service
	d    *Dealer
	lead Lead
	log  *slog.Logger
	db   context.Context // for store writes: not canceled with the flow

	progress  progress        // where the lead stood when this run began (run)
	attempted map[string]bool // people already rung in this round
	legs      sync.WaitGroup
	invited   sync.Once   // the lead's first INVITE was measured (FirstInvite)
	won       atomic.Bool // a salesperson of the current step pressed 1
	accepted  string      // the person bridged to the customer, for the summary line
	finished  bool        // the lead's final status is written (finish ran)
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
	f := &flow{s: s, lead: l, log: log, db: context.WithoutCancel(ctx)}
	d, ok := s.Dealer(l.Dealer)
	if !ok {
		f.finish(StatusFailed, fmt.Sprintf("dealer %q is no longer configured", l.Dealer))
		return
	}
	f.d = d

	ctx, cancel := context.WithCancelCause(ctx)
	s.hold(id, cancel)
	status, reason := f.runCaught(ctx)
	f.legs.Wait()
	s.unhold(id)
	cancel(nil)
	if f.finished { // before the salesperson was asked for the call's outcome
		return
	}
	if status == "" { // shut down or taken over: another run resumes it
		if err := s.store.Release(f.db, id, s.node); err != nil {
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
		updated, err = f.s.store.UpdateLead(f.db, LeadUpdate{ID: l.ID, Status: st, EndedAt: f.s.now(), Reason: reason})
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
func stopped(ctx context.Context) (Status, string) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errLeadCanceled):
		return StatusCanceled, "canceled"
	case cause != nil:
		return "", cause.Error()
	}
	return "", "the flow stopped"
}

// runCaught is run, with a panic turned into a failed lead: a fault in one lead's flow
// must not end every call in the process. The legs it started are hung up as their
// contexts end.
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
		ok, err := f.s.store.UpdateLead(f.db, LeadUpdate{ID: l.ID, Status: StatusDialing})
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
		win := f.ringStep(ctx, step, people, news)
		if ctx.Err() != nil {
			if win != nil {
				_ = win.leg.Hangup(f.db)
				f.end(win.att, ResultCanceled, 0)
			}
			return stopped(ctx)
		}
		if win != nil {
			return f.connect(ctx, win)
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
	if err := f.retry(func() error { _, err := f.s.store.UpdateLead(f.db, u); return err }); err != nil {
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

// accepted is a salesperson who pressed 1, still on the line.
type accepted struct {
	person Person
	att    *Attempt
	leg    Leg
	callID string
}

var errOtherWon = errors.New("another salesperson accepted")

// ringStep rings people at once and returns the first to press 1, or nil. The others
// are canceled; their goroutines finish on their own and the flow waits for them. news,
// when set, is the lead's event that this step was reached (EventReachedOwner): it is
// written with the step's first attempt, so before any event of what happens next (each
// leg waits for its attempt, and the attempts are written in order).
func (f *flow) ringStep(ctx context.Context, step int, people []Person, news EventType) *accepted {
	stepCtx, cancel := context.WithCancelCause(ctx)
	results := make(chan *accepted, len(people))
	f.won.Store(false)
	// The attempts are written, in order, while the INVITEs leave, not before them: a
	// commit less between the lead's arrival and the salesperson's phone. A node that
	// dies in between may ring a salesperson once more when the lead resumes; a
	// customer's attempt, by contrast, is always written before the customer is dialled
	// (connect).
	atts := make([]*Attempt, len(people))
	recorded := make([]chan error, len(people))
	for i, p := range people {
		atts[i] = &Attempt{LeadID: f.lead.ID, Round: f.lead.Round, Step: step, Leg: LegAgent, Person: p.ID, StartedAt: f.s.now()}
		recorded[i] = make(chan error, 1)
	}
	go func() {
		defer f.caught("recording attempts")
		for i, a := range atts {
			if i == 0 && news != "" {
				recorded[i] <- f.s.store.InsertAttempt(f.db, a, news)
				continue
			}
			recorded[i] <- f.s.store.InsertAttempt(f.db, a)
		}
	}()
	for i, p := range people {
		f.legs.Add(1)
		go func() {
			var win *accepted
			defer f.legs.Done()
			defer func() { results <- win }()
			defer f.caught("a salesperson's leg")
			win = f.ringAgent(stepCtx, p, atts[i], recorded[i])
		}()
	}
	for range people {
		if win := <-results; win != nil {
			cancel(errOtherWon)
			return win
		}
	}
	cancel(nil)
	return nil
}

// ringAgent calls one salesperson, whispers the lead and waits for a key. It returns the
// leg when they pressed 1 first; otherwise it hangs up and records why. recorded says
// whether a was stored (ringStep writes it meanwhile).
func (f *flow) ringAgent(ctx context.Context, p Person, a *Attempt, recorded <-chan error) *accepted {
	callID := rand.Text()
	log := p.logDevice(f.log.With("person", p.ID, "call_id", callID))
	// The whisper is synthesised while the phone rings; a leg that never answers stops it.
	speakCtx, stopSpeaking := context.WithCancel(ctx)
	defer stopSpeaking()
	whisper := make(chan Audio, 1)
	text := f.recordingWhisper() + f.d.whisperText(&f.lead, p) // recording.go
	if f.lead.Round > 0 {
		text = phrasesFor(f.d.Language).again + text
	}
	go func() {
		a := make(Audio, 8000)
		defer func() { whisper <- a }()
		defer f.caught("speaking the whisper")
		a = f.speak(speakCtx, Prompt{PromptWhisper, text})
	}()

	ringCtx, cancelRing := context.WithTimeout(ctx, f.d.RingTimeout)
	var unrecorded error // an unrecorded leg cannot be accounted for: it is ended at once
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		if unrecorded = <-recorded; unrecorded != nil {
			cancelRing()
		}
	}()
	f.invited.Do(func() {
		if l := &f.lead; !l.ReceivedAt.IsZero() { // a lead dialled as it arrived
			f.s.rec.FirstInvite(l.Dealer, l.Channel, f.s.now().Sub(l.ReceivedAt))
		}
	})
	leg, err := f.dial(ringCtx, p, DialOpts{
		LeadID: f.lead.ID, Kind: LegAgent, CallID: callID, CallerID: f.d.CallerID, DisplayName: "Lead " + f.lead.Name,
	})
	<-stored
	cancelRing()
	a.Trunk = trunkOf(leg, err)
	if unrecorded != nil {
		log.Error("recording attempt; hanging up", "error", unrecorded)
		if leg != nil {
			_ = leg.Hangup(f.db)
		}
		return nil
	}
	if err != nil {
		res, code := dialResult(ctx, err, LegAgent)
		log.Info("salesperson not reached", "result", res, "sip_code", code, "error", err)
		f.end(a, res, code)
		f.s.rec.AgentAttempt(f.lead.Dealer, p.ID, res, 0)
		return nil
	}
	a.AnsweredAt = f.s.now()
	f.save(a)
	answer := a.AnsweredAt.Sub(a.StartedAt)

	key := f.gate(ctx, leg, <-whisper)
	var res Result
	switch {
	case key == '1' && f.won.CompareAndSwap(false, true):
		a.AcceptedAt = f.s.now()
		a.Result = ResultAccepted
		f.save(a)
		f.s.rec.AgentAttempt(f.lead.Dealer, p.ID, ResultAccepted, answer)
		log.Info("salesperson accepted")
		return &accepted{person: p, att: a, leg: leg, callID: callID}
	case key == '1':
		res = ResultCanceled // pressed 1 a moment after a colleague
	case key != 0:
		res = ResultDeclined
	case ctx.Err() != nil:
		res, _ = dialResult(ctx, ctx.Err(), LegAgent)
	default:
		res = ResultNoAccept
	}
	_ = leg.Hangup(f.db)
	f.end(a, res, 0)
	f.s.rec.AgentAttempt(f.lead.Dealer, p.ID, res, answer)
	if key != 0 {
		log.Info("salesperson passed", "result", res, "key", string(key))
	} else {
		log.Info("salesperson passed", "result", res)
	}
	return nil
}

// gate plays the whisper until a key, the accept timeout after the first full play, a
// hang-up or ctx. It returns the key, or 0.
func (f *flow) gate(ctx context.Context, leg Leg, whisper Audio) rune {
	playCtx, stop := context.WithCancel(ctx)
	played, playing := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(playing)
		defer f.caught("playing the whisper")
		pause := make(Audio, 8000/2)
		for i := 0; ; i++ {
			err := leg.Play(playCtx, whisper)
			if i == 0 {
				close(played)
			}
			if err != nil || leg.Play(playCtx, pause) != nil {
				return
			}
		}
	}()
	defer func() { stop(); <-playing }()
	var timeout <-chan time.Time
	for {
		select {
		case k := <-leg.Digits():
			return k
		case <-played:
			played = nil
			t := time.NewTimer(f.d.AcceptTimeout)
			defer t.Stop()
			timeout = t.C
		case <-timeout:
			return 0
		case <-leg.Done():
			return 0
		case <-ctx.Done():
			return 0
		}
	}
}

var errAgentLeft = errors.New("the salesperson hung up before the customer answered")

// connect calls the customer for the salesperson who accepted, bridges them and waits
// for the call to end.
func (f *flow) connect(ctx context.Context, win *accepted) (Status, string) {
	l, agent, ph := &f.lead, win.leg, phrasesFor(f.d.Language)
	callID := rand.Text()
	log := f.log.With("call_id", callID, "agent_call_id", win.callID)
	defer func() {
		_ = agent.Hangup(f.db)
		f.end(win.att, ResultAccepted, 0)
	}()
	ca := &Attempt{LeadID: l.ID, Round: l.Round, Step: win.att.Step, Leg: LegCustomer, Person: win.person.ID, StartedAt: f.s.now()}
	if err := f.s.store.InsertAttempt(f.db, ca); err != nil {
		// Unrecorded, the customer could be dialled twice after a crash: do not dial.
		log.Error("recording customer attempt; not calling", "error", err)
		return StatusFailed, "could not record the customer call"
	}

	// The salesperson hears "connecting", then ringback or the customer's early media.
	playCtx, stopPlay := context.WithCancel(ctx)
	playing := make(chan struct{})
	go func() {
		defer close(playing)
		defer f.caught("playing ringback")
		if agent.Play(playCtx, f.speak(playCtx, Prompt{PromptConnecting, ph.connecting})) != nil {
			return
		}
		ring := f.s.ringback
		if len(ring) == 0 {
			ring = make(Audio, 8000)
		}
		for agent.Play(playCtx, ring) == nil {
		}
	}()
	type dialed struct {
		leg Leg
		err error
	}
	got := make(chan dialed, 1)
	dialCtx, cancelDial := context.WithTimeout(ctx, f.d.CustomerRingTimeout)
	defer cancelDial()
	go func() {
		r := dialed{err: errors.New("dialling the customer failed")}
		defer func() { got <- r }()
		defer f.caught("dialling the customer")
		r.leg, r.err = f.s.caller.Dial(dialCtx, l.Phone, DialOpts{
			LeadID: l.ID, Kind: LegCustomer, CallID: callID, CallerID: f.d.CallerID, EarlyMedia: agent,
			Privacy: f.d.Privacy,
		})
	}()
	var r dialed
	select {
	case r = <-got:
	case <-agent.Done():
		cancelDial()
		if r = <-got; r.leg != nil {
			_ = r.leg.Hangup(f.db)
		}
		r.err = errAgentLeft
	}
	stopPlay()
	<-playing
	ca.Trunk = trunkOf(r.leg, r.err)

	if r.err != nil {
		res, code := dialResult(ctx, r.err, LegCustomer)
		log.Info("customer not reached", "result", res, "sip_code", code, "error", r.err)
		f.end(ca, res, code)
		f.s.rec.CustomerAttempt(l.Dealer, res)
		switch {
		case errors.Is(r.err, errAgentLeft):
			return StatusFailed, errAgentLeft.Error()
		case ctx.Err() != nil:
			return stopped(ctx)
		}
		_ = agent.Play(ctx, f.speak(ctx, Prompt{PromptCustomerUnreachable, ph.customerUnreachable}))
		return f.customerNotReached(res)
	}
	cust := r.leg
	defer func() { _ = cust.Hangup(f.db) }()
	ca.AnsweredAt = f.s.now()
	f.s.rec.CustomerAttempt(l.Dealer, ResultAnswered)
	recordOK := f.recordingConsent(ctx, agent, cust) // recording.go: the customer is told, or asked, first
	if err := agent.Bridge(cust); err != nil {
		f.end(ca, ResultAnswered, 0)
		return StatusFailed, "the call ended before it could be bridged"
	}
	defer f.startRecording(ctx, agent, cust, recordOK)() // recording.go: until either leg ends
	l.ConnectedAt = ca.AnsweredAt
	f.save(ca)
	if err := f.retry(func() error {
		_, err := f.s.store.UpdateLead(f.db, LeadUpdate{ID: l.ID, Status: StatusConnected, ConnectedAt: l.ConnectedAt})
		return err
	}); err != nil {
		log.Error("recording connection", "error", err)
	}
	f.accepted = win.person.ID
	log.Info("customer bridged", "person", win.person.ID, "speed_to_lead_seconds", l.SpeedToLead().Seconds())

	limit := time.NewTimer(f.d.MaxCallLength)
	defer limit.Stop()
	var reason string
	select {
	case <-agent.Done():
		reason = "the salesperson hung up"
		if errors.Is(agent.Err(), ErrMediaTimeout) {
			reason = "no audio from the salesperson"
		}
	case <-cust.Done():
		reason = "the customer hung up"
		if errors.Is(cust.Err(), ErrMediaTimeout) {
			reason = "no audio from the customer"
			break
		}
		if len(f.d.Outcomes) > 0 {
			// The lead is complete when the customer hangs up: it is recorded so now, its
			// end and talk time the call's; then the salesperson, still on the line, is
			// asked what came of it.
			f.end(ca, ResultAnswered, 0)
			f.finish(StatusCompleted, reason)
			f.finished = true
			f.askOutcome(ctx, agent, win.person.ID)
			return StatusCompleted, reason
		}
	case <-limit.C:
		reason = "the maximum call length was reached"
	case <-ctx.Done():
		reason = context.Cause(ctx).Error()
	}
	f.end(ca, ResultAnswered, 0)
	return StatusCompleted, reason
}

// dialResult classifies why a leg did not come up.
func dialResult(ctx context.Context, err error, kind LegKind) (Result, int) {
	var coded interface{ SIPCode() int }
	code := 0
	if errors.As(err, &coded) {
		code = coded.SIPCode()
	}
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if kind == LegAgent && (errors.Is(cause, errOtherWon) || errors.Is(cause, errLeadCanceled)) {
			return ResultCanceled, code
		}
		return ResultFailed, code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrNoAnswer):
		return ResultNoAnswer, code
	case errors.Is(err, ErrBusy):
		return ResultBusy, code
	case errors.Is(err, ErrRejected):
		return ResultRejected, code
	}
	return ResultFailed, code
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
	if err := f.retry(func() error { return f.s.store.UpdateAttempt(f.db, *a) }); err != nil {
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
