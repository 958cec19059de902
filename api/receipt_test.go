package api_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/leadline/leadline/dialer"
)

// theirLead is somebody else's lead at the dealer: what a form poster must never see.
func theirLead() dialer.Lead {
	return dialer.Lead{
		ID: "0190f5c2-7a31-7c4e-9b1d-5e8f3a2b1c0d", Dealer: "jansen", Status: dialer.StatusDialing,
		Name: "Geheime Klant", Phone: "+31687654321", Email: "geheim@klant.example",
		Source: "crm", Interest: "Porsche Taycan", Message: "Bel na vijven", AssignedTo: "kees",
		ExternalID: "crm-1001", IdempotencyKey: "idem-theirs",
		Channel: dialer.ChannelEmail, Sender: "leads@autoscout24.example", MessageID: "<m1001@autoscout24.example>",
		CreatedAt: ms("2026-11-27T09:59:00Z"),
		Attempts: []dialer.Attempt{{Leg: dialer.LegAgent, Person: "kees", Result: dialer.ResultNoAnswer,
			StartedAt: ms("2026-11-27T09:59:01Z"), EndedAt: ms("2026-11-27T09:59:21Z")}},
		Duplicates: []dialer.Duplicate{{ReceivedAt: ms("2026-11-27T09:59:30Z"), Name: "G. Klant", Email: "g@klant.example"}},
	}
}

// theirs are the strings of theirLead a form poster below does not send.
var theirs = []string{"0190f5c2-7a31-7c4e-9b1d-5e8f3a2b1c0d", "Geheime", "Klant", "+31687654321", "87654321",
	"geheim@klant.example", "crm", "Porsche", "Bel na vijven", "kees", "2026-11-27", "dialing", "attempts", "duplicates",
	"autoscout24", "m1001", "channel", "sender", "message_id"}

// submitAsDialer answers Submit as the dialer would: a repeat of theirLead for its
// external id or idempotency key, a join of it for its number, else a new lead made of
// the input, with a fresh UUIDv7, dialing.
func submitAsDialer(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
	them := theirLead()
	switch {
	case in.ExternalID == them.ExternalID || in.IdempotencyKey == them.IdempotencyKey:
		return them, dialer.OutcomeRepeat, nil
	case in.Phone == "06-87654321":
		return them, dialer.OutcomeJoined, nil
	}
	l := queuedLead(in)
	l.ID, l.Status = uuid.Must(uuid.NewV7()).String(), dialer.StatusDialing
	return l, dialer.OutcomeCreated, nil
}

// TestFormAnswerRevealsNothing: a post with the public form key that repeats another
// lead (its external_id or Idempotency-Key), joins one (its number), or fills in the
// honeypot is answered exactly as a post that made a new lead: same status, same
// header names, same body but for a fresh id; and nothing of the other lead shows.
func TestFormAnswerRevealsNothing(t *testing.T) {
	type answer struct {
		status  int
		headers []string
		body    map[string]any
		raw     string
	}
	post := func(t *testing.T, body string, headers ...string) (answer, *testServer) {
		t.Helper()
		ts := newServer(t, &fakeLeads{SubmitFn: submitAsDialer, CheckFn: func(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, error) {
			return dialer.Lead{Dealer: "jansen", Name: in.Name, Phone: "+31612345678"}, nil
		}})
		rec := ts.send(t, req{body: body, headers: append([]string{"Content-Type", formCT, "Origin", originJansen}, headers...)})
		a := answer{status: rec.Code, headers: slices.Sorted(maps.Keys(rec.Header())), raw: rec.Body.String()}
		for _, v := range rec.Header() {
			a.raw += "\n" + strings.Join(v, ",")
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &a.body); err != nil {
			t.Fatalf("answer %d is not JSON: %s", rec.Code, rec.Body)
		}
		return a, ts
	}
	const base = "form_key=" + formJansen + "&name=Eva&phone="
	for _, redirect := range []string{"", "&redirect=" + "https%3A%2F%2Fwww.jansen.example%2Fbedankt"} {
		t.Run("redirect="+redirect, func(t *testing.T) {
			want, ts := post(t, base+"06-12345678"+redirect)
			if c := ts.leads.Calls(); len(c) != 1 || c[0].Method != "Submit" {
				t.Fatalf("calls %+v", c)
			}
			if redirect == "" && want.status != http.StatusAccepted || redirect != "" && want.status != http.StatusSeeOther {
				t.Fatalf("new lead: status %d: %s", want.status, want.raw)
			}
			for _, tt := range []struct {
				name, body string
				headers    []string
			}{
				{"repeat by external_id", base + "06-12345678&external_id=crm-1001" + redirect, nil},
				{"repeat by Idempotency-Key", base + "06-12345678" + redirect, []string{"Idempotency-Key", "idem-theirs"}},
				{"join by number", base + "06-87654321" + redirect, nil},
				{"honeypot", base + "06-12345678&website=http%3A%2F%2Fspam.example" + redirect, nil},
			} {
				t.Run(tt.name, func(t *testing.T) {
					got, _ := post(t, tt.body, tt.headers...)
					if got.status != want.status {
						t.Errorf("status %d, a new lead's %d", got.status, want.status)
					}
					if !slices.Equal(got.headers, want.headers) {
						t.Errorf("headers %q, a new lead's %q", got.headers, want.headers)
					}
					bodies := make([]map[string]any, 2)
					for i, a := range []answer{got, want} {
						id, _ := a.body["id"].(string)
						if u, err := uuid.Parse(id); err != nil || u.Version() != 7 || u.String() != id {
							t.Errorf("id %q is not a UUIDv7 as a new lead's (%v)", id, err)
						}
						bodies[i] = maps.Clone(a.body)
						delete(bodies[i], "id")
					}
					if !maps.Equal(bodies[0], bodies[1]) {
						t.Errorf("body %s differs from a new lead's %s", got.raw, want.raw)
					}
					for _, s := range theirs {
						if strings.Contains(got.raw, s) {
							t.Errorf("the answer shows %q of another lead:\n%s", s, got.raw)
						}
					}
				})
			}
		})
	}
}

// An API key still sees the lead it repeated or joined (SPEC.md).
func TestAPIKeyAnswerShowsTheLead(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: submitAsDialer})
	post := func(body string) *httptest.ResponseRecorder {
		return ts.send(t, req{body: body, headers: []string{"Content-Type", formCT, "X-API-Key", keyJansen}})
	}
	rec := post("phone=06-12345678&external_id=crm-1001")
	if rec.Code != http.StatusOK || rec.Header().Get("Idempotent-Replayed") != "true" || !strings.Contains(rec.Body.String(), "Geheime Klant") {
		t.Errorf("repeat: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	rec = post("phone=06-87654321")
	if rec.Code != http.StatusAccepted || rec.Header().Get("Leadline-Joined") != theirLead().ID || !strings.Contains(rec.Body.String(), "Geheime Klant") {
		t.Errorf("join: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}
