package dialer

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// call is one phone call of a flow, as the flow's goroutine keeps it: only that
// goroutine reads or writes a call. The goroutines below get what they need as
// arguments and report back on the flow's events channel.
type call struct {
	kind   LegKind
	person Person   // the salesperson; on the customer's call, the one who accepted
	att    *Attempt // written by the flow as the call goes
	callID string
	log    *slog.Logger
	state  state // in the machine (fsm.go); the customer's call reports to the salesperson's

	// ctx is the call's own, under the flow's: release cancels it, which cancels its
	// INVITE before the answer and, after it, makes its line hang it up.
	ctx     context.Context
	release context.CancelFunc
	leg     Leg           // once answered
	answer  time.Duration // from the INVITE to the answer
	// stopAs is the result a call let go while it rang ends with (stateStopping).
	stopAs Result
	// unrecorded: its attempt could not be written; it is let go and left uncounted.
	unrecorded bool
	whisper    chan Audio // the whisper, synthesised while the phone rings (speakWhisper)

	// seq numbers the call's current timer or player: a report of an earlier one is stale.
	seq     int
	timer   *time.Timer
	stopPly func() // stops the call's player and waits for it; nil: none plays

	// The connection, on the salesperson's call that won.
	won    bool   // the salesperson accepted: the call is the lead's connection
	cust   *call  // the customer's call
	prompt Audio  // the outcome question, synthesised once
	off    error  // why the customer's INVITE was called off: errAgentLeft, or the flow's cause
	reason string // why the call with the customer ended, for the lead's reason
	// stopRec finishes the connection's recording and waits for it (recording.go);
	// nil when the call is not recorded.
	stopRec func()
}

// spawn runs fn in a goroutine of the flow's, which reports its end (evExit): the
// flow counts them and settle waits for every one. A panic in fn is logged and ends
// only fn.
func (f *flow) spawn(what string, fn func()) {
	f.running++
	go func() {
		defer func() { f.events <- event{kind: evExit} }()
		defer f.caught(what)
		fn()
	}()
}

// report sends e to the flow unless ctx ended first: for reports that no longer matter
// once the flow let their call go (keys, hang-ups, plays). A Dial's result is sent
// unconditionally: the flow must learn of every leg that answered.
func (f *flow) report(ctx context.Context, e event) {
	select {
	case f.events <- e:
	case <-ctx.Done():
	}
}

var errDialPanicked = errors.New("dialling failed (internal error)")

// line places call c's INVITE through dial, which rings for at most ring, reports how
// it ended, and then, while the flow holds the call, its keys (when digits is set) and
// its end. It hangs the leg up when the flow releases the call (c.ctx ends) or the leg
// ended. Its reports concern to (the salesperson's call, for the customer's).
func (f *flow) line(c, to *call, ring time.Duration, digits bool, dial func(context.Context) (Leg, error)) {
	ctx, from := c.ctx, c.kind
	f.spawn("a "+string(from)+" leg", func() {
		leg, err := Leg(nil), errDialPanicked
		func() {
			defer f.caught("dialling")
			ringCtx, cancel := context.WithTimeout(ctx, ring)
			defer cancel()
			leg, err = dial(ringCtx)
		}()
		if err != nil || leg == nil {
			f.events <- event{kind: evDialFailed, call: to, from: from, err: err}
			return
		}
		defer func() { _ = leg.Hangup(f.db) }()
		f.events <- event{kind: evAnswered, call: to, from: from, leg: leg}
		var keys <-chan rune
		if digits {
			keys = leg.Digits()
		}
		for {
			select {
			case k := <-keys:
				f.report(ctx, event{kind: evDigit, call: to, from: from, key: k})
			case <-leg.Done():
				f.report(ctx, event{kind: evHungUp, call: to, from: from, err: leg.Err()})
				return
			case <-ctx.Done():
				return
			}
		}
	})
}

// speakWhisper synthesises c's whisper while the phone rings, into c.whisper; a call let
// go stops it.
func (f *flow) speakWhisper(c *call, text string) {
	ctx, out := c.ctx, c.whisper
	f.spawn("speaking the whisper", func() {
		a := make(Audio, 8000)
		defer func() { out <- a }()
		a = f.speak(ctx, Prompt{PromptWhisper, text})
	})
}

// play starts c's player: fn plays on c's leg until its ctx ends. It replaces the
// player before it; c.stopPly stops it and waits until it no longer plays.
func (f *flow) play(c *call, what string, fn func(ctx context.Context, seq int)) {
	f.stopPlayer(c)
	c.seq++
	seq := c.seq
	ctx, stop := context.WithCancel(c.ctx)
	stopped := make(chan struct{})
	f.spawn(what, func() {
		defer close(stopped)
		fn(ctx, seq)
	})
	c.stopPly = func() { stop(); <-stopped }
}

// stopPlayer stops c's player, if one plays, and waits until it no longer does.
func (f *flow) stopPlayer(c *call) {
	if c.stopPly != nil {
		c.stopPly()
		c.stopPly = nil
	}
}

// playWhisper plays the whisper on leg, with a pause after each play, until ctx ends
// or the leg does; the first play's end is reported (evPlayed): the accept timeout
// starts then.
func (f *flow) playWhisper(c *call, leg Leg, whisper <-chan Audio) func(context.Context, int) {
	return func(ctx context.Context, seq int) {
		var a Audio
		select {
		case a = <-whisper:
		case <-ctx.Done():
			return
		}
		pause := make(Audio, 8000/2)
		for i := 0; ; i++ {
			err := leg.Play(ctx, a)
			if i == 0 {
				f.report(ctx, event{kind: evPlayed, call: c, from: c.kind, seq: seq, err: err})
			}
			if err != nil || leg.Play(ctx, pause) != nil {
				return
			}
		}
	}
}

// playRingback plays "connecting" on the salesperson's leg, then ringback until ctx
// ends: the customer's early media, once it comes, takes its place.
func (f *flow) playRingback(leg Leg) func(context.Context, int) {
	return func(ctx context.Context, _ int) {
		if leg.Play(ctx, f.speak(ctx, Prompt{PromptConnecting, phrasesFor(f.d.Language).connecting})) != nil {
			return
		}
		ring := f.s.ringback
		if len(ring) == 0 {
			ring = make(Audio, 8000)
		}
		for leg.Play(ctx, ring) == nil {
		}
	}
}

// playOnce plays a on c's leg and reports its end (evPlayed).
func (f *flow) playOnce(c *call, a Audio) func(context.Context, int) {
	leg := c.leg
	return func(ctx context.Context, seq int) {
		err := leg.Play(ctx, a)
		f.report(ctx, event{kind: evPlayed, call: c, from: c.kind, seq: seq, err: err})
	}
}

// after starts c's timer: an evTimeout in d, unless the call leaves its state first.
// Timers are not the flow's goroutines: one that fires after the flow settled reports
// to no one.
func (f *flow) after(c *call, d time.Duration) {
	f.stopTimer(c)
	c.seq++
	seq := c.seq
	c.timer = time.AfterFunc(d, func() {
		select {
		case f.events <- event{kind: evTimeout, call: c, from: c.kind, seq: seq}:
		case <-f.closed:
		}
	})
}

// stopTimer stops c's timer, if one runs; one that fired meanwhile is stale (seq).
func (f *flow) stopTimer(c *call) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
		c.seq++
	}
}
