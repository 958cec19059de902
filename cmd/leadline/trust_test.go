package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/simphone"
)

// Issue 6 end to end: who may post leads and how often, on a whole Leadline with its
// real store.

const (
	rtpTrust      = "23400-23499"
	trustFormKey  = "form-key-jansen-public-01"
	trustSecret   = "whsec-jansen-0123456789abcdef0123456789"
	trustOrigin   = "https://www.autohuis-jansen.example"
	trustRedirect = trustOrigin + "/bedankt"
)

// withTrust adds the dealer's form, origin, webhook and country settings and the
// server's limits to spec. Posts for one number count towards the daily cap here, so
// each must be a lead of its own: joining open leads is off.
func withTrust(spec appSpec) appSpec {
	spec.dealerExtra += `
    duplicate_window: "off"
    form_keys: ["` + trustFormKey + `"]
    allowed_origins: ["` + trustOrigin + `"]
    webhook_secrets: ["` + trustSecret + `"]
    countries: [NL]`
	spec.extra += `
max_leads_per_number_per_day: 2
forms: {rate_limit_per_ip: "100/1h", rate_limit_per_phone: "100/1h"}`
	return spec
}

// noRedirects is a client that shows a 303 instead of following it.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// send posts body to path with headers (name, value pairs) and returns the answer.
func (ta *testApp) send(t *testing.T, path, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ta.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// leadCount is how many leads the dealer has, by the API.
func (ta *testApp) leadCount(t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ta.base+"/v1/leads?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Leads []leadview.Lead `json:"leads"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return len(list.Leads)
}

// problemOf reads a problem+json answer; it fails the test for anything else.
func problemOf(t *testing.T, res *http.Response, body []byte, status int, kind string) string {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if res.StatusCode != status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("status %d %q, want %d problem+json: %s", res.StatusCode, res.Header.Get("Content-Type"), status, body)
		return ""
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != status || !strings.HasSuffix(p.Type, "#"+kind) || p.Detail == "" {
		t.Errorf("problem %s, want status %d type #%s (%v)", body, status, kind, err)
	}
	return p.Detail
}

func TestTrustEndToEnd(t *testing.T) {
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	ta := startTestApp(t, withTrust(appSpec{
		rtp:    rtpTrust,
		trunk:  carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
		ring:   time.Second,
	}))
	form := func(v url.Values) string { return v.Encode() }
	stored := 0

	t.Run("web form with redirect", func(t *testing.T) {
		res, body := ta.send(t, "/v1/leads?form_key="+trustFormKey+"&redirect="+url.QueryEscape(trustRedirect),
			form(url.Values{"name": {"Eva Jansen"}, "phone": {"06-12340001"}, "website": {""}}),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", trustOrigin)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != trustRedirect {
			t.Fatalf("status %d Location %q: %s", res.StatusCode, res.Header.Get("Location"), body)
		}
		stored++
	})
	t.Run("fetch from the page", func(t *testing.T) {
		res, body := ta.send(t, "/v1/leads", `{"form_key":"`+trustFormKey+`","phone":"+31 6 12340002","name":"Noah"}`,
			"Content-Type", "application/json", "Origin", trustOrigin)
		if res.StatusCode != http.StatusAccepted || res.Header.Get("Access-Control-Allow-Origin") != trustOrigin {
			t.Fatalf("status %d ACAO %q: %s", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), body)
		}
		stored++
	})
	t.Run("honeypot", func(t *testing.T) {
		res, body := ta.send(t, "/v1/leads", form(url.Values{"form_key": {trustFormKey}, "phone": {"06-12340003"}, "website": {"https://spam.example"}}),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", trustOrigin)
		var l leadview.Lead
		if err := json.Unmarshal(body, &l); res.StatusCode != http.StatusAccepted || err != nil || l.ID == "" || l.Status != "received" {
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
		req, _ := http.NewRequest(http.MethodGet, ta.base+"/v1/leads/"+l.ID, nil)
		req.Header.Set("X-API-Key", testKey)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNotFound {
			t.Errorf("the honeypot's lead exists: %v %v", res.StatusCode, err)
		} else {
			res.Body.Close()
		}
	})
	t.Run("form repeats show nothing of the first lead", func(t *testing.T) {
		// A CRM's lead, then form posts that repeat it by external_id and by
		// Idempotency-Key: answered as a new form lead is, with none of its data.
		status, _, body := ta.post(t, testKey, "application/json",
			`{"phone":"06-12340006","name":"Geheime Klant","email":"geheim@klant.example","external_id":"crm-4711"}`)
		var theirs leadview.Lead
		if err := json.Unmarshal(body, &theirs); status != http.StatusAccepted || err != nil {
			t.Fatalf("CRM lead: %d %s", status, body)
		}
		stored++
		post := func(v url.Values, headers ...string) (*http.Response, map[string]any, string) {
			t.Helper()
			v.Set("form_key", trustFormKey)
			res, body := ta.send(t, "/v1/leads", form(v), append([]string{"Content-Type", "application/x-www-form-urlencoded", "Origin", trustOrigin}, headers...)...)
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			return res, m, string(body)
		}
		fresh, want, _ := post(url.Values{"phone": {"06-12340007"}, "name": {"Eva"}}, "Idempotency-Key", "idem-form-1")
		stored++
		for name, q := range map[string]struct {
			v       url.Values
			headers []string
		}{
			"external_id":     {url.Values{"phone": {"06-12340008"}, "name": {"Eva"}, "external_id": {"crm-4711"}}, nil},
			"Idempotency-Key": {url.Values{"phone": {"06-12340008"}, "name": {"Eva"}}, []string{"Idempotency-Key", "idem-form-1"}},
		} {
			res, got, raw := post(q.v, q.headers...)
			if res.StatusCode != fresh.StatusCode || res.StatusCode != http.StatusAccepted {
				t.Errorf("%s: status %d, a new lead's %d", name, res.StatusCode, fresh.StatusCode)
			}
			for _, h := range []string{"Location", "Idempotent-Replayed", api.HeaderJoined} {
				if res.Header.Get(h) != "" || fresh.Header.Get(h) != "" {
					t.Errorf("%s: %s %q (new lead's %q)", name, h, res.Header.Get(h), fresh.Header.Get(h))
				}
			}
			if got["id"] == theirs.ID || got["id"] == want["id"] || got["status"] != want["status"] || len(got) != len(want) {
				t.Errorf("%s: answer %s; a new lead's %v", name, raw, want)
			}
			for _, s := range []string{theirs.ID, "Geheime", "geheim@", "12340006", "12340007"} {
				if strings.Contains(raw, s) {
					t.Errorf("%s: the answer shows %q: %s", name, s, raw)
				}
			}
		}
	})
	t.Run("form key from elsewhere", func(t *testing.T) {
		res, body := ta.send(t, "/v1/leads", form(url.Values{"form_key": {trustFormKey}, "phone": {"06-12340004"}}),
			"Content-Type", "application/x-www-form-urlencoded")
		problemOf(t, res, body, http.StatusForbidden, "origin-not-allowed")
		res, body = ta.send(t, "/v1/leads", form(url.Values{"form_key": {trustFormKey}, "phone": {"06-12340004"}}),
			"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example")
		problemOf(t, res, body, http.StatusForbidden, "origin-not-allowed")
	})
	t.Run("numbers", func(t *testing.T) {
		for _, tt := range []struct{ phone, detail string }{
			{"+32 470 12 34 56", "is a number in BE; this dealer only calls numbers in NL"},
			{"0900-1234567", "premium-rate numbers are not called"},
			{"112", "emergency numbers are not called"},
			{"14020", "short numbers"},
			{"06-1234", "not a valid phone number for NL"},
		} {
			status, _, body := ta.post(t, testKey, "application/json", `{"phone":"`+tt.phone+`"}`)
			if status != http.StatusUnprocessableEntity || !strings.Contains(string(body), tt.detail) {
				t.Errorf("%s: %d %s; want 422 saying %q", tt.phone, status, body, tt.detail)
			}
		}
	})
	t.Run("daily cap per number", func(t *testing.T) {
		// 06-12340001 had one lead (the web form); one more is allowed, in any format,
		// then the number is at its cap of 2 for this and every dealer.
		status, _, body := ta.post(t, testKey, "application/json", `{"phone":"+31612340001","external_id":"crm-9"}`)
		if status != http.StatusAccepted {
			t.Fatalf("second lead: %d %s", status, body)
		}
		stored++
		res, body := ta.send(t, "/v1/leads", `{"phone":"0031 6 12340001"}`, "Content-Type", "application/json", "X-API-Key", testKey)
		detail := problemOf(t, res, body, http.StatusTooManyRequests, "number-limit")
		if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 86000 || ra > 86400 {
			t.Errorf("Retry-After %q, want about a day", res.Header.Get("Retry-After"))
		}
		if !strings.Contains(detail, "2 leads in the last 24 hours") {
			t.Errorf("detail %q", detail)
		}
		// A retry of a stored lead is still answered with it.
		status, _, body = ta.post(t, testKey, "application/json", `{"phone":"+31612340001","external_id":"crm-9"}`)
		if status != http.StatusOK {
			t.Errorf("repeat at the cap: %d %s", status, body)
		}
		// A form post is refused at the cap alike whether it repeats a lead (which it may
		// not learn exists) or not, and whether it filled in the honeypot or not.
		for _, v := range []url.Values{
			{"phone": {"06-12340001"}},
			{"phone": {"06-12340001"}, "external_id": {"crm-9"}},
			{"phone": {"06-12340001"}, "external_id": {"crm-9"}, "website": {"x"}},
			{"phone": {"06-12340001"}, "website": {"x"}},
		} {
			v.Set("form_key", trustFormKey)
			res, body := ta.send(t, "/v1/leads", form(v), "Content-Type", "application/x-www-form-urlencoded", "Origin", trustOrigin)
			problemOf(t, res, body, http.StatusTooManyRequests, "number-limit")
		}
	})
	t.Run("signed webhook", func(t *testing.T) {
		body := `{"phone":"06-12340005","source":"crm"}`
		now := time.Now()
		sig := api.Sign([]byte(trustSecret), now, []byte(body))
		headers := []string{"Content-Type", "application/json", "Authorization", "Bearer " + testKey,
			api.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10), api.HeaderSignature, sig}
		if res, b := ta.send(t, "/v1/leads", body, headers...); res.StatusCode != http.StatusAccepted {
			t.Fatalf("signed: %d %s", res.StatusCode, b)
		}
		stored++
		res, b := ta.send(t, "/v1/leads", body, headers...)
		problemOf(t, res, b, http.StatusUnauthorized, "invalid-signature")
		res, b = ta.send(t, "/v1/leads", strings.Replace(body, "crm", "CRM", 1), headers...)
		problemOf(t, res, b, http.StatusUnauthorized, "invalid-signature")
		old := now.Add(-10 * time.Minute)
		res, b = ta.send(t, "/v1/leads", body, "Content-Type", "application/json", "Authorization", "Bearer "+testKey,
			api.HeaderTimestamp, strconv.FormatInt(old.Unix(), 10), api.HeaderSignature, api.Sign([]byte(trustSecret), old, []byte(body)))
		problemOf(t, res, b, http.StatusUnauthorized, "invalid-signature")
	})
	t.Run("request limits", func(t *testing.T) {
		key := []string{"X-API-Key", testKey}
		for _, tt := range []struct {
			name, ct, body string
			status         int
			kind           string
		}{
			{"body too large", "application/json", `{"message":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body-too-large"},
			{"text/plain", "text/plain", "phone=06-12345678", 415, "unsupported-media-type"},
			{"multipart", "multipart/form-data; boundary=x", "--x--", 415, "unsupported-media-type"},
			{"no content type", "", `{"phone":"06-12345678"}`, 415, "unsupported-media-type"},
			{"unknown field", "application/json", `{"phone":"06-12345678","budget":"1"}`, 422, "invalid-request"},
			{"name too long", "application/json", `{"phone":"06-12345678","name":"` + strings.Repeat("n", 201) + `"}`, 422, "invalid-request"},
			{"message too long", "application/x-www-form-urlencoded", "phone=06-12345678&message=" + strings.Repeat("m", 2001), 422, "invalid-request"},
			{"not JSON", "application/json", `{"phone":`, 400, "malformed-request"},
			{"espeak-ng command in a name", "application/json", `{"phone":"06-12345678","name":"Eva\u000150A"}`, 422, "invalid-request"},
			{"not UTF-8", "application/json", "{\"phone\":\"06-1234\xff5678\"}", 422, "invalid-request"},
			{"control character in a form", "application/x-www-form-urlencoded", "phone=06-12345678&interest=Volvo%C2%85XC60", 422, "invalid-request"},
		} {
			h := slices.Concat(key, []string{"Content-Type", tt.ct})
			if tt.ct == "" {
				h = key
			}
			res, b := ta.send(t, "/v1/leads", tt.body, h...)
			if detail := problemOf(t, res, b, tt.status, tt.kind); detail == "" {
				t.Errorf("%s: no detail", tt.name)
			}
		}
	})

	if n := ta.leadCount(t); n != stored {
		t.Errorf("%d leads stored, want %d", n, stored)
	}
	logs := ta.logs.String()
	for _, secret := range []string{testKey, trustFormKey, trustSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	if !strings.Contains(logs, "credential=form_key") {
		t.Errorf("the log does not say which kind of key was used:\n%s", logs)
	}
	if n := len(carrier.Calls()); n != 0 { // nobody pressed 1, so no customer was called
		t.Errorf("customers were called %d times", n)
	}
}

// TestKeyRotation rotates the dealer's API key as docs/security.md says: add the new
// key (here as its hash), reload, then remove the old one and reload; no restart.
func TestKeyRotation(t *testing.T) {
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	spec := appSpec{rtp: rtpTrust, people: []person{{"piet", "Piet de Vries", piet.URI()}}, flow: "[piet]", ring: time.Second}
	ta := startTestApp(t, spec)
	const newKey = "rotated-key-jansen-000000002"
	sum := sha256.Sum256([]byte(newKey))
	reload := func(keys string) {
		t.Helper()
		s := spec
		s.dealerExtra = "    api_keys: " + keys
		cfg, err := config.Parse(s.yaml(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ta.apply(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	post := func(key string) int {
		status, _, _ := ta.post(t, key, "application/json", `{"phone":"06-1234`+strconv.Itoa(5000+rand.IntN(4000))+`"}`)
		return status
	}
	reload(fmt.Sprintf(`[%q, "sha256:%x"]`, testKey, sum))
	if a, b := post(testKey), post(newKey); a != http.StatusAccepted || b != http.StatusAccepted {
		t.Fatalf("both keys configured: old %d, new %d", a, b)
	}
	reload(fmt.Sprintf(`["sha256:%x"]`, sum))
	if a, b := post(testKey), post(newKey); a != http.StatusUnauthorized || b != http.StatusAccepted {
		t.Errorf("old key removed: old %d, new %d", a, b)
	}
}

// TestReloadSaysWhatNeedsRestart: a reload applies the dealers at once and says which
// changed settings (here the SIP and HTTP listeners) wait for a restart.
func TestReloadSaysWhatNeedsRestart(t *testing.T) {
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	spec := appSpec{rtp: rtpTrust, people: []person{{"piet", "Piet de Vries", piet.URI()}}, flow: "[piet]", ring: time.Second,
		db: filepath.Join(t.TempDir(), "leadline.db"), nodeID: "reload"}
	ta := startTestApp(t, spec)
	changed := spec
	changed.extra = "http: {listen: \"127.0.0.1:5999\"}\nsip: {listen: \"127.0.0.1:5999\"}"
	changed.dealerExtra = "    name: Autohuis Jansen BV"
	path := filepath.Join(t.TempDir(), "leadline.yaml")
	if err := os.WriteFile(path, changed.yaml(t), 0o600); err != nil {
		t.Fatal(err)
	}
	ta.reload(ta.cfg, path, func(string) string { return "" })
	if d, _ := ta.svc.Dealer(testDealer); d.Name != "Autohuis Jansen BV" {
		t.Errorf("dealer name %q after reload; want the new one applied", d.Name)
	}
	logs := ta.logs.String()
	if !strings.Contains(logs, "take effect only after a restart") || !strings.Contains(logs, "settings=\"http.listen, sip.listen\"") {
		t.Errorf("the log does not say that http.listen and sip.listen need a restart:\n%s", logs)
	}
}
