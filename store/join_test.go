package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/store"
)

// window is the duplicate window of these tests: a lead created at or after
// at.Add(-window) joins.
const window = time.Hour

// joinOpts are CreateOptions with joining on, for a lead arriving at at.
func joinOpts(at time.Time) dialer.CreateOptions {
	return dialer.CreateOptions{JoinSince: at.Add(-window)}
}

// submission is a lead posted at t0+10m for the number of newLead.
func submission(dealer string) dialer.Lead {
	l := newLead(dealer)
	l.CreatedAt = t0.Add(10 * time.Minute)
	l.Name, l.Email, l.Source = "Eva J.", "eva@example.com", "facebook"
	l.Interest, l.Message, l.AssignedTo = "Volvo EX30", "Also a trade-in\nplease", "kees"
	l.Channel, l.Sender, l.MessageID = dialer.ChannelEmail, "crm@autohuisjansen.nl", "j@autohuisjansen.nl"
	return l
}

func create(t *testing.T, db *store.DB, l dialer.Lead, o dialer.CreateOptions, want dialer.Outcome) dialer.Lead {
	t.Helper()
	got, out, err := db.CreateLead(t.Context(), l, o)
	if err != nil || out != want {
		t.Fatalf("CreateLead(%s) = %v, %v; want %v", l.Name, out, err, want)
	}
	return got
}

func asDuplicate(l dialer.Lead) dialer.Duplicate {
	return dialer.Duplicate{
		ReceivedAt: l.CreatedAt, Name: l.Name, Email: l.Email, Source: l.Source, Interest: l.Interest,
		Message: l.Message, AssignedTo: l.AssignedTo, ExternalID: l.ExternalID, IdempotencyKey: l.IdempotencyKey,
		Channel: l.Channel, Sender: l.Sender, MessageID: l.MessageID,
	}
}

func TestCreateLeadJoins(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		open := newLead("jansen")
		open.Status = dialer.StatusDialing
		open.IdempotencyKey, open.ExternalID = "idem-open", "crm-open"
		open = mustCreate(t, db, open)
		if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: open.ID, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0}); err != nil {
			t.Fatal(err)
		}

		// Within the window: joined, and answered with the open lead as it is.
		j1 := submission("jansen")
		j1.IdempotencyKey, j1.ExternalID = "idem-j1", "crm-j1"
		got := create(t, db, j1, joinOpts(j1.CreatedAt), dialer.OutcomeJoined)
		if got.ID != open.ID || got.Name != open.Name || got.Status != dialer.StatusDialing || len(got.Attempts) != 1 {
			t.Errorf("joined answer: %+v; want the open lead %s with its attempt", got, open.ID)
		}
		equal(t, "duplicates in the answer", got.Duplicates, []dialer.Duplicate{asDuplicate(j1)})

		// On the edge of the window (created_at == JoinSince): joined too; the time is kept
		// to the millisecond, in UTC.
		j2 := submission("jansen")
		j2.CreatedAt = t0.Add(window).Add(123456789 * time.Nanosecond).In(time.FixedZone("CET", 3600))
		j2.Name, j2.ExternalID = "edge", ""
		create(t, db, j2, dialer.CreateOptions{JoinSince: t0}, dialer.OutcomeJoined)
		d2 := asDuplicate(j2)
		d2.ReceivedAt = t0.Add(window).Add(123 * time.Millisecond)
		want := []dialer.Duplicate{asDuplicate(j1), d2}
		equal(t, "GetLead duplicates, oldest first", mustGet(t, db, open.ID).Duplicates, want)
		if n := len(mustGet(t, db, open.ID).Attempts); n != 1 {
			t.Errorf("open lead has %d attempts, want 1", n)
		}

		// Repeats of a joined post, of the open lead itself, with joining on or off, by
		// key (whatever the number) or external id: the open lead, and nothing written.
		for name, c := range map[string]struct {
			idem, ext, phone string
			o                dialer.CreateOptions
		}{
			"join's key":                      {"idem-j1", "", "", joinOpts(t0)},
			"join's key, joining off":         {"idem-j1", "", "", dialer.CreateOptions{}},
			"join's key, another number":      {"idem-j1", "", "+31687654321", joinOpts(t0)},
			"join's external id":              {"", "crm-j1", "", joinOpts(t0)},
			"join's external id, joining off": {"", "crm-j1", "", dialer.CreateOptions{}},
			"open lead's key":                 {"idem-open", "", "", joinOpts(t0)},
			"open lead's external id":         {"", "crm-open", "", joinOpts(t0)},
		} {
			l := submission("jansen")
			l.IdempotencyKey, l.ExternalID = c.idem, c.ext
			if c.phone != "" {
				l.Phone = c.phone
			}
			got, out, err := db.CreateLead(ctx, l, c.o)
			if err != nil || out != dialer.OutcomeRepeat || got.ID != open.ID || len(got.Duplicates) != 2 || len(got.Attempts) != 1 {
				t.Errorf("%s: %v, %v, lead %s with %d duplicates; want a repeat of %s with 2", name, out, err, got.ID, len(got.Duplicates), open.ID)
			}
		}
		equal(t, "duplicates after repeats", mustGet(t, db, open.ID).Duplicates, want)
		if l, found, err := db.FindRepeat(ctx, "jansen", "", "crm-j1"); err != nil || !found || l.ID != open.ID || len(l.Duplicates) != 2 {
			t.Errorf("FindRepeat of a join's external id: %s, %v, %v; want the open lead", l.ID, found, err)
		}

		// Not joined: after the window, at another dealer, for another number, joining
		// off. In this order: the last makes a second open lead.
		for _, c := range []struct {
			name string
			mod  func(*dialer.Lead)
			o    dialer.CreateOptions
		}{
			{"after the window", func(*dialer.Lead) {}, dialer.CreateOptions{JoinSince: t0.Add(time.Millisecond)}},
			{"another dealer", func(l *dialer.Lead) { l.Dealer = "bakker" }, joinOpts(t0)},
			{"another number", func(l *dialer.Lead) { l.Phone = "+31687654321" }, joinOpts(t0)},
			{"joining off", func(*dialer.Lead) {}, dialer.CreateOptions{}},
		} {
			l := submission("jansen")
			c.mod(&l)
			got, out, err := db.CreateLead(ctx, l, c.o)
			if err != nil || out != dialer.OutcomeCreated || got.ID != l.ID || got.Duplicates != nil {
				t.Errorf("%s: %v, %v, lead %s; want lead %s created", c.name, out, err, got.ID, l.ID)
			}
		}
	})
}

// A final lead is not joined; of several open leads, the newest is.
func TestCreateLeadJoinsOpenOnly(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		older := newLead("jansen")
		older.CreatedAt = t0.Add(-time.Minute)
		older = mustCreate(t, db, older)
		newer := mustCreate(t, db, newLead("jansen"))

		got := create(t, db, submission("jansen"), joinOpts(t0.Add(10*time.Minute)), dialer.OutcomeJoined)
		if got.ID != newer.ID {
			t.Errorf("joined %s, want the newer open lead %s", got.ID, newer.ID)
		}
		for _, l := range []dialer.Lead{newer, older} {
			if ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCompleted, EndedAt: t0.Add(time.Minute)}); !ok || err != nil {
				t.Fatalf("finish %s: %v %v", l.ID, ok, err)
			}
		}
		s := submission("jansen")
		got = create(t, db, s, joinOpts(s.CreatedAt), dialer.OutcomeCreated)
		if got.ID != s.ID {
			t.Errorf("created %s, want %s", got.ID, s.ID)
		}
		if n := len(mustGet(t, db, older.ID).Duplicates); n != 0 {
			t.Errorf("older lead has %d duplicates", n)
		}
	})
}

// Concurrent posts for one number, through two connection pools (two nodes), make one
// lead and join it, or, with one idempotency key, one lead and repeats.
func TestCreateLeadJoinConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		nodes := []*store.DB{mustOpen(t, u), mustOpen(t, u)}
		for _, sameKey := range []bool{false, true} {
			phone := fmt.Sprintf("+3161234%04d", map[bool]int{false: 1, true: 2}[sameKey])
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				out = map[dialer.Outcome]int{}
				ids = map[string]int{}
			)
			for i := range 8 {
				wg.Go(func() {
					l := newLead("jansen")
					l.Phone, l.Name = phone, fmt.Sprintf("post %d", i)
					if sameKey {
						l.IdempotencyKey = "same"
					}
					got, o, err := nodes[i%2].CreateLead(t.Context(), l, joinOpts(t0))
					if err != nil {
						t.Errorf("post %d: %v", i, err)
						return
					}
					mu.Lock()
					out[o]++
					ids[got.ID]++
					mu.Unlock()
				})
			}
			wg.Wait()
			want := map[dialer.Outcome]int{dialer.OutcomeCreated: 1, dialer.OutcomeJoined: 7}
			if sameKey {
				want = map[dialer.Outcome]int{dialer.OutcomeCreated: 1, dialer.OutcomeRepeat: 7}
			}
			equal(t, fmt.Sprintf("outcomes, same key %v", sameKey), out, want)
			if len(ids) != 1 {
				t.Fatalf("same key %v: leads returned %v, want one", sameKey, ids)
			}
			for id := range ids {
				if n := len(mustGet(t, nodes[0], id).Duplicates); n != want[dialer.OutcomeJoined] {
					t.Errorf("same key %v: %d duplicates, want %d", sameKey, n, want[dialer.OutcomeJoined])
				}
			}
		}
	})
}

// Two posts with one idempotency key but different numbers at the same moment, one whose
// number has an open lead to join and one whose number has none: one of them is stored
// (a join or a new lead) and the other is a repeat of it, never both.
func TestCreateLeadKeyAcrossNumbers(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		nodes := []*store.DB{mustOpen(t, u), mustOpen(t, u)}
		for r := range 20 {
			open := newLead("jansen")
			open.Phone = fmt.Sprintf("+3161200%04d", r)
			create(t, nodes[0], open, joinOpts(t0), dialer.OutcomeCreated)
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				out   [2]dialer.Outcome
				ids   [2]string
			)
			for i, phone := range []string{open.Phone, fmt.Sprintf("+3161300%04d", r)} {
				wg.Go(func() {
					l := newLead("jansen")
					l.Phone, l.IdempotencyKey = phone, fmt.Sprintf("key-%d", r)
					<-start
					got, o, err := nodes[i].CreateLead(t.Context(), l, joinOpts(t0))
					if err != nil {
						t.Errorf("round %d, post %d: %v", r, i, err)
					}
					out[i], ids[i] = o, got.ID
				})
			}
			close(start)
			wg.Wait()
			if (out[0] == dialer.OutcomeRepeat) == (out[1] == dialer.OutcomeRepeat) || ids[0] != ids[1] {
				t.Fatalf("round %d: outcomes %v and %v, leads %s and %s; want one stored and a repeat of it", r, out[0], out[1], ids[0], ids[1])
			}
		}
	})
}
