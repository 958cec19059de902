package dialer

import (
	"context"
	"sync"
	"time"

	"github.com/leadline/leadline/phone"
)

// DefaultCustomerHours is when a customer may be rung, in the customer's own local time;
// a dealer may set a stricter window, never a wider one.
var DefaultCustomerHours = Span{From: 8 * 60, To: 21 * 60}

// earliest returns the first instant at or after t when the dealer is open and the
// customer, in each of the time zones their number may be in, is within the dealer's
// customer hours. The zero time means never within a year.
func (d *Dealer) earliest(t time.Time, customer []*time.Location) time.Time {
	span := d.CustomerHours
	if span == (Span{}) {
		span = DefaultCustomerHours
	}
	for range 32 { // each round moves forward; a handful settle it
		next := d.Hours.Next(t)
		if next.IsZero() {
			return next
		}
		for _, z := range customer {
			h := Hours{Loc: z}
			for i := range h.Week {
				h.Week[i] = []Span{span}
			}
			if n := h.Next(next); n.After(next) {
				next = n
			}
		}
		if next.Equal(t) {
			return t
		}
		t = next
	}
	return t
}

// stagger spreads leads scheduled for one opening: each is planned at least gap after
// the previous one of the same dealer, so the morning's backlog does not ring everyone
// at once. The previous one is the latest the store has planned (from any node, before
// any restart) or, for leads this node is storing at the same moment, the latest slot
// this node handed out. Two nodes planning at the same instant may still share a slot.
type stagger struct {
	mu   sync.Mutex           // guards last
	last map[string]time.Time // dealer → latest slot handed out here
}

// slot returns the first moment from at that is gap after both stored (the store's
// latest planned lead; zero: none) and this node's latest slot, and takes it.
func (st *stagger) slot(dealer string, at, stored time.Time, gap time.Duration) time.Time {
	if gap <= 0 {
		return at
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.last == nil {
		st.last = map[string]time.Time{}
	}
	for _, prev := range []time.Time{stored, st.last[dealer]} {
		if !prev.IsZero() && prev.Add(gap).After(at) {
			at = prev.Add(gap)
		}
	}
	st.last[dealer] = at
	return at
}

// wake brings a lead that waits for a customer retry or another round forward to the
// first moment its customer may be rung (opening and calling hours still hold): a post
// that joins it says the customer is there now. A lead waiting only for opening or
// calling hours keeps its staggered slot.
func (s *Service) wake(ctx context.Context, d *Dealer, l Lead) Lead {
	if action, _ := l.Plan(); action != ActionRetryCustomer && action != ActionNextRound {
		return l
	}
	at := d.earliest(s.now(), phone.Zones(l.Phone)).UTC().Truncate(time.Millisecond)
	if at.IsZero() || !at.Before(l.NextAt) {
		return l
	}
	ok, err := s.store.Advance(ctx, l.ID, at)
	if err != nil {
		s.log.Warn("bringing a joined lead forward", "lead_id", l.ID, "error", err)
		return l
	}
	if ok {
		s.log.Info("a joined post brings the lead's next round forward", "lead_id", l.ID, "dealer", l.Dealer, "at", at)
		l.NextAt = at
	}
	return l
}

// plan decides whether l can be dialled now: if the dealer is closed or it is the
// customer's quiet time, l becomes scheduled for the earliest allowed moment (staggered)
// and plan returns true.
func (s *Service) plan(ctx context.Context, d *Dealer, l *Lead) bool {
	now := s.now()
	at := d.earliest(now, phone.Zones(l.Phone))
	if at.IsZero() || !at.After(now) {
		return false
	}
	stored, err := s.store.LastPlanned(ctx, d.ID, at)
	if err != nil {
		// CreateLead will most likely fail too and refuse the lead; if not, this node's
		// own slots still stagger it.
		s.log.Warn("reading planned leads for the stagger", "dealer", d.ID, "error", err)
	}
	l.Status = StatusScheduled
	l.NextAt = s.stagger.slot(d.ID, at, stored, d.Stagger).UTC().Truncate(time.Millisecond)
	return true
}
