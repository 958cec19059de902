package dialer

// This file holds the intake's limits on whom a lead may make Leadline call: the
// countries a dealer's customers' numbers may be in, and a cap on the leads for one
// customer number a day, over every dealer, so that no one can make Leadline ring a
// stranger again and again.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/leadline/leadline/phone"
)

// DefaultMaxLeadsPerNumberPerDay is the cap when IntakeRules leave it 0.
const DefaultMaxLeadsPerNumberPerDay = 3

// numberWindow is the "day" of the cap: a sliding 24 hours.
const numberWindow = 24 * time.Hour

// IntakeRules are the limits Submit applies on top of validation. Set them with
// Service.SetIntakeRules; a reload replaces them whole.
type IntakeRules struct {
	// MaxLeadsPerNumberPerDay caps the leads stored for one customer number in 24 hours,
	// over all dealers; 0 means DefaultMaxLeadsPerNumberPerDay. It applies only when
	// Options.Abuse is set.
	MaxLeadsPerNumberPerDay int
	// Countries maps a dealer id to the ISO 3166 regions ("NL", "BE") its customers'
	// numbers may belong to. A dealer not in the map takes numbers of its Country only;
	// a dealer with neither takes any.
	Countries map[string][]string
}

// ErrTooManyLeads is what a *NumberLimitError matches with errors.Is.
var ErrTooManyLeads = errors.New("too many leads for one phone number")

// NumberLimitError refuses a lead whose customer number already had the day's
// maximum of leads. Nothing was stored.
type NumberLimitError struct {
	Max int // the cap, leads per 24 hours
	// RetryAfter is when the oldest of those leads is 24 hours old, from now.
	RetryAfter time.Duration
}

func (e *NumberLimitError) Error() string {
	return fmt.Sprintf("the phone number had %d leads in the last 24 hours", e.Max)
}

// Unwrap makes the error match ErrTooManyLeads.
func (e *NumberLimitError) Unwrap() error { return ErrTooManyLeads }

// guard holds the abuse limits of a Service; SetIntakeRules swaps its rules.
type guard struct {
	store AbuseStore // nil: no cap
	rules atomic.Pointer[IntakeRules]
}

// SetIntakeRules replaces the intake limits (config reload). Leads already stored are
// not affected.
func (s *Service) SetIntakeRules(r IntakeRules) {
	r.Countries = cloneCountries(r.Countries)
	s.guard.rules.Store(&r)
}

func cloneCountries(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for d, cs := range m {
		up := make([]string, len(cs))
		for i, c := range cs {
			up[i] = strings.ToUpper(c)
		}
		out[d] = up
	}
	return out
}

// countries returns the regions dealer d's customers' numbers may be in; nil: any.
func (g *guard) countries(d *Dealer) []string {
	if r := g.rules.Load(); r != nil {
		if cs, ok := r.Countries[d.ID]; ok && len(cs) > 0 {
			return cs
		}
	}
	if d.Country != "" {
		return []string{strings.ToUpper(d.Country)}
	}
	return nil
}

// countryProblem says why the E.164 number p may not be called for a dealer whose
// customers are in countries, or returns "".
func countryProblem(p string, countries []string) string {
	if len(countries) == 0 {
		return ""
	}
	region := phone.Region(p)
	if slices.Contains(countries, region) {
		return ""
	}
	where := "is not a number of a single country"
	if region != "" {
		where = "is a number in " + region
	}
	return fmt.Sprintf("%s; this dealer only calls numbers in %s", where, strings.Join(countries, ", "))
}

// checkNumber applies the per-number cap to a validated lead l. When the number is
// at its cap, repeats are allowed and l repeats an earlier lead of the dealer (same
// idempotency key or external id), that lead is returned with repeat=true, as
// CreateLead would have. Errors: *NumberLimitError, or ErrUnavailable when the store
// cannot answer.
func (g *guard) checkNumber(ctx context.Context, l Lead, now time.Time, repeats bool) (first Lead, repeat bool, err error) {
	if g.store == nil {
		return Lead{}, false, nil
	}
	limit := DefaultMaxLeadsPerNumberPerDay
	if r := g.rules.Load(); r != nil && r.MaxLeadsPerNumberPerDay > 0 {
		limit = r.MaxLeadsPerNumberPerDay
	}
	// A lead counts for 24 hours: from exactly a day ago (exclusive; the store keeps
	// milliseconds) until now, so that RetryAfter is exact.
	n, oldest, err := g.store.LeadsToNumber(ctx, l.Phone, now.Add(-numberWindow+time.Millisecond))
	if err != nil {
		return Lead{}, false, fmt.Errorf("submit: count leads to number: %w: %w", ErrUnavailable, err)
	}
	if n < limit {
		return Lead{}, false, nil
	}
	if repeats && (l.IdempotencyKey != "" || l.ExternalID != "") {
		first, found, err := g.store.FindRepeat(ctx, l.Dealer, l.IdempotencyKey, l.ExternalID)
		if err != nil {
			return Lead{}, false, fmt.Errorf("submit: find repeat: %w: %w", ErrUnavailable, err)
		}
		if found {
			return first, true, nil
		}
	}
	wait := oldest.Add(numberWindow).Sub(now)
	if oldest.IsZero() || wait < time.Second {
		wait = time.Second
	}
	return Lead{}, false, &NumberLimitError{Max: limit, RetryAfter: wait}
}
