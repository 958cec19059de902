package dialer

import (
	"fmt"
	"iter"
	"slices"
	"strings"
)

// A lead is worked in rounds (Lead.Round, Attempt.Round): the first walk through the
// flow, a customer retry (the salesperson who accepted first, at RetryStep, then the
// flow), or another walk after nobody accepted. Where a lead stands is read from its
// attempts (readProgress), so a run on any node after any stop continues the same plan.

// progress is where a lead stands in its flow, read from its attempts: what its current
// round (Lead.Round) has done, and what the rounds before used up.
type progress struct {
	start     int             // the step the round goes on from; RetryStep: from the retry call
	attempted map[string]bool // people already rung in the round
	retryWith string          // in a retry round, the salesperson who accepted before
	customer  *Attempt        // the round's customer leg, if it has one
	unreached int             // customer legs, in every round, that did not reach the customer
	idle      int             // rounds before this one in which nobody accepted
	// reachedOwner: the flow's last step was rung for this lead before.
	reachedOwner bool
}

// readProgress reads l's attempts for its dealer's flow. A round goes on after the last
// step it reached, or within it for a round robin, whose people are rung one by one.
func readProgress(l *Lead, flow []Step) progress {
	p := progress{attempted: map[string]bool{}}
	accepted := map[int]bool{}        // rounds in which someone accepted
	unreachedIn := map[int]*Attempt{} // rounds that ended with the customer not reached
	rung := map[int]bool{}            // rounds with any agent leg
	for i := range l.Attempts {
		a := &l.Attempts[i]
		if a.Leg == LegCustomer {
			if a.Result != ResultAnswered {
				p.unreached++
				unreachedIn[a.Round] = a
			}
			if a.Round == l.Round {
				p.customer = a
			}
			continue
		}
		rung[a.Round] = true
		if a.Result == ResultAccepted {
			accepted[a.Round] = true
		}
		if a.Step == len(flow)-1 && a.Round < l.Round {
			p.reachedOwner = true
		}
		if a.Round == l.Round {
			p.attempted[a.Person] = true
			next := a.Step + 1
			if a.Step >= 0 && a.Step < len(flow) && flow[a.Step].RoundRobin {
				next = a.Step
			}
			p.start = max(p.start, next)
		}
	}
	for r := range l.Round {
		if rung[r] && !accepted[r] {
			p.idle++
		}
	}
	if prev, ok := unreachedIn[l.Round-1]; ok && l.Round > 0 {
		p.retryWith = prev.Person
		if !rung[l.Round] {
			p.start = RetryStep
		}
	}
	return p
}

// calls yields the people to ring, step by step, from where the round stands: the
// retry call first in a retry round, a ring group at once, a round robin one person at
// a time beginning with this lead's turn.
func (f *flow) calls() iter.Seq2[int, []string] {
	return func(yield func(int, []string) bool) {
		start := f.progress.start
		if start == RetryStep {
			if !yield(RetryStep, []string{f.progress.retryWith}) {
				return
			}
			start = 0
		}
		for i := start; i < len(f.d.Flow); i++ {
			st := f.d.Flow[i]
			if !st.RoundRobin {
				if !yield(i, st.People) {
					return
				}
				continue
			}
			for _, id := range f.rotation(i, st) {
				if !yield(i, []string{id}) {
					return
				}
			}
		}
	}
}

// rotation orders a round robin step's people for this lead: from the person whose turn
// it is, or, when the round already rang someone in this step, from that person again.
func (f *flow) rotation(i int, st Step) []string {
	n := len(st.People)
	first := -1
	for _, a := range f.lead.Attempts {
		if a.Leg == LegAgent && a.Round == f.lead.Round && a.Step == i {
			first = slices.Index(st.People, a.Person)
			break
		}
	}
	if first < 0 {
		turn, err := f.store.Turn(f.db, f.lead.Dealer, strings.Join(st.People, ","))
		if err != nil {
			f.log.Warn("round robin turn; starting with the first person", "error", err)
		}
		first = int(turn % int64(n))
	}
	return append(slices.Clone(st.People[first:]), st.People[:first]...)
}

// nobodyAccepted ends a round in which nobody pressed 1: another round after a pause
// while the dealer's rounds last, else the lead is exhausted.
func (f *flow) nobodyAccepted() (Status, string) {
	idle, rounds := f.progress.idle+1, max(f.d.Rounds, 1)
	if idle < rounds {
		return f.park(f.s.now().Add(f.d.RoundPause), f.lead.Round+1,
			fmt.Sprintf("nobody accepted the lead in round %d of %d", idle, rounds))
	}
	if rounds > 1 {
		return StatusExhausted, fmt.Sprintf("nobody in the flow accepted the lead in %d rounds", rounds)
	}
	return StatusExhausted, "nobody in the flow accepted the lead"
}

// customerNotReached ends a round in which a salesperson accepted but the customer did
// not answer (res): the next retry from the dealer's schedule, or customer_unreachable
// after the last.
func (f *flow) customerNotReached(res Result) (Status, string) {
	tries, retries := f.progress.unreached, len(f.d.Retries)
	if f.progress.customer == nil {
		tries++ // the leg that just ended, not among the attempts the run began with
	}
	if tries <= retries {
		r := f.d.Retries[tries-1]
		at := f.s.now().Add(r.After)
		if r.NextOpening {
			at = f.d.Hours.NextOpening(f.s.now())
			if at.IsZero() {
				return StatusCustomerUnreachable, fmt.Sprintf("the customer was not reached (%s) and the dealer has no opening hours for a retry", res)
			}
		}
		return f.park(at, f.lead.Round+1, fmt.Sprintf("the customer was not reached (%s); retry %d of %d", res, tries, retries))
	}
	if tries > 1 {
		return StatusCustomerUnreachable, fmt.Sprintf("the customer was not reached in %d tries (last: %s)", tries, res)
	}
	return StatusCustomerUnreachable, fmt.Sprintf("the customer was not reached (%s)", res)
}
