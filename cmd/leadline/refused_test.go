package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/leadline/leadline/simphone"
)

// TestRefusedLeads posts leads the API must refuse: each gets its problem+json answer,
// nothing is stored, no flow starts and no phone rings.
func TestRefusedLeads(t *testing.T) {
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	ta := startTestApp(t, appSpec{
		rtp:    rtpRefused,
		trunk:  carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[assigned, piet]",
	})

	tests := []struct {
		name        string
		key         string
		contentType string
		body        string
		status      int
		problem     string   // anchor of the problem type
		fields      []string // fields listed in errors, in order
	}{
		{"bad phone", testKey, "application/json", `{"name":"Eva","phone":"12"}`,
			http.StatusUnprocessableEntity, "invalid-request", []string{"phone"}},
		{"missing phone", testKey, "application/json", `{"name":"Eva"}`,
			http.StatusUnprocessableEntity, "invalid-request", []string{"phone"}},
		{"unknown assigned_to", testKey, "application/json", `{"name":"Eva","phone":"06-12345678","assigned_to":"nobody"}`,
			http.StatusUnprocessableEntity, "invalid-request", []string{"assigned_to"}},
		{"bad phone in a form", testKey, "application/x-www-form-urlencoded", "name=Eva&phone=12",
			http.StatusUnprocessableEntity, "invalid-request", []string{"phone"}},
		{"malformed JSON", testKey, "application/json", `{"name":"Eva","phone":"06-1234`,
			http.StatusBadRequest, "malformed-request", nil},
		{"wrong API key", "test-key-of-nobody-00000000", "application/json", `{"name":"Eva","phone":"06-12345678"}`,
			http.StatusUnauthorized, "unauthorized", nil},
		{"no API key", "", "application/json", `{"name":"Eva","phone":"06-12345678"}`,
			http.StatusUnauthorized, "unauthorized", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := ta.post(t, tt.key, tt.contentType, tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d: %s", status, tt.status, body)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var p struct {
				Type   string `json:"type"`
				Title  string `json:"title"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Errors []struct {
					Field  string `json:"field"`
					Detail string `json:"detail"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("problem: %v: %s", err, body)
			}
			if p.Status != tt.status || !strings.HasSuffix(p.Type, "#"+tt.problem) || p.Title == "" || p.Detail == "" {
				t.Errorf("problem %+v, want status %d, type …#%s, a title and a detail", p, tt.status, tt.problem)
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
				if e.Detail == "" {
					t.Errorf("field %s has no detail", e.Field)
				}
			}
			if strings.Join(fields, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields %v, want %v", fields, tt.fields)
			}
			if status == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	// Nothing was stored, no flow started, nobody was called.
	req, _ := http.NewRequest(http.MethodGet, ta.base+"/v1/leads", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Leads []json.RawMessage `json:"leads"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/leads: %d %v", res.StatusCode, err)
	}
	if len(list.Leads) != 0 {
		t.Errorf("GET /v1/leads lists %d leads after only refused posts: %s", len(list.Leads), list.Leads)
	}
	if n := ta.svc.Running(); n != 0 {
		t.Errorf("%d flows running", n)
	}
	if n := ta.ua.ActiveCalls(); n != 0 {
		t.Errorf("%d calls in progress", n)
	}
	if n := len(piet.Calls()) + len(carrier.Calls()); n != 0 {
		t.Errorf("phones received %d calls", n)
	}
	if v, ok := metricValue(ta.metrics(t), `leadline_leads_received_total{dealer="jansen"}`); !ok || v != 0 {
		t.Errorf("leads_received_total = %v (found %v), want 0", v, ok)
	}
}
