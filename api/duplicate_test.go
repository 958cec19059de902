package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/dialer"
)

// joinedLead is a lead being dialled that a second post for its number joined.
func joinedLead() dialer.Lead {
	return dialer.Lead{
		ID: "ld_open", Dealer: "jansen", Status: dialer.StatusDialing, Phone: phone, Name: "Eva",
		IdempotencyKey: "idem-first-must-not-show",
		CreatedAt:      ms("2026-11-27T10:00:00Z"),
		Duplicates: []dialer.Duplicate{{
			ReceivedAt: ms("2026-11-27T10:00:04.5Z"), Name: "Eva Jansen", Email: "eva@example.com",
			Source: "facebook", Interest: "Volvo EX30", Message: "Also a trade-in", AssignedTo: "kees",
			ExternalID: "crm-2", IdempotencyKey: "idem-second-must-not-show",
			Channel: dialer.ChannelEmail, Sender: "leads@autoscout24.com", MessageID: "<a1@autoscout24.com>",
		}, {
			ReceivedAt: ms("2026-11-27T10:01:00Z"), Interest: "Volvo XC60",
		}},
	}
}

const joinedJSON = `{"id":"ld_open","dealer":"jansen","status":"dialing","name":"Eva","phone":"+31612345678",` +
	`"channel":"api","created_at":"2026-11-27T10:00:00.000Z","duplicates":[` +
	`{"received_at":"2026-11-27T10:00:04.500Z","name":"Eva Jansen","email":"eva@example.com","source":"facebook",` +
	`"interest":"Volvo EX30","message":"Also a trade-in","assigned_to":"kees","external_id":"crm-2",` +
	`"channel":"email","sender":"leads@autoscout24.com","message_id":"<a1@autoscout24.com>"},` +
	`{"received_at":"2026-11-27T10:01:00.000Z","interest":"Volvo XC60","channel":"api"}]}` + "\n"

// A post that joined an open lead is accepted, answered with that lead and its
// duplicates, and says so in Leadline-Joined.
func TestCreateLeadJoined(t *testing.T) {
	ts := newServer(t, &fakeLeads{SubmitFn: func(context.Context, string, dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
		return joinedLead(), dialer.OutcomeJoined, nil
	}})
	rec := ts.do(t, "POST", "/v1/leads", `{"phone":"06 12345678","name":"Eva Jansen","interest":"Volvo EX30"}`,
		"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json", "Idempotency-Key", "idem-second-must-not-show")
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", rec.Code, rec.Body)
	}
	for h, want := range map[string]string{
		api.HeaderJoined:      "ld_open",
		"Location":            "/v1/leads/ld_open",
		"Idempotent-Replayed": "",
	} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s %q, want %q", h, got, want)
		}
	}
	if rec.Body.String() != joinedJSON {
		t.Errorf("body\n got %s\nwant %s", rec.Body, joinedJSON)
	}
	if strings.Contains(rec.Body.String(), "must-not-show") {
		t.Error("an idempotency key is shown")
	}
}

// Created and repeated leads carry no Leadline-Joined.
func TestCreateLeadNotJoined(t *testing.T) {
	for _, created := range []bool{true, false} {
		ts := newServer(t, &fakeLeads{SubmitFn: submitOK(created)})
		rec := ts.do(t, "POST", "/v1/leads", `{"phone":"+31612345678"}`,
			"Authorization", "Bearer "+keyJansen, "Content-Type", "application/json")
		if got := rec.Header().Get(api.HeaderJoined); got != "" {
			t.Errorf("created %v: %s %q", created, api.HeaderJoined, got)
		}
	}
}

// GET shows the duplicates too.
func TestGetLeadDuplicates(t *testing.T) {
	ts := newServer(t, &fakeLeads{GetFn: func(context.Context, string, string) (dialer.Lead, error) {
		return joinedLead(), nil
	}})
	rec := ts.do(t, "GET", "/v1/leads/ld_open", "", "Authorization", "Bearer "+keyJansen)
	if rec.Code != http.StatusOK || rec.Body.String() != joinedJSON {
		t.Errorf("status %d, body\n got %s\nwant %s", rec.Code, rec.Body, joinedJSON)
	}
}
