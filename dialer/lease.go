package dialer

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// leases are the leads whose lease this node holds while their flows run here. One
// goroutine (renewLeases) renews them all with one store call every third of the lease
// time, instead of a write per flow: at hundreds of calls the renewals were a large
// share of the node's work. It runs only while there is a lease to renew.
type leases struct {
	mu       sync.Mutex                         // guards the following fields
	held     map[string]context.CancelCauseFunc // lead id → stops its flow
	renewing bool                               // renewLeases runs
	// emptied wakes renewLeases when the last lease is given up, so that it ends at once
	// rather than at its next tick.
	emptied chan struct{}
}

// hold adds a lead the flow has claimed; stop ends the flow when the lead was taken over
// or canceled elsewhere.
func (s *Service) hold(id string, stop context.CancelCauseFunc) {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	if s.leases.held == nil {
		s.leases.held = map[string]context.CancelCauseFunc{}
	}
	s.leases.held[id] = stop
	if !s.leases.renewing {
		s.leases.renewing = true
		s.leases.emptied = make(chan struct{}, 1)
		go s.renewLeases(s.leases.emptied)
	}
}

// unhold forgets a lead whose flow has ended.
func (s *Service) unhold(id string) {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	delete(s.leases.held, id)
	if len(s.leases.held) == 0 && s.leases.renewing {
		select {
		case s.leases.emptied <- struct{}{}:
		default:
		}
	}
}

// renewLeases renews the held leases until there are none. A flow whose lead another
// node took over, or that was canceled through another node, is stopped.
func (s *Service) renewLeases(emptied <-chan struct{}) {
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		var tick bool
		select {
		case <-t.C:
			tick = true
		case <-emptied:
		}
		s.leases.mu.Lock()
		if len(s.leases.held) == 0 {
			s.leases.renewing = false
			s.leases.mu.Unlock()
			return
		}
		held := maps.Clone(s.leases.held)
		s.leases.mu.Unlock()
		if !tick {
			continue // held again meanwhile
		}

		ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
		got, err := s.store.RenewAll(ctx, s.node, slices.Collect(maps.Keys(held)), s.now().Add(s.ttl))
		cancel()
		if err != nil {
			// The leases run out unless a later try succeeds; the flows go on meanwhile and
			// another node resumes their leads only once the leases have lapsed.
			s.log.Warn("renewing leases", "leads", len(held), "error", err)
			continue
		}
		for id, stop := range held {
			r, ok := got[id]
			switch {
			case ok && r.Held:
			case ok && r.Status == StatusCanceled:
				stop(errLeadCanceled)
			case !ok || !r.Status.Final():
				stop(errLeaseLost)
			}
			// Otherwise the lead is final: its flow is finishing.
		}
	}
}
