package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// fuzzCreate posts body as contentType and fails on anything but 202 or a 4xx problem.
func fuzzCreate(t *testing.T, contentType string, body []byte) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitOK(true)})
	rec := ts.do(t, "POST", "/v1/leads", string(body),
		"Authorization", "Bearer "+keyJansen, "Content-Type", contentType)
	switch {
	case rec.Code == http.StatusAccepted:
	case rec.Code >= 400 && rec.Code < 500:
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%d answered as %q", rec.Code, ct)
		}
	default:
		t.Errorf("status %d for body %q: %s", rec.Code, body, rec.Body)
	}
	if strings.Contains(rec.Body.String(), keyJansen) {
		t.Error("API key echoed")
	}
}

func FuzzDecodeLeadJSON(f *testing.F) {
	for _, s := range []string{
		`{"phone":"+31612345678","name":"Eva"}`,
		`{"phone":null}`, `{"phone":1}`, `{"phone":"1","phone":"2"}`, `{"x":{"y":[1,2]}}`,
		`{}`, `[]`, `""`, `null`, `{"phone":"1"}{}`, `{"phone":"\ud800"}`, `{`, `}`, "\xff",
		"{\"name\":\"\xff\xfe\"}", `{"a":1,"a":2,"b":3}`, "  \n\t ",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzCreate(t, "application/json", body) })
}

func FuzzDecodeLeadForm(f *testing.F) {
	for _, s := range []string{
		"phone=%2B31612345678&name=Eva+Jansen", "phone=1&phone=2", "submit=Send", "phone=%zz",
		"phone;name", "=", "&&&", "phone=\xff", "a=1&b=2&a=3", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzCreate(t, "application/x-www-form-urlencoded", body) })
}
