package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/store"
)

// courier is a store.Courier that records every try and answers as its script says.
type courier struct {
	mu       sync.Mutex
	rendered int
	tries    []try
	observed []dialer.Delivery
	// script answers a try; nil: delivered.
	script func(d dialer.Delivery) dialer.TryResult
	// block, when set, holds every Send until it is closed.
	block chan struct{}
}

// try is one Send: the delivery as it was tried and the body it carried.
type try struct {
	dialer.Delivery
	body string
}

func (c *courier) Body(_ context.Context, e dialer.Event) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rendered++
	// A different body at each rendering: a try that rendered it again would show.
	return fmt.Appendf(nil, `{"type":%q,"lead":%q,"rendering":%d}`, e.Type, e.LeadID, c.rendered), nil
}

func (c *courier) Send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return dialer.TryResult{Outcome: dialer.TryFailed, Error: ctx.Err().Error()}
		}
	}
	c.mu.Lock()
	c.tries = append(c.tries, try{d, string(body)})
	script := c.script
	c.mu.Unlock()
	if script == nil {
		return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 204}
	}
	return script(d)
}

func (c *courier) Observe(d dialer.Delivery, _ dialer.TryResult) {
	c.mu.Lock()
	c.observed = append(c.observed, d)
	c.mu.Unlock()
}

func (c *courier) sent() []try {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.tries)
}

// fastPolicy retries within a test's time.
var fastPolicy = store.DeliveryPolicy{TryTimeout: time.Second, FirstRetry: 50 * time.Millisecond, MaxWait: 200 * time.Millisecond}

// work starts db's queue with c and stops it at the end of the test.
func work(t *testing.T, db *store.DB, c store.Courier, p store.DeliveryPolicy) {
	t.Helper()
	db.Deliver(c, p)
	if err := db.Work(context.Background(), func(context.Context, string) (time.Duration, error) { return time.Hour, nil }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = db.StopWork(ctx)
	})
}

func setEndpoints(t *testing.T, db *store.DB, eps ...store.Endpoint) {
	t.Helper()
	if err := db.SetEndpoints(t.Context(), eps); err != nil {
		t.Fatal(err)
	}
}

// waitDeliveries polls the lead's deliveries until done says they are as wanted.
func waitDeliveries(t *testing.T, db *store.DB, id string, done func([]dialer.Delivery) bool) []dialer.Delivery {
	t.Helper()
	var ds []dialer.Delivery
	if !wait.Until(30*time.Second, func() bool {
		var err error
		if ds, err = db.Deliveries(t.Context(), "", id); err != nil {
			t.Fatal(err)
		}
		return done(ds)
	}) {
		t.Fatalf("deliveries of %s not as wanted after 30 s: %+v", id, ds)
	}
	return ds
}

func allFinal(ds []dialer.Delivery) bool {
	for _, d := range ds {
		if !d.State.Final() {
			return false
		}
	}
	return len(ds) > 0
}

func summary(ds []dialer.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s>%s:%s", d.Event.Type, d.Endpoint, d.State))
	}
	return out
}

// An event's deliveries are written with it: one per endpoint of the lead's dealer
// that takes its type, each with the URL as shown; none of another dealer's; none for a
// change refused because the lead was final.
func TestDeliveriesWrittenWithEvent(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		setEndpoints(t, db,
			store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"},
			store.Endpoint{ID: "bi", Dealer: "jansen", URL: "https://bi.example/in", Version: "1",
				Events: []dialer.EventType{dialer.EventConnected}},
			store.Endpoint{ID: "other", Dealer: "bakker", URL: "https://bakker.example/", Version: "1"},
		)
		l := mustCreate(t, db, newLead("jansen"))
		if ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusConnected, ConnectedAt: t0}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCanceled}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCompleted}); ok || err != nil {
			t.Fatal(ok, err) // refused: final already
		}
		ds, err := db.Deliveries(ctx, "jansen", l.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"lead.received>crm:pending", "lead.connected>bi:pending", "lead.connected>crm:pending", "lead.canceled>crm:pending"}
		if got := summary(ds); !slices.Equal(got, want) {
			t.Errorf("deliveries %q, want %q", got, want)
		}
		ids := map[string]bool{}
		for _, d := range ds {
			ids[d.ID] = true
			if d.URL == "" || d.Tries != 0 || d.Event.LeadID != l.ID || d.Event.Dealer != "jansen" {
				t.Errorf("delivery %+v", d)
			}
		}
		if len(ids) != len(ds) {
			t.Errorf("delivery ids repeat: %v", ids)
		}
		if _, err := db.Deliveries(ctx, "bakker", l.ID); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("another dealer's lead: %v", err)
		}
		if _, err := db.Deliveries(ctx, "jansen", "no-such-lead"); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("a missing lead: %v", err)
		}
	})
}

// The jobs deliver each event once per endpoint, in the order of the lead's events
// even when a try fails (a later event waits for the retry), with the body of the
// event's first try on every try and endpoint.
func TestDeliveryOrderAndRetry(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		setEndpoints(t, db,
			store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"},
			store.Endpoint{ID: "bi", Dealer: "jansen", URL: "https://bi.example/in", Version: "1"})
		c := &courier{}
		failed := map[string]int{}
		c.script = func(d dialer.Delivery) dialer.TryResult {
			// The crm endpoint fails connected twice (500, then a timeout); bi takes all.
			if d.Endpoint == "crm" && d.Event.Type == dialer.EventConnected && failed[d.ID] < 2 {
				failed[d.ID]++
				if failed[d.ID] == 1 {
					return dialer.TryResult{Outcome: dialer.TryFailed, Status: 500, Error: "500 Internal Server Error"}
				}
				return dialer.TryResult{Outcome: dialer.TryFailed, Error: "timeout"}
			}
			return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 200}
		}
		work(t, db, c, fastPolicy)
		l := mustCreate(t, db, newLead("jansen"))
		for _, u := range []dialer.LeadUpdate{
			{Status: dialer.StatusConnected, ConnectedAt: t0.Add(7 * time.Second)},
			{Status: dialer.StatusCompleted, EndedAt: t0.Add(time.Minute)},
		} {
			u.ID = l.ID
			if _, err := db.UpdateLead(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RecordEvent(ctx, l.ID, dialer.EventOutcome, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		ds := waitDeliveries(t, db, l.ID, func(ds []dialer.Delivery) bool { return len(ds) == 8 && allFinal(ds) })
		for _, d := range ds {
			wantTries := 1
			if d.Endpoint == "crm" && d.Event.Type == dialer.EventConnected {
				wantTries = 3
			}
			if d.State != dialer.DeliveryDelivered || d.Tries != wantTries || d.LastStatus != 200 || d.LastError != "" ||
				d.FirstTryAt.IsZero() || d.DoneAt.Before(d.LastTryAt) || !d.NextTryAt.IsZero() {
				t.Errorf("%s to %s: %+v, want delivered after %d tries", d.Event.Type, d.Endpoint, d, wantTries)
			}
		}

		order := map[string][]string{}
		bodies := map[int64]string{}
		for _, s := range c.sent() {
			order[s.Endpoint] = append(order[s.Endpoint], string(s.Event.Type))
			if prev, ok := bodies[s.Event.ID]; ok && prev != s.body {
				t.Errorf("%s: body changed between tries or endpoints:\n%s\n%s", s.Event.Type, prev, s.body)
			}
			bodies[s.Event.ID] = s.body
		}
		all := []string{"lead.received", "lead.connected", "lead.completed", "lead.outcome"}
		if got := slices.Compact(order["crm"]); !slices.Equal(got, all) {
			t.Errorf("crm got %q, want %q", order["crm"], all)
		}
		if !slices.Equal(order["bi"], all) {
			t.Errorf("bi got %q, want %q", order["bi"], all)
		}
		if len(order["crm"]) != 6 {
			t.Errorf("crm had %d tries, want 6: %q", len(order["crm"]), order["crm"])
		}
	})
}

// A lead's events to one endpoint are one stream with one job: those written behind an
// open delivery get no job of their own; the stream's job sends them, in order.
func TestDeliveryOneJobPerStream(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		db := mustOpen(t, u)
		ctx := t.Context()
		setEndpoints(t, db, store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"})
		l := mustCreate(t, db, newLead("jansen"))
		for _, u := range []dialer.LeadUpdate{
			{Status: dialer.StatusConnected, ConnectedAt: t0.Add(7 * time.Second)},
			{Status: dialer.StatusCompleted, EndedAt: t0.Add(time.Minute)},
		} {
			u.ID = l.ID
			if _, err := db.UpdateLead(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		var jobs int
		if err := rawDB(t, b, u).QueryRowContext(ctx,
			`SELECT count(*) FROM river_job WHERE kind = 'leadline_deliver_event'`).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 1 {
			t.Errorf("%d delivery jobs for one stream of 3 events, want 1", jobs)
		}
		c := &courier{}
		work(t, db, c, fastPolicy)
		waitDeliveries(t, db, l.ID, func(ds []dialer.Delivery) bool { return len(ds) == 3 && allFinal(ds) })
		var order []string
		for _, s := range c.sent() {
			order = append(order, string(s.Event.Type))
		}
		if want := []string{"lead.received", "lead.connected", "lead.completed"}; !slices.Equal(order, want) {
			t.Errorf("sent %q, want %q", order, want)
		}
	})
}

// A 410 Gone disables the endpoint: that delivery and every other open one to it end
// disabled, later events are not sent to it, and the other endpoint goes on. A new
// configuration of the endpoint (another Version) enables it again.
func TestDeliveryGoneDisablesEndpoint(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		crm := store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"}
		bi := store.Endpoint{ID: "bi", Dealer: "jansen", URL: "https://bi.example/in", Version: "1"}
		setEndpoints(t, db, crm, bi)
		c := &courier{}
		var gone sync.Once
		c.script = func(d dialer.Delivery) dialer.TryResult {
			if d.Endpoint == "crm" {
				var r dialer.TryResult
				gone.Do(func() { r = dialer.TryResult{Outcome: dialer.TryGone, Status: 410, Error: "410 Gone"} })
				if r.Outcome != 0 {
					return r
				}
			}
			return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 200}
		}
		work(t, db, c, fastPolicy)
		l := mustCreate(t, db, newLead("jansen"))
		ds := waitDeliveries(t, db, l.ID, allFinal)
		if got := summary(ds); !slices.Equal(got, []string{"lead.received>bi:delivered", "lead.received>crm:disabled"}) {
			t.Fatalf("after 410: %q", got)
		}
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusConnected, ConnectedAt: t0}); err != nil {
			t.Fatal(err)
		}
		l2 := mustCreate(t, db, newLead("jansen"))
		ds = waitDeliveries(t, db, l.ID, func(ds []dialer.Delivery) bool { return len(ds) == 4 && allFinal(ds) })
		want := []string{"lead.received>bi:delivered", "lead.received>crm:disabled", "lead.connected>bi:delivered", "lead.connected>crm:disabled"}
		if got := summary(ds); !slices.Equal(got, want) {
			t.Errorf("after the endpoint was disabled: %q, want %q", got, want)
		}
		if ds[3].Tries != 0 || !strings.Contains(ds[3].LastError, "410") {
			t.Errorf("a delivery to a disabled endpoint: %+v", ds[3])
		}
		waitDeliveries(t, db, l2.ID, allFinal)
		for _, s := range c.sent() {
			if s.Endpoint == "crm" && s.Event.LeadID == l2.ID {
				t.Errorf("sent %s of another lead to the disabled endpoint", s.Event.Type)
			}
		}

		crm.Version = "2" // the dealer changed the endpoint's configuration
		setEndpoints(t, db, crm, bi)
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCompleted}); err != nil {
			t.Fatal(err)
		}
		ds = waitDeliveries(t, db, l.ID, func(ds []dialer.Delivery) bool { return len(ds) == 6 && allFinal(ds) })
		if got := summary(ds[4:]); !slices.Equal(got, []string{"lead.completed>bi:delivered", "lead.completed>crm:delivered"}) {
			t.Errorf("after the endpoint changed: %q", got)
		}
	})
}

// A delivery that fails for the whole retry window gives up; the next event of the lead
// to that endpoint then goes.
func TestDeliveryGivesUp(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		setEndpoints(t, db, store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"})
		c := &courier{}
		c.script = func(d dialer.Delivery) dialer.TryResult {
			if d.Event.Type == dialer.EventReceived {
				return dialer.TryResult{Outcome: dialer.TryFailed, Status: 503, Error: "503 Service Unavailable"}
			}
			return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 200}
		}
		p := fastPolicy
		p.GiveUpAfter = 500 * time.Millisecond
		work(t, db, c, p)
		l := mustCreate(t, db, newLead("jansen"))
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusExhausted, EndedAt: t0}); err != nil {
			t.Fatal(err)
		}
		ds := waitDeliveries(t, db, l.ID, func(ds []dialer.Delivery) bool { return len(ds) == 2 && allFinal(ds) })
		if ds[0].State != dialer.DeliveryGaveUp || ds[0].Tries < 2 || ds[0].LastStatus != 503 || ds[1].State != dialer.DeliveryDelivered {
			t.Errorf("deliveries %+v", ds)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if n := len(c.observed); n < 3 || c.observed[n-1].State != dialer.DeliveryDelivered {
			t.Errorf("observed %+v", c.observed)
		}
	})
}

// A delivery whose endpoint was removed from the configuration before it was tried
// gives up without a try, once the retry window has passed since its event (until then
// another node may still have the endpoint); an event written after the removal has no
// delivery.
func TestDeliveryEndpointRemoved(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		setEndpoints(t, db, store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"})
		l := mustCreate(t, db, newLead("jansen"))
		setEndpoints(t, db) // the dealer removed its webhook
		if err := db.RecordEvent(ctx, l.ID, dialer.EventOutcome, t0); err != nil {
			t.Fatal(err)
		}
		c := &courier{}
		p := fastPolicy
		p.GiveUpAfter = time.Hour // the lead's event is days old (t0)
		work(t, db, c, p)
		ds := waitDeliveries(t, db, l.ID, allFinal)
		if len(ds) != 1 || ds[0].State != dialer.DeliveryGaveUp || ds[0].Tries != 0 || !strings.Contains(ds[0].LastError, "no longer") {
			t.Errorf("deliveries %+v", ds)
		}
		if s := c.sent(); len(s) != 0 {
			t.Errorf("sent %+v", s)
		}
	})
}

// rawDB opens the database at u directly, for what a test must do behind the store's
// back.
func rawDB(t *testing.T, b backend, u string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", u
	if b.name == "sqlite" {
		driver, dsn = "sqlite", strings.TrimPrefix(u, "sqlite://")
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// A try whose node died (kill -9 mid-delivery) leaves its lease; once it lapses the
// sweep gives the delivery a new job, which sends it again (the same webhook-id and
// body), and the later event goes after it.
func TestDeliveryTakenOverAfterNodeDied(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		db, err := store.OpenAndMigrate(t.Context(), u, store.WithTakeover(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ctx := t.Context()
		setEndpoints(t, db, store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"})
		l := mustCreate(t, db, newLead("jansen"))
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusExhausted, EndedAt: t0}); err != nil {
			t.Fatal(err)
		}
		ds, err := db.Deliveries(ctx, "", l.ID)
		if err != nil || len(ds) != 2 {
			t.Fatal(ds, err)
		}
		// As a node that died after it started the first try: a lease that has lapsed,
		// a try counted, a body fixed, and a job that is not the delivery's any more
		// (River would rescue it only after minutes).
		raw := rawDB(t, b, u)
		lapsed := time.Now().Add(-time.Second).UnixMilli()
		if _, err := raw.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_until = $1, tries = 1,
			first_try_at = $1, last_try_at = $1, job_id = job_id + 1000000 WHERE id = $2`, lapsed, ds[0].ID); err != nil {
			t.Fatal(err)
		}
		const sentBefore = `{"type":"lead.received","sent":"before the node died"}`
		if _, err := raw.ExecContext(ctx, `UPDATE lead_events SET body = $1 WHERE id = $2`, []byte(sentBefore), ds[0].Event.ID); err != nil {
			t.Fatal(err)
		}
		c := &courier{}
		work(t, db, c, fastPolicy)
		ds = waitDeliveries(t, db, l.ID, allFinal)
		if got := summary(ds); !slices.Equal(got, []string{"lead.received>crm:delivered", "lead.exhausted>crm:delivered"}) {
			t.Fatalf("after the takeover: %q", got)
		}
		if ds[0].Tries != 2 {
			t.Errorf("received: %d tries, want 2 (one by the dead node)", ds[0].Tries)
		}
		sent := c.sent()
		if len(sent) != 2 || sent[0].ID != ds[0].ID || sent[0].body != sentBefore || sent[1].Event.Type != dialer.EventExhausted {
			t.Errorf("sent %+v", sent)
		}
	})
}

// A stream head whose job died before its try took a lease (a node killed right after
// River handed it the job) is given a new job by the sweep once it has been due for
// longer than a try may take: here its job is gone altogether.
func TestDeliveryIdleHeadTakenOver(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		db, err := store.OpenAndMigrate(t.Context(), u, store.WithTakeover(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		setEndpoints(t, db, store.Endpoint{ID: "crm", Dealer: "jansen", URL: "https://crm.example/hooks", Version: "1"})
		l := mustCreate(t, db, newLead("jansen")) // its event is days old (t0)
		if _, err := rawDB(t, b, u).ExecContext(t.Context(), `UPDATE webhook_deliveries SET job_id = 987654321`); err != nil {
			t.Fatal(err)
		}
		c := &courier{}
		work(t, db, c, fastPolicy)
		ds := waitDeliveries(t, db, l.ID, allFinal)
		if ds[0].State != dialer.DeliveryDelivered || len(c.sent()) != 1 {
			t.Errorf("deliveries %+v, sent %d", ds, len(c.sent()))
		}
	})
}
