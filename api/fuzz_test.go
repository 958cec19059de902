package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// fuzzCreate posts body as contentType with the given auth headers and fails on
// anything but 202, a 303 to an allowed page, or a 4xx problem; no key or secret may
// come back.
func fuzzCreate(t *testing.T, contentType string, body []byte, headers ...string) {
	ts := newServer(t, &fakeLeads{
		SubmitFn: submitOK(true),
		CheckFn: func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, error) {
			return queuedLead(in), nil
		},
	})
	rec := ts.do(t, "POST", "/v1/leads", string(body), append([]string{"Content-Type", contentType}, headers...)...)
	switch {
	case rec.Code == http.StatusAccepted:
	case rec.Code == http.StatusSeeOther:
		if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, originJansen+"/") && !strings.HasPrefix(loc, "http://localhost:8000/") &&
			loc != originJansen && loc != "http://localhost:8000" {
			t.Errorf("303 to %q", loc)
		}
	case rec.Code >= 400 && rec.Code < 500:
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%d answered as %q", rec.Code, ct)
		}
	default:
		t.Errorf("status %d for body %q: %s", rec.Code, body, rec.Body)
	}
	// A key sent as a credential never comes back and is never logged. (A key the
	// client wrote somewhere else, say as a field name, may be named back to it.)
	elsewhere := strings.NewReplacer("form_key="+formJansen, "", `"form_key":"`+formJansen+`"`, "").Replace(string(body))
	for _, secret := range []string{keyJansen, formJansen} {
		if strings.Contains(ts.logs.String(), secret) {
			t.Errorf("key logged: %s", ts.logs)
		}
		if strings.Contains(rec.Body.String(), secret) && !strings.Contains(elsewhere, secret) {
			t.Errorf("key echoed: %s", rec.Body)
		}
	}
}

var jsonSeeds = []string{
	`{"phone":"+31612345678","name":"Eva"}`,
	`{"phone":null}`, `{"phone":1}`, `{"phone":"1","phone":"2"}`, `{"x":{"y":[1,2]}}`,
	`{}`, `[]`, `""`, `null`, `{"phone":"1"}{}`, `{"phone":"\ud800"}`, `{`, `}`, "\xff",
	"{\"name\":\"\xff\xfe\"}", `{"a":1,"a":2,"b":3}`, "  \n\t ",
	`{"phone":"06-12345678","form_key":"` + formJansen + `"}`,
	`{"phone":"06-12345678","form_key":"` + formJansen + `","website":"x"}`,
	`{"phone":"06-12345678","form_key":"` + formJansen + `","redirect":"https://www.jansen.example/thanks"}`,
	`{"phone":"06-12345678","form_key":"` + formJansen + `","redirect":"//evil.example"}`,
	`{"form_key":1,"website":null,"redirect":[]}`, `{"form_key":"a","form_key":"b"}`,
}

var formSeeds = []string{
	"phone=%2B31612345678&name=Eva+Jansen", "phone=1&phone=2", "submit=Send", "phone=%zz",
	"phone;name", "=", "&&&", "phone=\xff", "a=1&b=2&a=3", "",
	"phone=06-12345678&form_key=" + formJansen,
	"phone=06-12345678&form_key=" + formJansen + "&website=http%3A%2F%2Fspam",
	"phone=06-12345678&form_key=" + formJansen + "&redirect=https%3A%2F%2Fwww.jansen.example%2Fbedankt",
	"phone=06-12345678&form_key=" + formJansen + "&redirect=javascript%3Aalert(1)",
	"form_key=&website=&redirect=", "form_key=a&form_key=b",
}

// FuzzDecodeLeadJSON posts JSON with an API key.
func FuzzDecodeLeadJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCreate(t, "application/json", body, "Authorization", "Bearer "+keyJansen)
	})
}

// FuzzDecodeLeadForm posts a form with an API key.
func FuzzDecodeLeadForm(f *testing.F) {
	for _, s := range formSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCreate(t, "application/x-www-form-urlencoded", body, "Authorization", "Bearer "+keyJansen)
	})
}

// FuzzFormPost posts as a web page would, with a form key in the body, from an allowed
// origin: the form-key path (origin, honeypot, redirect, rate limits).
func FuzzFormPost(f *testing.F) {
	for _, s := range formSeeds {
		f.Add(false, []byte(s))
	}
	for _, s := range jsonSeeds {
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, asJSON bool, body []byte) {
		ct := "application/x-www-form-urlencoded"
		if asJSON {
			ct = "application/json"
		}
		fuzzCreate(t, ct, body, "Origin", originJansen)
	})
}
