package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/simphone"
)

// rtpIntakeAPI is TestIntakeOverHTTPEndToEnd's RTP range (see harness_test.go).
const rtpIntakeAPI = "24300-24399"

const testMarktplaatsSecret = "mp-secret-for-the-intake-test-0001"

// channelView is what a lead shows of how it arrived.
type channelView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Phone      string `json:"phone"`
	Name       string `json:"name"`
	Source     string `json:"source"`
	Interest   string `json:"interest"`
	ExternalID string `json:"external_id"`
	Channel    string `json:"channel"`
	Sender     string `json:"sender"`
	MessageID  string `json:"message_id"`
}

// request makes a request to the app and returns its status, headers and body.
func (ta *testApp) request(t testing.TB, method, path, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ta.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, res.Header, b
}

// Issue 11 over HTTP, end to end on SQLite with a real SIP phone: an ADF document
// posted with the API key is a lead on channel api; a signed Marktplaats event
// delivered twice is one lead and one call, on channel webhook, whose original is the
// event's body; a badly signed delivery and a hostile ADF document store nothing.
func TestIntakeOverHTTPEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true}) // rings until the ring timeout
	ta := startTestApp(t, appSpec{
		rtp:         rtpIntakeAPI,
		people:      []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:        "[piet]",
		ring:        time.Second,
		dealerExtra: "    portals:\n      marktplaats: {secret: \"" + testMarktplaatsSecret + "\"}\n",
	})
	key := []string{"Authorization", "Bearer " + testKey}

	// ADF with the API key.
	const adfDoc = `<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf><prospect>
  <id source="AutoTrader">AT-1001</id>
  <vehicle><year>2023</year><make>Kia</make><model>Niro</model></vehicle>
  <customer><contact><name part="full">Sanne de Vries</name><phone>06 12345671</phone></contact></customer>
  <provider><name>AutoTrader</name></provider>
</prospect></adf>`
	status, _, body := ta.request(t, "POST", "/v1/leads", adfDoc, append(key, "Content-Type", "application/xml")...)
	var adfLead channelView
	if err := json.Unmarshal(body, &adfLead); err != nil || status != http.StatusAccepted {
		t.Fatalf("ADF post: %d %v: %s", status, err, body)
	}
	var got channelView
	ta.leadAs(t, adfLead.ID, &got)
	if got.Channel != "api" || got.Phone != "+31612345671" || got.Name != "Sanne de Vries" ||
		got.ExternalID != "AutoTrader:AT-1001" || got.Interest != "2023 Kia Niro" || got.Source != "AutoTrader" {
		t.Errorf("ADF lead %+v", got)
	}
	if status, _, _ := ta.request(t, "GET", "/v1/leads/"+adfLead.ID+"/source", "", key...); status != http.StatusNotFound {
		t.Errorf("source of an ADF post: %d, want 404 (API posts keep no original)", status)
	}

	// A hostile ADF document and a badly signed delivery store nothing.
	laughs := `<?xml version="1.0"?><!DOCTYPE adf [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` +
		`<adf><prospect><customer><contact><name>&lol2;</name><phone>0612345679</phone></contact></customer></prospect></adf>`
	if status, _, b := ta.request(t, "POST", "/v1/leads", laughs, append(key, "Content-Type", "text/xml")...); status != http.StatusBadRequest {
		t.Errorf("billion laughs: %d %s", status, b)
	}
	const event = `{"id":"evt-e2e-1","eventType":"LEAD_CREATED","created":"2026-11-27T10:00:00Z",` +
		`"eventData":{"adId":"m2145567890","adTitle":"Volvo XC60","buyerName":"Eva Jansen","buyerPhone":"06-12345672",` +
		`"message":"Is de auto nog beschikbaar?"}}`
	mac := hmac.New(sha256.New, []byte(testMarktplaatsSecret))
	mac.Write([]byte(event))
	sig := hex.EncodeToString(mac.Sum(nil))
	const hook = "/v1/hooks/marktplaats/" + testDealer
	if status, _, b := ta.request(t, "POST", hook, event, "Content-Type", "application/json", "X-Ecg-Signature", strings.Repeat("0", 64)); status != http.StatusUnauthorized {
		t.Errorf("bad signature: %d %s", status, b)
	}
	if status, _, b := ta.request(t, "POST", "/v1/hooks/marktplaats/nobody", event, "Content-Type", "application/json", "X-Ecg-Signature", sig); status != http.StatusNotFound {
		t.Errorf("unknown dealer: %d %s", status, b)
	}

	// The signed event, delivered twice (at least once): one lead, one call.
	type answer struct{ Result, Lead string }
	var first, second answer
	status, _, body = ta.request(t, "POST", hook, event, "Content-Type", "application/json", "X-Ecg-Signature", sig)
	if err := json.Unmarshal(body, &first); err != nil || status != http.StatusAccepted || first.Result != "created" || first.Lead == "" {
		t.Fatalf("delivery: %d %v: %s", status, err, body)
	}
	status, _, body = ta.request(t, "POST", hook, event, "Content-Type", "application/json", "X-Ecg-Signature", sig)
	if err := json.Unmarshal(body, &second); err != nil || status != http.StatusOK || second != (answer{"repeat", first.Lead}) {
		t.Errorf("redelivery: %d %v: %s; want 200, a repeat of %s", status, err, body, first.Lead)
	}
	ta.leadAs(t, first.Lead, &got)
	if got.Channel != "webhook" || got.Sender != "marktplaats" || got.MessageID != "evt-e2e-1" ||
		got.Source != "Marktplaats" || got.Name != "Eva Jansen" || got.Phone != "+31612345672" || got.Interest != "Volvo XC60" {
		t.Errorf("webhook lead %+v", got)
	}
	status, header, body := ta.request(t, "GET", "/v1/leads/"+first.Lead+"/source", "", key...)
	if status != http.StatusOK || string(body) != event || header.Get("Content-Type") != "application/json" ||
		header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(header.Get("Content-Disposition"), "attachment") ||
		header.Get("Leadline-Truncated") != "false" {
		t.Errorf("source: %d %v\n%s", status, header, body)
	}

	for _, id := range []string{adfLead.ID, first.Lead} {
		if l := ta.waitFinal(t, id, 30*time.Second); l.Status != "exhausted" {
			t.Errorf("lead %s: %s (%s), want exhausted", id, l.Status, l.Reason)
		}
	}
	invites := map[string]int{}
	for _, c := range piet.Calls() {
		invites[c.Header("X-Leadline-Lead")]++
	}
	if invites[adfLead.ID] != 1 || invites[first.Lead] != 1 || len(invites) != 2 {
		t.Errorf("INVITEs per lead %v; want one for the ADF lead and one for the event delivered twice, and no other", invites)
	}
	var list struct {
		Leads []channelView `json:"leads"`
	}
	_, _, body = ta.request(t, "GET", "/v1/leads", "", key...)
	if err := json.Unmarshal(body, &list); err != nil || len(list.Leads) != 2 {
		t.Errorf("leads stored: %v %s; want the two, nothing of the refused requests", err, body)
	}
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_intake_total{channel="webhook",dealer="jansen",result="created"}`: 1,
		`leadline_intake_total{channel="webhook",dealer="jansen",result="repeat"}`:  1,
		`leadline_intake_total{channel="api",dealer="jansen",result="created"}`:     1,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (found %v), want %v", series, v, ok, want)
		}
	}
}

// A signed event that holds no phone number is kept as a rejection, listed and
// readable with its body, and nobody is called.
func TestIntakeRejectionEndToEnd(t *testing.T) {
	ta := startTestApp(t, appSpec{
		rtp:         rtpIntakeAPI,
		people:      []person{{"piet", "Piet de Vries", "sip:piet@127.0.0.1:9"}},
		flow:        "[piet]",
		dealerExtra: "    portals:\n      marktplaats: {secret: \"" + testMarktplaatsSecret + "\"}\n",
	})
	const event = `{"id":"evt-e2e-2","eventType":"LEAD_CREATED","eventData":{"buyerName":"Eva","adTitle":"Fiets","message":"Mail me"}}`
	mac := hmac.New(sha256.New, []byte(testMarktplaatsSecret))
	mac.Write([]byte(event))
	status, _, body := ta.request(t, "POST", "/v1/hooks/marktplaats/"+testDealer, event,
		"Content-Type", "application/json", "X-Ecg-Signature", hex.EncodeToString(mac.Sum(nil)))
	if status != http.StatusOK || !strings.Contains(string(body), `"result":"rejected"`) {
		t.Fatalf("delivery: %d %s", status, body)
	}
	key := []string{"X-API-Key", testKey}
	var list struct {
		Rejections []struct {
			ID, Channel, Sender, Subject, Reason string
			MessageID                            string `json:"message_id"`
			Size                                 int
		} `json:"rejections"`
	}
	status, _, body = ta.request(t, "GET", "/v1/rejections", "", key...)
	if err := json.Unmarshal(body, &list); err != nil || status != http.StatusOK || len(list.Rejections) != 1 {
		t.Fatalf("rejections: %d %v %s", status, err, body)
	}
	r := list.Rejections[0]
	if r.Channel != "webhook" || r.Sender != "marktplaats" || r.MessageID != "evt-e2e-2" || r.Subject != "LEAD_CREATED: Fiets" ||
		!strings.Contains(r.Reason, "no phone number") || r.Size != len(event) {
		t.Errorf("rejection %+v", r)
	}
	if status, _, b := ta.request(t, "GET", "/v1/rejections/"+r.ID+"/source", "", key...); status != http.StatusOK || string(b) != event {
		t.Errorf("rejection's source: %d %s", status, b)
	}
	if status, _, b := ta.request(t, "GET", "/v1/rejections?cursor=garbage", "", key...); status != http.StatusBadRequest {
		t.Errorf("garbage cursor: %d %s", status, b)
	}
	_, _, body = ta.request(t, "GET", "/v1/leads", "", key...)
	if string(body) != `{"leads":[]}`+"\n" {
		t.Errorf("leads: %s; want none", body)
	}
}
