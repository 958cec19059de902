package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/dialer"
)

const (
	formJansen    = "f-jansen-public-0001"
	keySigned     = "k-signed-s3cr3t-0003"
	secretJansen  = "whsec-jansen-0123456789abcdef0123456789"
	secretJansen2 = "whsec-jansen-rotated-0123456789abcdef012"
	secretSigned  = "whsec-signed-0123456789abcdef0123456789"
	// secretMarktplaats signs jansen's Marktplaats webhook.
	secretMarktplaats = "mp-jansen-0123456789abcdef0123456789"
	originJansen      = "https://www.jansen.example"
)

func digest(k string) [32]byte { return sha256.Sum256([]byte(k)) }

// testAccess has three dealers: jansen (API key, form key, optional signatures with two
// secrets), other (API key only) and signed (signatures required); and a dealer
// without id, whose key must open nothing.
func testAccess() *api.Access {
	return api.NewAccess([]api.DealerAccess{
		{
			Dealer: "jansen", APIKeys: [][32]byte{digest(keyJansen)}, FormKeys: [][32]byte{digest(formJansen)},
			AllowedOrigins:    []string{originJansen, "http://localhost:8000"},
			WebhookSecrets:    [][]byte{[]byte(secretJansen), []byte(secretJansen2)},
			Country:           "NL",
			MarktplaatsSecret: []byte(secretMarktplaats),
		},
		{Dealer: "other", APIKeys: [][32]byte{digest(keyOther)}, AllowedOrigins: []string{"https://other.example"}, Country: "BE"},
		{Dealer: "signed", APIKeys: [][32]byte{digest(keySigned)}, WebhookSecrets: [][]byte{[]byte(secretSigned)}, RequireSignature: true},
		{Dealer: "", APIKeys: [][32]byte{digest("k-no-dealer-0000000")}},
	})
}

// req is a request to the handler with a client address.
type req struct {
	method, path, body string
	remote             string // RemoteAddr; default 192.0.2.1:1234
	headers            []string
}

func (ts *testServer) send(t *testing.T, q req) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if q.body != "" {
		rd = strings.NewReader(q.body)
	}
	r := httptest.NewRequestWithContext(t.Context(), cmpOr(q.method, "POST"), cmpOr(q.path, "/v1/leads"), rd)
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	for i := 0; i+1 < len(q.headers); i += 2 {
		r.Header.Add(q.headers[i], q.headers[i+1])
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, r)
	checkAnswer(t, r, rec)
	return rec
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

const (
	formCT = "application/x-www-form-urlencoded"
	jsonCT = "application/json"
)

func TestAccessAuthenticate(t *testing.T) {
	a := testAccess()
	tests := []struct {
		key    string
		dealer string
		scope  api.Scope
	}{
		{keyJansen, "jansen", api.ScopeAPI},
		{formJansen, "jansen", api.ScopeForm},
		{keyOther, "other", api.ScopeAPI},
		{keyJansen + "x", "", 0},
		{keyJansen[:len(keyJansen)-1], "", 0},
		{strings.ToUpper(keyJansen), "", 0},
		{"k-no-dealer-0000000", "", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		d, scope, ok := a.Authenticate(tt.key)
		if d != tt.dealer || scope != tt.scope || ok != (tt.dealer != "") {
			t.Errorf("Authenticate(%q) = %q, %v, %v; want %q, %v", tt.key, d, scope, ok, tt.dealer, tt.scope)
		}
	}
	// A key listed for two dealers opens neither.
	dup := api.NewAccess([]api.DealerAccess{
		{Dealer: "a", APIKeys: [][32]byte{digest("shared-key-0000000")}},
		{Dealer: "b", FormKeys: [][32]byte{digest("shared-key-0000000")}},
	})
	if _, _, ok := dup.Authenticate("shared-key-0000000"); ok {
		t.Error("a key of two dealers authenticated")
	}
}

// TestFormKey covers what a public form key may do: create leads, from the dealer's
// allowed origins only.
func TestFormKey(t *testing.T) {
	okLead := "phone=06-12345678&name=Eva+Jansen&form_key=" + formJansen
	tests := []struct {
		name      string
		q         req
		status    int
		problem   string // anchor of the problem type
		fields    []string
		submitted bool
	}{
		{name: "form post from an allowed origin", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", originJansen}},
			status: 202, submitted: true},
		{name: "origin written differently", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", "HTTPS://WWW.Jansen.Example:443"}},
			status: 202, submitted: true},
		{name: "no Origin, Referer of an allowed page", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Referer", originJansen + "/contact?car=xc60"}},
			status: 202, submitted: true},
		{name: "key in the query", q: req{path: "/v1/leads?form_key=" + formJansen, body: "phone=06-12345678",
			headers: []string{"Content-Type", formCT, "Origin", "http://localhost:8000"}}, status: 202, submitted: true},
		{name: "json from fetch", q: req{body: `{"phone":"06-12345678","form_key":"` + formJansen + `"}`,
			headers: []string{"Content-Type", jsonCT, "Origin", originJansen}}, status: 202, submitted: true},
		{name: "no Origin and no Referer", q: req{body: okLead, headers: []string{"Content-Type", formCT}},
			status: 403, problem: "origin-not-allowed"},
		{name: "another site", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", "https://evil.example"}},
			status: 403, problem: "origin-not-allowed"},
		{name: "Origin null", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", "null", "Referer", originJansen + "/"}},
			status: 403, problem: "origin-not-allowed"},
		{name: "Referer of another site", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Referer", "https://evil.example/" + originJansen}},
			status: 403, problem: "origin-not-allowed"},
		{name: "subdomain is another origin", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", "https://evil.www.jansen.example"}},
			status: 403, problem: "origin-not-allowed"},
		{name: "http is another origin", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", "http://www.jansen.example"}},
			status: 403, problem: "origin-not-allowed"},
		{name: "another dealer's origin", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", "https://other.example"}},
			status: 403, problem: "origin-not-allowed"},
		{name: "unknown form key", q: req{body: "phone=06-12345678&form_key=f-nobody-00000000000", headers: []string{"Content-Type", formCT, "Origin", originJansen}},
			status: 401, problem: "unauthorized"},
		{name: "no key at all", q: req{body: "phone=06-12345678", headers: []string{"Content-Type", formCT, "Origin", originJansen}},
			status: 401, problem: "unauthorized"},
		{name: "form key as a bearer token is still a form key", q: req{body: "phone=06-12345678",
			headers: []string{"Content-Type", formCT, "Authorization", "Bearer " + formJansen}}, status: 403, problem: "origin-not-allowed"},
		{name: "form key in a header and the body", q: req{body: okLead, headers: []string{"Content-Type", formCT, "Origin", originJansen, "X-API-Key", formJansen}},
			status: 401, problem: "unauthorized"},
		{name: "form key twice", q: req{path: "/v1/leads?form_key=" + formJansen, body: okLead, headers: []string{"Content-Type", formCT, "Origin", originJansen}},
			status: 422, problem: "invalid-request", fields: []string{"form_key"}},
		{name: "other query parameters", q: req{path: "/v1/leads?phone=1&form_key=" + formJansen, body: "name=Eva", headers: []string{"Content-Type", formCT, "Origin", originJansen}},
			status: 422, problem: "invalid-request", fields: []string{"phone"}},
		{name: "api key with a query", q: req{path: "/v1/leads?source=x", body: "phone=06-12345678", headers: []string{"Content-Type", formCT, "X-API-Key", keyJansen}},
			status: 422, problem: "invalid-request", fields: []string{"source"}},
		{name: "api key with form fields", q: req{path: "/v1/leads?redirect=" + originJansen, body: "phone=06-12345678&website=&form_key=" + formJansen,
			headers: []string{"Content-Type", formCT, "X-API-Key", keyJansen}}, status: 422, problem: "invalid-request", fields: []string{"form_key", "website", "redirect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
			rec := ts.send(t, tt.q)
			if tt.submitted {
				if rec.Code != tt.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
				}
				calls := ts.leads.Calls()
				if len(calls) != 1 || calls[0].Method != "Submit" || calls[0].Dealer != "jansen" || calls[0].Input.Phone != "06-12345678" {
					t.Errorf("calls %+v", calls)
				}
				return
			}
			p := wantProblem(t, rec, tt.status, "/v1/leads", tt.fields...)
			if !strings.HasSuffix(p.Type, "#"+tt.problem) {
				t.Errorf("type %s, want #%s", p.Type, tt.problem)
			}
			if calls := ts.leads.Calls(); len(calls) != 0 {
				t.Errorf("refused request reached Leads: %+v", calls)
			}
			if strings.Contains(rec.Body.String(), formJansen) || strings.Contains(ts.logs.String(), formJansen) {
				t.Errorf("form key echoed: %s %s", rec.Body, ts.logs)
			}
		})
	}
}

// TestFormKeyOnlyCreates: a form key reads, lists and cancels nothing.
func TestFormKeyOnlyCreates(t *testing.T) {
	ts := newServer(t, &fakeLeads{})
	for _, q := range []req{
		{method: "GET", path: "/v1/leads", headers: []string{"X-API-Key", formJansen, "Origin", originJansen}},
		{method: "GET", path: "/v1/leads/ld_1", headers: []string{"Authorization", "Bearer " + formJansen}},
		{method: "POST", path: "/v1/leads/ld_1/cancel", headers: []string{"X-API-Key", formJansen, "Origin", originJansen}},
		{method: "GET", path: "/v1/leads?form_key=" + formJansen, headers: []string{"Origin", originJansen}},
	} {
		rec := ts.send(t, q)
		want := 403
		if strings.Contains(q.path, "form_key") {
			want = 401 // a form key is only read from POST /v1/leads
		}
		wantProblem(t, rec, want, strings.Split(q.path, "?")[0])
		if rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s allows a browser to read it", q.method, q.path)
		}
	}
	if calls := ts.leads.Calls(); len(calls) != 0 {
		t.Errorf("form key reached Leads: %+v", calls)
	}
}

func TestCORS(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
	rec := ts.send(t, req{method: "OPTIONS", headers: []string{"Origin", originJansen,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}})
	if rec.Code != 204 {
		t.Fatalf("preflight status %d: %s", rec.Code, rec.Body)
	}
	for h, want := range map[string]string{
		"Access-Control-Allow-Origin":  originJansen,
		"Access-Control-Allow-Methods": "POST",
		"Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
		"Vary":                         "Origin",
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("preflight %s: %q, want %q", h, got, want)
		}
	}
	if strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Error("preflight lets pages send API keys")
	}
	wantProblem(t, ts.send(t, req{method: "OPTIONS", headers: []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST"}}), 403, "/v1/leads")
	wantProblem(t, ts.send(t, req{method: "OPTIONS", headers: []string{"Origin", originJansen, "Access-Control-Request-Method", "DELETE"}}), 403, "/v1/leads")

	// The answer to the POST, refusals included, is readable by the page.
	rec = ts.send(t, req{body: `{"phone":"06-12345678","form_key":"` + formJansen + `","nope":1}`,
		headers: []string{"Content-Type", jsonCT, "Origin", originJansen}})
	wantProblem(t, rec, 422, "/v1/leads", "nope")
	if rec.Header().Get("Access-Control-Allow-Origin") != originJansen || !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("422 headers %v", rec.Header())
	}
	rec = ts.send(t, req{body: `{"phone":"06-12345678"}`, headers: []string{"Content-Type", jsonCT, "Origin", "https://evil.example", "X-API-Key", keyJansen}})
	if rec.Code != 202 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin: %d, ACAO %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

func TestHoneypot(t *testing.T) {
	checked := func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, error) {
		if in.Phone == "12" {
			return dialer.Lead{}, &dialer.ValidationError{Fields: []dialer.FieldError{{Field: "phone", Detail: "too short"}}}
		}
		return dialer.Lead{Dealer: "jansen", Name: in.Name, Phone: "+31612345678"}, nil
	}
	post := func(t *testing.T, body string) (*testServer, *httptest.ResponseRecorder) {
		ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true), CheckFn: checked})
		return ts, ts.send(t, req{body: body, headers: []string{"Content-Type", formCT, "Origin", originJansen}})
	}
	real, realRec := post(t, "phone=06-12345678&name=Eva&website=&form_key="+formJansen)
	bot, botRec := post(t, "phone=06-12345678&name=Eva&website=http%3A%2F%2Fspam.example&form_key="+formJansen)

	if realRec.Code != 202 || botRec.Code != 202 {
		t.Fatalf("status real %d, bot %d; want 202 for both", realRec.Code, botRec.Code)
	}
	if c := real.leads.Calls(); len(c) != 1 || c[0].Method != "Submit" {
		t.Errorf("real post: calls %+v", c)
	}
	if c := bot.leads.Calls(); len(c) != 1 || c[0].Method != "Check" {
		t.Errorf("bot post: calls %+v, want only Check (nothing stored, nobody called)", c)
	}
	// The bot's answer has the shape of a real one (TestFormAnswerRevealsNothing compares
	// them in full).
	var a, b map[string]any
	if err := errors.Join(json.Unmarshal(realRec.Body.Bytes(), &a), json.Unmarshal(botRec.Body.Bytes(), &b)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))) || b["status"] != "received" || b["id"] == "" {
		t.Errorf("bot answer %s differs in shape from %s", botRec.Body, realRec.Body)
	}
	if got := botRec.Header().Get("Location"); got != "" {
		t.Errorf("bot Location %q; a form post's answer points at no lead", got)
	}
	if !strings.Contains(bot.logs.String(), "honeypot") || strings.Contains(bot.logs.String(), "spam.example") {
		t.Errorf("honeypot log: %s", bot.logs)
	}

	// A bad lead with the honeypot filled in is refused as a person's would be.
	_, rec := post(t, "phone=12&website=x&form_key="+formJansen)
	wantProblem(t, rec, 422, "/v1/leads", "phone")
	// With a redirect the bot is redirected like a person.
	_, rec = post(t, "phone=06-12345678&website=x&redirect="+originJansen+"%2Fthanks&form_key="+formJansen)
	if rec.Code != 303 || rec.Header().Get("Location") != originJansen+"/thanks" {
		t.Errorf("bot with redirect: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestRedirect(t *testing.T) {
	tests := []struct {
		name, redirect string
		status         int
	}{
		{"allowed page", originJansen + "/bedankt?x=1", 303},
		{"other allowed origin", "http://localhost:8000/thanks", 303},
		{"another site", "https://evil.example/phish", 422},
		{"scheme-relative", "//evil.example/", 422},
		{"relative", "/thanks", 422},
		{"javascript", "javascript:alert(1)", 422},
		{"user info", "https://www.jansen.example@evil.example/", 422},
		{"backslash", `https://www.jansen.example\@evil.example/`, 422},
		{"too long", originJansen + "/" + strings.Repeat("a", 2100), 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
			body := "phone=06-12345678&form_key=" + formJansen + "&redirect=" + urlQueryEscape(tt.redirect)
			rec := ts.send(t, req{body: body, headers: []string{"Content-Type", formCT, "Origin", originJansen}})
			if tt.status == 303 {
				if rec.Code != 303 || rec.Header().Get("Location") != tt.redirect || len(ts.leads.Calls()) != 1 {
					t.Errorf("status %d Location %q calls %d", rec.Code, rec.Header().Get("Location"), len(ts.leads.Calls()))
				}
				return
			}
			wantProblem(t, rec, 422, "/v1/leads", "redirect")
			if len(ts.leads.Calls()) != 0 {
				t.Error("refused redirect reached Leads")
			}
		})
	}
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)+0x100, 16)[1:]))
		}
	}
	return b.String()
}

func TestFormRateLimits(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)}, func(o *api.Options) {
		o.FormLimits = api.FormLimits{PerIP: api.Rate{Count: 2, Per: time.Hour}, PerPhone: api.Rate{Count: 3, Per: time.Hour}}
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	post := func(phone, remote string, headers ...string) *httptest.ResponseRecorder {
		return ts.send(t, req{body: "form_key=" + formJansen + "&phone=" + phone, remote: remote,
			headers: append([]string{"Content-Type", formCT, "Origin", originJansen}, headers...)})
	}
	wantStatus := func(rec *httptest.ResponseRecorder, status int, what string) {
		t.Helper()
		if rec.Code != status {
			t.Errorf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
		}
	}
	// Per IP: two posts an hour from one address.
	wantStatus(post("0611111111", "198.51.100.7:1000"), 202, "first from .7")
	wantStatus(post("0622222222", "198.51.100.7:1001"), 202, "second from .7")
	rec := post("0633333333", "198.51.100.7:1002")
	p := wantProblem(t, rec, 429, "/v1/leads")
	if !strings.HasSuffix(p.Type, "#rate-limited") || !strings.Contains(p.Detail, "2 leads per hour from one address") {
		t.Errorf("problem %+v", p)
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	// A spoofed X-Forwarded-For from an untrusted peer changes nothing.
	wantStatus(post("0644444444", "198.51.100.7:1003", "X-Forwarded-For", "203.0.113.99"), 429, "spoofed XFF")
	// Behind a trusted proxy, the forwarded address counts.
	wantStatus(post("0655555555", "10.1.2.3:80", "X-Forwarded-For", "203.0.113.5, 10.9.9.9"), 202, "via proxy")
	wantStatus(post("0666666666", "10.1.2.3:80", "X-Forwarded-For", "203.0.113.5"), 202, "via proxy 2")
	wantStatus(post("0677777777", "10.1.2.4:80", "X-Forwarded-For", "203.0.113.5"), 429, "via proxy 3")
	// An IPv6 client is counted by its /64.
	wantStatus(post("0611111112", "[2001:db8:1:2::1]:1"), 202, "v6 a")
	wantStatus(post("0611111113", "[2001:db8:1:2::ffff]:1"), 202, "v6 b")
	wantStatus(post("0611111114", "[2001:db8:1:2:abcd::1]:1"), 429, "v6 same /64")

	// Per phone: three posts an hour for one number, however it is written, from
	// anywhere.
	for i, ph := range []string{"06-23456789", "%2B31+6+23456789", "0031623456789"} {
		wantStatus(post(ph, "192.0.2."+strconv.Itoa(10+i)+":1"), 202, "phone "+ph)
	}
	rec = post("06+23+45+67+89", "192.0.2.20:1")
	p = wantProblem(t, rec, 429, "/v1/leads")
	if !strings.Contains(p.Detail, "for one phone number") {
		t.Errorf("detail %q", p.Detail)
	}
	// API keys are not rate limited here (the per-number cap applies to every lead).
	for range 5 {
		rec := ts.send(t, req{body: "phone=06-23456789", remote: "198.51.100.7:1", headers: []string{"Content-Type", formCT, "X-API-Key", keyJansen}})
		wantStatus(rec, 202, "api key")
	}
}

func TestNumberLimit(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		return dialer.Lead{}, 0, &dialer.NumberLimitError{Max: 3, RetryAfter: 90*time.Minute + 300*time.Millisecond}
	}})
	rec := ts.do(t, "POST", "/v1/leads", `{"phone":"+31612345678"}`, "X-API-Key", keyJansen, "Content-Type", jsonCT)
	p := wantProblem(t, rec, 429, "/v1/leads")
	if !strings.HasSuffix(p.Type, "#number-limit") || !strings.Contains(p.Detail, "3 leads in the last 24 hours") {
		t.Errorf("problem %+v", p)
	}
	if got := rec.Header().Get("Retry-After"); got != "5401" {
		t.Errorf("Retry-After %q, want 5401", got)
	}
}

// signedPost posts body for key with a signature made at ts with secret ("" for none).
func signedPost(t *testing.T, ts *testServer, key, secret string, at time.Time, body string) *httptest.ResponseRecorder {
	t.Helper()
	h := []string{"Content-Type", jsonCT, "Authorization", "Bearer " + key}
	if secret != "" {
		h = append(h, api.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10),
			api.HeaderSignature, api.Sign([]byte(secret), at, []byte(body)))
	}
	return ts.send(t, req{body: body, headers: h})
}

func TestWebhookSignature(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	const body = `{"phone":"+31612345678","external_id":"crm-1"}`
	newTS := func(t *testing.T, leads *fakeLeads) *testServer {
		return newServer(t, leads, func(o *api.Options) { o.Now = func() time.Time { return now } })
	}
	tests := []struct {
		name    string
		key     string
		secret  string
		at      time.Time
		body    string // signed; sent is body unless tamper
		tamper  string
		headers []string
		status  int
	}{
		{name: "signed", key: keyJansen, secret: secretJansen, at: now, status: 202},
		{name: "second secret (rotation)", key: keyJansen, secret: secretJansen2, at: now.Add(-299 * time.Second), status: 202},
		{name: "unsigned, signature optional", key: keyJansen, status: 202},
		{name: "unsigned, signature required", key: keySigned, status: 401},
		{name: "required and signed", key: keySigned, secret: secretSigned, at: now.Add(299 * time.Second), status: 202},
		{name: "wrong secret", key: keyJansen, secret: secretSigned, at: now, status: 401},
		{name: "body changed", key: keyJansen, secret: secretJansen, at: now, tamper: `{"phone":"+31699999999","external_id":"crm-1"}`, status: 401},
		{name: "stale", key: keyJansen, secret: secretJansen, at: now.Add(-301 * time.Second), status: 401},
		{name: "from the future", key: keyJansen, secret: secretJansen, at: now.Add(301 * time.Second), status: 401},
		{name: "signed for a dealer without secrets", key: keyOther, secret: secretJansen, at: now, status: 401},
		{name: "timestamp only", key: keyJansen, headers: []string{api.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10)}, status: 401},
		{name: "signature only", key: keySigned, headers: []string{api.HeaderSignature, "sha256=" + strings.Repeat("0", 64)}, status: 401},
		{name: "malformed timestamp", key: keySigned, headers: []string{api.HeaderTimestamp, "2026-11-27T10:00:00Z", api.HeaderSignature, "sha256=" + strings.Repeat("0", 64)}, status: 401},
		{name: "malformed signature", key: keySigned, headers: []string{api.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10), api.HeaderSignature, "md5=abc"}, status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTS(t, &fakeLeads{SubmitFn: submitOK(true)})
			sent := body
			h := []string{"Content-Type", jsonCT, "Authorization", "Bearer " + tt.key}
			if tt.secret != "" {
				h = append(h, api.HeaderTimestamp, strconv.FormatInt(tt.at.Unix(), 10),
					api.HeaderSignature, api.Sign([]byte(tt.secret), tt.at, []byte(body)))
			}
			if tt.tamper != "" {
				sent = tt.tamper
			}
			rec := ts.send(t, req{body: sent, headers: append(h, tt.headers...)})
			if tt.status == 202 {
				if rec.Code != 202 || len(ts.leads.Calls()) != 1 {
					t.Errorf("status %d, calls %d: %s", rec.Code, len(ts.leads.Calls()), rec.Body)
				}
				return
			}
			p := wantProblem(t, rec, 401, "/v1/leads")
			if !strings.HasSuffix(p.Type, "#invalid-signature") || rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("problem %+v, WWW-Authenticate %q", p, rec.Header().Get("WWW-Authenticate"))
			}
			if len(ts.leads.Calls()) != 0 {
				t.Error("refused signature reached Leads")
			}
			for _, secret := range []string{secretJansen, secretJansen2, secretSigned, tt.key} {
				if strings.Contains(rec.Body.String(), secret) || strings.Contains(ts.logs.String(), secret) {
					t.Errorf("secret or key echoed: %s / %s", rec.Body, ts.logs)
				}
			}
		})
	}
}

func TestWebhookReplay(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	clock := now
	down := true
	leads := &fakeLeads{SubmitFn: func(ctx context.Context, d string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		if down {
			return dialer.Lead{}, 0, dialer.ErrUnavailable
		}
		return submitOK(true)(ctx, d, in)
	}}
	ts := newServer(t, leads, func(o *api.Options) { o.Now = func() time.Time { return clock } })
	const body = `{"phone":"+31612345678"}`

	// The store is down: nothing was stored, so the very same signed request may come again.
	if rec := signedPost(t, ts, keyJansen, secretJansen, now, body); rec.Code != 503 {
		t.Fatalf("store down: %d", rec.Code)
	}
	down = false
	if rec := signedPost(t, ts, keyJansen, secretJansen, now, body); rec.Code != 202 {
		t.Fatalf("retry after 503: %d %s", rec.Code, rec.Body)
	}
	// Accepted once; the same request again, even a little later, is a replay.
	clock = now.Add(200 * time.Second)
	rec := signedPost(t, ts, keyJansen, secretJansen, now, body)
	p := wantProblem(t, rec, 401, "/v1/leads")
	if !strings.Contains(p.Detail, "used before") {
		t.Errorf("detail %q", p.Detail)
	}
	// Signed afresh it is accepted.
	if rec := signedPost(t, ts, keyJansen, secretJansen, clock, body); rec.Code != 202 {
		t.Errorf("fresh signature: %d %s", rec.Code, rec.Body)
	}
	// Past the window the old one is stale, not a replay: still refused.
	clock = now.Add(301 * time.Second)
	if rec := signedPost(t, ts, keyJansen, secretJansen, now, body); rec.Code != 401 || !strings.Contains(rec.Body.String(), "away from the server's clock") {
		t.Errorf("stale replay: %d %s", rec.Code, rec.Body)
	}
	if n := len(leads.Calls()); n != 3 {
		t.Errorf("%d Submit calls, want 3", n)
	}
}

// TestSecretsNeverLogged posts with every kind of key and secret, valid and not, and
// checks that none reaches the log or an answer.
func TestSecretsNeverLogged(t *testing.T) {
	now := time.Now()
	logs := &syncBuffer{}
	access := testAccess()
	h := api.NewHandler(api.Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Leads: &fakeLeads{
			SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
				return dialer.Lead{}, 0, errors.New("boom")
			},
			GetFn: func(context.Context, string, string) (dialer.Lead, error) { return dialer.Lead{}, dialer.ErrNotFound },
		},
		Access: func() *api.Access { return access },
	})
	body := `{"phone":"+31612345678"}`
	sig := api.Sign([]byte(secretJansen), now, []byte(body))
	secrets := []string{keyJansen, keyOther, formJansen, secretJansen, keySigned, strings.TrimPrefix(sig, "sha256="), "k-wrong-key-000000000"}
	var answers bytes.Buffer
	for _, q := range []req{
		{body: body, headers: []string{"Content-Type", jsonCT, "Authorization", "Bearer " + keyJansen,
			api.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10), api.HeaderSignature, sig}},
		{body: body, headers: []string{"Content-Type", jsonCT, "X-API-Key", "k-wrong-key-000000000"}},
		{body: body, headers: []string{"Content-Type", jsonCT, "X-API-Key", keySigned}},
		{body: body, headers: []string{"Content-Type", jsonCT, "Authorization", "Bearer " + keyOther, "X-API-Key", keyJansen}},
		{path: "/v1/leads?form_key=" + formJansen, body: "phone=1", headers: []string{"Content-Type", formCT, "Origin", "https://evil.example"}},
		{body: "phone=06-12345678&form_key=" + formJansen, headers: []string{"Content-Type", formCT, "Origin", originJansen}},
		{body: "phone=06-12345678&form_key=k-wrong-key-000000000", headers: []string{"Content-Type", formCT, "Origin", originJansen}},
		{method: "GET", path: "/v1/leads/x", headers: []string{"X-API-Key", keyJansen}},
		{method: "GET", path: "/v1/leads?form_key=" + formJansen},
	} {
		r := httptest.NewRequestWithContext(t.Context(), cmpOr(q.method, "POST"), cmpOr(q.path, "/v1/leads"), strings.NewReader(q.body))
		for i := 0; i+1 < len(q.headers); i += 2 {
			r.Header.Add(q.headers[i], q.headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		answers.WriteString(rec.Body.String())
		for k, vs := range rec.Header() {
			answers.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "credential=form_key") {
		t.Fatalf("the log is not what the test expects:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
		if strings.Contains(answers.String(), s) {
			t.Errorf("an answer contains %q:\n%s", s, answers.String())
		}
	}
}

// TestSignMatchesOpenSSL checks the shell recipe in docs/api.md ("Signed webhooks")
// against Sign.
func TestSignMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	body := `{"phone":"+31612345678","name":"Eva Jansen","source":"crm","external_id":"crm-4711"}`
	at := time.Unix(1795773600, 0)
	cmd := exec.Command("sh", "-c", `printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" -r | cut -d' ' -f1`)
	cmd.Env = append(os.Environ(), "ts=1795773600", "body="+body, "WEBHOOK_SECRET="+secretJansen)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := "sha256="+strings.TrimSpace(string(out)), api.Sign([]byte(secretJansen), at, []byte(body)); got != want {
		t.Errorf("openssl %s, Sign %s", got, want)
	}
}
