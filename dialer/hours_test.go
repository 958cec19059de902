package dialer

import (
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestHoursNext(t *testing.T) {
	ams, ny := mustLoc(t, "Europe/Amsterdam"), mustLoc(t, "America/New_York")
	weekdays := []Span{{9 * 60, 12 * 60}, {13 * 60, 17*60 + 30}}
	dealer := func(loc *time.Location) *Hours {
		h := &Hours{Loc: loc, Closed: map[string]bool{"2026-12-25": true}}
		for d := time.Monday; d <= time.Friday; d++ {
			h.Week[d] = weekdays
		}
		h.Week[time.Saturday] = []Span{{10 * 60, 16 * 60}}
		return h
	}
	at := func(loc *time.Location, s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		h        *Hours
		from     time.Time
		wantUTC  string
		wantOpen bool
	}{
		{"seconds before closing: open", dealer(ams), at(ams, "2026-11-27 17:29:50"), "2026-11-27T16:29:50Z", true},
		{"at closing: next opening", dealer(ams), at(ams, "2026-11-27 17:30:00"), "2026-11-28T09:00:00Z", false},
		{"lunch break", dealer(ams), at(ams, "2026-11-27 12:15:00"), "2026-11-27T12:00:00Z", false},
		{"saturday evening to monday", dealer(ams), at(ams, "2026-11-28 16:00:00"), "2026-11-30T08:00:00Z", false},
		{"closed date (christmas) to saturday", dealer(ams), at(ams, "2026-12-24 18:00:00"), "2026-12-26T09:00:00Z", false},
		// Clocks go forward on Sunday 2027-03-28: Monday 09:00 is 07:00 UTC, not 08:00.
		{"over spring forward, amsterdam", dealer(ams), at(ams, "2027-03-27 16:30:00"), "2027-03-29T07:00:00Z", false},
		// Clocks go back on Sunday 2026-11-01 in New York: Monday 09:00 EST is 14:00 UTC.
		{"over fall back, new york", dealer(ny), at(ny, "2026-10-30 18:00:00"), "2026-10-31T14:00:00Z", false},
		{"saturday after fall back", dealer(ny), at(ny, "2026-10-31 17:00:00"), "2026-11-02T14:00:00Z", false},
		{"no timetable: always open", &Hours{}, at(ams, "2026-11-29 03:00:00"), "2026-11-29T02:00:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.Next(tt.from)
			if s := got.UTC().Format(time.RFC3339); s != tt.wantUTC {
				t.Errorf("Next(%v) = %s, want %s", tt.from, s, tt.wantUTC)
			}
			if open := tt.h.Open(tt.from); open != tt.wantOpen {
				t.Errorf("Open = %v, want %v", open, tt.wantOpen)
			}
		})
	}
	// A wall time skipped by the spring change: 02:30 on 2027-03-28 does not exist in
	// Amsterdam; the opening is read an hour later.
	h := &Hours{Loc: ams}
	h.Week[time.Sunday] = []Span{{2*60 + 30, 4 * 60}}
	if got := h.Next(at(ams, "2027-03-27 23:00:00")).UTC().Format(time.RFC3339); got != "2027-03-28T01:30:00Z" {
		t.Errorf("skipped hour: %s", got)
	}
}
