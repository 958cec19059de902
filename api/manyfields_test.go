package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestManyBadFieldsSmallAnswer: a request with 5,000 unknown fields, in a JSON body, a
// form body or the query, is answered with a 422 of a few KB that names the first
// fields and says how many more there were.
func TestManyBadFieldsSmallAnswer(t *testing.T) {
	const n = 5000
	var js, form, query strings.Builder
	js.WriteString(`{"phone":"0612345678"`)
	form.WriteString("phone=0612345678")
	for i := range n {
		fmt.Fprintf(&js, `,"x%04d":1`, i)
		fmt.Fprintf(&form, "&x%04d=1", i)
		if i > 0 {
			query.WriteByte('&')
		}
		fmt.Fprintf(&query, "x%04d=1", i)
	}
	js.WriteString("}")
	key := []string{"X-API-Key", keyJansen}
	for _, tt := range []struct {
		name string
		q    req
	}{
		{"json body", req{body: js.String(), headers: append([]string{"Content-Type", jsonCT}, key...)}},
		{"form body", req{body: form.String(), headers: append([]string{"Content-Type", formCT}, key...)}},
		{"form body with a form key", req{body: form.String() + "&form_key=" + formJansen, headers: []string{"Content-Type", formCT, "Origin", originJansen}}},
		{"query of a post", req{path: "/v1/leads?" + query.String(), body: "phone=0612345678", headers: append([]string{"Content-Type", formCT}, key...)}},
		{"query of a list", req{method: "GET", path: "/v1/leads?" + query.String(), headers: key}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := newServer(t, &fakeLeads{})
			rec := ts.send(t, tt.q)
			if rec.Code != 422 || rec.Body.Len() >= 4096 {
				t.Fatalf("status %d, %d bytes; want 422 under 4 KB: %.300s", rec.Code, rec.Body.Len(), rec.Body)
			}
			var p problemBody
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Errors) != 21 || p.Errors[0].Field != "x0000" || p.Errors[19].Field != "x0019" {
				t.Fatalf("errors %+v; want x0000…x0019 and one entry for the rest", p.Errors)
			}
			if last := p.Errors[20]; last.Field != "…" || !strings.Contains(last.Detail, "4980 more fields") {
				t.Errorf("last entry %+v; want it to say 4980 more fields", last)
			}
			if !strings.HasPrefix(p.Detail, "Fix 5000 fields") || !strings.Contains(p.Detail, "x0004") ||
				strings.Contains(p.Detail, "x0005") || !strings.Contains(p.Detail, "x0000, x0001, x0002, x0003, x0004 and 4995 more") {
				t.Errorf("detail %q", p.Detail)
			}
			if len(ts.leads.Calls()) != 0 {
				t.Error("the request reached Leads")
			}
		})
	}
}
