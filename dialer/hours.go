package dialer

import "time"

// Span is a block of opening time within one day, in minutes after local midnight;
// To may be 24*60 (until midnight).
type Span struct{ From, To int }

// Hours is a weekly timetable in a time zone, with closed dates. The zero Hours (no
// Week at all) is always open.
type Hours struct {
	Loc    *time.Location
	Week   [7][]Span       // by time.Weekday; an empty day is closed
	Closed map[string]bool // local dates "2006-01-02" when it is closed all day
}

// Always reports whether h has no timetable: open at any time.
func (h *Hours) Always() bool {
	if h == nil {
		return true
	}
	for _, d := range h.Week {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

// Open reports whether t falls inside the timetable.
func (h *Hours) Open(t time.Time) bool {
	return h.Always() || !h.Next(t).After(t)
}

// Next returns t when h is open at t, else the start of the next opening. Local wall
// times are read in h.Loc, so daylight-saving changes move openings with the clock: a
// block from 09:00 opens at 09:00 local time on both sides of the change. A wall time
// that does not exist that day (inside the hour skipped in spring) is read as time.Date
// normalises it, an hour later. It returns the zero time when h never opens within a
// year (every day closed).
func (h *Hours) Next(t time.Time) time.Time {
	if h.Always() {
		return t
	}
	loc := h.Loc
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	y, m, d := local.Date()
	for day := 0; day <= 366; day++ {
		date := time.Date(y, m, d+day, 12, 0, 0, 0, loc) // noon: always exists
		if h.Closed[date.Format(time.DateOnly)] {
			continue
		}
		for _, s := range h.Week[date.Weekday()] {
			from := wall(date, s.From, loc)
			to := wall(date, s.To, loc)
			switch {
			case !t.Before(to):
				continue // block over
			case !t.Before(from):
				return t // inside the block
			default:
				return from
			}
		}
	}
	return time.Time{}
}

// NextOpening returns the start of the first opening block after t (not the one t is
// in). A dealer who is always open opens every midnight, in h.Loc or UTC: a retry at
// the next opening is then the next day. The zero time when h never opens within a
// year.
func (h *Hours) NextOpening(t time.Time) time.Time {
	loc := time.UTC
	if h != nil && h.Loc != nil {
		loc = h.Loc
	}
	local := t.In(loc)
	y, m, d := local.Date()
	if h.Always() {
		return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	for day := 0; day <= 366; day++ {
		date := time.Date(y, m, d+day, 12, 0, 0, 0, loc)
		if h.Closed[date.Format(time.DateOnly)] {
			continue
		}
		for _, s := range h.Week[date.Weekday()] {
			if from := wall(date, s.From, loc); from.After(t) {
				return from
			}
		}
	}
	return time.Time{}
}

// wall is the instant of minute min after midnight on date's local day.
func wall(date time.Time, min int, loc *time.Location) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, min/60, min%60, 0, 0, loc)
}
