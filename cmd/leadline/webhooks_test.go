package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/store"
	"github.com/leadline/leadline/webhook/webhooktest"
)

const (
	rtpWebhooks = "23200-23299"
	// hookSecret is the test dealer's Standard Webhooks secret (whsec_ and 32 bytes).
	hookSecret = "whsec_TrEegUf7CAxM2gIFfrePQ55mMP4YmX3Zg3yzWCc62zs="
)

// fastRetries retries a failed try after a fifth of a second, not 5 s.
var fastRetries = withDelivery(store.DeliveryPolicy{FirstRetry: 200 * time.Millisecond, MaxWait: time.Second})

// hookSpec is the test dealer with one webhook to url, taking events (all when empty),
// and flow [piet, owner]; extraTop is added to the top-level webhooks section.
func hookSpec(url, extraTop string, people []person, events ...string) appSpec {
	ev := ""
	if len(events) > 0 {
		q, _ := json.Marshal(events)
		ev = ", events: " + string(q)
	}
	return appSpec{
		rtp:         rtpWebhooks,
		people:      people,
		flow:        "[piet, owner]",
		ring:        3 * time.Second,
		accept:      3 * time.Second,
		extra:       "webhooks: {allow_private_targets: true, timeout: 1s" + extraTop + "}",
		dealerExtra: fmt.Sprintf("    webhooks:\n      - {url: %q, secret: %q%s}", url, hookSecret, ev),
		appOpts:     []appOption{fastRetries},
	}
}

// deliveryView is one entry of GET /v1/leads/{id}/deliveries.
type deliveryView struct {
	ID, Event, Endpoint, URL, Status string
	Tries                            int
	LastStatus                       int    `json:"last_status"`
	LastError                        string `json:"last_error"`
}

func (ta *testApp) deliveries(t testing.TB, id string) []deliveryView {
	t.Helper()
	var out struct{ Deliveries []deliveryView }
	ta.leadAs(t, id+"/deliveries", &out)
	return out.Deliveries
}

// waitDelivered waits until the lead has n deliveries and every one is final.
func (ta *testApp) waitDelivered(t testing.TB, id string, n int, within time.Duration) []deliveryView {
	t.Helper()
	var ds []deliveryView
	wait.For(t, within, fmt.Sprintf("%d final deliveries of lead %s", n, id), func() bool {
		ds = ta.deliveries(t, id)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.Status == "pending" || d.Status == "failed" {
				return false
			}
		}
		return true
	})
	return ds
}

// types lists the requests' event types in order.
func types(reqs []webhooktest.Request) []string {
	var out []string
	for _, q := range reqs {
		out = append(out, string(q.Type))
	}
	return out
}

// A lead goes received → connected → completed (→ outcome, written by the store method
// the salesperson's outcome will call) and its CRM gets exactly those events, in that
// order, although it answers 500 to lead.connected until the lead has completed (then
// 200): lead.completed, written meanwhile, waits for connected's retry. Every signature
// verifies with npm's standardwebhooks; the body is the lead as GET shows it; the history
// and the metrics say what happened.
func TestWebhooksInOrderWithRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	r := webhooktest.NewReceiver(t, nil, hookSecret)
	var base atomic.Value // the app's URL, once it runs
	r.Answer(func(q webhooktest.Request) webhooktest.Answer {
		if q.Type != dialer.EventConnected {
			return webhooktest.Answer{Status: 200}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if l, err := getLead(ctx, base.Load().(string), testKey, q.Lead); err != nil || l.Status != "completed" {
			return webhooktest.Answer{Status: 500, Body: "CRM hiccup"}
		}
		return webhooktest.Answer{Status: 200}
	})
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	owner := newPhone(t, "owner", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: 1500 * time.Millisecond})
	spec := hookSpec(r.URL, "", []person{{"piet", "Piet", piet.URI()}, {"owner", "Jan", owner.URI()}})
	spec.trunk = carrier.Addr().String()
	ta := startTestApp(t, spec)
	base.Store(ta.base)

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678", "external_id": "crm-77"})
	if l := ta.waitFinal(t, id, 30*time.Second); l.Status != "completed" {
		t.Fatalf("lead %s (%s), want completed", l.Status, l.Reason)
	}
	ta.waitDelivered(t, id, 3, 30*time.Second)
	// The salesperson's outcome, through the store method that part will call.
	if err := ta.db.RecordEvent(t.Context(), id, dialer.EventOutcome, time.Now()); err != nil {
		t.Fatal(err)
	}
	ds := ta.waitDelivered(t, id, 4, 30*time.Second)

	reqs := r.Requests()
	webhooktest.CheckVerified(t, reqs)
	got := types(webhooktest.Answered(reqs, webhooktest.Delivered))
	want := []string{"lead.received", "lead.connected", "lead.completed", "lead.outcome"}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	// connected: 500 while the call lasted (at least once), then 200; nothing else between.
	tries := 0
	for _, q := range reqs[1 : len(reqs)-2] {
		if q.Type != dialer.EventConnected || q.ID != reqs[1].ID || !bytes.Equal(q.Body, reqs[1].Body) {
			t.Errorf("request %d: %s %s, want a try of the same lead.connected message (webhook-id and body)", tries+1, q.Type, q.ID)
		}
		tries++
	}
	if tries < 2 || reqs[tries].Answered != 200 || reqs[1].Answered != 500 {
		t.Errorf("lead.connected was tried %d times: want 500s, then 200; requests %q", tries, types(reqs))
	}
	ids := map[string]bool{}
	for _, q := range reqs {
		ids[q.ID] = true
		if q.Lead != id {
			t.Errorf("%s carries lead %q, want %q", q.Type, q.Lead, id)
		}
	}
	if len(ids) != 4 {
		t.Errorf("%d webhook-ids for 4 events", len(ids))
	}

	// The body's data is the lead as GET /v1/leads/{id} shows it (at that moment).
	var done struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &done); err != nil {
		t.Fatal(err)
	}
	res, err := http.NewRequest(http.MethodGet, ta.base+"/v1/leads/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Header.Set("X-API-Key", testKey)
	ans, err := http.DefaultClient.Do(res)
	if err != nil {
		t.Fatal(err)
	}
	var shown bytes.Buffer
	_, _ = shown.ReadFrom(ans.Body)
	ans.Body.Close()
	if string(done.Data) != strings.TrimSpace(shown.String()) {
		t.Errorf("lead.outcome's data\n%s\nis not GET's\n%s", done.Data, shown.String())
	}
	for _, must := range []string{`"external_id":"crm-77"`, `"channel":"api"`, `"speed_to_lead_seconds":`, `"leg":"customer"`} {
		if !strings.Contains(string(done.Data), must) {
			t.Errorf("data lacks %s", must)
		}
	}

	// The history: all delivered, lead.connected after its tries, with its last status.
	for _, d := range ds {
		want := 1
		if d.Event == "lead.connected" {
			want = tries
		}
		if d.Status != "delivered" || d.Tries != want || d.LastStatus != 200 || d.URL != r.URL {
			t.Errorf("delivery %+v", d)
		}
	}
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_webhook_deliveries_total{dealer="jansen",event="lead.connected",result="failed"}`:    float64(tries - 1),
		`leadline_webhook_deliveries_total{dealer="jansen",event="lead.connected",result="delivered"}`: 1,
		`leadline_webhook_deliveries_total{dealer="jansen",event="lead.outcome",result="delivered"}`:   1,
		`leadline_webhook_try_seconds_count{dealer="jansen"}`:                                          float64(len(reqs)),
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", series, v, ok, want)
		}
	}
}

// A receiver that does not answer: the try ends at webhooks.timeout and is made again,
// the same message; a receiver that answers 410 Gone disables the endpoint: no more
// tries to it, for this lead or the next, and the history says so.
func TestWebhookTimeoutThenGone(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time flows; skipped with -short")
	}
	r := webhooktest.NewReceiver(t, nil, hookSecret)
	var n atomic.Int32
	r.Answer(func(q webhooktest.Request) webhooktest.Answer {
		switch n.Add(1) {
		case 1:
			return webhooktest.Answer{Hang: true} // lead.received: no answer within 1 s
		case 2:
			return webhooktest.Answer{Status: 204} // its retry
		}
		return webhooktest.Answer{Status: 410, Body: "this CRM integration was removed"}
	})
	busy := newPhone(t, "busy", simphone.Behaviour{Ring: 100 * time.Millisecond, Code: 486})
	ta := startTestApp(t, hookSpec(r.URL, "", []person{{"piet", "Piet", busy.URI()}, {"owner", "Jan", busy.URI()}},
		"lead.received", "lead.exhausted"))

	first := ta.postLead(t, map[string]string{"phone": "06-12345678"})
	ta.waitFinal(t, first, 30*time.Second)
	ds := ta.waitDelivered(t, first, 2, 30*time.Second)
	if ds[0].Event != "lead.received" || ds[0].Status != "delivered" || ds[0].Tries != 2 {
		t.Errorf("after a timeout: %+v", ds[0])
	}
	if ds[1].Event != "lead.exhausted" || ds[1].Status != "disabled" || ds[1].LastStatus != 410 ||
		ds[1].LastError != "410 Gone: this CRM integration was removed" {
		t.Errorf("after a 410: %+v", ds[1])
	}
	second := ta.postLead(t, map[string]string{"phone": "06-12345679"})
	ta.waitFinal(t, second, 30*time.Second)
	for _, d := range ta.waitDelivered(t, second, 2, 30*time.Second) {
		if d.Status != "disabled" || d.Tries != 0 {
			t.Errorf("a delivery to the disabled endpoint: %+v", d)
		}
	}
	reqs := r.Requests()
	webhooktest.CheckVerified(t, reqs)
	if len(reqs) != 3 || reqs[0].ID != reqs[1].ID || reqs[0].Answered != 0 || reqs[2].Answered != 410 {
		t.Errorf("requests: %d, want the hung try, its retry and the 410 only", len(reqs))
	}
	if !strings.Contains(ta.logs.String(), "webhook endpoint disabled") {
		t.Error("the 410 is not logged")
	}
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_webhook_deliveries_total{dealer="jansen",event="lead.received",result="failed"}`:    1,
		`leadline_webhook_deliveries_total{dealer="jansen",event="lead.exhausted",result="disabled"}`: 2,
		`leadline_webhook_deliveries_total{dealer="jansen",event="lead.received",result="disabled"}`:  1,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", series, v, ok, want)
		}
	}
}

// Without webhooks.allow_private_targets a webhook URL on 127.0.0.1 or 10.0.0.1 is
// refused when the configuration is loaded (leadline check says where), and one whose
// host name resolves to 127.0.0.1 is refused when sending: the receiver on loopback
// gets nothing and the history says why.
func TestWebhookPrivateTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time flows; skipped with -short")
	}
	r := webhooktest.NewReceiver(t, nil, hookSecret)
	busy := newPhone(t, "busy", simphone.Behaviour{Code: 486})
	people := []person{{"piet", "Piet", busy.URI()}, {"owner", "Jan", busy.URI()}}

	for _, target := range []string{r.URL, "https://10.0.0.1/hooks"} {
		spec := hookSpec(target, "", people)
		spec.extra = strings.Replace(spec.extra, "allow_private_targets: true", "allow_private_targets: false", 1)
		path := t.TempDir() + "/leadline.yaml"
		if err := os.WriteFile(path, spec.yaml(t), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := checkCmd([]string{"--config", path}, func(string) string { return "" }, &out)
		if err == nil || !strings.Contains(err.Error(), "dealers[0].webhooks[0].url: ") || !strings.Contains(err.Error(), "private targets are not allowed") {
			t.Errorf("check of a webhook to %s: %v", target, err)
		}
	}

	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	named := "http://crm.example.com:" + u.Port() + u.Path // resolves to 127.0.0.1
	spec := hookSpec(named, "", people)
	spec.extra = "webhooks: {timeout: 1s}"
	spec.appOpts = append(spec.appOpts, withResolver(webhooktest.LoopbackResolver(t)))
	ta := startTestApp(t, spec)
	id := ta.postLead(t, map[string]string{"phone": "06-12345678"})
	wait.For(t, 30*time.Second, "a refused try", func() bool {
		ds := ta.deliveries(t, id)
		return len(ds) > 0 && ds[0].Tries > 0 && ds[0].Status == "failed"
	})
	d := ta.deliveries(t, id)[0]
	if !strings.Contains(d.LastError, "127.0.0.1 is in loopback (127.0.0.0/8): private targets are not allowed") {
		t.Errorf("last error %q", d.LastError)
	}
	if n := len(r.Requests()); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
}
