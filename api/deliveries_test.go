package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// GET /v1/leads/{id}/deliveries shows each event's delivery to each endpoint: where it
// stands, its tries, the last status and error; the dealer's own leads only.
func TestLeadDeliveries(t *testing.T) {
	ev := func(id int64, typ dialer.EventType, at string) dialer.Event {
		return dialer.Event{ID: id, LeadID: "ld_1", Dealer: "jansen", Type: typ, At: ms(at)}
	}
	leads := &fakeLeads{DeliveriesFn: func(_ context.Context, dealer, id string) ([]dialer.Delivery, error) {
		if dealer != "jansen" || id != "ld_1" {
			return nil, dialer.ErrNotFound
		}
		return []dialer.Delivery{
			{ID: "01a2505a-296b-7f37-b5d0-901b785a7c49", Event: ev(1, dialer.EventReceived, "2026-11-27T10:00:00Z"),
				Endpoint: "wh_0123", URL: "https://crm.example/hooks", State: dialer.DeliveryDelivered, Tries: 1,
				FirstTryAt: ms("2026-11-27T10:00:00.2Z"), LastTryAt: ms("2026-11-27T10:00:00.2Z"), DoneAt: ms("2026-11-27T10:00:00.3Z"),
				LastStatus: 204},
			{ID: "01a2505a-296d-7bfa-9373-bdfa57b30685", Event: ev(2, dialer.EventConnected, "2026-11-27T10:00:07.412Z"),
				Endpoint: "wh_0123", URL: "https://crm.example/hooks", State: dialer.DeliveryFailed, Tries: 2,
				FirstTryAt: ms("2026-11-27T10:00:07.5Z"), LastTryAt: ms("2026-11-27T10:00:12.9Z"), NextTryAt: ms("2026-11-27T10:00:23Z"),
				LastStatus: 500, LastError: `500 Internal Server Error: {"error":"db down"}`},
			{ID: "01a2505a-296d-7bfa-9373-bdfa57b30686", Event: ev(2, dialer.EventConnected, "2026-11-27T10:00:07.412Z"),
				Endpoint: "wh_4567", URL: "https://bi.example/in", State: dialer.DeliveryPending},
		}, nil
	}}
	ts := newServer(t, leads)
	rec := ts.do(t, "GET", "/v1/leads/ld_1/deliveries", "", "Authorization", "Bearer "+keyJansen)
	want := strings.Join([]string{`{"deliveries":[`,
		`{"id":"01a2505a-296b-7f37-b5d0-901b785a7c49","event":"lead.received","event_at":"2026-11-27T10:00:00.000Z",`,
		`"endpoint":"wh_0123","url":"https://crm.example/hooks","status":"delivered","tries":1,`,
		`"first_try_at":"2026-11-27T10:00:00.200Z","last_try_at":"2026-11-27T10:00:00.200Z","ended_at":"2026-11-27T10:00:00.300Z","last_status":204},`,
		`{"id":"01a2505a-296d-7bfa-9373-bdfa57b30685","event":"lead.connected","event_at":"2026-11-27T10:00:07.412Z",`,
		`"endpoint":"wh_0123","url":"https://crm.example/hooks","status":"failed","tries":2,`,
		`"first_try_at":"2026-11-27T10:00:07.500Z","last_try_at":"2026-11-27T10:00:12.900Z","next_try_at":"2026-11-27T10:00:23.000Z",`,
		`"last_status":500,"last_error":"500 Internal Server Error: {\"error\":\"db down\"}"},`,
		`{"id":"01a2505a-296d-7bfa-9373-bdfa57b30686","event":"lead.connected","event_at":"2026-11-27T10:00:07.412Z",`,
		`"endpoint":"wh_4567","url":"https://bi.example/in","status":"pending","tries":0}]}`, "\n"}, "")
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("status %d body\n got %s\nwant %s", rec.Code, rec.Body, want)
	}
	wantProblem(t, ts.do(t, "GET", "/v1/leads/other/deliveries", "", "Authorization", "Bearer "+keyJansen), 404, "/v1/leads/other/deliveries")
	wantProblem(t, ts.do(t, "GET", "/v1/leads/ld_1/deliveries", ""), 401, "/v1/leads/ld_1/deliveries")

	// A lead without webhooks has an empty list, not null.
	leads.DeliveriesFn = func(context.Context, string, string) ([]dialer.Delivery, error) { return nil, nil }
	rec = ts.do(t, "GET", "/v1/leads/ld_1/deliveries", "", "Authorization", "Bearer "+keyJansen)
	if rec.Body.String() != `{"deliveries":[]}`+"\n" {
		t.Errorf("no deliveries: %s", rec.Body)
	}
}
