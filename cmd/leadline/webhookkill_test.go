package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/webhook/webhooktest"
)

// killConfig is a `leadline serve` configuration whose dealer has one webhook to url;
// its salespeople are busy, so each lead is received, reaches the owner and is
// exhausted within a second: three events.
func killConfig(t *testing.T, node, store, rtp, busy, url string) string {
	return string(appSpec{
		nodeID: node, rtp: rtp, storeURL: store, flow: "[piet, owner]",
		people: []person{{"piet", "Piet", busy}, {"owner", "Jan", busy}},
		extra: "takeover_after: 3s\nmax_leads_per_number_per_day: 1000\n" +
			"webhooks: {allow_private_targets: true, timeout: 2s}",
		dealerExtra: fmt.Sprintf("    countries: [NL, US, JP]\n    webhooks:\n      - {url: %q, secret: %q}", url, hookSecret),
	}.yaml(t))
}

// slowReceiver is a CRM that takes a while to answer, so that a kill finds tries in
// flight.
func slowReceiver(t *testing.T) *webhooktest.Receiver {
	r := webhooktest.NewReceiver(t, nil, hookSecret)
	r.Answer(func(webhooktest.Request) webhooktest.Answer {
		return webhooktest.Answer{Status: 200, Delay: time.Second}
	})
	return r
}

// waitMidDelivery waits until the receiver has answered at least done webhooks and
// holds at least inFlight more unanswered: the moment for a kill.
func waitMidDelivery(t *testing.T, r *webhooktest.Receiver, done, inFlight int) {
	t.Helper()
	if !wait.Until(30*time.Second, func() bool { return len(r.Requests()) >= done && r.InFlight() >= inFlight }) {
		t.Fatalf("after 30 s: %d webhooks answered, %d in flight", len(r.Requests()), r.InFlight())
	}
}

// postLeads posts n leads, spread over nodes, and returns their ids.
func postLeads(t *testing.T, n int, nodes ...*mnNode) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code, l := nodes[i%len(nodes)].post(t, fmt.Sprintf(`{"phone":%q,"name":"Kill %d"}`, customer(5000+i), i))
			if code != http.StatusAccepted {
				t.Errorf("post %d: %d", i, code)
			}
			ids[i] = l.ID
		})
	}
	wg.Wait()
	return ids
}

type killDelivery struct {
	ID, Event, Status string
	Tries             int
}

func (n *mnNode) deliveries(t *testing.T, id string) []killDelivery {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.base+"/v1/leads/"+id+"/deliveries", nil)
	req.Header.Set("X-API-Key", mnKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Deliveries []killDelivery }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Deliveries
}

// checkAllDelivered waits until every lead has its three events delivered (asking n),
// then holds the receiver's record to at least once and in order: each event's
// webhook-id was answered 2xx, and a lead's requests never go back to an earlier event
// (a retry of the event in flight at the kill comes before the next event).
func checkAllDelivered(t *testing.T, n *mnNode, r *webhooktest.Receiver, ids []string, killed time.Time) {
	t.Helper()
	want := []string{"lead.received", "lead.reached_owner", "lead.exhausted"}
	events := map[string][]killDelivery{}
	deadline := time.Now().Add(2 * time.Minute)
	for _, id := range ids {
		for {
			ds := n.deliveries(t, id)
			done := len(ds) == len(want)
			for _, d := range ds {
				done = done && d.Status == "delivered"
			}
			if done {
				events[id] = ds
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lead %s: deliveries not all delivered within 2 minutes: %+v", id, ds)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	reqs := r.Requests()
	webhooktest.CheckVerified(t, reqs)
	acked := map[string]bool{}
	byLead := map[string][]webhooktest.Request{}
	after, dups, seen := 0, 0, map[string]bool{}
	for _, q := range reqs {
		if webhooktest.Delivered(q) {
			acked[q.ID] = true
		}
		if seen[q.ID] {
			dups++
		}
		seen[q.ID] = true
		if q.At.After(killed) {
			after++
		}
		byLead[q.Lead] = append(byLead[q.Lead], q)
	}
	t.Logf("%d requests for %d events: %d after the kill, %d sent again", len(reqs), len(ids)*len(want), after, dups)
	if after == 0 || dups == 0 {
		t.Fatal("no webhook was in flight at the kill (none was sent again); nothing was tested")
	}
	for _, id := range ids {
		ds := events[id]
		var types []string
		for _, d := range ds {
			types = append(types, d.Event)
			if !acked[d.ID] {
				t.Errorf("lead %s: %s (%s) never answered 2xx at the receiver: lost", id, d.Event, d.ID)
			}
		}
		if !slices.Equal(types, want) {
			t.Errorf("lead %s: events %q, want %q", id, types, want)
		}
		last := 0
		var order []string
		for _, q := range byLead[id] {
			i := slices.IndexFunc(ds, func(d killDelivery) bool { return d.ID == q.ID })
			order = append(order, string(q.Type))
			if i < last {
				t.Errorf("lead %s: requests out of order: %q", id, order)
				break
			}
			last = i
		}
	}
}

// TestWebhookKill9SQLite: `leadline serve` is killed (SIGKILL) while webhooks are being
// delivered, some mid-try. After a restart on the same SQLite file every event of every
// lead reaches the receiver at least once, each lead's in order; the tries in flight at
// the kill are taken over once their lease lapses, and sent again with the same
// webhook-id.
func TestWebhookKill9SQLite(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	bin := buildLeadline(t)
	busy := phone(t, "busy", simphone.Behaviour{Code: 486})
	r := slowReceiver(t)
	db := "sqlite://" + t.TempDir() + "/leadline.db"
	cfg := killConfig(t, "kill-sqlite", db, "23300-23399", busy.URI(), r.URL)

	first := runServe(t, bin, "before", cfg)
	ids := postLeads(t, 30, first)
	waitMidDelivery(t, r, 15, 4)
	first.kill()
	killed := time.Now()
	second := runServe(t, bin, "after", cfg)
	checkAllDelivered(t, second, r, ids, killed)
	t.Logf("all delivered %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	if strings.Count(second.logs(), "webhook delivery given up") > 0 {
		t.Error("a delivery gave up")
	}
}

// TestWebhookKill9Postgres: two nodes on one PostgreSQL share the leads and their
// webhooks; one is killed mid-delivery. The other takes over its leads and its tries in
// flight: every event reaches the receiver at least once, in order per lead.
func TestWebhookKill9Postgres(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	c := newMNCluster(t)
	busy := phone(t, "busy", simphone.Behaviour{Code: 486})
	r := slowReceiver(t)
	a := runServe(t, c.bin, "node-a", killConfig(t, "node-a", c.url, "23600-23799", busy.URI(), r.URL))
	b := runServe(t, c.bin, "node-b", killConfig(t, "node-b", c.url, "23800-23999", busy.URI(), r.URL))

	ids := postLeads(t, 40, a, b)
	waitMidDelivery(t, r, 20, 12)
	a.kill()
	killed := time.Now()
	checkAllDelivered(t, b, r, ids, killed)
	t.Logf("all delivered %v after the kill", time.Since(killed).Round(100*time.Millisecond))
}
