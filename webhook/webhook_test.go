package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/webhook"
	"github.com/leadline/leadline/webhook/webhooktest"
)

// Secrets as a CRM would be given them: whsec_ and 24 or 32 random bytes in base64.
const (
	secretNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretOld = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD2wKHi5b8L7GDMXXT0fbq1Q=="
)

var lead = dialer.Lead{
	ID: "01a25059-c94d-79bf-b943-ab3b3d4df589", Dealer: "jansen", Status: dialer.StatusCompleted,
	Name: "Eva <Jansen> & Zn", Phone: "+31612345678", Source: "website", Interest: "Volvo XC60",
	ExternalID: "crm-1", Channel: dialer.ChannelEmail, MessageID: "<m1@crm.example>",
	IdempotencyKey: "idem-must-not-show",
	CreatedAt:      time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
	ConnectedAt:    time.Date(2026, 11, 27, 10, 0, 7, 412_000_000, time.UTC),
	EndedAt:        time.Date(2026, 11, 27, 10, 3, 12, 100_000_000, time.UTC),
	Attempts: []dialer.Attempt{
		{Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultAccepted, StartedAt: time.Date(2026, 11, 27, 10, 0, 1, 0, time.UTC)},
		{Leg: dialer.LegCustomer, Person: "piet", Result: dialer.ResultAnswered, StartedAt: time.Date(2026, 11, 27, 10, 0, 5, 0, time.UTC)},
	},
}

type leads struct{}

func (leads) GetLead(_ context.Context, dealer, id string) (dialer.Lead, error) {
	if dealer != lead.Dealer || id != lead.ID {
		return dialer.Lead{}, dialer.ErrNotFound
	}
	return lead, nil
}

var event = dialer.Event{ID: 7, LeadID: lead.ID, Dealer: "jansen", Type: dialer.EventCompleted, At: lead.EndedAt}

// newSender returns a Sender with one endpoint at u and a delivery to it.
func newSender(t *testing.T, o webhook.Options, u string, secrets ...string) (*webhook.Sender, dialer.Delivery) {
	t.Helper()
	o.Leads = leads{}
	s := webhook.New(o)
	ep := webhook.Endpoint{Dealer: "jansen", URL: u, Secrets: secrets}
	if err := s.SetEndpoints([]webhook.Endpoint{ep}); err != nil {
		t.Fatal(err)
	}
	return s, dialer.Delivery{ID: "01a2505a-296b-7f37-b5d0-901b785a7c49", Event: event, Endpoint: ep.ID(), Tries: 1}
}

// The body is {"type", "timestamp", "data"}: data is the lead exactly as the API shows
// it (leadview), timestamp when the event happened.
func TestBody(t *testing.T) {
	s := webhook.New(webhook.Options{Leads: leads{}})
	body, err := s.Body(t.Context(), event)
	if err != nil {
		t.Fatal(err)
	}
	var shown bytes.Buffer
	enc := json.NewEncoder(&shown)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(leadview.FromLead(lead)); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"lead.completed","timestamp":"2026-11-27T10:03:12.100Z","data":` + strings.TrimSpace(shown.String()) + `}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	for _, must := range []string{`"external_id":"crm-1"`, `"channel":"email"`, `"attempts":[`, `"speed_to_lead_seconds":7.412`, `<Jansen> & Zn`} {
		if !strings.Contains(string(body), must) {
			t.Errorf("body lacks %s", must)
		}
	}
	if strings.Contains(string(body), "idem-must-not-show") {
		t.Error("the idempotency key is sent")
	}
	if _, err := s.Body(t.Context(), dialer.Event{LeadID: "gone", Dealer: "jansen", Type: dialer.EventReceived}); !errors.Is(err, dialer.ErrNotFound) {
		t.Errorf("body of a missing lead: %v", err)
	}
}

// Every try is signed with every secret of the endpoint, and npm's standardwebhooks,
// not Leadline's code, verifies each signature: a receiver that has only the new
// secret, and one that still has the old one, both accept it (rotation).
func TestSignaturesVerifyIndependently(t *testing.T) {
	v := webhooktest.NewVerifier(t)
	both := webhooktest.NewReceiver(t, v, secretNew, secretOld)
	s, d := newSender(t, webhook.Options{AllowPrivateTargets: true}, both.URL, secretNew, secretOld)
	body := []byte(`{"type":"lead.completed","data":{"id":"x","name":"Zoë ✓"}}`)
	for try := 1; try <= 2; try++ {
		d.Tries = try
		if r := s.Send(t.Context(), d, body); r.Outcome != dialer.TryDelivered || r.Status != http.StatusNoContent || r.Took <= 0 {
			t.Fatalf("try %d: %+v", try, r)
		}
	}
	reqs := both.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	webhooktest.CheckVerified(t, reqs)
	for _, q := range reqs {
		if q.ID != d.ID || !bytes.Equal(q.Body, body) || len(strings.Fields(q.Signature)) != 2 ||
			q.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request: id %s, %d signatures, content type %q, body %s", q.ID, len(strings.Fields(q.Signature)),
				q.Header.Get("Content-Type"), q.Body)
		}
		for _, sig := range strings.Fields(q.Signature) {
			if !strings.HasPrefix(sig, "v1,") {
				t.Errorf("signature %q is not v1,<base64>", sig)
			}
		}
	}
	for _, secret := range []string{secretNew, secretOld} {
		if err := v.Verify([]string{secret}, reqs[0].Header, reqs[0].Body); err != nil {
			t.Errorf("a receiver with only %s…: %v", secret[:10], err)
		}
	}
	// The check is real: another secret, or a body changed by one byte, does not verify.
	if err := v.Verify([]string{"whsec_" + strings.Repeat("A", 32)}, reqs[0].Header, reqs[0].Body); err == nil {
		t.Error("a foreign secret verifies")
	}
	if err := v.Verify([]string{secretNew}, reqs[0].Header, append([]byte(" "), reqs[0].Body...)); err == nil {
		t.Error("a changed body verifies")
	}
}

// How an answer is read: 2xx delivered, 410 gone, anything else failed with its status,
// Retry-After and the cleaned start of its body; a redirect is not followed; a receiver
// that does not answer within the timeout is a failed try.
func TestSendOutcomes(t *testing.T) {
	v := webhooktest.NewVerifier(t)
	target := webhooktest.NewReceiver(t, v, secretNew) // where a redirect points
	r := webhooktest.NewReceiver(t, v, secretNew)
	// A generous timeout for the answers (a loaded machine is slow to answer, not a
	// failure); the hanging receiver is tried by a sender of its own with a short one.
	s, d := newSender(t, webhook.Options{AllowPrivateTargets: true, Timeout: time.Minute}, r.URL, secretNew)
	for _, tc := range []struct {
		answer webhooktest.Answer
		want   dialer.TryResult
	}{
		{webhooktest.Answer{Status: 200}, dialer.TryResult{Outcome: dialer.TryDelivered, Status: 200}},
		{webhooktest.Answer{Status: 202, Body: "queued"}, dialer.TryResult{Outcome: dialer.TryDelivered, Status: 202}},
		{webhooktest.Answer{Status: 500, Body: "{\"error\":\"db\x00 down\"}\n\n" + strings.Repeat("x", 400)},
			dialer.TryResult{Outcome: dialer.TryFailed, Status: 500, Error: `500 Internal Server Error: {"error":"db down"} ` + strings.Repeat("x", 178)}},
		{webhooktest.Answer{Status: 503, Header: http.Header{"Retry-After": {"120"}}},
			dialer.TryResult{Outcome: dialer.TryFailed, Status: 503, Error: "503 Service Unavailable", RetryAfter: 2 * time.Minute}},
		{webhooktest.Answer{Status: 404}, dialer.TryResult{Outcome: dialer.TryFailed, Status: 404, Error: "404 Not Found"}},
		{webhooktest.Answer{Status: 410, Body: "endpoint deleted"},
			dialer.TryResult{Outcome: dialer.TryGone, Status: 410, Error: "410 Gone: endpoint deleted"}},
		{webhooktest.Answer{Status: 302, Header: http.Header{"Location": {target.URL}}},
			dialer.TryResult{Outcome: dialer.TryFailed, Status: 302, Error: "302 Found: redirects are not followed; configure the URL it points to"}},
	} {
		r.Answer(func(webhooktest.Request) webhooktest.Answer { return tc.answer })
		got := s.Send(t.Context(), d, []byte(`{}`))
		got.Took = 0
		if got != tc.want {
			t.Errorf("answer %+v:\n got %+v\nwant %+v", tc.answer, got, tc.want)
		}
	}
	if n := len(target.Requests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests at its target", n)
	}
	webhooktest.CheckVerified(t, r.Requests())

	hung := webhooktest.NewReceiver(t, v, secretNew)
	hung.Answer(func(webhooktest.Request) webhooktest.Answer { return webhooktest.Answer{Hang: true} })
	s, d = newSender(t, webhook.Options{AllowPrivateTargets: true, Timeout: 300 * time.Millisecond}, hung.URL, secretNew)
	got := s.Send(t.Context(), d, []byte(`{}`))
	got.Took = 0
	if want := (dialer.TryResult{Outcome: dialer.TryFailed, Error: "no answer within 300ms"}); got != want {
		t.Errorf("a receiver that hangs:\n got %+v\nwant %+v", got, want)
	}
}

// Without webhooks.allow_private_targets no try reaches a loopback address: not a
// literal one, IPv4 or IPv6, nor a host name whose DNS answers 127.0.0.1 (checked on
// the address connected to, after DNS). With the switch, the same name is reached.
func TestPrivateTargetsRefusedAtSend(t *testing.T) {
	v := webhooktest.NewVerifier(t)
	r := webhooktest.NewReceiver(t, v, secretNew)
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	resolver := webhooktest.LoopbackResolver(t)
	for _, target := range []string{
		r.URL,
		"http://crm.example.com:" + port + "/hooks/leadline", // resolves to 127.0.0.1
		"http://[::1]:" + port + "/hooks/leadline",
		"http://[::ffff:127.0.0.1]:" + port + "/hooks/leadline",
	} {
		s, d := newSender(t, webhook.Options{Resolver: resolver}, target, secretNew)
		res := s.Send(t.Context(), d, []byte(`{}`))
		if res.Outcome != dialer.TryFailed || !strings.Contains(res.Error, "private targets are not allowed") {
			t.Errorf("%s: %+v, want refused", target, res)
		}
	}
	if n := len(r.Requests()); n != 0 {
		t.Fatalf("%d requests reached the loopback receiver", n)
	}
	s, d := newSender(t, webhook.Options{Resolver: resolver, AllowPrivateTargets: true},
		"http://crm.example.com:"+port+"/hooks/leadline", secretNew)
	if res := s.Send(t.Context(), d, []byte(`{}`)); res.Outcome != dialer.TryDelivered {
		t.Errorf("with private targets allowed: %+v", res)
	}
	webhooktest.CheckVerified(t, r.Requests())
	// Never an unspecified address, allowed or not.
	s, d = newSender(t, webhook.Options{AllowPrivateTargets: true}, "http://0.0.0.0:"+port+"/", secretNew)
	if res := s.Send(t.Context(), d, []byte(`{}`)); res.Outcome != dialer.TryFailed || !strings.Contains(res.Error, "not a destination") {
		t.Errorf("0.0.0.0: %+v", res)
	}
}

// A failed try's error names neither the URL's user information nor its query, which
// may hold credentials; ShownURL drops both.
func TestNoCredentialsInErrors(t *testing.T) {
	u := "http://user:hunter2@127.0.0.1:1/hooks?token=s3cret"
	s, d := newSender(t, webhook.Options{}, u, secretNew)
	res := s.Send(t.Context(), d, []byte(`{}`))
	if res.Outcome != dialer.TryFailed || strings.Contains(res.Error, "hunter2") || strings.Contains(res.Error, "s3cret") {
		t.Errorf("%+v", res)
	}
	if got := webhook.ShownURL(u); got != "http://127.0.0.1:1/hooks" {
		t.Errorf("ShownURL = %s", got)
	}
}

// An endpoint's id depends on its dealer and URL only (a rotation keeps its deliveries);
// its version changes with any of its settings (re-enabling it after a 410).
func TestEndpointIdentity(t *testing.T) {
	a := webhook.Endpoint{Dealer: "jansen", URL: "https://crm.example/hooks", Secrets: []string{secretNew}}
	b := a
	b.Secrets = []string{secretNew, secretOld}
	c := a
	c.Events = []dialer.EventType{dialer.EventConnected}
	d := a
	d.Dealer = "bakker"
	if a.ID() != b.ID() || a.ID() != c.ID() || a.ID() == d.ID() || !strings.HasPrefix(a.ID(), "wh_") {
		t.Errorf("ids %s %s %s %s", a.ID(), b.ID(), c.ID(), d.ID())
	}
	if a.Version() == b.Version() || a.Version() == c.Version() {
		t.Errorf("versions %s %s %s", a.Version(), b.Version(), c.Version())
	}
	swapped := b
	swapped.Secrets = []string{secretOld, secretNew}
	if swapped.Version() != b.Version() {
		t.Error("the order of the secrets changes the version")
	}
	if err := webhook.New(webhook.Options{Leads: leads{}}).SetEndpoints([]webhook.Endpoint{{Dealer: "jansen", URL: a.URL, Secrets: []string{"whsec_%%%"}}}); err == nil {
		t.Error("a secret that is not base64 was taken")
	}
}
