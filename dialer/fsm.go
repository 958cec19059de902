package dialer

import (
	"context"
	"errors"
	"fmt"
)

// The flow's state machine, in the manner of an RFC's finite state machine (sipgo's
// transaction FSMs): every call a flow places is in one state, each state is one
// function (onEvent), and every event its legs report, or the flow's context delivers,
// moves the call by step to the next state with one action, which the flow's goroutine
// then carries out (flow.do, loop.go). step is pure: it reads nothing but its
// arguments, so that fsm_test.go checks what every state does with every event.
// Nothing but the flow's goroutine calls it, so nothing else decides: of two
// salespeople who press 1 at once, the one whose key the flow hears first wins, and
// the other's key finds their call done.
//
// A salesperson's call:
//
//	ringing ──answered──→ whisper ──played──→ gate ──'1'──→ connecting (the call that won)
//	   │                     │                 │
//	   │ failed              │ other key, hung up, (gate) accept timeout: passed
//	   ↓                     ↓                 ↓
//	 done                  done              done
//	ringing ──cancel/shutdown──→ stopping ──its Dial returns──→ done
//	whisper, gate ──cancel/shutdown──→ done (hung up)
//
// A cancel is the lead's (API) or another salesperson's 1 (the step's other calls):
// their attempts are canceled. A shutdown (the node stops, the lease was lost) leaves
// the lead for another run: their attempts failed.
//
// The call that won is the lead's connection to the customer, and the customer's leg
// reports to it:
//
//	connecting ──customer answered──→ bridged ──either hangs up, max length──→ done
//	     │ customer not reached → done (a retry is planned)      │
//	     │ salesperson hung up, cancel, shutdown                  │ customer hung up, outcomes asked
//	     ↓                                                        ↓
//	 called off ──the customer's Dial returns──→ done          outcome ──no valid key──→ outcome (last) ──no valid key──→ done
//	                                                              └──valid key: recorded──→ done
//
// Above the calls, the flow walks the dealer's steps (flow.run): it rings a step's
// calls at once (ringing), goes on to the next step when every call of the step is done
// and none won, and ends the run when the connection is done (its verdict) or when
// every call has stopped after a cancel or shutdown.

// state is where one call stands.
type state uint8

// States of a call.
const (
	// stateRinging: a salesperson's INVITE is out, their attempt written as it left.
	stateRinging state = iota
	// stateWhisper: the salesperson answered; the whisper plays for the first time.
	stateWhisper
	// stateGate: the whisper played once and repeats; the accept timeout runs.
	stateGate
	// stateStopping: the flow let a ringing call go (another accepted, the lead was
	// canceled, the flow stops); its INVITE is being canceled and its attempt ends when
	// its Dial returns.
	stateStopping
	// stateConnecting: the salesperson pressed 1; the customer is called and the
	// salesperson hears "connecting", then ringback or the customer's early media.
	stateConnecting
	// stateCalledOff: the customer's INVITE is being canceled (the salesperson hung up
	// while it rang, or the flow stops); the connection ends when its Dial returns.
	stateCalledOff
	// stateBridged: salesperson and customer talk.
	stateBridged
	// stateOutcome: the customer hung up and the lead is completed; the salesperson is
	// asked what came of the call.
	stateOutcome
	// stateOutcomeLast: asked again, for the last time (outcomeTries).
	stateOutcomeLast
	// stateDone: the call is over and its attempt ended.
	stateDone
)

var stateNames = [...]string{"ringing", "whisper", "gate", "stopping", "connecting", "called_off",
	"bridged", "outcome", "outcome_last", "done"}

func (s state) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// eventKind names what happened.
type eventKind uint8

// Events. The legs' goroutines report the first five; the flow's timers evTimeout; the
// flow's context evCancel and evShutdown, which the flow also gives the other calls of a
// step when one wins (evCancel).
const (
	// evAnswered: a Dial returned an answered leg.
	evAnswered eventKind = iota + 1
	// evDialFailed: a Dial returned an error (refused, not answered in time, canceled).
	evDialFailed
	// evDigit: the salesperson pressed a key.
	evDigit
	// evHungUp: an answered leg ended (BYE, dead media); err says why.
	evHungUp
	// evPlayed: a prompt's first play ended (the whisper, the outcome question); err is
	// Play's.
	evPlayed
	// evTimeout: the state's timer ran out (accept timeout, maximum call length, the
	// wait for an outcome key).
	evTimeout
	// evCancel: the lead was canceled, or another salesperson of the step accepted.
	evCancel
	// evShutdown: the flow stops without an end for the lead: the node shuts down, or
	// another node took the lead over; another run resumes it.
	evShutdown
	// evExit: one of the flow's goroutines ended (not given to step).
	evExit
)

var eventNames = [...]string{"", "answered", "dial_failed", "digit", "hung_up", "played", "timeout",
	"cancel", "shutdown", "exit"}

func (k eventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", k)
}

// event is one report to a flow's goroutine, on its events channel.
type event struct {
	kind eventKind
	call *call   // the call it concerns: a customer leg's events concern the salesperson's call it connects
	from LegKind // whose leg reported it
	key  rune    // evDigit
	leg  Leg     // evAnswered
	// err: evDialFailed why; evHungUp the leg's Err; evPlayed Play's; evCancel and
	// evShutdown the flow's context's cause.
	err error
	seq int // evPlayed and evTimeout: the call's timer or player that sent it (call.seq)
}

// action is what the flow does on a transition (flow.do).
type action uint8

// Actions.
const (
	// actNone: nothing; the event does not matter in this state.
	actNone action = iota
	// actWhisper: write the answer, play the whisper until the call leaves the gate.
	actWhisper
	// actGate: start the accept timeout.
	actGate
	// actAccept: this salesperson takes the lead: write it, let the step's other calls
	// go, write the customer's attempt and call the customer.
	actAccept
	// actPass: the salesperson passed: hang up, end the attempt with the result.
	actPass
	// actLetGo: cancel a ringing call's INVITE; its attempt ends with the result when
	// its Dial returns.
	actLetGo
	// actDrop: hang up an answered call the flow lets go; end its attempt with the
	// result.
	actDrop
	// actEnd: a call's INVITE ended: end its attempt with the result, or, when "", with
	// the result it was let go with (a leg answered after it was let go is hung up).
	actEnd
	// actBridge: bridge the customer to the salesperson and write the connection.
	actBridge
	// actUnreached: end the customer's attempt with the result, tell the salesperson,
	// plan the retry.
	actUnreached
	// actCallOff: cancel the customer's INVITE (its Dial's return ends the connection).
	actCallOff
	// actCalledOff: the customer's INVITE, called off, ended: end its attempt (failed)
	// and the lead's run (failed when the salesperson left, else stopped).
	actCalledOff
	// actHangUp: the bridged call is over: end the customer's attempt, complete the
	// lead with the reason.
	actHangUp
	// actAsk: the customer hung up: complete the lead with the reason, then ask the
	// salesperson for the call's outcome.
	actAsk
	// actAskAgain: no valid key: play the question once more.
	actAskAgain
	// actWait: the question was played: wait outcomeWait for a key.
	actWait
	// actOutcome: record the outcome the key names and thank the salesperson.
	actOutcome
	// actNoOutcome: let the salesperson go without an outcome.
	actNoOutcome
)

var actionNames = [...]string{"none", "whisper", "gate", "accept", "pass", "let_go", "drop", "end",
	"bridge", "unreached", "call_off", "called_off", "hang_up", "ask", "ask_again", "wait", "outcome",
	"no_outcome"}

func (a action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// transition is what step decided.
type transition struct {
	to     state
	do     action
	result Result // the attempt's result, for the actions that end one
	reason string // why the lead's call ended (actHangUp, actAsk)
}

// rules are the dealer's settings that step reads.
type rules struct {
	outcomes int // the outcome choices offered after a call (keys 1…outcomes); 0: none asked
}

// step is the machine: what a call in state s does with event e. The flow letting the
// call go (evCancel, evShutdown) is the same question in every state (stop); anything
// else is the state's own function's (onEvent). An event a state has no use for leaves
// the call where it is, with no action.
func step(s state, e event, r rules) transition {
	var t transition
	switch {
	case e.kind == evCancel || e.kind == evShutdown:
		t = stop(s, e)
	case e.from != LegAgent && !s.connection():
		// Only the connection hears of the customer's leg; the other states concern the
		// salesperson's alone.
	case int(s) < len(onEvent) && onEvent[s] != nil:
		t = onEvent[s](e, r)
	}
	if t.do == actNone {
		return transition{to: s, do: actNone}
	}
	return t
}

// connection reports whether s is a state of the call that won, which the customer's
// leg reports to.
func (s state) connection() bool {
	return s == stateConnecting || s == stateCalledOff || s == stateBridged
}

// onEvent is each state's function: what it does with an event other than evCancel and
// evShutdown. A zero transition (actNone) leaves the call as it is. stateDone has none:
// a call that is done hears nothing more.
var onEvent = [...]func(event, rules) transition{
	stateRinging:     inRinging,
	stateWhisper:     inWhisper,
	stateGate:        inGate,
	stateStopping:    inStopping,
	stateConnecting:  inConnecting,
	stateCalledOff:   inCalledOff,
	stateBridged:     inBridged,
	stateOutcome:     inOutcome,
	stateOutcomeLast: inOutcomeLast,
}

// inRinging: the salesperson answers, or their INVITE ends without an answer.
func inRinging(e event, _ rules) transition {
	switch e.kind {
	case evAnswered:
		return transition{to: stateWhisper, do: actWhisper}
	case evDialFailed:
		return transition{to: stateDone, do: actEnd, result: dialResult(e.err)}
	}
	return transition{}
}

// inWhisper: the whisper's first play. A key counts already; its end starts the gate.
func inWhisper(e event, _ rules) transition {
	if e.kind == evPlayed {
		return transition{to: stateGate, do: actGate}
	}
	return pressOne(e)
}

// inGate: the whisper repeats until a key, a hang-up or the accept timeout.
func inGate(e event, _ rules) transition {
	if e.kind == evTimeout {
		return transition{to: stateDone, do: actPass, result: ResultNoAccept}
	}
	return pressOne(e)
}

// pressOne is the press-1 gate of inWhisper and inGate: '1' accepts, any other key
// declines, hanging up (voicemail that ends, or a person who does) is no_accept.
func pressOne(e event) transition {
	switch {
	case e.kind == evDigit && e.key == '1':
		return transition{to: stateConnecting, do: actAccept, result: ResultAccepted}
	case e.kind == evDigit:
		return transition{to: stateDone, do: actPass, result: ResultDeclined}
	case e.kind == evHungUp:
		return transition{to: stateDone, do: actPass, result: ResultNoAccept}
	}
	return transition{}
}

// inStopping: a call let go while it rang ends as it was let go when its Dial returns,
// whatever it returns.
func inStopping(e event, _ rules) transition {
	if e.kind == evAnswered || e.kind == evDialFailed {
		return transition{to: stateDone, do: actEnd}
	}
	return transition{}
}

// inConnecting: the customer answers or is not reached, or the salesperson hangs up
// while the customer's phone rings.
func inConnecting(e event, _ rules) transition {
	switch {
	case e.kind == evAnswered && e.from == LegCustomer:
		return transition{to: stateBridged, do: actBridge, result: ResultAnswered}
	case e.kind == evDialFailed && e.from == LegCustomer:
		return transition{to: stateDone, do: actUnreached, result: dialResult(e.err)}
	case e.kind == evHungUp && e.from == LegAgent:
		return transition{to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: errAgentLeft.Error()}
	}
	return transition{}
}

// inCalledOff: the customer's INVITE, canceled, returns; an answer that raced the CANCEL
// is hung up all the same.
func inCalledOff(e event, _ rules) transition {
	if (e.kind == evAnswered || e.kind == evDialFailed) && e.from == LegCustomer {
		return transition{to: stateDone, do: actCalledOff, result: ResultFailed}
	}
	return transition{}
}

// inBridged: the call ends when either side hangs up or its media dies, or at the
// maximum call length; when the customer hung up and the dealer has outcomes, the
// salesperson is asked first.
func inBridged(e event, r rules) transition {
	hangUp := func(reason string) transition {
		return transition{to: stateDone, do: actHangUp, result: ResultAnswered, reason: reason}
	}
	switch {
	case e.kind == evHungUp && e.from == LegCustomer && errors.Is(e.err, ErrMediaTimeout):
		return hangUp("no audio from the customer")
	case e.kind == evHungUp && e.from == LegCustomer && r.outcomes > 0:
		return transition{to: stateOutcome, do: actAsk, result: ResultAnswered, reason: "the customer hung up"}
	case e.kind == evHungUp && e.from == LegCustomer:
		return hangUp("the customer hung up")
	case e.kind == evHungUp && errors.Is(e.err, ErrMediaTimeout):
		return hangUp("no audio from the salesperson")
	case e.kind == evHungUp:
		return hangUp("the salesperson hung up")
	case e.kind == evTimeout:
		return hangUp("the maximum call length was reached")
	}
	return transition{}
}

// inOutcome: the outcome question plays, then a key is waited for; no valid key asks
// once more (inOutcomeLast).
func inOutcome(e event, r rules) transition {
	return outcomeKey(stateOutcome, e, r, transition{to: stateOutcomeLast, do: actAskAgain})
}

// inOutcomeLast: the question's last play; no valid key lets the salesperson go.
func inOutcomeLast(e event, r rules) transition {
	return outcomeKey(stateOutcomeLast, e, r, transition{to: stateDone, do: actNoOutcome})
}

// outcomeKey is inOutcome and inOutcomeLast: a valid key is the outcome; an invalid
// one, or none in time, is again; the question's end starts the wait for a key, unless
// the leg ended. Keys pressed during the conversation are no answer: inBridged ignored
// them.
func outcomeKey(s state, e event, r rules, again transition) transition {
	switch e.kind {
	case evDigit:
		if i := int(e.key - '1'); i >= 0 && i < r.outcomes {
			return transition{to: stateDone, do: actOutcome}
		}
		return again
	case evTimeout:
		return again
	case evPlayed:
		if e.err != nil && !errors.Is(e.err, context.Canceled) {
			return transition{to: stateDone, do: actNoOutcome} // the leg ended
		}
		return transition{to: s, do: actWait}
	case evHungUp:
		return transition{to: stateDone, do: actNoOutcome}
	}
	return transition{}
}

// stop is what a call in state s does when the flow lets it go: evCancel (the lead was
// canceled, another salesperson accepted: the attempt is canceled) or evShutdown (the
// flow stops for another run to resume the lead: the attempt failed).
func stop(s state, e event) transition {
	res := ResultCanceled
	if e.kind == evShutdown {
		res = ResultFailed
	}
	reason := "the flow stopped"
	if e.err != nil {
		reason = e.err.Error()
	}
	switch s {
	case stateRinging:
		return transition{to: stateStopping, do: actLetGo, result: res}
	case stateWhisper, stateGate:
		return transition{to: stateDone, do: actDrop, result: res}
	case stateConnecting:
		return transition{to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: reason}
	case stateBridged:
		// The call was made: the lead is completed (unless it is canceled already).
		return transition{to: stateDone, do: actHangUp, result: ResultAnswered, reason: reason}
	case stateOutcome, stateOutcomeLast:
		return transition{to: stateDone, do: actNoOutcome}
	}
	return transition{to: s, do: actNone} // stopping, called off, done: already on its way out
}

// dialResult classifies why a leg did not come up.
func dialResult(err error) Result {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrNoAnswer):
		return ResultNoAnswer
	case errors.Is(err, ErrBusy):
		return ResultBusy
	case errors.Is(err, ErrRejected):
		return ResultRejected
	}
	return ResultFailed
}

// sipCode is the final SIP status an error from Dial carries, or 0.
func sipCode(err error) int {
	var coded interface{ SIPCode() int }
	if errors.As(err, &coded) {
		return coded.SIPCode()
	}
	return 0
}

var errAgentLeft = errors.New("the salesperson hung up before the customer answered")
