package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/dialer"
)

const mpPath = "/v1/hooks/marktplaats/jansen"

// ecgSign is X-Ecg-Signature for body: lowercase hex HMAC-SHA256 with secret, written
// here from the portal's documentation rather than taken from the server's code.
func ecgSign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

// mpPost delivers body to path signed with jansen's secret as JSON; headers replace
// the defaults when given (pairs; a value "" drops the header).
func (ts *testServer) mpPost(t *testing.T, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	h := map[string]string{
		"Content-Type":     "application/json",
		"X-Ecg-Signature":  ecgSign(secretMarktplaats, body),
		"X-Unrelated-Test": "x",
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	var flat []string
	for k, v := range h {
		if v != "" {
			flat = append(flat, k, v)
		}
	}
	return ts.do(t, "POST", path, body, flat...)
}

// mpLeadEvent is a lead event as the portal plausibly sends it.
const mpLeadEvent = `{"id":"5f2c1a7e-9d3b-4e8a-b1c6-2d7f0e9a8b3c","eventType":"LEAD_CREATED","created":"2026-11-27T10:00:00Z",
 "eventData":{"adId":"m2145567890","adTitle":"Volvo XC60 T6 Recharge","adUrl":"https://www.marktplaats.nl/v/auto-s/volvo/m2145567890",
  "buyerName":"Eva Jansen","buyerPhone":"06-12345678","buyerEmail":"eva@example.nl",
  "message":"Is de auto nog beschikbaar?\nIk kan zaterdag langskomen."}}`

// TestMarktplaatsLead: a signed lead event is a lead on channel webhook from sender
// marktplaats, its event id the Message-ID and (prefixed) the idempotency key, its raw
// body the original; answered 202, and 200 for a repeat of the event.
func TestMarktplaatsLead(t *testing.T) {
	var out dialer.Outcome = dialer.OutcomeCreated
	ts := newServer(t, &fakeLeads{SubmitFn: func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		return queuedLead(in), out, nil
	}})
	rec := ts.mpPost(t, mpPath, mpLeadEvent)
	if rec.Code != http.StatusAccepted || rec.Body.String() != `{"result":"created","lead":"ld_new"}`+"\n" {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := dialer.LeadInput{
		Phone: "06-12345678", Name: "Eva Jansen", Email: "eva@example.nl", Source: "Marktplaats",
		Interest: "Volvo XC60 T6 Recharge",
		Message: "Is de auto nog beschikbaar?\nIk kan zaterdag langskomen.\n\n" +
			"Marktplaats ad m2145567890: https://www.marktplaats.nl/v/auto-s/volvo/m2145567890",
		IdempotencyKey: "marktplaats:5f2c1a7e-9d3b-4e8a-b1c6-2d7f0e9a8b3c",
		Channel:        dialer.ChannelWebhook, Sender: "marktplaats", MessageID: "5f2c1a7e-9d3b-4e8a-b1c6-2d7f0e9a8b3c",
	}
	calls := ts.leads.Calls()
	if len(calls) != 1 || calls[0].Method != "Submit" || calls[0].Dealer != "jansen" {
		t.Fatalf("calls %+v", calls)
	}
	got := calls[0].Input
	if o := got.Original; o == nil || o.ContentType != "application/json" || string(o.Body) != mpLeadEvent || o.Size != int64(len(mpLeadEvent)) {
		t.Errorf("original %+v, want the body as application/json", o)
	}
	got.Original = nil
	if got != want {
		t.Errorf("lead\n got %+v\nwant %+v", got, want)
	}

	// At least once: the same event again is answered 2xx and is the same lead.
	out = dialer.OutcomeRepeat
	rec = ts.mpPost(t, mpPath, mpLeadEvent)
	if rec.Code != http.StatusOK || rec.Body.String() != `{"result":"repeat","lead":"ld_new"}`+"\n" {
		t.Errorf("repeat: status %d: %s", rec.Code, rec.Body)
	}
	if calls := ts.leads.Calls(); len(calls) != 2 || calls[1].Input.IdempotencyKey != want.IdempotencyKey {
		t.Errorf("repeat submitted %+v", calls)
	}
	if !strings.Contains(ts.logs.String(), `"credential":"portal_signature"`) || !strings.Contains(ts.logs.String(), `"dealer":"jansen"`) {
		t.Errorf("request log lacks the dealer and credential: %s", ts.logs)
	}

	// The signature in other notations the portal might use.
	for _, sig := range []string{strings.ToUpper(ecgSign(secretMarktplaats, mpLeadEvent)), "sha256=" + ecgSign(secretMarktplaats, mpLeadEvent)} {
		if rec := ts.mpPost(t, mpPath, mpLeadEvent, "X-Ecg-Signature", sig); rec.Code != http.StatusOK {
			t.Errorf("signature %q: %d %s", sig, rec.Code, rec.Body)
		}
	}
	out = dialer.OutcomeJoined
	if rec := ts.mpPost(t, mpPath, mpLeadEvent, "Content-Type", ""); rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"joined"`) {
		t.Errorf("joined, without Content-Type: %d %s", rec.Code, rec.Body)
	}
}

// TestMarktplaatsFields: eventData's fields are not published, so each is read from a
// few plausible spellings, nested or not, in any case; what cannot be a lead field (a
// bad e-mail address, control characters) is left out; the source follows the site.
func TestMarktplaatsFields(t *testing.T) {
	tests := []struct {
		name, data string
		want       dialer.LeadInput // Phone, Name, Email, Source, Interest, Message
	}{
		{"nested buyer", `{"buyer":{"name":"Piet Bakker","phone":"+31 6 1234 5678","email":"piet@example.nl"},"item":{"title":"Kia Niro"},"text":"Bel me"}`,
			dialer.LeadInput{Phone: "+31 6 1234 5678", Name: "Piet Bakker", Email: "piet@example.nl", Source: "Marktplaats", Interest: "Kia Niro", Message: "Bel me"}},
		{"snake case, number as a number", `{"buyer_name":"Anna","phone_number":31612345678,"item_title":"Fiets"}`,
			dialer.LeadInput{Phone: "31612345678", Name: "Anna", Source: "Marktplaats", Interest: "Fiets"}},
		{"first and last name, make and model", `{"buyer":{"firstName":"Kees","lastName":"de Boer","phoneNumber":"0612345678"},"make":"Volvo","model":"V60"}`,
			dialer.LeadInput{Phone: "0612345678", Name: "Kees de Boer", Source: "Marktplaats", Interest: "Volvo V60"}},
		{"message object", `{"phoneNumber":"0612345678","message":{"text":"Nog te koop?"}}`,
			dialer.LeadInput{Phone: "0612345678", Source: "Marktplaats", Message: "Nog te koop?"}},
		{"2dehands by site", `{"site":"2DEHANDS_BE","buyerPhone":"0470123456","itemId":42}`,
			dialer.LeadInput{Phone: "0470123456", Source: "2dehands", Message: "2dehands ad 42"}},
		{"2ememain by the ad's URL", `{"buyerPhone":"0470123456","adUrl":"https://www.2ememain.be/a/123"}`,
			dialer.LeadInput{Phone: "0470123456", Source: "2ememain", Message: "2ememain https://www.2ememain.be/a/123"}},
		{"bad e-mail and control characters", "{\"buyerPhone\":\"0612345678\",\"buyerName\":\"Eva\\u0001 \\u202eJansen\",\"buyerEmail\":\"not an address\"}",
			dialer.LeadInput{Phone: "0612345678", Name: "Eva Jansen", Source: "Marktplaats"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
			body := `{"id":"evt-1","eventType":"LEAD","eventData":` + tt.data + `}`
			if rec := ts.mpPost(t, mpPath, body); rec.Code != http.StatusAccepted {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := ts.leads.Calls()[0].Input
			got.Original, got.Channel, got.Sender, got.MessageID, got.IdempotencyKey = nil, "", "", "", ""
			if got != tt.want {
				t.Errorf("lead\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestMarktplaatsEventID: an event without a usable id is known by its body's hash,
// so that its redelivery is still one lead.
func TestMarktplaatsEventID(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
	for _, body := range []string{
		`{"eventType":"LEAD","eventData":{"buyerPhone":"0612345678"}}`,
		`{"eventType":"LEAD","eventData":{"buyerPhone":"0612345678"}}`,
		`{"id":"` + strings.Repeat("x", 300) + `","eventData":{"buyerPhone":"0612345678"}}`,
		`{"id":"a\nb","eventData":{"buyerPhone":"0612345678"}}`,
		`{"id":12345,"eventData":{"buyerPhone":"0612345678"}}`,
	} {
		if rec := ts.mpPost(t, mpPath, body); rec.Code != http.StatusAccepted {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	var keys []string
	for _, c := range ts.leads.Calls() {
		keys = append(keys, c.Input.IdempotencyKey)
		if "marktplaats:"+c.Input.MessageID != c.Input.IdempotencyKey || len(c.Input.IdempotencyKey) > 255 {
			t.Errorf("message id %q, key %q", c.Input.MessageID, c.Input.IdempotencyKey)
		}
	}
	if keys[0] != keys[1] || !strings.HasPrefix(keys[0], "marktplaats:sha256:") || keys[2] == keys[0] ||
		!strings.HasPrefix(keys[2], "marktplaats:sha256:") || !strings.HasPrefix(keys[3], "marktplaats:sha256:") || keys[4] != "marktplaats:12345" {
		t.Errorf("keys %q", keys)
	}
}

// TestMarktplaatsRejected: a signed event that holds no lead that can be called (no
// eventData, no phone number, a number the dialer refuses or that had its day's leads)
// is kept as a rejection with its reason and body, and answered 200, never 4xx: the
// portal would not send it again.
func TestMarktplaatsRejected(t *testing.T) {
	validating := validatingLeads()
	limited := func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		return dialer.Lead{}, 0, &dialer.NumberLimitError{Max: 3, RetryAfter: time.Hour}
	}
	tests := []struct {
		name, body string
		submit     func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error)
		reason     string
		subject    string
	}{
		{"no phone", `{"id":"evt-2","eventType":"LEAD_CREATED","eventData":{"buyerName":"Eva","adTitle":"Volvo XC60","message":"Bel niet, mail me"}}`,
			nil, "holds no phone number of the buyer", "LEAD_CREATED: Volvo XC60"},
		{"no eventData", `{"id":"evt-3","eventType":"AD_EXPIRED"}`, nil, "has no eventData object", "AD_EXPIRED"},
		{"premium number", `{"id":"evt-4","eventType":"LEAD","eventData":{"buyerPhone":"0900-1234567","adTitle":"Fiets"}}`,
			validating.SubmitFn, "premium-rate numbers are not called", "LEAD: Fiets"},
		{"number at its cap", `{"id":"evt-5","eventData":{"buyerPhone":"0612345678"}}`, limited, "already had 3 leads", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: tt.submit, RejectFn: func(_ context.Context, r dialer.Rejection) (dialer.Rejection, error) {
				r.ID = "rj_1"
				return r, nil
			}})
			rec := ts.mpPost(t, mpPath, tt.body)
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), `{"result":"rejected","reason":"`) {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			calls := ts.leads.Calls()
			last := calls[len(calls)-1]
			if last.Method != "Reject" || (tt.submit == nil) != (len(calls) == 1) {
				t.Fatalf("calls %+v", calls)
			}
			r := last.Rejection
			id := strings.SplitN(strings.SplitN(tt.body, `"id":"`, 2)[1], `"`, 2)[0]
			if r.Dealer != "jansen" || r.Channel != dialer.ChannelWebhook || r.Sender != "marktplaats" || r.MessageID != id ||
				r.Subject != tt.subject || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("rejection %+v; want message id %s, subject %q, reason with %q", r, id, tt.subject, tt.reason)
			}
			if r.Original == nil || string(r.Original.Body) != tt.body || r.Original.ContentType != "application/json" {
				t.Errorf("the event's body is not kept: %+v", r.Original)
			}
		})
	}
}

// TestMarktplaatsRefused: deliveries Leadline cannot trust or read are refused and
// nothing is kept: a dealer without the webhook (unknown, or without a secret: the
// same answer), no or a bad signature, a body declared as something else, too large,
// or not a JSON object.
func TestMarktplaatsRefused(t *testing.T) {
	event := `{"id":"evt-1","eventData":{"buyerPhone":"0612345678"}}`
	tests := []struct {
		name, path, body string
		headers          []string
		status           int
		kind             string
		maxBody          int64
	}{
		{name: "unknown dealer", path: "/v1/hooks/marktplaats/nobody", status: 404, kind: "hook-not-found"},
		{name: "dealer without a secret", path: "/v1/hooks/marktplaats/other", status: 404, kind: "hook-not-found"},
		{name: "dealer without id", path: "/v1/hooks/marktplaats/", status: 404, kind: "not-found"},
		{name: "no signature", headers: []string{"X-Ecg-Signature", ""}, status: 401, kind: "invalid-signature"},
		{name: "another secret", headers: []string{"X-Ecg-Signature", ecgSign(secretJansen, event)}, status: 401, kind: "invalid-signature"},
		{name: "signature of another body", headers: []string{"X-Ecg-Signature", ecgSign(secretMarktplaats, event+" ")}, status: 401, kind: "invalid-signature"},
		{name: "not hex", headers: []string{"X-Ecg-Signature", "sha256=xyz"}, status: 401, kind: "invalid-signature"},
		{name: "an API key is no signature", headers: []string{"X-Ecg-Signature", "", "Authorization", "Bearer " + keyJansen}, status: 401, kind: "invalid-signature"},
		{name: "form data", headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, kind: "unsupported-media-type"},
		{name: "xml", headers: []string{"Content-Type", "application/xml"}, status: 415, kind: "unsupported-media-type"},
		{name: "too large", maxBody: 20, status: 413, kind: "body-too-large"},
		{name: "not JSON", body: "buyerPhone=0612345678", status: 400, kind: "malformed-request"},
		{name: "an array", body: `[` + event + `]`, status: 400, kind: "malformed-request"},
		{name: "two objects", body: event + event, status: 400, kind: "malformed-request"},
		{name: "empty", body: " ", status: 400, kind: "malformed-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)}, func(o *api.Options) { o.MaxBodyBytes = tt.maxBody })
			path, body := cmpOr(tt.path, mpPath), cmpOr(tt.body, event)
			rec := ts.mpPost(t, path, body, tt.headers...)
			p := wantProblem(t, rec, tt.status, path)
			if !strings.HasSuffix(p.Type, "#"+tt.kind) {
				t.Errorf("type %s, want %s", p.Type, tt.kind)
			}
			if calls := ts.leads.Calls(); len(calls) != 0 {
				t.Errorf("a refused delivery reached Leads: %+v", calls)
			}
			if strings.Contains(ts.logs.String(), secretMarktplaats) || strings.Contains(rec.Body.String(), secretMarktplaats) {
				t.Error("the secret leaked")
			}
		})
	}

	// A dealer that does not exist and one without the webhook are told apart by nothing.
	ts := newServer(t, &fakeLeads{})
	a := ts.mpPost(t, "/v1/hooks/marktplaats/nobody", event)
	b := ts.mpPost(t, "/v1/hooks/marktplaats/other", event)
	if strings.ReplaceAll(a.Body.String(), "nobody", "other") != b.Body.String() || a.Code != b.Code {
		t.Errorf("unknown dealer\n %d %s\ndealer without the webhook\n %d %s", a.Code, a.Body, b.Code, b.Body)
	}
}

// TestMarktplaatsUnavailable: when neither the lead nor its rejection can be stored,
// the portal is told to come back (503), for it retries what is not a 2xx or 4xx.
func TestMarktplaatsUnavailable(t *testing.T) {
	down := fmt.Errorf("create lead: %w", dialer.ErrUnavailable)
	for name, leads := range map[string]*fakeLeads{
		"submit": {SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
			return dialer.Lead{}, 0, down
		}},
		"draining": {SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
			return dialer.Lead{}, 0, dialer.ErrDraining
		}},
		"reject": {RejectFn: func(context.Context, dialer.Rejection) (dialer.Rejection, error) {
			return dialer.Rejection{}, fmt.Errorf("reject: %w", dialer.ErrUnavailable)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			ts := newServer(t, leads)
			body := `{"id":"evt-1","eventData":{"buyerPhone":"0612345678"}}`
			if name == "reject" {
				body = `{"id":"evt-1","eventData":{}}`
			}
			rec := ts.mpPost(t, mpPath, body)
			wantProblem(t, rec, http.StatusServiceUnavailable, mpPath)
			if rec.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			if len(ts.leads.Calls()) != 1 {
				t.Errorf("calls %+v", ts.leads.Calls())
			}
		})
	}
}

// The webhook takes only POST.
func TestMarktplaatsMethods(t *testing.T) {
	ts := newServer(t, &fakeLeads{})
	rec := ts.do(t, "GET", mpPath, "")
	wantProblem(t, rec, http.StatusMethodNotAllowed, mpPath)
	if got := rec.Header().Get("Allow"); !slices.Contains(strings.Split(got, ", "), "POST") {
		t.Errorf("Allow %q", got)
	}
}
