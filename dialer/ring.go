package dialer

import (
	"context"
	"crypto/rand"
	"errors"
)

// ring rings people, a step of the flow, at once, and runs the loop until the step is
// over: true when one of them accepted and the lead's run was decided by that
// connection; false when nobody did, or the flow stopped. news, when set, is the lead's
// event that this step was reached (EventReachedOwner): it is written with the step's
// first attempt, so before any event of what happens next.
//
// The attempts are written, in order, while the INVITEs leave, not before them: a
// commit less between the lead's arrival and the salesperson's phone. A node that dies
// in between may ring a salesperson once more when the lead resumes; a customer's
// attempt, by contrast, is always written before the customer is dialled (accept).
func (f *flow) ring(ctx context.Context, step int, people []Person, news EventType) bool {
	l := &f.lead
	f.live = nil
	for _, p := range people {
		c := f.newCall(ctx, LegAgent, p, step)
		c.log = p.logDevice(f.log.With("person", p.ID, "call_id", c.callID))
		c.whisper = make(chan Audio, 1)
		f.live = append(f.live, c)
	}
	if !f.invited {
		f.invited = true
		if !l.ReceivedAt.IsZero() { // a lead dialled as it arrived
			f.s.rec.FirstInvite(l.Dealer, l.Channel, f.s.now().Sub(l.ReceivedAt))
		}
	}
	for _, c := range f.live {
		// The whisper is synthesised while the phone rings.
		text := f.recordingWhisper() + f.d.whisperText(l, c.person) // recording.go
		if l.Round > 0 {
			text = phrasesFor(f.d.Language).again + text
		}
		f.speakWhisper(c, text)
		p, o := c.person, DialOpts{
			LeadID: l.ID, Kind: LegAgent, CallID: c.callID, CallerID: f.d.CallerID, DisplayName: "Lead " + l.Name,
		}
		f.line(c, c, f.d.RingTimeout, true, func(ctx context.Context) (Leg, error) { return f.dial(ctx, p, o) })
	}
	for i, c := range f.live {
		var events []EventType
		if i == 0 && news != "" {
			events = []EventType{news}
		}
		if err := f.store.InsertAttempt(f.db, c.att, events...); err != nil {
			// An unrecorded leg cannot be accounted for: it is ended at once.
			c.log.Error("recording attempt; hanging up", "error", err)
			c.unrecorded = true
			c.state = stateStopping
			c.release()
		}
	}
	return f.loop(ctx)
}

// newCall makes a call of kind to person for the current round's step; its context is
// ctx's. The caller gives it its log.
func (f *flow) newCall(ctx context.Context, kind LegKind, p Person, step int) *call {
	l := &f.lead
	c := &call{
		kind: kind, person: p, callID: rand.Text(),
		att: &Attempt{LeadID: l.ID, Round: l.Round, Step: step, Leg: kind, Person: p.ID, StartedAt: f.s.now()},
	}
	c.ctx, c.release = context.WithCancel(ctx)
	return c
}

// answered: the salesperson picked up; the whisper plays (it may still be being
// synthesised) until the call leaves the gate.
func (f *flow) answered(c *call, leg Leg) {
	c.leg = leg
	c.att.Trunk = trunkOf(leg, nil)
	c.att.AnsweredAt = f.s.now()
	c.answer = c.att.AnsweredAt.Sub(c.att.StartedAt)
	f.save(c.att)
	f.play(c, "playing the whisper", f.playWhisper(c, leg, c.whisper))
}

// accept: the salesperson of c pressed 1, the first of the step to, since the flow's
// goroutine handles one report at a time: the customer is called, then the step's other
// calls are let go (a '1' of theirs that comes after this finds them done). The
// customer's INVITE leaves before the others' attempts are written.
func (f *flow) accept(c *call) {
	f.stopPlayer(c)
	c.att.AcceptedAt = f.s.now()
	c.att.Result = ResultAccepted
	f.save(c.att)
	f.s.rec.AgentAttempt(f.lead.Dealer, c.person.ID, ResultAccepted, c.answer)
	c.log.Info("salesperson accepted")
	f.connect(c)
	for _, o := range f.live {
		if o != c {
			f.apply(o, event{kind: evCancel, call: o, err: errOtherWon})
		}
	}
}

var errOtherWon = errors.New("another salesperson accepted")

// pass: the salesperson of c did not take the lead (res: declined with key, or
// no_accept). The call is released first, so that its line hangs up while the attempt
// is written.
func (f *flow) pass(c *call, res Result, key rune) {
	c.release()
	f.endAgent(c, res, 0)
	if key != 0 {
		c.log.Info("salesperson passed", "result", res, "key", string(key))
	} else {
		c.log.Info("salesperson passed", "result", res)
	}
}

// drop: the flow lets the answered call c go (res: canceled, or failed at a shutdown);
// it is released, and so hung up, before its attempt is written.
func (f *flow) drop(c *call, res Result) {
	c.release()
	f.endAgent(c, res, 0)
	c.log.Info("salesperson passed", "result", res)
}

// ended: c's INVITE came back: refused or unanswered (res), or, for a call the flow let
// go meanwhile (res ""), whatever it was: the call ends as it was let go.
func (f *flow) ended(c *call, e event, res Result) {
	if e.leg != nil { // answered after it was let go: its line hangs it up
		c.leg = e.leg
		c.att.AnsweredAt = f.s.now()
		c.answer = c.att.AnsweredAt.Sub(c.att.StartedAt)
	}
	c.att.Trunk = trunkOf(e.leg, e.err)
	if c.unrecorded {
		return
	}
	if res == "" {
		res = c.stopAs
	}
	code := sipCode(e.err)
	if e.leg != nil {
		c.log.Info("salesperson passed", "result", res)
	} else {
		c.log.Info("salesperson not reached", "result", res, "sip_code", code, "error", e.err)
	}
	f.endAgent(c, res, code)
}

// endAgent ends a salesperson's attempt and counts it.
func (f *flow) endAgent(c *call, res Result, code int) {
	f.end(c.att, res, code)
	f.s.rec.AgentAttempt(f.lead.Dealer, c.person.ID, res, c.answer)
}
