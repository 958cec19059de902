package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/dialer"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

const (
	keyJansen = "k-jansen-s3cr3t-0001"
	keyOther  = "k-other-s3cr3t-0002"
	phone     = "+31612345678"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testServer struct {
	h     http.Handler
	leads *fakeLeads
	logs  *syncBuffer
}

// newServer builds the API around leads with two dealers' keys; edit adjusts the options.
func newServer(t *testing.T, leads *fakeLeads, edit ...func(*api.Options)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	access := testAccess()
	opts := api.Options{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Leads:  leads,
		Access: func() *api.Access { return access },
	}
	for _, e := range edit {
		e(&opts)
	}
	return &testServer{h: api.NewHandler(opts), leads: leads, logs: logs}
}

// do sends a request; headers are name, value pairs.
func (ts *testServer) do(t *testing.T, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	checkAnswer(t, req, rec)
	return rec
}

// problemBody is an RFC 9457 answer as a client decodes it.
type problemBody struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Instance string              `json:"instance"`
	Errors   []dialer.FieldError `json:"errors"`
}

// wantProblem checks rec is a problem with status, instance path and, for 422, exactly
// fields (compared on field name; detail must be non-empty).
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, path string, fields ...string) problemBody {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemBody
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem %s: %v", rec.Body, err)
	}
	if p.Status != status {
		t.Errorf("problem status %d, want %d", p.Status, status)
	}
	if !strings.HasPrefix(p.Type, "https://") || p.Title == "" || p.Detail == "" {
		t.Errorf("problem lacks type, title or detail: %+v", p)
	}
	if p.Instance != path {
		t.Errorf("instance %q, want %q", p.Instance, path)
	}
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
		if f.Detail == "" {
			t.Errorf("field %q has no detail", f.Field)
		}
	}
	if !slices.Equal(got, fields) {
		t.Errorf("error fields %q, want %q (%+v)", got, fields, p.Errors)
	}
	return p
}

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// completedLead is SPEC.md's example lead.
func completedLead() dialer.Lead {
	return dialer.Lead{
		ID: "ld_01JDX5", Dealer: "jansen", Status: dialer.StatusCompleted,
		Name: "Eva Jansen", Phone: phone, Source: "website", Interest: "Volvo XC60",
		IdempotencyKey: "idem-must-not-show",
		CreatedAt:      ms("2026-11-27T10:00:00Z"),
		ConnectedAt:    ms("2026-11-27T11:00:07.412345+01:00"),
		EndedAt:        ms("2026-11-27T10:03:12.1Z"),
		Reason:         "owner talked to the customer",
		Attempts: []dialer.Attempt{
			{ID: 1, LeadID: "ld_01JDX5", Step: 1, Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultBusy, SIPCode: 486,
				StartedAt: ms("2026-11-27T10:00:00.020Z"), EndedAt: ms("2026-11-27T10:00:00.950Z")},
			{ID: 2, LeadID: "ld_01JDX5", Step: 2, Leg: dialer.LegAgent, Person: "kees", Result: dialer.ResultNoAccept,
				StartedAt: ms("2026-11-27T10:00:01Z"), AnsweredAt: ms("2026-11-27T10:00:03.5Z"), EndedAt: ms("2026-11-27T10:00:04.2Z")},
			{ID: 3, LeadID: "ld_01JDX5", Step: 3, Leg: dialer.LegAgent, Person: "owner", Result: dialer.ResultAccepted,
				StartedAt: ms("2026-11-27T10:00:04.3Z"), AnsweredAt: ms("2026-11-27T10:00:05.1Z"),
				AcceptedAt: ms("2026-11-27T10:00:06.2Z"), EndedAt: ms("2026-11-27T10:03:12.1Z")},
			{ID: 4, LeadID: "ld_01JDX5", Step: 3, Leg: dialer.LegCustomer, Person: "owner", Result: dialer.ResultAnswered,
				StartedAt: ms("2026-11-27T10:00:06.25Z"), AnsweredAt: ms("2026-11-27T10:00:07.412Z"), EndedAt: ms("2026-11-27T10:03:12.1Z")},
		},
	}
}

func queuedLead(in dialer.LeadInput) dialer.Lead {
	return dialer.Lead{
		ID: "ld_new", Dealer: "jansen", Status: dialer.StatusQueued,
		Name: in.Name, Phone: phone, Email: in.Email, Source: in.Source, Interest: in.Interest,
		Message: in.Message, AssignedTo: in.AssignedTo, ExternalID: in.ExternalID,
		IdempotencyKey: in.IdempotencyKey, Channel: in.Channel, Sender: in.Sender, MessageID: in.MessageID,
		CreatedAt: ms("2026-11-27T10:00:00Z"),
	}
}

// submitOK answers Submit with a queued lead made of the input, created or (created
// false) a repeat.
func submitOK(created bool) func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
	out := dialer.OutcomeRepeat
	if created {
		out = dialer.OutcomeCreated
	}
	return func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		return queuedLead(in), out, nil
	}
}

func TestCreateLeadJSON(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
	rec := ts.do(t, "POST", "/v1/leads",
		`{"phone":"06 12345678","name":"Eva Jansen","source":"website",
		  "interest":"Volvo XC60","message":"Call after 5","assigned_to":"piet","external_id":"crm-1","email":null}`,
		"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json; charset=utf-8",
		"Idempotency-Key", "7f1c0a2e")

	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Location"); got != "/v1/leads/ld_new" {
		t.Errorf("Location %q", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := rec.Header().Get("Idempotent-Replayed"); got != "" {
		t.Errorf("Idempotent-Replayed %q on a new lead", got)
	}
	want := []call{{Method: "Submit", Dealer: "jansen", Input: dialer.LeadInput{
		Phone: "06 12345678", Name: "Eva Jansen", Source: "website", Interest: "Volvo XC60",
		Message: "Call after 5", AssignedTo: "piet", ExternalID: "crm-1", IdempotencyKey: "7f1c0a2e",
		Channel: dialer.ChannelAPI,
	}}}
	if got := ts.leads.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %+v\nwant %+v", got, want)
	}
	const body = `{"id":"ld_new","dealer":"jansen","status":"queued","name":"Eva Jansen","phone":"+31612345678",` +
		`"source":"website","interest":"Volvo XC60","message":"Call after 5","assigned_to":"piet","external_id":"crm-1",` +
		`"channel":"api","created_at":"2026-11-27T10:00:00.000Z"}` + "\n"
	if rec.Body.String() != body {
		t.Errorf("body\n got %s\nwant %s", rec.Body, body)
	}
}

func TestCreateLeadForm(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
	rec := ts.do(t, "POST", "/v1/leads", "phone=%2B31612345678&name=Eva+Jansen&interest=Volvo+XC60&message=",
		"X-API-Key", keyJansen, "Content-Type", "application/x-www-form-urlencoded")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", rec.Code, rec.Body)
	}
	want := []call{{Method: "Submit", Dealer: "jansen", Input: dialer.LeadInput{
		Phone: phone, Name: "Eva Jansen", Interest: "Volvo XC60", Channel: dialer.ChannelAPI,
	}}}
	if got := ts.leads.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %+v\nwant %+v", got, want)
	}
}

func TestCreateLeadIdempotentReplay(t *testing.T) {
	post := func(ts *testServer) *httptest.ResponseRecorder {
		return ts.do(t, "POST", "/v1/leads", `{"phone":"+31612345678","external_id":"crm-1"}`,
			"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json",
			"Idempotency-Key", `"7f1c0a2e"`) // quoted, as the IETF draft writes it
	}
	first := post(newServer(t, &fakeLeads{SubmitFn: submitOK(true)}))
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(false)})
	again := post(ts)

	if again.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", again.Code, again.Body)
	}
	if got := again.Header().Get("Idempotent-Replayed"); got != "true" {
		t.Errorf("Idempotent-Replayed %q, want true", got)
	}
	if got := again.Header().Get("Location"); got != "/v1/leads/ld_new" {
		t.Errorf("Location %q", got)
	}
	if again.Body.String() != first.Body.String() {
		t.Errorf("replayed body differs\n got %s\nwant %s", again.Body, first.Body)
	}
	if got := ts.leads.Calls()[0].Input.IdempotencyKey; got != "7f1c0a2e" {
		t.Errorf("IdempotencyKey %q, want it unquoted", got)
	}
}

// TestCreateLeadRefused covers every refusal api makes itself; none may reach Submit, and
// none may echo the API key.
func TestCreateLeadRefused(t *testing.T) {
	auth := []string{"Authorization", "Bearer " + keyJansen}
	asJSON := append(slices.Clone(auth), "Content-Type", "application/json")
	asForm := append(slices.Clone(auth), "Content-Type", "application/x-www-form-urlencoded")
	tests := []struct {
		name       string
		headers    []string
		body       string
		status     int
		fields     []string
		header     [2]string // a header the answer must carry
		detailHas  string
		maxBodyLen int64
	}{
		{name: "no key", headers: []string{"Content-Type", "application/json"}, body: `{"phone":"1"}`,
			status: 401, header: [2]string{"WWW-Authenticate", `Bearer realm="leadline"`}, detailHas: "X-API-Key"},
		{name: "wrong bearer key", headers: []string{"Authorization", "Bearer nope-" + keyJansen, "Content-Type", "application/json"},
			body: `{}`, status: 401, detailHas: "not valid"},
		{name: "wrong x-api-key", headers: []string{"X-API-Key", keyJansen + "x"}, body: `{}`, status: 401},
		{name: "basic scheme", headers: []string{"Authorization", "Basic " + keyJansen}, body: `{}`, status: 401, detailHas: "Bearer KEY"},
		{name: "bearer without key", headers: []string{"Authorization", "Bearer "}, body: `{}`, status: 401},
		{name: "two different keys", headers: []string{"Authorization", "Bearer " + keyJansen, "X-API-Key", keyOther},
			body: `{}`, status: 401, detailHas: "different keys"},
		{name: "key of a dealer without id", headers: []string{"X-API-Key", "k-no-dealer-0000000"}, body: `{}`, status: 401},
		{name: "two x-api-keys", headers: []string{"X-API-Key", keyJansen, "X-API-Key", keyJansen}, body: `{}`, status: 401},
		{name: "no content type", headers: auth, body: `{"phone":"1"}`, status: 415,
			header: [2]string{"Accept-Post", "application/json, application/x-www-form-urlencoded, application/xml, text/xml, application/x-adf+xml"}},
		{name: "text/plain", headers: append(slices.Clone(auth), "Content-Type", "text/plain"), body: "phone=1", status: 415, detailHas: "text/plain"},
		{name: "multipart", headers: append(slices.Clone(auth), "Content-Type", "multipart/form-data; boundary=x"), body: "--x--", status: 415, detailHas: "enctype"},
		{name: "latin-1", headers: append(slices.Clone(auth), "Content-Type", "application/json; charset=iso-8859-1"), body: `{}`, status: 415},
		{name: "unparsable content type", headers: append(slices.Clone(auth), "Content-Type", "application/json; ;;"), body: `{}`, status: 415},
		{name: "too large", headers: asJSON, body: `{"message":"` + strings.Repeat("x", 200) + `"}`, maxBodyLen: 100, status: 413, detailHas: "100 bytes"},
		{name: "empty body", headers: asJSON, body: "", status: 400, detailHas: "empty"},
		{name: "malformed", headers: asJSON, body: "{\n  \"phone\": \"1\",\n}", status: 400, detailHas: "line 3, column 1"},
		{name: "truncated", headers: asJSON, body: `{"phone": "1"`, status: 400, detailHas: "before the object is complete"},
		{name: "trailing data", headers: asJSON, body: `{"phone":"1"} {"phone":"2"}`, status: 400, detailHas: "more after the JSON object"},
		{name: "trailing garbage", headers: asJSON, body: `{"phone":"1"}x`, status: 400, detailHas: "more after the JSON object"},
		{name: "array", headers: asJSON, body: `[{"phone":"1"}]`, status: 400, detailHas: "an array"},
		{name: "unknown fields", headers: asJSON, body: `{"phone":"1","Name":"x","foo":1,"foo":2}`, status: 422, fields: []string{"Name", "foo"}},
		{name: "repeated field", headers: asJSON, body: `{"phone":"1","phone":"2"}`, status: 422, fields: []string{"phone"}},
		{name: "number phone", headers: asJSON, body: `{"phone":31612345678}`, status: 422, fields: []string{"phone"}, detailHas: "JSON string"},
		{name: "form unknown key", headers: asForm, body: "phone=1&submit=Send", status: 422, fields: []string{"submit"}},
		{name: "form repeated key", headers: asForm, body: "phone=1&phone=2", status: 422, fields: []string{"phone"}, detailHas: "2 times"},
		{name: "form malformed", headers: asForm, body: "phone=%zz", status: 400, detailHas: "Percent-encode"},
		{name: "idempotency key too long", headers: append(slices.Clone(asJSON), "Idempotency-Key", strings.Repeat("k", 256)),
			body: `{"phone":"1"}`, status: 422, fields: []string{"Idempotency-Key"}, detailHas: "at most 255"},
		{name: "idempotency key twice", headers: append(slices.Clone(asJSON), "Idempotency-Key", "a", "Idempotency-Key", "b"),
			body: `{"phone":"1"}`, status: 422, fields: []string{"Idempotency-Key"}},
		{name: "idempotency key empty", headers: append(slices.Clone(asJSON), "Idempotency-Key", `""`),
			body: `{"phone":"1"}`, status: 422, fields: []string{"Idempotency-Key"}},
		{name: "bad body and bad key listed together", headers: append(slices.Clone(asForm), "Idempotency-Key", strings.Repeat("k", 300)),
			body: "phon=1", status: 422, fields: []string{"phon", "Idempotency-Key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)}, func(o *api.Options) { o.MaxBodyBytes = tt.maxBodyLen })
			rec := ts.do(t, "POST", "/v1/leads", tt.body, tt.headers...)
			p := wantProblem(t, rec, tt.status, "/v1/leads", tt.fields...)
			if tt.detailHas != "" && !strings.Contains(p.Detail, tt.detailHas) {
				t.Errorf("detail %q lacks %q", p.Detail, tt.detailHas)
			}
			if tt.header[0] != "" && rec.Header().Get(tt.header[0]) != tt.header[1] {
				t.Errorf("%s: %q, want %q", tt.header[0], rec.Header().Get(tt.header[0]), tt.header[1])
			}
			if calls := ts.leads.Calls(); len(calls) != 0 {
				t.Errorf("refused request reached Leads: %+v", calls)
			}
			for _, secret := range []string{keyJansen, keyOther} {
				if strings.Contains(rec.Body.String(), secret) || strings.Contains(ts.logs.String(), secret) {
					t.Errorf("API key echoed: body %s logs %s", rec.Body, ts.logs)
				}
			}
		})
	}
}

func TestCreateLeadSubmitErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		fields     []string
		retryAfter string
	}{
		{"validation", &dialer.ValidationError{Fields: []dialer.FieldError{
			{Field: "phone", Detail: "is required"}, {Field: "assigned_to", Detail: `is not a person of dealer "jansen"`},
		}}, 422, []string{"phone", "assigned_to"}, ""},
		{"wrapped validation", fmt.Errorf("submit: %w", &dialer.ValidationError{Fields: []dialer.FieldError{{Field: "email", Detail: "is not an address"}}}),
			422, []string{"email"}, ""},
		{"unavailable", fmt.Errorf("create lead: %w", dialer.ErrUnavailable), 503, nil, "5"},
		{"draining", dialer.ErrDraining, 503, nil, "5"},
		{"internal", errors.New("pq: password authentication failed for user leadline on 10.0.0.5"), 500, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
				return dialer.Lead{}, 0, tt.err
			}})
			rec := ts.do(t, "POST", "/v1/leads", `{"phone":"+31612345678"}`,
				"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json")
			p := wantProblem(t, rec, tt.status, "/v1/leads", tt.fields...)
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if rec.Header().Get("Location") != "" {
				t.Error("Location on an error")
			}
			if tt.name == "unavailable" && !strings.Contains(ts.logs.String(), `"level":"ERROR","msg":"lead store unavailable"`) {
				t.Errorf("the cause of the 503 is not logged at error level: %s", ts.logs)
			}
			if tt.status == 500 {
				if strings.Contains(rec.Body.String(), "10.0.0.5") {
					t.Errorf("internal error text sent to the client: %s", rec.Body)
				}
				if !strings.Contains(ts.logs.String(), "10.0.0.5") {
					t.Errorf("internal error text not logged: %s", ts.logs)
				}
				if !strings.Contains(p.Detail, "Idempotency-Key") {
					t.Errorf("500 detail does not say how to retry safely: %q", p.Detail)
				}
			}
		})
	}
}

func TestPanicAnswers500(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		panic("boom in submit")
	}})
	rec := ts.do(t, "POST", "/v1/leads", `{"phone":"+31612345678"}`,
		"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json")
	wantProblem(t, rec, 500, "/v1/leads")
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("panic text sent to the client: %s", rec.Body)
	}
	if !strings.Contains(ts.logs.String(), "boom in submit") {
		t.Errorf("panic not logged: %s", ts.logs)
	}
}

func TestGetLead(t *testing.T) {
	leads := &fakeLeads{GetFn: func(_ context.Context, dealer, id string) (dialer.Lead, error) {
		if dealer != "jansen" || id != "ld_01JDX5" {
			return dialer.Lead{}, fmt.Errorf("get lead %s: %w", id, dialer.ErrNotFound)
		}
		return completedLead(), nil
	}}
	ts := newServer(t, leads)

	rec := ts.do(t, "GET", "/v1/leads/ld_01JDX5", "", "Authorization", "Bearer "+keyJansen)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var l map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || l["id"] != "ld_01JDX5" {
		t.Errorf("body %s (%v)", rec.Body, err)
	}

	rec = ts.do(t, "GET", "/v1/leads/ld_01JDX5", "", "X-API-Key", keyOther)
	p := wantProblem(t, rec, 404, "/v1/leads/ld_01JDX5")
	if !strings.Contains(p.Detail, `"ld_01JDX5"`) {
		t.Errorf("detail %q does not name the id", p.Detail)
	}

	rec = ts.do(t, "GET", "/v1/leads/ld_01JDX5", "")
	wantProblem(t, rec, 401, "/v1/leads/ld_01JDX5")

	want := []call{{Method: "Get", Dealer: "jansen", ID: "ld_01JDX5"}, {Method: "Get", Dealer: "other", ID: "ld_01JDX5"}}
	if got := leads.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %+v, want %+v", got, want)
	}
}

func TestListLeads(t *testing.T) {
	leads := &fakeLeads{ListFn: func(_ context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error) {
		switch q.Cursor {
		case "":
			return []dialer.Lead{queuedLead(dialer.LeadInput{Name: "A"}), queuedLead(dialer.LeadInput{Name: "B"})}, "c2", nil
		case "c2":
			return []dialer.Lead{queuedLead(dialer.LeadInput{Name: "C"})}, "", nil
		}
		return nil, "", nil
	}}
	ts := newServer(t, leads)

	rec := ts.do(t, "GET", "/v1/leads", "", "Authorization", "Bearer "+keyJansen)
	var page struct {
		Leads      []map[string]any `json:"leads"`
		NextCursor *string          `json:"next_cursor"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || rec.Code != 200 {
		t.Fatalf("status %d body %s (%v)", rec.Code, rec.Body, err)
	}
	if len(page.Leads) != 2 || page.NextCursor == nil || *page.NextCursor != "c2" {
		t.Errorf("first page %s", rec.Body)
	}

	rec = ts.do(t, "GET", "/v1/leads?cursor=c2&status=completed&limit=100", "", "Authorization", "Bearer "+keyJansen)
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "next_cursor") {
		t.Errorf("last page: status %d, body %s; want no next_cursor", rec.Code, rec.Body)
	}

	rec = ts.do(t, "GET", "/v1/leads?cursor=past-the-end&status=", "", "Authorization", "Bearer "+keyJansen)
	if rec.Code != 200 || rec.Body.String() != `{"leads":[]}`+"\n" {
		t.Errorf("empty page: status %d, body %s", rec.Code, rec.Body)
	}

	want := []call{
		{Method: "List", Dealer: "jansen", Query: dialer.ListQuery{Dealer: "jansen", Limit: 50}},
		{Method: "List", Dealer: "jansen", Query: dialer.ListQuery{Dealer: "jansen", Status: dialer.StatusCompleted, Limit: 100, Cursor: "c2"}},
		{Method: "List", Dealer: "jansen", Query: dialer.ListQuery{Dealer: "jansen", Limit: 50, Cursor: "past-the-end"}},
	}
	if got := leads.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls\n got %+v\nwant %+v", got, want)
	}
}

func TestListLeadsRefused(t *testing.T) {
	tests := []struct {
		query  string
		status int
		fields []string
	}{
		{"status=done", 422, []string{"status"}},
		{"limit=0", 422, []string{"limit"}},
		{"limit=101", 422, []string{"limit"}},
		{"limit=ten", 422, []string{"limit"}},
		{"limit=1&limit=2", 422, []string{"limit"}},
		{"stauts=queued&limit=-1", 422, []string{"limit", "stauts"}},
		{"cursor=" + strings.Repeat("c", 1025) + "&limit=0", 422, []string{"limit"}},
		{"status=%zz", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 30)], func(t *testing.T) {
			ts := newServer(t, &fakeLeads{})
			rec := ts.do(t, "GET", "/v1/leads?"+tt.query, "", "Authorization", "Bearer "+keyJansen)
			wantProblem(t, rec, tt.status, "/v1/leads", tt.fields...)
			if calls := ts.leads.Calls(); len(calls) != 0 {
				t.Errorf("refused request reached Leads: %+v", calls)
			}
		})
	}
	ts := newServer(t, &fakeLeads{})
	wantProblem(t, ts.do(t, "GET", "/v1/leads", ""), 401, "/v1/leads")
}

// TestListLeadsBadCursor: a cursor the store did not give out is a 400 that names the
// cursor, not an empty page.
func TestListLeadsBadCursor(t *testing.T) {
	leads := &fakeLeads{ListFn: func(_ context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error) {
		return nil, "", fmt.Errorf("list leads: %w", dialer.ErrBadCursor)
	}}
	ts := newServer(t, leads)
	for _, cursor := range []string{"garbage", strings.Repeat("c", 1025)} {
		rec := ts.do(t, "GET", "/v1/leads?status=queued&cursor="+cursor, "", "Authorization", "Bearer "+keyJansen)
		p := wantProblem(t, rec, 400, "/v1/leads")
		if !strings.HasSuffix(p.Type, "#malformed-request") || !strings.Contains(p.Detail, "cursor") || !strings.Contains(p.Detail, "next_cursor") {
			t.Errorf("problem %+v", p)
		}
		if strings.Contains(rec.Body.String(), "ccccc") {
			t.Error("the cursor is echoed")
		}
	}
	if c := leads.Calls(); len(c) != 1 || c[0].Query.Cursor != "garbage" {
		t.Errorf("calls %+v; want one List, the too-long cursor refused before", c)
	}
}

func TestListLeadsError(t *testing.T) {
	ts := newServer(t, &fakeLeads{ListFn: func(context.Context, dialer.ListQuery) ([]dialer.Lead, string, error) {
		return nil, "", dialer.ErrUnavailable
	}})
	rec := ts.do(t, "GET", "/v1/leads", "", "Authorization", "Bearer "+keyJansen)
	wantProblem(t, rec, 503, "/v1/leads")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func TestCancelLead(t *testing.T) {
	leads := &fakeLeads{CancelFn: func(_ context.Context, dealer, id string) (dialer.Lead, error) {
		if id != "ld_new" {
			return dialer.Lead{}, dialer.ErrNotFound
		}
		l := queuedLead(dialer.LeadInput{})
		l.Status, l.EndedAt, l.Reason = dialer.StatusCanceled, ms("2026-11-27T10:00:02Z"), "canceled through the API"
		return l, nil
	}}
	ts := newServer(t, leads)

	rec := ts.do(t, "POST", "/v1/leads/ld_new/cancel", "", "Authorization", "Bearer "+keyJansen)
	const want = `{"id":"ld_new","dealer":"jansen","status":"canceled","phone":"+31612345678","channel":"api",` +
		`"created_at":"2026-11-27T10:00:00.000Z","ended_at":"2026-11-27T10:00:02.000Z","reason":"canceled through the API"}` + "\n"
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("status %d body\n got %s\nwant %s", rec.Code, rec.Body, want)
	}

	wantProblem(t, ts.do(t, "POST", "/v1/leads/nope/cancel", "", "Authorization", "Bearer "+keyJansen), 404, "/v1/leads/nope/cancel")
	wantProblem(t, ts.do(t, "POST", "/v1/leads/ld_new/cancel", ""), 401, "/v1/leads/ld_new/cancel")
	if got := len(leads.Calls()); got != 2 {
		t.Errorf("%d calls, want 2", got)
	}
}

func TestHealthz(t *testing.T) {
	ts := newServer(t, &fakeLeads{}, func(o *api.Options) {
		o.Ready = func(context.Context) error { return errors.New("down") }
	})
	rec := ts.do(t, "GET", "/healthz", "")
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Errorf("status %d body %q", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		ready  func(context.Context) error
		status int
		detail string
	}{
		{"no check", nil, 200, ""},
		{"ready", func(context.Context) error { return nil }, 200, ""},
		{"not ready", func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			return errors.New("store: ping: connection refused")
		}, 503, "store: ping: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{}, func(o *api.Options) { o.Ready = tt.ready })
			rec := ts.do(t, "GET", "/readyz", "")
			if tt.status == 200 {
				if rec.Code != 200 || rec.Body.String() != "ok" {
					t.Errorf("status %d body %q", rec.Code, rec.Body)
				}
				return
			}
			if p := wantProblem(t, rec, tt.status, "/readyz"); p.Detail != tt.detail {
				t.Errorf("detail %q, want %q", p.Detail, tt.detail)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	ts := newServer(t, &fakeLeads{}, func(o *api.Options) {
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "leadline_up 1\n") })
	})
	if rec := ts.do(t, "GET", "/metrics", ""); rec.Code != 200 || rec.Body.String() != "leadline_up 1\n" {
		t.Errorf("status %d body %q", rec.Code, rec.Body)
	}
	wantProblem(t, newServer(t, &fakeLeads{}).do(t, "GET", "/metrics", ""), 404, "/metrics")
}

func TestRoutingErrors(t *testing.T) {
	ts := newServer(t, &fakeLeads{})
	wantProblem(t, ts.do(t, "GET", "/v2/leads", ""), 404, "/v2/leads")

	rec := ts.do(t, "DELETE", "/v1/leads", "")
	wantProblem(t, rec, 405, "/v1/leads")
	if got := rec.Header().Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow %q, want GET, POST", got)
	}
	rec = ts.do(t, "PUT", "/v1/leads/x", "")
	wantProblem(t, rec, 405, "/v1/leads/x")
	if got := rec.Header().Get("Allow"); got != "GET" {
		t.Errorf("Allow %q, want GET", got)
	}
}

// TestLeadJSONGolden fixes the JSON of SPEC.md's completed lead with its attempts.
func TestLeadJSONGolden(t *testing.T) {
	ts := newServer(t, &fakeLeads{GetFn: func(context.Context, string, string) (dialer.Lead, error) {
		return completedLead(), nil
	}})
	rec := ts.do(t, "GET", "/v1/leads/ld_01JDX5", "", "Authorization", "Bearer "+keyJansen)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, rec.Body.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "lead_completed.json")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("lead JSON differs from %s (go test -update to accept)\n got %s\nwant %s", golden, got.Bytes(), want)
	}
	if strings.Contains(rec.Body.String(), "idem-must-not-show") || strings.Contains(rec.Body.String(), "idempotency") {
		t.Error("idempotency key exposed")
	}
}

func TestLeadJSONInProgress(t *testing.T) {
	l := dialer.Lead{
		ID: "ld_2", Dealer: "jansen", Status: dialer.StatusDialing, Phone: phone,
		CreatedAt: time.Date(2026, 11, 27, 11, 0, 0, 999_999_999, time.FixedZone("CET", 3600)),
		Attempts: []dialer.Attempt{{Leg: dialer.LegAgent, Person: "piet",
			StartedAt: time.Date(2026, 11, 27, 10, 0, 1, 5_000_000, time.UTC)}},
	}
	ts := newServer(t, &fakeLeads{GetFn: func(context.Context, string, string) (dialer.Lead, error) { return l, nil }})
	rec := ts.do(t, "GET", "/v1/leads/ld_2", "", "Authorization", "Bearer "+keyJansen)
	const want = `{"id":"ld_2","dealer":"jansen","status":"dialing","phone":"+31612345678","channel":"api",` +
		`"created_at":"2026-11-27T10:00:00.999Z",` +
		`"attempts":[{"round":1,"leg":"agent","person":"piet","started_at":"2026-11-27T10:00:01.005Z"}]}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body\n got %s\nwant %s", rec.Body, want)
	}
}

// A scheduled lead shows its next planned action: a retry through the salesperson who
// accepted, the next round, or the first dial.
func TestLeadJSONNextAction(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 35, 0, 0, time.UTC)
	tried := []dialer.Attempt{
		{Round: 0, Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultAccepted},
		{Round: 0, Leg: dialer.LegCustomer, Person: "piet", Result: dialer.ResultNoAnswer},
	}
	idle := []dialer.Attempt{{Round: 0, Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultNoAccept}}
	for _, tc := range []struct {
		round    int
		attempts []dialer.Attempt
		want     string
	}{
		{0, nil, `"next_action":"dial","next_action_at":"2026-11-27T10:35:00.000Z"`},
		{1, tried, `"next_action":"retry_customer","next_action_at":"2026-11-27T10:35:00.000Z","next_action_person":"piet"`},
		{1, idle, `"next_action":"next_round","next_action_at":"2026-11-27T10:35:00.000Z"`},
		// As a list shows it: no attempts read, so no action for a later round, only its time.
		{1, nil, `"phone":"+31612345678","channel":"api","next_action_at":"2026-11-27T10:35:00.000Z"}`},
	} {
		l := dialer.Lead{ID: "ld_3", Dealer: "jansen", Status: dialer.StatusScheduled, Phone: phone,
			NextAt: at, Round: tc.round, Attempts: tc.attempts}
		ts := newServer(t, &fakeLeads{GetFn: func(context.Context, string, string) (dialer.Lead, error) { return l, nil }})
		rec := ts.do(t, "GET", "/v1/leads/ld_3", "", "Authorization", "Bearer "+keyJansen)
		if !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("round %d: body %s\nwant it to contain %s", tc.round, rec.Body, tc.want)
		}
	}
}

// TestLogging checks the request log: what it has, and that it has no key, no
// Authorization header and no phone number.
func TestLogging(t *testing.T) {
	ts := newServer(t, &fakeLeads{
		SubmitFn: submitOK(true),
		GetFn: func(context.Context, string, string) (dialer.Lead, error) {
			return dialer.Lead{}, dialer.ErrNotFound
		},
	})
	ts.do(t, "POST", "/v1/leads", `{"phone":"+31612345678","name":"Eva"}`,
		"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json")
	ts.do(t, "GET", "/v1/leads/%2B31%206%2012345678", "", "X-API-Key", keyJansen)
	ts.do(t, "GET", "/v1/leads/0612345678", "", "Authorization", "Bearer "+keyOther+"x")

	logs := ts.logs.String()
	var lines []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), logs)
	}
	first := lines[0]
	for _, k := range []string{"method", "path", "route", "status", "duration", "dealer"} {
		if _, ok := first[k]; !ok {
			t.Errorf("log line lacks %q: %v", k, first)
		}
	}
	if first["status"] != float64(202) || first["path"] != "/v1/leads" || first["dealer"] != "jansen" {
		t.Errorf("first line %v", first)
	}
	if lines[1]["path"] != "/v1/leads/REDACTED" {
		t.Errorf("phone in path not redacted: %v", lines[1]["path"])
	}
	for _, bad := range []string{keyJansen, keyOther, "Bearer", "Authorization", "12345678", "Eva"} {
		if strings.Contains(logs, bad) {
			t.Errorf("log contains %q:\n%s", bad, logs)
		}
	}
}

func TestHealthChecksLogQuietly(t *testing.T) {
	ts := newServer(t, &fakeLeads{})
	ts.do(t, "GET", "/healthz", "")
	if logs := ts.logs.String(); !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Errorf("healthz logged above debug: %s", logs)
	}
}

func TestNewHandlerNeedsLeadsAndAccess(t *testing.T) {
	for name, opts := range map[string]api.Options{
		"no leads":  {Access: func() *api.Access { return nil }},
		"no access": {Leads: &fakeLeads{}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			api.NewHandler(opts)
		})
	}
}
