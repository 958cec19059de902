package dialer

import (
	"fmt"
	"strings"
	"time"
)

// The salesperson's outcome: when a bridged call ends because the customer hung up, the
// salesperson stays on the line and is asked what came of it ("press 1 for an
// appointment, 2 to follow up, 3 if not interested"). The key they press is stored on
// the lead, sent to the dealer's CRM as lead.outcome, counted, and shown in the owner's
// report. Hanging up instead, or pressing nothing, records nothing.

// OutcomeChoice is one answer a salesperson can give after a call: ID is what is
// stored and sent ("appointment"), Say how the prompt names it ("for an appointment");
// the key is its place in the dealer's list, from 1.
type OutcomeChoice struct {
	ID  string
	Say string
}

// CallOutcome is what a salesperson said came of a lead's call. Zero: none given.
type CallOutcome struct {
	ID     string // an OutcomeChoice's ID
	Person string // who gave it
	At     time.Time
}

// outcomeTries is how often the outcome prompt is played before the salesperson is
// let go without one (stateOutcome, then stateOutcomeLast); outcomeWait how long a key
// is waited for after each play.
const (
	outcomeTries = 2
	outcomeWait  = 6 * time.Second
)

// ask: the customer hung up (reason) and the salesperson, still on the line, is to be
// asked what came of the call. The lead is completed now, its end and talk time the
// call's; then the question plays (keys pressed during it count: a salesperson who
// knows it need not wait), and a key is waited for outcomeWait after it. Keys pressed
// during the conversation are no answer: the bridged state ignored them.
func (f *flow) ask(c *call, reason string) {
	f.end(c.cust.att, ResultAnswered, 0)
	c.cust.release()
	f.finish(StatusCompleted, reason)
	f.finished = true
	c.reason = reason
	ph := phrasesFor(f.d.Language)
	parts := make([]string, len(f.d.Outcomes))
	for i, o := range f.d.Outcomes {
		parts[i] = fmt.Sprintf(ph.outcomeKey, i+1, o.Say)
	}
	c.prompt = f.speak(c.ctx, Prompt{PromptOutcome, ph.outcomeAsk + " " + strings.Join(parts, ", ") + "."})
	f.play(c, "playing the outcome question", f.playOnce(c, c.prompt))
}

// askAgain plays the question once more: no key came, or one that is no outcome.
func (f *flow) askAgain(c *call) {
	f.play(c, "playing the outcome question", f.playOnce(c, c.prompt))
}

// outcome records the outcome that key names, counts it and thanks the salesperson.
func (f *flow) outcome(c *call, key rune) {
	f.stopPlayer(c)
	f.decide(StatusCompleted, c.reason)
	choice := f.d.Outcomes[key-'1']
	o := CallOutcome{ID: choice.ID, Person: c.person.ID, At: f.s.now()}
	if err := f.retry(func() error { return f.store.SetOutcome(f.db, f.lead.ID, o) }); err != nil {
		f.log.Error("recording the call's outcome", "outcome", o.ID, "error", err)
		return
	}
	f.s.rec.CallOutcome(f.lead.Dealer, o.Person, o.ID)
	f.log.Info("salesperson gave the outcome", "person", o.Person, "outcome", o.ID)
	// A closing prompt, played by the flow itself.
	_ = c.leg.Play(c.ctx, f.speak(c.ctx, Prompt{PromptThanks, phrasesFor(f.d.Language).thanks}))
}

// noOutcome lets the salesperson go without an outcome: they hung up, the flow stops,
// or none was given in outcomeTries plays (e: no key, or one that is no outcome), which
// is logged.
func (f *flow) noOutcome(c *call, e event) {
	f.decide(StatusCompleted, c.reason)
	if e.kind == evDigit || e.kind == evTimeout {
		f.log.Info("no outcome given", "person", c.person.ID)
	}
}
