package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
)

const hours = `    opening_hours:
      mon: ["09:00-12:00", "13:00-17:30"]
      sat: ["10:00-16:00"]
      closed: ["2026-12-25"]
    stagger: 1m
    customer_hours: "09:00-20:00"
    people:`

func TestHours(t *testing.T) {
	c, err := config.Parse([]byte(strings.Replace(base, "    people:", hours, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Dealers[0]
	if got := config.FormatTimetable(d.OpeningHours); got != "mon 09:00-12:00 13:00-17:30, sat 10:00-16:00; closed 2026-12-25" {
		t.Errorf("timetable %q", got)
	}
	if d.OpeningHours.Week[time.Monday][1] != [2]int{13 * 60, 17*60 + 30} || d.Stagger != time.Minute || d.CustomerSpan != [2]int{9 * 60, 20 * 60} {
		t.Errorf("schedule %+v", d.Schedule)
	}
	// Defaults: always open, 30 s stagger, customers 08:00-21:00.
	other := c.Dealers[1]
	if other.OpeningHours.Set() || other.Stagger != 30*time.Second || other.CustomerSpan != [2]int{8 * 60, 21 * 60} {
		t.Errorf("defaults %+v", other.Schedule)
	}
}

func TestHoursErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"bad block", `    opening_hours: {mon: ["9-17"]}`, []string{`dealers[0].opening_hours.mon[0]: "9-17": want HH:MM-HH:MM`}},
		{"backwards", `    opening_hours: {tue: ["17:00-09:00"]}`, []string{`dealers[0].opening_hours.tue[0]: "17:00-09:00": ends before it starts`}},
		{"minute 60", `    opening_hours: {thu: ["09:60-10:00"]}`, []string{`dealers[0].opening_hours.thu[0]: "09:60-10:00": want HH:MM-HH:MM`}},
		{"past midnight", `    opening_hours: {fri: ["09:00-24:30"]}`, []string{`dealers[0].opening_hours.fri[0]: "09:00-24:30": want HH:MM-HH:MM`}},
		{"empty block", `    opening_hours: {sat: [""]}`, []string{`dealers[0].opening_hours.sat[0]: "": want HH:MM-HH:MM`}},
		{"overlap", `    opening_hours: {wed: ["09:00-13:00", "12:00-17:00"]}`, []string{`dealers[0].opening_hours.wed: blocks overlap`}},
		{"bad date", `    opening_hours: {closed: ["25-12-2026"]}`, []string{`dealers[0].opening_hours.closed[0]: "25-12-2026": want a date like 2026-12-25`}},
		{"unknown day", `    opening_hours: {monday: ["09:00-17:00"]}`, []string{`dealers[0].opening_hours.monday: unknown key`}},
		{"customers at night", `    customer_hours: "07:00-22:00"`, []string{`dealers[0].customer_hours: "07:00-22:00": customers are never rung outside 08:00-21:00; set a window inside it`}},
		{"negative stagger", `    stagger: -1s`, []string{`dealers[0].stagger: must be positive`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(strings.Replace(base, "    people:", tt.yaml+"\n    people:", 1)), nil)
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems %q\nwant %q", got, tt.want)
			}
		})
	}
	// A person's own hours are checked likewise.
	yaml := strings.Replace(base, `{ id: kees,  name: "Kees Bakker",   phone: "+31612345678" }`,
		`{ id: kees,  name: "Kees Bakker",   phone: "+31612345678", hours: {fri: ["25:00-26:00"]} }`, 1)
	if _, err := config.Parse([]byte(yaml), nil); err == nil || !strings.Contains(err.Error(), `dealers[0].people[1].hours.fri[0]: "25:00-26:00": want HH:MM-HH:MM`) {
		t.Errorf("person hours: %v", err)
	}
}

func TestRetriesRoundsRotation(t *testing.T) {
	yaml := strings.Replace(base, "    people:", `    customer_retries: [5m, 1h30m, next_opening]
    rounds: 3
    round_pause: 10m
    duplicate_window: "off"
    people:`, 1)
	yaml = strings.Replace(yaml, "[kees, anna]", "{round_robin: [kees, anna]}", 1)
	c, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Dealers[0]
	want := []config.Retry{{After: 5 * time.Minute}, {After: 90 * time.Minute}, {NextOpening: true}}
	if !slices.Equal(d.Retries, want) || d.Rounds != 3 || d.RoundPause != 10*time.Minute || d.DuplicateWindow != 0 {
		t.Errorf("schedule %+v", d.Schedule)
	}
	if got := config.FormatRetries(d.Retries); got != "after 5m, after 1h30m, next opening" {
		t.Errorf("FormatRetries = %q", got)
	}
	if got := config.FormatFlow(d.Flow); got != "1. assigned  2. piet  3. kees / anna (round robin)  4. owner" {
		t.Errorf("FormatFlow = %q", got)
	}
	// Defaults: no retries, one round, 5 minutes apart, duplicates joined within an hour.
	other := c.Dealers[1]
	if other.Retries != nil || other.Rounds != 1 || other.RoundPause != 5*time.Minute || other.DuplicateWindow != time.Hour {
		t.Errorf("defaults %+v", other.Schedule)
	}
}
