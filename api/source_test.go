package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// hostileMail is an e-mailed lead whose HTML part would run script if a browser
// rendered it.
const hostileMail = "From: leads@portal.example\r\nMessage-ID: <a1@portal.example>\r\n" +
	"Content-Type: text/html\r\n\r\n<html><script>fetch('/v1/leads').then(r=>r.text()).then(alert)</script></html>\r\n"

// wantDownload checks that rec is an original message served so that no browser
// renders it: its content type, as an attachment named file, never sniffed, sandboxed,
// with its whole size and whether it was cut short.
func wantDownload(t *testing.T, rec *httptest.ResponseRecorder, contentType, file string, body []byte, size int64, truncated bool) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for h, want := range map[string]string{
		"Content-Type":            contentType,
		"Content-Disposition":     `attachment; filename=` + file,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"Cache-Control":           "no-store",
		"Content-Length":          strconv.Itoa(len(body)),
		"Leadline-Original-Size":  strconv.FormatInt(size, 10),
		"Leadline-Truncated":      strconv.FormatBool(truncated),
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	if !bytes.Equal(rec.Body.Bytes(), body) {
		t.Errorf("body is %d bytes, not the %d kept", rec.Body.Len(), len(body))
	}
}

// TestLeadSource: GET /v1/leads/{id}/source serves the message a lead arrived in, as it
// was kept, as a download that no browser renders, saying when it was cut short.
func TestLeadSource(t *testing.T) {
	big := bytes.Repeat([]byte("X-Filler: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n"), dialer.MaxOriginal/70+10)
	tests := []struct {
		name        string
		orig        *dialer.Original
		contentType string
		file        string
		size        int64
		truncated   bool
	}{
		{"mail", dialer.NewOriginal("message/rfc822", []byte(hostileMail)), "message/rfc822", "lead-ld_1.eml", int64(len(hostileMail)), false},
		{"cut short", dialer.NewOriginal("message/rfc822", big), "message/rfc822", "lead-ld_1.eml", int64(len(big)), true},
		{"webhook", dialer.NewOriginal("application/json", []byte(`{"id":"evt-1"}`)), "application/json", "lead-ld_1.json", 14, false},
		{"html as kept", dialer.NewOriginal("text/html; charset=UTF-8", []byte("<script>alert(1)</script>")), "text/html; charset=UTF-8", "lead-ld_1.txt", 25, false},
		{"unreadable type", dialer.NewOriginal("text/html\r\nX-Evil: 1", []byte("<b>hi</b>")), "application/octet-stream", "lead-ld_1.bin", 9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{OriginalFn: func(context.Context, string, string) (*dialer.Original, error) {
				return tt.orig, nil
			}})
			rec := ts.do(t, "GET", "/v1/leads/ld_1/source", "", "Authorization", "Bearer "+keyJansen)
			if len(tt.orig.Body) > dialer.MaxOriginal {
				t.Fatalf("test original not cut")
			}
			wantDownload(t, rec, tt.contentType, tt.file, tt.orig.Body, tt.size, tt.truncated)
			if want := []call{{Method: "Original", Dealer: "jansen", ID: "ld_1"}}; !slices.Equal(ts.leads.Calls(), want) {
				t.Errorf("calls %+v, want %+v", ts.leads.Calls(), want)
			}
		})
	}
}

// TestLeadSourceNotFound: a lead without an original (posted to the API, or from a web
// form) is a 404 that says why; a lead that is not the dealer's a 404 lead-not-found;
// a form key or no key never reads one.
func TestLeadSourceNotFound(t *testing.T) {
	noOriginal := func(context.Context, string, string) (*dialer.Original, error) {
		return nil, fmt.Errorf("get original: %w", dialer.ErrNotFound)
	}
	for _, tc := range []struct {
		name    string
		lead    dialer.Lead
		getErr  error
		kind    string
		detail  string
		headers []string
		status  int
	}{
		{name: "api lead", lead: dialer.Lead{ID: "ld_1", Channel: dialer.ChannelAPI}, kind: "source-not-found", detail: "channel api", status: 404},
		{name: "form lead", lead: dialer.Lead{ID: "ld_1", Channel: dialer.ChannelForm}, kind: "source-not-found", detail: "channel form", status: 404},
		{name: "mail kept without", lead: dialer.Lead{ID: "ld_1", Channel: dialer.ChannelEmail}, kind: "source-not-found", detail: "no original message was kept", status: 404},
		{name: "no such lead", getErr: dialer.ErrNotFound, kind: "lead-not-found", detail: `no lead "ld_1"`, status: 404},
		{name: "form key", headers: []string{"X-API-Key", formJansen}, kind: "forbidden", status: 403},
		{name: "no key", headers: []string{"X-Other", "x"}, kind: "unauthorized", status: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{OriginalFn: noOriginal, GetFn: func(context.Context, string, string) (dialer.Lead, error) {
				return tc.lead, tc.getErr
			}})
			headers := cmpHeaders(tc.headers, "Authorization", "Bearer "+keyJansen)
			rec := ts.do(t, "GET", "/v1/leads/ld_1/source", "", headers...)
			p := wantProblem(t, rec, tc.status, "/v1/leads/ld_1/source")
			if !strings.HasSuffix(p.Type, "#"+tc.kind) || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %s: %q; want %s saying %q", p.Type, p.Detail, tc.kind, tc.detail)
			}
			if rec.Header().Get("Content-Disposition") != "" {
				t.Error("a problem is served as an attachment")
			}
		})
	}
}

// cmpHeaders is headers, or def when there are none.
func cmpHeaders(headers []string, def ...string) []string {
	if len(headers) > 0 {
		return headers
	}
	return def
}

func rejections() []dialer.Rejection {
	return []dialer.Rejection{
		{ID: "rj_2", Dealer: "jansen", Channel: dialer.ChannelWebhook, ReceivedAt: ms("2026-11-27T10:05:00.25Z"),
			Sender: "marktplaats", MessageID: "evt-9", Subject: "Volvo XC60",
			Reason: "the event holds no phone number of the buyer", Size: 412},
		{ID: "rj_1", Dealer: "jansen", Channel: dialer.ChannelEmail, ReceivedAt: ms("2026-11-27T10:00:00Z"),
			Sender: "noreply@portal.example", MessageID: "<a1@portal.example>", Subject: "Nieuwe lead <3 & meer",
			Reason: "no lead found: no ADF, no portal notification, no rule for this sender", Size: 5321},
		{ID: "rj_0", Channel: "", ReceivedAt: ms("2026-11-27T09:00:00Z"), Reason: "empty message"},
	}
}

const (
	rejection2JSON = `{"id":"rj_2","channel":"webhook","received_at":"2026-11-27T10:05:00.250Z","sender":"marktplaats",` +
		`"message_id":"evt-9","subject":"Volvo XC60","reason":"the event holds no phone number of the buyer","size":412}`
	rejection1JSON = `{"id":"rj_1","channel":"email","received_at":"2026-11-27T10:00:00.000Z","sender":"noreply@portal.example",` +
		`"message_id":"<a1@portal.example>","subject":"Nieuwe lead <3 & meer",` +
		`"reason":"no lead found: no ADF, no portal notification, no rule for this sender","size":5321}`
	rejection0JSON = `{"id":"rj_0","channel":"api","received_at":"2026-11-27T09:00:00.000Z","reason":"empty message","size":0}`
)

// TestListRejections: GET /v1/rejections pages through the dealer's rejections, newest
// first, with their fields; limit and cursor reach the store as given.
func TestListRejections(t *testing.T) {
	ts := newServer(t, &fakeLeads{RejectionsFn: func(_ context.Context, _ string, _ int, cursor string) ([]dialer.Rejection, string, error) {
		if cursor == "" {
			return rejections()[:2], "rj_1", nil
		}
		return rejections()[2:], "", nil
	}})
	auth := []string{"X-API-Key", keyJansen}
	rec := ts.do(t, "GET", "/v1/rejections", "", auth...)
	if want := `{"rejections":[` + rejection2JSON + `,` + rejection1JSON + `],"next_cursor":"rj_1"}` + "\n"; rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("first page: %d\n got %s\nwant %s", rec.Code, rec.Body, want)
	}
	rec = ts.do(t, "GET", "/v1/rejections?limit=2&cursor=rj_1", "", auth...)
	if want := `{"rejections":[` + rejection0JSON + `]}` + "\n"; rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("last page: %d\n got %s\nwant %s", rec.Code, rec.Body, want)
	}
	want := []call{
		{Method: "Rejections", Dealer: "jansen", Limit: 50},
		{Method: "Rejections", Dealer: "jansen", Limit: 2, Cursor: "rj_1"},
	}
	if got := ts.leads.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %+v\nwant %+v", got, want)
	}

	empty := newServer(t, &fakeLeads{RejectionsFn: func(context.Context, string, int, string) ([]dialer.Rejection, string, error) {
		return nil, "", nil
	}})
	if rec := empty.do(t, "GET", "/v1/rejections", "", auth...); rec.Body.String() != `{"rejections":[]}`+"\n" {
		t.Errorf("no rejections: %s", rec.Body)
	}
}

// TestListRejectionsRefused: bad parameters are named (422), a cursor the store did not
// give out is a 400 as for leads, a form key is refused; none of those reads anything
// but the last.
func TestListRejectionsRefused(t *testing.T) {
	badCursor := func(context.Context, string, int, string) ([]dialer.Rejection, string, error) {
		return nil, "", fmt.Errorf("list rejections: %w", dialer.ErrBadCursor)
	}
	for _, tc := range []struct {
		query   string
		headers []string
		status  int
		fields  []string
		reads   bool
	}{
		{query: "limit=0", status: 422, fields: []string{"limit"}},
		{query: "limit=101&status=queued", status: 422, fields: []string{"limit", "status"}},
		{query: "limit=1&limit=2", status: 422, fields: []string{"limit"}},
		{query: "cursor=" + strings.Repeat("c", 1025), status: 400},
		{query: "cursor=%zz", status: 400},
		{query: "cursor=garbage", status: 400, reads: true},
		{query: "", headers: []string{"X-API-Key", formJansen}, status: 403},
	} {
		t.Run(tc.query[:min(len(tc.query), 30)], func(t *testing.T) {
			ts := newServer(t, &fakeLeads{RejectionsFn: badCursor})
			rec := ts.do(t, "GET", "/v1/rejections?"+tc.query, "", cmpHeaders(tc.headers, "X-API-Key", keyJansen)...)
			p := wantProblem(t, rec, tc.status, "/v1/rejections", tc.fields...)
			if tc.status == 400 && !strings.Contains(p.Detail+p.Title, "cursor") && !strings.Contains(p.Detail, "Percent-encode") {
				t.Errorf("detail %q", p.Detail)
			}
			if n := len(ts.leads.Calls()); (n > 0) != tc.reads {
				t.Errorf("%d reads, want reads %v", n, tc.reads)
			}
		})
	}
}

// TestGetRejection: GET /v1/rejections/{id} is one rejection with the fields of the
// list; its source is the message as kept; a missing one, or its missing message, is
// a 404 that says so.
func TestGetRejection(t *testing.T) {
	withMail := rejections()[1]
	withMail.Original = dialer.NewOriginal("message/rfc822", []byte(hostileMail))
	ts := newServer(t, &fakeLeads{RejectionFn: func(_ context.Context, _, id string) (dialer.Rejection, error) {
		switch id {
		case "rj_1":
			return withMail, nil
		case "rj_0":
			return rejections()[2], nil
		}
		return dialer.Rejection{}, fmt.Errorf("get rejection %s: %w", id, dialer.ErrNotFound)
	}})
	auth := []string{"Authorization", "Bearer " + keyJansen}
	if rec := ts.do(t, "GET", "/v1/rejections/rj_1", "", auth...); rec.Code != 200 || rec.Body.String() != rejection1JSON+"\n" {
		t.Errorf("GET: %d\n got %s\nwant %s", rec.Code, rec.Body, rejection1JSON)
	}
	rec := ts.do(t, "GET", "/v1/rejections/rj_1/source", "", auth...)
	wantDownload(t, rec, "message/rfc822", "rejection-rj_1.eml", []byte(hostileMail), int64(len(hostileMail)), false)

	for path, kind := range map[string]string{
		"/v1/rejections/rj_9":        "rejection-not-found",
		"/v1/rejections/rj_9/source": "rejection-not-found",
		"/v1/rejections/rj_0/source": "source-not-found",
	} {
		p := wantProblem(t, ts.do(t, "GET", path, "", auth...), 404, path)
		if !strings.HasSuffix(p.Type, "#"+kind) {
			t.Errorf("%s: type %s, want %s", path, p.Type, kind)
		}
	}
	rec = ts.do(t, "GET", "/v1/rejections/rj_1", "", "X-API-Key", formJansen)
	wantProblem(t, rec, 403, "/v1/rejections/rj_1")
}
