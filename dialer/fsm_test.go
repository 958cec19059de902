package dialer

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// The events a call can be given, each with a name for the table below.
var fsmEvents = []struct {
	name string
	e    event
}{
	{"agent answered", event{kind: evAnswered, from: LegAgent}},
	{"agent busy", event{kind: evDialFailed, from: LegAgent, err: fmt.Errorf("invite: %w", ErrBusy)}},
	{"agent rang out", event{kind: evDialFailed, from: LegAgent, err: context.DeadlineExceeded}},
	{"agent rejected", event{kind: evDialFailed, from: LegAgent, err: fmt.Errorf("invite: %w", ErrRejected)}},
	{"agent unreachable", event{kind: evDialFailed, from: LegAgent, err: errors.New("connection refused")}},
	{"customer answered", event{kind: evAnswered, from: LegCustomer}},
	{"customer busy", event{kind: evDialFailed, from: LegCustomer, err: fmt.Errorf("invite: %w", ErrBusy)}},
	{"customer rang out", event{kind: evDialFailed, from: LegCustomer, err: context.DeadlineExceeded}},
	{"key 1", event{kind: evDigit, from: LegAgent, key: '1'}},
	{"key 2", event{kind: evDigit, from: LegAgent, key: '2'}},
	{"key 9", event{kind: evDigit, from: LegAgent, key: '9'}},
	{"agent hung up", event{kind: evHungUp, from: LegAgent, err: ErrHungUp}},
	{"agent media timeout", event{kind: evHungUp, from: LegAgent, err: ErrMediaTimeout}},
	{"customer hung up", event{kind: evHungUp, from: LegCustomer, err: ErrHungUp}},
	{"customer media timeout", event{kind: evHungUp, from: LegCustomer, err: ErrMediaTimeout}},
	{"played", event{kind: evPlayed, from: LegAgent}},
	{"played, stopped", event{kind: evPlayed, from: LegAgent, err: context.Canceled}},
	{"played, leg ended", event{kind: evPlayed, from: LegAgent, err: ErrHungUp}},
	{"timeout", event{kind: evTimeout, from: LegAgent}},
	{"lead canceled", event{kind: evCancel, err: errLeadCanceled}},
	{"another accepted", event{kind: evCancel, err: errOtherWon}},
	{"shutdown", event{kind: evShutdown, err: errShutdown}},
	{"exit", event{kind: evExit}},
}

// fsmWant is what a call does with each event in each state, by "state/event", for a
// dealer with three outcome choices. An event a state does not list leaves the call
// where it is, with no action.
var fsmWant = map[string]transition{
	// A salesperson's phone rings.
	"ringing/agent answered":    {to: stateWhisper, do: actWhisper},
	"ringing/agent busy":        {to: stateDone, do: actEnd, result: ResultBusy},
	"ringing/agent rang out":    {to: stateDone, do: actEnd, result: ResultNoAnswer},
	"ringing/agent rejected":    {to: stateDone, do: actEnd, result: ResultRejected},
	"ringing/agent unreachable": {to: stateDone, do: actEnd, result: ResultFailed},
	"ringing/lead canceled":     {to: stateStopping, do: actLetGo, result: ResultCanceled},
	"ringing/another accepted":  {to: stateStopping, do: actLetGo, result: ResultCanceled},
	"ringing/shutdown":          {to: stateStopping, do: actLetGo, result: ResultFailed},

	// The whisper's first play: a key counts already.
	"whisper/key 1":               {to: stateConnecting, do: actAccept, result: ResultAccepted},
	"whisper/key 2":               {to: stateDone, do: actPass, result: ResultDeclined},
	"whisper/key 9":               {to: stateDone, do: actPass, result: ResultDeclined},
	"whisper/agent hung up":       {to: stateDone, do: actPass, result: ResultNoAccept},
	"whisper/agent media timeout": {to: stateDone, do: actPass, result: ResultNoAccept},
	"whisper/played":              {to: stateGate, do: actGate},
	"whisper/played, stopped":     {to: stateGate, do: actGate},
	"whisper/played, leg ended":   {to: stateGate, do: actGate},
	"whisper/lead canceled":       {to: stateDone, do: actDrop, result: ResultCanceled},
	"whisper/another accepted":    {to: stateDone, do: actDrop, result: ResultCanceled},
	"whisper/shutdown":            {to: stateDone, do: actDrop, result: ResultFailed},

	// The whisper repeats; the accept timeout runs.
	"gate/key 1":               {to: stateConnecting, do: actAccept, result: ResultAccepted},
	"gate/key 2":               {to: stateDone, do: actPass, result: ResultDeclined},
	"gate/key 9":               {to: stateDone, do: actPass, result: ResultDeclined},
	"gate/agent hung up":       {to: stateDone, do: actPass, result: ResultNoAccept},
	"gate/agent media timeout": {to: stateDone, do: actPass, result: ResultNoAccept},
	"gate/timeout":             {to: stateDone, do: actPass, result: ResultNoAccept},
	"gate/lead canceled":       {to: stateDone, do: actDrop, result: ResultCanceled},
	"gate/another accepted":    {to: stateDone, do: actDrop, result: ResultCanceled},
	"gate/shutdown":            {to: stateDone, do: actDrop, result: ResultFailed},

	// A call let go while it rang ends as it was let go, whatever its Dial says.
	"stopping/agent answered":    {to: stateDone, do: actEnd},
	"stopping/agent busy":        {to: stateDone, do: actEnd},
	"stopping/agent rang out":    {to: stateDone, do: actEnd},
	"stopping/agent rejected":    {to: stateDone, do: actEnd},
	"stopping/agent unreachable": {to: stateDone, do: actEnd},

	// The customer rings; the salesperson hears ringback.
	"connecting/customer answered":     {to: stateBridged, do: actBridge, result: ResultAnswered},
	"connecting/customer busy":         {to: stateDone, do: actUnreached, result: ResultBusy},
	"connecting/customer rang out":     {to: stateDone, do: actUnreached, result: ResultNoAnswer},
	"connecting/agent hung up":         {to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: errAgentLeft.Error()},
	"connecting/agent media timeout":   {to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: errAgentLeft.Error()},
	"connecting/lead canceled":         {to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: "lead canceled"},
	"connecting/another accepted":      {to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: "another salesperson accepted"},
	"connecting/shutdown":              {to: stateCalledOff, do: actCallOff, result: ResultFailed, reason: "server shutting down"},
	"called_off/customer answered":     {to: stateDone, do: actCalledOff, result: ResultFailed},
	"called_off/customer busy":         {to: stateDone, do: actCalledOff, result: ResultFailed},
	"called_off/customer rang out":     {to: stateDone, do: actCalledOff, result: ResultFailed},
	"bridged/agent hung up":            {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "the salesperson hung up"},
	"bridged/agent media timeout":      {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "no audio from the salesperson"},
	"bridged/customer hung up":         {to: stateOutcome, do: actAsk, result: ResultAnswered, reason: "the customer hung up"},
	"bridged/customer media timeout":   {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "no audio from the customer"},
	"bridged/timeout":                  {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "the maximum call length was reached"},
	"bridged/lead canceled":            {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "lead canceled"},
	"bridged/another accepted":         {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "another salesperson accepted"},
	"bridged/shutdown":                 {to: stateDone, do: actHangUp, result: ResultAnswered, reason: "server shutting down"},
	"outcome/key 1":                    {to: stateDone, do: actOutcome},
	"outcome/key 2":                    {to: stateDone, do: actOutcome},
	"outcome/key 9":                    {to: stateOutcomeLast, do: actAskAgain},
	"outcome/timeout":                  {to: stateOutcomeLast, do: actAskAgain},
	"outcome/played":                   {to: stateOutcome, do: actWait},
	"outcome/played, stopped":          {to: stateOutcome, do: actWait},
	"outcome/played, leg ended":        {to: stateDone, do: actNoOutcome},
	"outcome/agent hung up":            {to: stateDone, do: actNoOutcome},
	"outcome/agent media timeout":      {to: stateDone, do: actNoOutcome},
	"outcome/lead canceled":            {to: stateDone, do: actNoOutcome},
	"outcome/another accepted":         {to: stateDone, do: actNoOutcome},
	"outcome/shutdown":                 {to: stateDone, do: actNoOutcome},
	"outcome_last/key 1":               {to: stateDone, do: actOutcome},
	"outcome_last/key 2":               {to: stateDone, do: actOutcome},
	"outcome_last/key 9":               {to: stateDone, do: actNoOutcome},
	"outcome_last/timeout":             {to: stateDone, do: actNoOutcome},
	"outcome_last/played":              {to: stateOutcomeLast, do: actWait},
	"outcome_last/played, stopped":     {to: stateOutcomeLast, do: actWait},
	"outcome_last/played, leg ended":   {to: stateDone, do: actNoOutcome},
	"outcome_last/agent hung up":       {to: stateDone, do: actNoOutcome},
	"outcome_last/agent media timeout": {to: stateDone, do: actNoOutcome},
	"outcome_last/lead canceled":       {to: stateDone, do: actNoOutcome},
	"outcome_last/another accepted":    {to: stateDone, do: actNoOutcome},
	"outcome_last/shutdown":            {to: stateDone, do: actNoOutcome},
}

// Every event in every state, against fsmWant.
func TestStepEveryEventInEveryState(t *testing.T) {
	used := map[string]bool{}
	for s := stateRinging; s <= stateDone; s++ {
		for _, ev := range fsmEvents {
			key := s.String() + "/" + ev.name
			want, ok := fsmWant[key]
			if !ok {
				want = transition{to: s, do: actNone}
			}
			used[key] = ok
			if got := step(s, ev.e, rules{outcomes: 3}); got != want {
				t.Errorf("%s: got %s, want %s", key, show(got), show(want))
			}
		}
	}
	for key := range fsmWant {
		if !used[key] {
			t.Errorf("fsmWant has %q, which names no state and event", key)
		}
	}
}

// A dealer that asks no outcome ends the lead when the customer hangs up; the rest of
// the bridged state is as with outcomes.
func TestStepWithoutOutcomes(t *testing.T) {
	for _, ev := range fsmEvents {
		key := "bridged/" + ev.name
		want, ok := fsmWant[key]
		if !ok {
			want = transition{to: stateBridged, do: actNone}
		}
		if ev.name == "customer hung up" {
			want = transition{to: stateDone, do: actHangUp, result: ResultAnswered, reason: "the customer hung up"}
		}
		if got := step(stateBridged, ev.e, rules{}); got != want {
			t.Errorf("%s: got %s, want %s", key, show(got), show(want))
		}
	}
}

// Only keys 1 to the number of choices name an outcome.
func TestStepOutcomeKeys(t *testing.T) {
	for _, tt := range []struct {
		key      rune
		outcomes int
		want     action
	}{
		{'1', 1, actOutcome}, {'2', 1, actAskAgain}, {'3', 3, actOutcome}, {'4', 3, actAskAgain},
		{'0', 3, actAskAgain}, {'*', 3, actAskAgain}, {'#', 9, actAskAgain}, {'9', 9, actOutcome},
	} {
		got := step(stateOutcome, event{kind: evDigit, from: LegAgent, key: tt.key}, rules{outcomes: tt.outcomes})
		if got.do != tt.want {
			t.Errorf("key %q of %d outcomes: %v, want %v", tt.key, tt.outcomes, got.do, tt.want)
		}
	}
}

// The names that logs and the table above use cover every state, event and action.
func TestFSMNames(t *testing.T) {
	for s := stateRinging; s <= stateDone; s++ {
		if n := s.String(); n == fmt.Sprintf("state(%d)", s) {
			t.Errorf("state %d has no name", s)
		}
	}
	for k := evAnswered; k <= evExit; k++ {
		if n := k.String(); n == "" || n == fmt.Sprintf("event(%d)", k) {
			t.Errorf("event %d has no name", k)
		}
	}
	for a := actNone; a <= actNoOutcome; a++ {
		if n := a.String(); n == fmt.Sprintf("action(%d)", a) {
			t.Errorf("action %d has no name", a)
		}
	}
}

// show writes a transition with the names of its state and action.
func show(t transition) string {
	return fmt.Sprintf("{to %v, do %v, result %q, reason %q}", t.to, t.do, t.result, t.reason)
}
