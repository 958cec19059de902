package dialer

import (
	"context"
	"sync"
	"time"
)

// registry is the one record of the flows running on this node: an entry per lead from
// the moment start launches its flow until the flow's goroutine ends. Cancel stops a
// flow through it, Watch and Running read it, and renewLeases renews the leases of the
// entries whose flow holds one, all with one store call every third of the lease time,
// instead of a write per flow: at hundreds of calls the renewals were a large share of
// the node's work. renewLeases runs only while some flow holds a lease.
type registry struct {
	mu       sync.Mutex          // guards the following fields
	flows    map[string]*running // lead id → its flow
	held     int                 // entries with held set
	renewing bool                // renewLeases runs
	// emptied wakes renewLeases when the last lease is given up, so that it ends at once
	// rather than at its next tick.
	emptied chan struct{}
}

// running is one flow in the registry.
type running struct {
	stop context.CancelCauseFunc // ends the flow; the cause says why (errLeadCanceled…)
	held bool                    // the flow holds the lead's lease: renewLeases renews it
}

// add records lead id's flow, which stop ends; false when one already runs here.
func (r *registry) add(id string, stop context.CancelCauseFunc) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flows == nil {
		r.flows = map[string]*running{}
	}
	if _, dup := r.flows[id]; dup {
		return false
	}
	r.flows[id] = &running{stop: stop}
	return true
}

// remove forgets lead id's flow, which has ended.
func (r *registry) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flows[id]; f != nil && f.held {
		r.releaseLocked(f)
	}
	delete(r.flows, id)
}

// stop ends lead id's flow, if it runs here, with cause.
func (r *registry) stop(id string, cause error) {
	r.mu.Lock()
	f := r.flows[id]
	r.mu.Unlock()
	if f != nil {
		f.stop(cause)
	}
}

// has reports whether lead id's flow runs here.
func (r *registry) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.flows[id]
	return ok
}

// len is the number of flows running here.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.flows)
}

// hold says that lead id's flow has claimed the lead: its lease is renewed from now on,
// and the flow is stopped when the lead was taken over or canceled elsewhere.
func (s *Service) hold(id string) {
	r := &s.flows
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.flows[id]
	if f == nil || f.held {
		return
	}
	f.held = true
	r.held++
	if !r.renewing {
		r.renewing = true
		r.emptied = make(chan struct{}, 1)
		go s.renewLeases(r.emptied)
	}
}

// unhold says that lead id's flow no longer needs its lease renewed: it has ended, and
// gives the lease up or finishes the lead.
func (s *Service) unhold(id string) {
	r := &s.flows
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flows[id]; f != nil && f.held {
		r.releaseLocked(f)
	}
}

func (r *registry) releaseLocked(f *running) {
	f.held = false
	r.held--
	if r.held == 0 && r.renewing {
		select {
		case r.emptied <- struct{}{}:
		default:
		}
	}
}

// heldLocked returns the flows that hold their lease, by lead id.
func (r *registry) heldLocked() map[string]context.CancelCauseFunc {
	out := make(map[string]context.CancelCauseFunc, r.held)
	for id, f := range r.flows {
		if f.held {
			out[id] = f.stop
		}
	}
	return out
}

// renewLeases renews the held leases until there are none. A flow whose lead another
// node took over, or that was canceled through another node, is stopped.
func (s *Service) renewLeases(emptied <-chan struct{}) {
	r := &s.flows
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		var tick bool
		select {
		case <-t.C:
			tick = true
		case <-emptied:
		}
		r.mu.Lock()
		if r.held == 0 {
			r.renewing = false
			r.mu.Unlock()
			return
		}
		held := r.heldLocked()
		r.mu.Unlock()
		if !tick {
			continue // held again meanwhile
		}

		ids := make([]string, 0, len(held))
		for id := range held {
			ids = append(ids, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
		got, err := s.store.RenewAll(ctx, s.node, ids, s.now().Add(s.ttl))
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
