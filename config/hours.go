package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Timetable is a weekly opening-hours table as written:
//
//	opening_hours:
//	  mon: ["09:00-12:00", "13:00-17:30"]
//	  sat: ["10:00-16:00"]
//	  closed: ["2026-12-25"]
//
// A day not listed is closed; a Timetable with no day at all (the default) means
// always open.
type Timetable struct {
	Days   map[time.Weekday][]string // as written
	Closed []string                  // local dates, 2006-01-02

	// Week is Days parsed: per weekday, blocks of [from, to) minutes after midnight,
	// sorted (derived).
	Week [7][][2]int
}

// Set reports whether any opening time is given.
func (t Timetable) Set() bool { return len(t.Days) > 0 }

// Schedule is a dealer's rules of engagement on time.
type Schedule struct {
	// OpeningHours are when the dealer takes leads, in the dealer's time zone; a lead
	// outside them is scheduled for the next opening.
	OpeningHours Timetable
	// Stagger spaces out leads scheduled for one opening (default 30s).
	Stagger time.Duration
	// CustomerHours is when customers may be rung, in their own local time, as written
	// ("08:00-21:00", the default and the widest allowed).
	CustomerHours string
	// CustomerSpan is CustomerHours parsed, minutes after midnight (derived).
	CustomerSpan [2]int

	// DuplicateWindow: a lead for a number that has an unfinished lead at this dealer,
	// created at most this long before, joins that lead instead of starting a call. A
	// file that leaves it out gets DefaultDuplicateWindow; "0s" or "off" turns it off (as
	// does zero in a Config built in Go).
	DuplicateWindow time.Duration
	// CustomerRetries are the waits before ringing again a customer who was not reached,
	// as written: durations, or RetryNextOpening. Empty: no retry.
	CustomerRetries []string
	// Retries is CustomerRetries parsed (derived).
	Retries []Retry
	// Rounds is how many times the flow is walked before a lead nobody accepted is
	// exhausted (default 1); RoundPause is the wait between two walks (default 5m).
	Rounds     int
	RoundPause time.Duration
}

// Retry is one wait before a customer is rung again: After, or until the dealer's next
// opening.
type Retry struct {
	After       time.Duration
	NextOpening bool
}

// RetryNextOpening is the customer_retries entry that waits for the dealer's next opening.
const RetryNextOpening = "next_opening"

// Defaults of the rules of engagement.
const (
	DefaultDuplicateWindow = time.Hour
	DefaultRounds          = 1
	DefaultRoundPause      = 5 * time.Minute
	// MaxCustomerRetries and MaxRounds bound how often one lead makes phones ring.
	MaxCustomerRetries = 10
	MaxRounds          = 10
)

// DefaultStagger spaces out a morning's backlog.
const DefaultStagger = 30 * time.Second

// DefaultCustomerHours is the widest window in which customers are rung.
const DefaultCustomerHours = "08:00-21:00"

// weekdays are the day keys of a timetable, Monday first, each at its time.Weekday.
var weekdays = [7]struct {
	name string
	day  time.Weekday
}{{"mon", time.Monday}, {"tue", time.Tuesday}, {"wed", time.Wednesday}, {"thu", time.Thursday},
	{"fri", time.Friday}, {"sat", time.Saturday}, {"sun", time.Sunday}}

func (d *decoder) scheduleDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"opening_hours":    d.timetable(&dl.OpeningHours),
		"stagger":          d.duration(&dl.Stagger),
		"customer_hours":   d.str(&dl.CustomerHours),
		"duplicate_window": d.durationOrOff(&dl.DuplicateWindow),
		"customer_retries": d.strings(&dl.CustomerRetries),
		"rounds":           d.positiveInt(&dl.Rounds),
		"round_pause":      d.duration(&dl.RoundPause),
	}
}

// durationOrOff reads a duration that may be zero: "0s" or "off" store 0.
func (d *decoder) durationOrOff(dst *time.Duration) field {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, `a duration such as "1h", or "off"`)
		switch {
		case !ok || s == "":
			return
		case s == "off":
			*dst = 0
			return
		}
		v, err := time.ParseDuration(s)
		switch {
		case err != nil:
			d.fail(path, n.Line, "%v (write e.g. \"1h\", or \"off\")", err)
		case v < 0:
			d.fail(path, n.Line, "must not be negative")
		default:
			*dst = v
		}
	}
}

// timetable reads an opening_hours mapping.
func (d *decoder) timetable(dst *Timetable) field {
	return func(n *yaml.Node, path string) {
		fields := map[string]field{"closed": d.strings(&dst.Closed)}
		for _, w := range weekdays {
			wd := w.day
			fields[w.name] = func(n *yaml.Node, p string) {
				var spans []string
				d.strings(&spans)(n, p)
				if dst.Days == nil {
					dst.Days = map[time.Weekday][]string{}
				}
				dst.Days[wd] = spans
			}
		}
		d.object(n, path, fields)
	}
}

// validateTimetable parses t's blocks and dates, reporting problems under path.
func validateTimetable(v *validator, path string, t *Timetable) {
	for _, w := range weekdays {
		name, wd := w.name, w.day
		spans, ok := t.Days[wd]
		if !ok {
			continue
		}
		var week [][2]int
		for i, s := range spans {
			sp, err := parseSpan(s)
			if err != nil {
				v.add(fmt.Sprintf("%s.%s[%d]", path, name, i), "%v", err)
				continue
			}
			week = append(week, sp)
		}
		slices.SortFunc(week, func(a, b [2]int) int { return a[0] - b[0] })
		for i := 1; i < len(week); i++ {
			if week[i][0] < week[i-1][1] {
				v.add(path+"."+name, "blocks overlap")
			}
		}
		t.Week[wd] = week
	}
	for i, s := range t.Closed {
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			v.add(fmt.Sprintf("%s.closed[%d]", path, i), "%q: want a date like 2026-12-25", s)
		}
	}
}

// validateSchedule checks a dealer's schedule and fills in defaults.
func (dl *Dealer) validateSchedule(v *validator, path string) {
	validateTimetable(v, path+".opening_hours", &dl.OpeningHours)
	for i := range dl.People {
		validateTimetable(v, fmt.Sprintf("%s.people[%d].hours", path, i), &dl.People[i].Hours)
	}
	if dl.Stagger == 0 {
		dl.Stagger = DefaultStagger
	}
	if dl.CustomerHours == "" {
		dl.CustomerHours = DefaultCustomerHours
	}
	dl.validateRetries(v, path)
	sp, err := parseSpan(dl.CustomerHours)
	widest, _ := parseSpan(DefaultCustomerHours)
	switch {
	case err != nil:
		v.add(path+".customer_hours", "%v", err)
	case sp[0] < widest[0] || sp[1] > widest[1]:
		v.add(path+".customer_hours", "%q: customers are never rung outside %s; set a window inside it", dl.CustomerHours, DefaultCustomerHours)
	default:
		dl.CustomerSpan = sp
	}
}

// validateRetries parses customer_retries and fills in the defaults of rounds.
func (dl *Dealer) validateRetries(v *validator, path string) {
	if len(dl.CustomerRetries) > MaxCustomerRetries {
		v.add(path+".customer_retries", "at most %d retries", MaxCustomerRetries)
	}
	dl.Retries = nil
	for i, s := range dl.CustomerRetries {
		if s == RetryNextOpening {
			dl.Retries = append(dl.Retries, Retry{NextOpening: true})
			continue
		}
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			v.add(index(path+".customer_retries", i), "%q: want a duration such as \"30m\", or %q", s, RetryNextOpening)
		case d < time.Minute:
			v.add(index(path+".customer_retries", i), "%q: wait at least a minute before ringing a customer again", s)
		default:
			dl.Retries = append(dl.Retries, Retry{After: d})
		}
	}
	if dl.Rounds == 0 {
		dl.Rounds = DefaultRounds
	}
	if dl.Rounds > MaxRounds {
		v.add(path+".rounds", "at most %d", MaxRounds)
	}
	if dl.RoundPause == 0 {
		dl.RoundPause = DefaultRoundPause
	}
}

// FormatRetries renders the customer retries for `leadline check`.
func FormatRetries(rs []Retry) string {
	if len(rs) == 0 {
		return "none: a customer not reached ends the lead"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		if r.NextOpening {
			parts[i] = "next opening"
		} else {
			parts[i] = "after " + FormatDuration(r.After)
		}
	}
	return strings.Join(parts, ", ")
}

// parseSpan reads "09:00-17:30" into minutes after midnight; 24:00 may end a block.
func parseSpan(s string) ([2]int, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	a, errA := clock(from)
	b, errB := clock(to)
	switch {
	case !ok || errA != nil || errB != nil:
		return [2]int{}, fmt.Errorf("%q: want HH:MM-HH:MM", s)
	case b <= a:
		return [2]int{}, fmt.Errorf("%q: ends before it starts", s)
	}
	return [2]int{a, b}, nil
}

func clock(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// FormatTimetable renders t for `leadline check`: "mon 09:00-12:00 13:00-17:30, sat …".
func FormatTimetable(t Timetable) string {
	if !t.Set() {
		return "always"
	}
	var parts []string
	for _, w := range weekdays {
		wd := w.day
		if len(t.Week[wd]) == 0 {
			continue
		}
		var spans []string
		for _, s := range t.Week[wd] {
			spans = append(spans, fmt.Sprintf("%02d:%02d-%02d:%02d", s[0]/60, s[0]%60, s[1]/60, s[1]%60))
		}
		parts = append(parts, w.name+" "+strings.Join(spans, " "))
	}
	out := strings.Join(parts, ", ")
	if len(t.Closed) > 0 {
		out += "; closed " + strings.Join(t.Closed, " ")
	}
	return out
}
