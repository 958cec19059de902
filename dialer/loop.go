package dialer

import (
	"context"
	"errors"
)

// loop is the flow's goroutine at work while calls are up: it takes the reports of the
// calls' goroutines and timers one at a time, and the end of the flow's context, and
// moves the calls through the machine (step) until the lead's run is decided (true: a
// connection ended, f.status and f.reason say how) or no call of the step is left
// (false: nobody accepted, or the flow stopped).
func (f *flow) loop(ctx context.Context) bool {
	done := ctx.Done()
	for !f.decided && f.busy() {
		select {
		case e := <-f.events:
			f.noticeStop(ctx)
			f.dispatch(e)
		case <-done:
			done = nil
			f.noticeStop(ctx)
		}
	}
	return f.decided
}

// busy reports whether a call of the flow is not done yet.
func (f *flow) busy() bool {
	for _, c := range f.live {
		if c.state != stateDone {
			return true
		}
	}
	return false
}

// noticeStop lets every call go once the flow's context has ended: evCancel when the
// lead was canceled, evShutdown otherwise (the node stops, the lease was lost). It runs
// before any report is handled, so that a leg that ended because the flow stopped is
// always seen as stopped, never as, say, not answered.
func (f *flow) noticeStop(ctx context.Context) {
	if f.stopped || ctx.Err() == nil {
		return
	}
	f.stopped = true
	cause := context.Cause(ctx)
	kind := evShutdown
	if errors.Is(cause, errLeadCanceled) {
		kind = evCancel
	}
	for _, c := range f.live {
		f.apply(c, event{kind: kind, call: c, err: cause})
	}
}

// dispatch hands a report to the call it concerns.
func (f *flow) dispatch(e event) {
	if e.kind == evExit {
		f.running--
		return
	}
	c := e.call
	if (e.kind == evPlayed || e.kind == evTimeout) && e.seq != c.seq {
		return // from a player or timer the call has left behind
	}
	f.apply(c, e)
}

// apply moves call c by event e and carries out the transition's action.
func (f *flow) apply(c *call, e event) {
	from := c.state
	t := step(from, e, f.rules)
	if t.do == actNone {
		return
	}
	c.state = t.to
	if t.to != from {
		f.stopTimer(c) // a timer belongs to its state
	}
	f.do(c, e, t)
	if c.state == stateDone {
		f.stopTimer(c)
		f.stopPlayer(c)
		if c.won {
			f.disconnect(c)
		}
		c.release()
	}
}

// do carries out a transition's action for call c.
func (f *flow) do(c *call, e event, t transition) {
	switch t.do {
	case actWhisper:
		f.answered(c, e.leg)
	case actGate:
		f.after(c, f.d.AcceptTimeout)
	case actAccept:
		f.accept(c)
	case actPass:
		f.pass(c, t.result, e.key)
	case actLetGo:
		c.stopAs = t.result
		c.release()
	case actDrop:
		f.drop(c, t.result)
	case actEnd:
		f.ended(c, e, t.result)
	case actBridge:
		f.bridge(c, e.leg)
	case actUnreached:
		f.unreached(c, e.err, t.result)
	case actCallOff:
		f.callOff(c, e)
	case actCalledOff:
		f.calledOff(c, e)
	case actHangUp:
		f.hangUp(c, t.reason)
	case actAsk:
		f.ask(c, t.reason)
	case actAskAgain:
		f.askAgain(c)
	case actWait:
		f.after(c, outcomeWait)
	case actOutcome:
		f.outcome(c, e.key)
	case actNoOutcome:
		f.noOutcome(c, e)
	}
}

// decide ends the lead's run with status and reason ("" status: interrupted, to be
// resumed), once.
func (f *flow) decide(st Status, reason string) {
	if !f.decided {
		f.decided, f.status, f.reason = true, st, reason
	}
}

// errFlowEnded lets go the calls still up when a run ends (after a panic).
var errFlowEnded = errors.New("the flow ended")

// settle ends the run's calls: any call still up (after a panic in the flow) is let go
// as at a shutdown, every call's context is released (a panic may have left one
// between states), and the reports are handled until every goroutine the flow started
// has ended. Then late timers find the flow closed.
func (f *flow) settle() {
	defer close(f.closed)
	if !f.stopped {
		f.stopped = true
		for _, c := range f.live {
			f.safely(func() { f.apply(c, event{kind: evShutdown, call: c, err: errFlowEnded}) })
		}
	}
	for _, c := range f.live {
		f.stopTimer(c)
		c.release()
		if c.cust != nil {
			c.cust.release()
		}
	}
	for f.running > 0 {
		e := <-f.events
		f.safely(func() { f.dispatch(e) })
	}
}

// safely runs fn, logging a panic instead of passing it on: settle must reach its end.
func (f *flow) safely(fn func()) {
	defer f.caught("settling the flow")
	fn()
}
