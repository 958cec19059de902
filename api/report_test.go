package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

func sampleReport() dialer.Report {
	from := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	return dialer.Report{
		Dealer: "jansen", From: from, To: from.AddDate(0, 0, 7), Leads: 3,
		People: []dialer.PersonReport{
			{Person: "piet", Offered: 3, Answered: 2, Accepted: 1, Busy: 1, Missed: 1, MedianAnswer: 4 * time.Second, ToOwner: 2},
			{Person: "owner", Offered: 2, Answered: 1, Accepted: 1, Missed: 1, MedianAnswer: 6500 * time.Millisecond},
		},
		Sources: []dialer.SourceReport{
			{Source: "website", Leads: 2, Connected: 1, MedianSpeed: 11 * time.Second},
			{Source: "", Leads: 1},
		},
	}
}

func TestReports(t *testing.T) {
	ts := newServer(t, &fakeLeads{ReportDaysFn: func(context.Context, string, string, string) (dialer.Report, error) {
		return sampleReport(), nil
	}})
	auth := []string{"X-API-Key", keyJansen}
	rec := ts.do(t, "GET", "/v1/reports/people?from=2026-11-30&to=2026-12-06", "", auth...)
	const people = `{"dealer":"jansen","from":"2026-11-29T23:00:00.000Z","to":"2026-12-06T23:00:00.000Z","leads":3,"people":[` +
		`{"person":"piet","offered":3,"answered":2,"accepted":1,"declined":0,"missed":1,"busy":1,"failed":0,"canceled":0,"median_answer_seconds":4,"to_owner":2},` +
		`{"person":"owner","offered":2,"answered":1,"accepted":1,"declined":0,"missed":1,"busy":0,"failed":0,"canceled":0,"median_answer_seconds":6.5,"to_owner":0}]}` + "\n"
	if rec.Code != http.StatusOK || rec.Body.String() != people {
		t.Errorf("people: %d\n got %s\nwant %s", rec.Code, rec.Body, people)
	}
	rec = ts.do(t, "GET", "/v1/reports/sources", "", auth...)
	const sources = `{"dealer":"jansen","from":"2026-11-29T23:00:00.000Z","to":"2026-12-06T23:00:00.000Z","leads":3,"sources":[` +
		`{"source":"website","leads":2,"connected":1,"connected_share":0.5,"median_speed_to_lead_seconds":11},` +
		`{"source":"","leads":1,"connected":0,"connected_share":0,"median_speed_to_lead_seconds":0}]}` + "\n"
	if rec.Code != http.StatusOK || rec.Body.String() != sources {
		t.Errorf("sources: %d\n got %s\nwant %s", rec.Code, rec.Body, sources)
	}
	want := []call{
		{Method: "ReportDays", Dealer: "jansen", From: "2026-11-30", To: "2026-12-06"},
		{Method: "ReportDays", Dealer: "jansen"},
	}
	if got := ts.leads.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %+v\nwant %+v", got, want)
	}
}

// TestReportsRefused: unknown or repeated parameters and bad dates are 422 naming the
// parameter; a form key may not read reports.
func TestReportsRefused(t *testing.T) {
	ts := newServer(t, &fakeLeads{ReportDaysFn: func(_ context.Context, _, from, _ string) (dialer.Report, error) {
		return dialer.Report{}, &dialer.ValidationError{Fields: []dialer.FieldError{{Field: "from", Detail: `"` + from + `" is not a date`}}}
	}})
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"?week=48", http.StatusUnprocessableEntity},
		{"?from=a&from=b", http.StatusUnprocessableEntity},
		{"?from=yesterday", http.StatusUnprocessableEntity},
	} {
		if rec := ts.do(t, "GET", "/v1/reports/people"+tc.query, "", "X-API-Key", keyJansen); rec.Code != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.query, rec.Code, tc.status, rec.Body)
		}
	}
	if n := len(ts.leads.Calls()); n != 1 {
		t.Errorf("%d reports made; want only the one with a date for the dialer to judge", n)
	}
	if rec := ts.do(t, "GET", "/v1/reports/people", "", "X-API-Key", formJansen); rec.Code != http.StatusForbidden {
		t.Errorf("a form key reading reports: %d", rec.Code)
	}
}
