package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The owner's report: over a period, how each salesperson followed the dealer's process
// (how often a lead was offered to them and what they did with it) and how each lead
// source fared. The owner sets the process; the report shows whether it is followed.

// PersonReport is one salesperson's part in the period's leads. Counts are of offers:
// each time the person's phone rang for a lead (a lead can ring someone again in a
// later round or a customer retry).
type PersonReport struct {
	Person   string
	Offered  int // rung
	Answered int // picked up, whatever came next
	Accepted int // pressed 1
	Declined int // pressed another key: passed the lead on
	Missed   int // did not answer, or voicemail answered (no_answer, no_accept)
	Busy     int
	Failed   int // refused by the phone network, or unreachable (rejected, failed)
	Canceled int // a colleague in the same step took the lead first
	// MedianAnswer is the median time from ringing to picking up, of answered offers.
	MedianAnswer time.Duration
	// ToOwner counts the leads this person was offered and did not take that went on to
	// the dealer's owner (the flow's last step) afterwards.
	ToOwner int
	// Outcomes counts the outcomes this person gave after their calls, by outcome id;
	// nil when none.
	Outcomes map[string]int
}

// SourceReport is how the period's leads of one source fared.
type SourceReport struct {
	Source    string // as the lead says; "" when it says none
	Leads     int
	Connected int // bridged to a salesperson
	// MedianSpeed is the median speed to lead of the connected leads.
	MedianSpeed time.Duration
}

// Report is the owner's view of a period: leads created from From (included) to To
// (excluded).
type Report struct {
	Dealer   string
	From, To time.Time
	Leads    int
	// Connected counts the leads whose customer was bridged to a salesperson;
	// ReachedOwner the leads whose flow reached its last step, the owner.
	Connected, ReachedOwner int
	People                  []PersonReport // in the order the flow rings them
	Sources                 []SourceReport // most leads first
}

// BuildReport makes the report of leads (with their attempts) for dealer d over
// [from, to).
func BuildReport(d *Dealer, leads []Lead, from, to time.Time) Report {
	r := Report{Dealer: d.ID, From: from, To: to, Leads: len(leads)}
	owners := map[string]bool{}
	if n := len(d.Flow); n > 0 {
		for _, id := range d.Flow[n-1].People {
			owners[id] = true
		}
	}
	people := map[string]*PersonReport{}
	answers := map[string][]time.Duration{}
	person := func(id string) *PersonReport {
		p := people[id]
		if p == nil {
			p = &PersonReport{Person: id}
			people[id] = p
		}
		return p
	}
	sources := map[string]*SourceReport{}
	speeds := map[string][]time.Duration{}
	for i := range leads {
		l := &leads[i]
		s := sources[l.Source]
		if s == nil {
			s = &SourceReport{Source: l.Source}
			sources[l.Source] = s
		}
		s.Leads++
		if !l.ConnectedAt.IsZero() {
			r.Connected++
			s.Connected++
			speeds[l.Source] = append(speeds[l.Source], l.SpeedToLead())
		}
		ownerRung := -1 // index of the last attempt of an owner
		for j, a := range l.Attempts {
			if a.Leg == LegAgent && owners[a.Person] {
				ownerRung = j
			}
		}
		if ownerRung >= 0 {
			r.ReachedOwner++
		}
		if o := l.Outcome; o.ID != "" {
			p := person(o.Person)
			if p.Outcomes == nil {
				p.Outcomes = map[string]int{}
			}
			p.Outcomes[o.ID]++
		}
		passed := map[string]bool{}
		for j, a := range l.Attempts {
			if a.Leg != LegAgent {
				continue
			}
			p := person(a.Person)
			p.Offered++
			if !a.AnsweredAt.IsZero() {
				p.Answered++
				answers[a.Person] = append(answers[a.Person], a.AnsweredAt.Sub(a.StartedAt))
			}
			switch a.Result {
			case ResultAccepted:
				p.Accepted++
			case ResultDeclined:
				p.Declined++
			case ResultNoAnswer, ResultNoAccept:
				p.Missed++
			case ResultBusy:
				p.Busy++
			case ResultRejected, ResultFailed:
				p.Failed++
			case ResultCanceled:
				p.Canceled++
			}
			if a.Result != ResultAccepted && !owners[a.Person] && j < ownerRung && !passed[a.Person] {
				passed[a.Person] = true
				p.ToOwner++
			}
		}
	}
	// In the order the flow rings them, then anyone it no longer does.
	order := map[string]int{}
	for _, st := range d.Flow {
		for _, id := range st.People {
			if _, seen := order[id]; !seen {
				order[id] = len(order)
			}
		}
	}
	rank := func(id string) int {
		if i, ok := order[id]; ok {
			return i
		}
		return len(order)
	}
	ids := make([]string, 0, len(people))
	for id := range people {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, id := range ids {
		p := people[id]
		p.MedianAnswer = median(answers[id])
		r.People = append(r.People, *p)
	}
	for src, s := range sources {
		s.MedianSpeed = median(speeds[src])
		r.Sources = append(r.Sources, *s)
	}
	slices.SortFunc(r.Sources, func(a, b SourceReport) int {
		if c := cmp.Compare(b.Leads, a.Leads); c != 0 {
			return c
		}
		return cmp.Compare(a.Source, b.Source)
	})
	return r
}

// median is the middle of d (the mean of the two middle values for an even count);
// 0 for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	if n := len(d); n%2 == 1 {
		return d[n/2]
	} else {
		return (d[n/2-1] + d[n/2]) / 2
	}
}

// ReportMail is one dealer's weekly report mail: the owner's report of the days From
// to To (dates, To included, as ReportDays takes them), due at DueAt, as the store
// keeps it. A dealer gets at most one a week: Week names it, the ISO week of DueAt in
// the dealer's time zone ("2026-W44").
type ReportMail struct {
	Dealer   string
	Week     string
	DueAt    time.Time
	From, To string
	// State is DeliveryPending until its first try, then as a delivery's: DeliveryDelivered
	// (sent), DeliveryFailed (tried again at NextTryAt), DeliveryGaveUp, or
	// DeliveryDisabled when the dealer no longer had a weekly report at its time.
	State      DeliveryState
	Tries      int
	FirstTryAt time.Time
	NextTryAt  time.Time
	DoneAt     time.Time
	LastStatus int // the relay's reply code of the last try
	LastError  string
}

// ErrNoReports is returned by Report when the service has no ReportStore.
var ErrNoReports = errors.New("no store for reports is configured")

// Report returns the owner's report of dealer over [from, to).
func (s *Service) Report(ctx context.Context, dealer string, from, to time.Time) (Report, error) {
	if s.reports == nil {
		return Report{}, ErrNoReports
	}
	d, ok := s.Dealer(dealer)
	if !ok {
		return Report{}, fmt.Errorf("report: unknown dealer %q: %w", dealer, ErrNotFound)
	}
	leads, err := s.reports.LeadsBetween(ctx, dealer, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	return BuildReport(d, leads, from, to), nil
}

// ReportDays returns the owner's report of dealer over whole days in its time zone: from
// and to are dates (2026-11-30), to included; either may instead be an RFC 3339 time,
// taken as it is (to then excluded). Empty: the last seven days up to today, included.
// Bad dates are a *ValidationError naming from or to.
func (s *Service) ReportDays(ctx context.Context, dealer, from, to string) (Report, error) {
	d, ok := s.Dealer(dealer)
	if !ok {
		return Report{}, fmt.Errorf("report: unknown dealer %q: %w", dealer, ErrNotFound)
	}
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	now := s.now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	ve := &ValidationError{}
	parse := func(field, v string, def time.Time, end bool) time.Time {
		if v == "" {
			return def
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			if end {
				t = t.AddDate(0, 0, 1) // through the end of that day
			}
			return t
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
		ve.add(field, "%q is not a date (2026-11-30) or an RFC 3339 time", v)
		return time.Time{}
	}
	end := parse("to", to, today.AddDate(0, 0, 1), true)
	start := parse("from", from, end.AddDate(0, 0, -7), false)
	if len(ve.Fields) == 0 && !start.Before(end) {
		ve.add("from", "must be before to")
	}
	if len(ve.Fields) == 0 && end.Sub(start) > 366*24*time.Hour {
		ve.add("to", "a report covers at most a year")
	}
	if len(ve.Fields) > 0 {
		return Report{}, ve
	}
	return s.Report(ctx, dealer, start, end)
}
