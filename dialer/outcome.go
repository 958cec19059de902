package dialer

import (
	"context"
	"errors"
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
// let go without one; outcomeWait how long a key is waited for after each play.
const (
	outcomeTries = 2
	outcomeWait  = 6 * time.Second
)

// askOutcome asks the salesperson on leg (still up after the customer hung up) for the
// call's outcome and records it. It returns when a valid key was pressed, the prompt
// was played outcomeTries times without one, the salesperson hung up or ctx ended.
func (f *flow) askOutcome(ctx context.Context, leg Leg, person string) {
	choices := f.d.Outcomes
	ph := phrasesFor(f.d.Language)
	for drained := false; !drained; { // keys pressed during the conversation are no answer
		select {
		case <-leg.Digits():
		default:
			drained = true
		}
	}
	parts := make([]string, len(choices))
	for i, c := range choices {
		parts[i] = fmt.Sprintf(ph.outcomeKey, i+1, c.Say)
	}
	prompt := f.speak(ctx, Prompt{PromptOutcome, ph.outcomeAsk + " " + strings.Join(parts, ", ") + "."})
	for range outcomeTries {
		key, ok := f.keyAfter(ctx, leg, prompt)
		if !ok {
			return // hung up, or the flow stops
		}
		i := int(key - '1')
		if key == 0 || i < 0 || i >= len(choices) {
			continue // nothing, or a key that is no outcome: ask again
		}
		o := CallOutcome{ID: choices[i].ID, Person: person, At: f.s.now()}
		if err := f.retry(func() error { return f.s.store.SetOutcome(f.db, f.lead.ID, o) }); err != nil {
			f.log.Error("recording the call's outcome", "outcome", o.ID, "error", err)
			return
		}
		f.s.rec.CallOutcome(f.lead.Dealer, person, o.ID)
		f.log.Info("salesperson gave the outcome", "person", person, "outcome", o.ID)
		_ = leg.Play(ctx, f.speak(ctx, Prompt{PromptThanks, ph.thanks}))
		return
	}
	f.log.Info("no outcome given", "person", person)
}

// keyAfter plays prompt on leg and then waits outcomeWait for a key. ok is false when
// the leg ended or ctx did; key is 0 when none came.
func (f *flow) keyAfter(ctx context.Context, leg Leg, prompt Audio) (key rune, ok bool) {
	// Keys pressed during the prompt count: a salesperson who knows it need not wait.
	played := make(chan error, 1)
	playCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer f.caught("playing the outcome prompt")
		played <- leg.Play(playCtx, prompt)
	}()
	var timeout <-chan time.Time
	for {
		select {
		case k := <-leg.Digits():
			return k, true
		case err := <-played:
			if err != nil && !errors.Is(err, context.Canceled) {
				return 0, false
			}
			t := time.NewTimer(outcomeWait)
			defer t.Stop()
			timeout, played = t.C, nil
		case <-timeout:
			return 0, true
		case <-leg.Done():
			return 0, false
		case <-ctx.Done():
			return 0, false
		}
	}
}
