package api_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// validatingLeads is an api.Leads that validates as the dialer does (dialer.Dealer's
// Validate, which Submit and Check use) and stores the valid leads it is given.
func validatingLeads() *fakeLeads {
	d := &dialer.Dealer{ID: "jansen", Country: "NL", People: map[string]dialer.Person{"piet": {ID: "piet"}}}
	return &fakeLeads{
		SubmitFn: func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
			l, err := d.Validate(in)
			if err != nil {
				return dialer.Lead{}, 0, err
			}
			l.ID, l.Status, l.CreatedAt = "ld_new", dialer.StatusDialing, ms("2026-11-27T10:00:00Z")
			return l, dialer.OutcomeCreated, nil
		},
		CheckFn: func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, error) { return d.Validate(in) },
	}
}

// TestLeadTextRefused: control characters (which espeak-ng reads as commands) and text
// that is not UTF-8 are refused in every field, from JSON and forms, with an API key or
// a form key; a message may hold line breaks and tabs.
func TestLeadTextRefused(t *testing.T) {
	tests := []struct {
		name, json, form string // a JSON body, or else a form body
		field            string // the field refused; "" when the lead is taken
	}{
		{name: "json SOH in name", json: `{"phone":"0612345678","name":"Eva\u000150A"}`, field: "name"},
		{name: "json SOH command after a name", json: `{"phone":"0612345678","name":"Eva Jansen\u0001100S"}`, field: "name"},
		{name: "json DEL in interest", json: `{"phone":"0612345678","interest":"Volvo\u007f"}`, field: "interest"},
		{name: "json C1 in source", json: `{"phone":"0612345678","source":"web\u0085site"}`, field: "source"},
		{name: "json escape sequence in email", json: `{"phone":"0612345678","email":"a\u001b[2J@b.nl"}`, field: "email"},
		{name: "json NUL in external_id", json: `{"phone":"0612345678","external_id":"crm-1\u0000"}`, field: "external_id"},
		{name: "json tab in assigned_to", json: `{"phone":"0612345678","assigned_to":"pi\tet"}`, field: "assigned_to"},
		{name: "json SOH in message", json: `{"phone":"0612345678","message":"bel me\u00012P"}`, field: "message"},
		{name: "json control in phone", json: `{"phone":"06123\u000145678"}`, field: "phone"},
		{name: "json bad UTF-8 in name", json: "{\"phone\":\"0612345678\",\"name\":\"Eva \xff\xfe\"}", field: "name"},
		{name: "json bad UTF-8 in phone", json: "{\"phone\":\"061234\xff5678\"}", field: "phone"},
		{name: "json lone surrogate", json: `{"phone":"0612345678","interest":"Volvo \ud800"}`, field: "interest"},
		{name: "json lone low surrogate", json: `{"phone":"0612345678","name":"\udc00Eva"}`, field: "name"},
		{name: "form SOH in name", form: "phone=0612345678&name=Eva%0150A", field: "name"},
		{name: "form C1 in interest", form: "phone=0612345678&interest=Volvo%C2%85XC60", field: "interest"},
		{name: "form bad UTF-8 in name", form: "phone=0612345678&name=Eva%FF", field: "name"},
		{name: "form bad UTF-8 in phone", form: "phone=061234%FF5678", field: "phone"},
		{name: "form NUL in phone", form: "phone=0612345678%00", field: "phone"},
		{name: "form CR in source", form: "phone=0612345678&source=web%0D%0AX-Evil:+1", field: "source"},

		{name: "json message with line breaks and tabs", json: `{"phone":"0612345678","message":"Beste,\r\n\tbel me na vijven.\nEva"}`},
		{name: "json surrogate pair", json: `{"phone":"0612345678","name":"Eva \ud83d\ude97","interest":"\u00e9\u20ac"}`},
		{name: "json U+FFFD sent as such", json: `{"phone":"0612345678","name":"Eva \ufffd �"}`},
		{name: "form textarea message", form: "phone=0612345678&message=" + url.QueryEscape("Beste,\r\nbel me.\r\n\tEva")},
		{name: "form accents", form: "phone=0612345678&name=" + url.QueryEscape("Zoë Ümit – Škoda")},
	}
	for _, tt := range tests {
		for _, scope := range []string{"api key", "form key"} {
			t.Run(tt.name+"/"+scope, func(t *testing.T) {
				ts := newServer(t, validatingLeads())
				ct, body := jsonCT, tt.json
				if body == "" {
					ct, body = formCT, tt.form
				}
				headers := []string{"Content-Type", ct, "X-API-Key", keyJansen}
				if scope == "form key" {
					headers = []string{"Content-Type", ct, "Origin", originJansen}
					if ct == jsonCT {
						body = strings.Replace(body, "{", `{"form_key":"`+formJansen+`",`, 1)
					} else {
						body += "&form_key=" + formJansen
					}
				}
				rec := ts.send(t, req{body: body, headers: headers})
				if tt.field == "" {
					if rec.Code != 202 {
						t.Errorf("status %d, want 202: %s", rec.Code, rec.Body)
					}
					return
				}
				p := wantProblem(t, rec, 422, "/v1/leads", tt.field)
				if len(p.Errors) == 1 && !strings.Contains(p.Errors[0].Detail, "control character") && !strings.Contains(p.Errors[0].Detail, "UTF-8") {
					t.Errorf("detail %q does not say what is wrong", p.Errors[0].Detail)
				}
			})
		}
	}
}
