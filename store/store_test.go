package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/pgtest"
	"github.com/leadline/leadline/store"
)

// The contract suite: every test runs against SQLite (a file in t.TempDir) and, when
// PG_TEST_URL is set, against PostgreSQL, each test in a database of its own.
//
//	eval "$(scripts/pg.sh start)" && go test -race ./store/... ; scripts/pg.sh stop

type backend struct {
	name string
	// newURL returns the URL of a fresh, empty database that lives as long as tb.
	newURL func(tb testing.TB) string
}

var backends = []backend{
	{name: "sqlite", newURL: sqliteURL},
	{name: "postgres", newURL: pgtest.URL},
}

func sqliteURL(tb testing.TB) string {
	return "sqlite://" + filepath.Join(tb.TempDir(), "leadline.db")
}

// each runs f once per backend, in parallel.
func each(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// mustOpen opens and migrates the store at u and closes it after the test.
func mustOpen(tb testing.TB, u string) *store.DB {
	tb.Helper()
	db, err := store.OpenAndMigrate(context.Background(), u)
	if err != nil {
		tb.Fatalf("open %s: %v", u, err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

func newDB(tb testing.TB, b backend) *store.DB {
	tb.Helper()
	return mustOpen(tb, b.newURL(tb))
}

// t0 is the tests' "now"; leases are computed from it.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// newLead returns a queued lead with a fresh uuid v7 id; ids made later sort later.
func newLead(dealer string) dialer.Lead {
	return dialer.Lead{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Dealer:    dealer,
		Status:    dialer.StatusQueued,
		Phone:     "+31612345678",
		Name:      "Eva Jansen",
		CreatedAt: t0,
	}
}

func mustCreate(tb testing.TB, db *store.DB, l dialer.Lead) dialer.Lead {
	tb.Helper()
	stored, out, err := db.CreateLead(context.Background(), l, dialer.CreateOptions{})
	if err != nil || out != dialer.OutcomeCreated {
		tb.Fatalf("CreateLead(%s) = %v, %v; want created", l.ID, out, err)
	}
	return stored
}

func mustGet(tb testing.TB, db *store.DB, id string) dialer.Lead {
	tb.Helper()
	l, err := db.GetLead(context.Background(), "", id)
	if err != nil {
		tb.Fatalf("GetLead(%s): %v", id, err)
	}
	return l
}

func equal(tb testing.TB, what string, got, want any) {
	tb.Helper()
	if !reflect.DeepEqual(got, want) {
		tb.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestCreateGetRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		amsterdam := time.FixedZone("CET", 3600)
		in := dialer.Lead{
			ID:             uuid.Must(uuid.NewV7()).String(),
			Dealer:         "jansen",
			Status:         dialer.StatusConnected,
			Name:           "Eva 'Jansen'; DROP TABLE leads; --",
			Phone:          "+31612345678",
			Email:          "eva@example.com",
			Source:         "website",
			Interest:       "Volvo XC60 ✓",
			Message:        "Bel me na 17:00\nalstublieft",
			AssignedTo:     "piet",
			ExternalID:     "crm-1",
			IdempotencyKey: "key-1",
			Channel:        dialer.ChannelEmail,
			Sender:         "no-reply@rtm.autoscout24.com",
			MessageID:      "20261127100000.1@rtm.autoscout24.com",
			CreatedAt:      time.Date(2026, 11, 27, 11, 0, 0, 123456789, amsterdam),
			ConnectedAt:    time.Date(2026, 11, 27, 11, 0, 7, 412999999, amsterdam),
			EndedAt:        time.Date(2026, 11, 27, 11, 3, 12, 100000000, amsterdam),
			Reason:         "bridged",
		}
		want := in
		want.CreatedAt = time.Date(2026, 11, 27, 10, 0, 0, 123000000, time.UTC)
		want.ConnectedAt = time.Date(2026, 11, 27, 10, 0, 7, 412000000, time.UTC)
		want.EndedAt = time.Date(2026, 11, 27, 10, 3, 12, 100000000, time.UTC)
		want.Attempts = []dialer.Attempt{}

		stored, out, err := db.CreateLead(ctx, in, dialer.CreateOptions{})
		if err != nil || out != dialer.OutcomeCreated {
			t.Fatalf("CreateLead = %v, %v", out, err)
		}
		equal(t, "stored", stored, want)
		equal(t, "GetLead", mustGet(t, db, in.ID), want)
		got, err := db.GetLead(ctx, "jansen", in.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "GetLead by dealer", got, want)
		if got.SpeedToLead() != 7289*time.Millisecond {
			t.Errorf("speed to lead %v", got.SpeedToLead())
		}

		// Unset times stay zero.
		bare := newLead("jansen")
		bare.CreatedAt = t0
		got = mustCreate(t, db, bare)
		if !got.ConnectedAt.IsZero() || !got.EndedAt.IsZero() || got.CreatedAt != t0 || got.Channel != dialer.ChannelAPI {
			t.Errorf("bare lead times: %+v", got)
		}

		for _, c := range []struct{ dealer, id string }{
			{"other", in.ID},
			{"jansen", uuid.Must(uuid.NewV7()).String()},
			{"", "missing"},
		} {
			if _, err := db.GetLead(ctx, c.dealer, c.id); !errors.Is(err, dialer.ErrNotFound) {
				t.Errorf("GetLead(%q, %q) = %v, want ErrNotFound", c.dealer, c.id, err)
			}
		}
	})
}

func TestCreateLeadRejects(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		for name, mod := range map[string]func(*dialer.Lead){
			"no id":      func(l *dialer.Lead) { l.ID = "" },
			"no dealer":  func(l *dialer.Lead) { l.Dealer = "" },
			"bad status": func(l *dialer.Lead) { l.Status = "ringing" },
			"no created": func(l *dialer.Lead) { l.CreatedAt = time.Time{} },
		} {
			l := newLead("jansen")
			mod(&l)
			if _, _, err := db.CreateLead(ctx, l, dialer.CreateOptions{}); err == nil || !strings.HasPrefix(err.Error(), "create lead: ") {
				t.Errorf("%s: err = %v, want a create lead error", name, err)
			}
		}
		// The same id twice, no keys to dedupe on: an error, not a silent no-op.
		l := mustCreate(t, db, newLead("jansen"))
		if _, out, err := db.CreateLead(ctx, l, dialer.CreateOptions{}); err == nil || out != 0 {
			t.Errorf("duplicate id: %v, err %v; want an error", out, err)
		}
	})
}

func TestCreateLeadDedupe(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()

		first := newLead("jansen")
		first.IdempotencyKey = "idem-1"
		first.ExternalID = "crm-1"
		first = mustCreate(t, db, first)
		if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: first.ID, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0}); err != nil {
			t.Fatal(err)
		}

		for name, c := range map[string]struct {
			dealer, idem, ext string
			created           bool
		}{
			"same idempotency key":         {"jansen", "idem-1", "", false},
			"same external id":             {"jansen", "", "crm-1", false},
			"same key, other external id":  {"jansen", "idem-1", "crm-other", false},
			"other key, same external id":  {"jansen", "idem-other", "crm-1", false},
			"same keys, other dealer":      {"bakker", "idem-1", "crm-1", true},
			"no keys":                      {"jansen", "", "", true},
			"new key and external id":      {"jansen", "idem-2", "crm-2", true},
			"key equal to an external id":  {"jansen", "crm-1", "", true},
			"external id equal to the key": {"jansen", "", "idem-1", true},
		} {
			l := newLead(c.dealer)
			l.IdempotencyKey, l.ExternalID = c.idem, c.ext
			got, out, err := db.CreateLead(ctx, l, dialer.CreateOptions{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			created := out == dialer.OutcomeCreated
			if created != c.created {
				t.Errorf("%s: created = %v, want %v", name, created, c.created)
			}
			if !created {
				if got.ID != first.ID || len(got.Attempts) != 1 {
					t.Errorf("%s: got lead %s with %d attempts, want the first, %s, with 1", name, got.ID, len(got.Attempts), first.ID)
				}
			} else if got.ID != l.ID {
				t.Errorf("%s: created lead has id %s, want %s", name, got.ID, l.ID)
			}
		}
	})
}

func TestCreateLeadDedupeConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		for _, key := range []string{"idempotency key", "external id"} {
			var (
				wg      sync.WaitGroup
				created atomic.Int32
				mu      sync.Mutex
				ids     = map[string]int{}
			)
			for range 20 {
				wg.Go(func() {
					l := newLead("jansen")
					if key == "idempotency key" {
						l.IdempotencyKey = "concurrent"
					} else {
						l.ExternalID = "concurrent"
					}
					got, out, err := db.CreateLead(t.Context(), l, dialer.CreateOptions{})
					if err != nil {
						t.Errorf("%s: %v", key, err)
						return
					}
					if out == dialer.OutcomeCreated {
						created.Add(1)
					}
					mu.Lock()
					ids[got.ID]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if created.Load() != 1 || len(ids) != 1 {
				t.Errorf("%s: %d created, ids returned %v; want 1 created and one id", key, created.Load(), ids)
			}
		}
	})
}

func TestListLeads(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		var ids []string // jansen's, oldest first
		statuses := []dialer.Status{dialer.StatusQueued, dialer.StatusCompleted, dialer.StatusQueued,
			dialer.StatusFailed, dialer.StatusCompleted, dialer.StatusQueued, dialer.StatusCompleted}
		for i, s := range statuses {
			l := newLead("jansen")
			l.Status = s
			ids = append(ids, mustCreate(t, db, l).ID)
			if i%2 == 0 {
				mustCreate(t, db, newLead("bakker"))
			}
		}
		newestFirst := func(keep func(i int) bool) []string {
			var out []string
			for i := len(ids) - 1; i >= 0; i-- {
				if keep(i) {
					out = append(out, ids[i])
				}
			}
			return out
		}
		pages := func(q dialer.ListQuery) (all []string, sizes []int) {
			t.Helper()
			for n := 0; ; n++ {
				if n > 20 {
					t.Fatal("paging does not end")
				}
				leads, next, err := db.ListLeads(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range leads {
					if l.Attempts != nil || l.Dealer != q.Dealer || (q.Status != "" && l.Status != q.Status) {
						t.Errorf("unexpected lead in list: %+v", l)
					}
					all = append(all, l.ID)
				}
				sizes = append(sizes, len(leads))
				if next == "" {
					return all, sizes
				}
				q.Cursor = next
			}
		}

		all, sizes := pages(dialer.ListQuery{Dealer: "jansen", Limit: 3})
		equal(t, "all, limit 3", all, newestFirst(func(int) bool { return true }))
		equal(t, "page sizes", sizes, []int{3, 3, 1})

		all, sizes = pages(dialer.ListQuery{Dealer: "jansen", Limit: 3, Status: dialer.StatusCompleted})
		equal(t, "completed", all, newestFirst(func(i int) bool { return statuses[i] == dialer.StatusCompleted }))
		equal(t, "completed page sizes", sizes, []int{3}) // a full last page still ends

		all, _ = pages(dialer.ListQuery{Dealer: "jansen", Status: dialer.StatusQueued, Limit: 2})
		equal(t, "queued", all, newestFirst(func(i int) bool { return statuses[i] == dialer.StatusQueued }))

		all, _ = pages(dialer.ListQuery{Dealer: "nobody"})
		if len(all) != 0 {
			t.Errorf("unknown dealer: %v", all)
		}
		if _, _, err := db.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Status: "ringing"}); err == nil {
			t.Error("unknown status: no error")
		}

		// Limits are clamped to 1..100, default 50.
		for range 101 - len(ids) {
			ids = append(ids, mustCreate(t, db, newLead("jansen")).ID)
		}
		for _, c := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {1, 1}, {100, 100}, {1000, 100}} {
			leads, next, err := db.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Limit: c.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(leads) != c.want || next != leads[len(leads)-1].ID || leads[0].ID != ids[len(ids)-1] {
				t.Errorf("limit %d: %d leads, next %q", c.limit, len(leads), next)
			}
		}
	})
}

// A cursor that is not a lead id as the store gives them out is dialer.ErrBadCursor,
// not a page: not an empty one, nor one read from some other place in the list.
func TestListLeadsBadCursor(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		var ids []string
		for range 3 {
			ids = append(ids, mustCreate(t, db, newLead("jansen")).ID)
		}
		_, next, err := db.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Limit: 1})
		if err != nil || next != ids[2] {
			t.Fatalf("first page: next %q, %v", next, err)
		}
		for _, c := range []string{
			"garbage", "' OR 1=1 --", "zzzz", "0", strings.ToUpper(next), "{" + next + "}", "urn:uuid:" + next,
			strings.ReplaceAll(next, "-", ""), next + " ", " " + next, next[:35], next + "0", "\x00" + next,
		} {
			leads, nc, err := db.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Cursor: c})
			if !errors.Is(err, dialer.ErrBadCursor) {
				t.Errorf("cursor %q: %d leads, next %q, %v; want ErrBadCursor", c, len(leads), nc, err)
			}
		}
		// A cursor is a place in the list, whether or not a lead has that id.
		for c, want := range map[string][]string{
			next:                                   {ids[1], ids[0]},
			"ffffffff-ffff-7fff-bfff-ffffffffffff": {ids[2], ids[1], ids[0]},
			"00000000-0000-0000-0000-000000000000": nil,
		} {
			leads, _, err := db.ListLeads(ctx, dialer.ListQuery{Dealer: "jansen", Cursor: c})
			var got []string
			for _, l := range leads {
				got = append(got, l.ID)
			}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("cursor %s: %v, %v; want %v", c, got, err, want)
			}
		}
	})
}

// A lead created with a lease is held from the start; releasing it makes its queue job
// due at once, so a restarted node resumes it without waiting for the takeover time.
func TestCreateWithLeaseAndRelease(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		in := newLead("jansen")
		l, out, err := db.CreateLead(ctx, in, dialer.CreateOptions{Lease: dialer.Lease{Node: "n1", Until: t0.Add(time.Minute)}})
		if err != nil || out != dialer.OutcomeCreated {
			t.Fatalf("create: %v %v", out, err)
		}
		if _, err := db.Claim(ctx, l.ID, "n2", t0.Add(time.Second), t0.Add(time.Minute)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n2 claims a lead created with n1's lease: %v", err)
		}
		due := func() bool {
			var n int
			q := `SELECT count(*) FROM river_job WHERE state = 'available'`
			if err := db.SQL().QueryRowContext(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}
		if due() {
			t.Error("watch job due at once after create; want it scheduled after the takeover time")
		}
		if err := db.Release(ctx, l.ID, "n1"); err != nil {
			t.Fatal(err)
		}
		if !due() {
			t.Error("watch job not due after release")
		}
		if _, err := db.Claim(ctx, l.ID, "n2", t0.Add(time.Second), t0.Add(time.Minute)); err != nil {
			t.Errorf("n2 cannot claim a released lead: %v", err)
		}
		if err := db.Release(ctx, l.ID, "n1"); err != nil {
			t.Errorf("releasing a lease held by another node: %v, want nil", err)
		}
		if err := db.Release(ctx, "missing", "n1"); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("releasing a missing lead: %v", err)
		}
	})
}

func TestLease(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		a := dialer.Attempt{LeadID: l.ID, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0}
		if err := db.InsertAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}

		got, err := db.Claim(ctx, l.ID, "n1", t0, t0.Add(30*time.Second))
		if err != nil {
			t.Fatalf("n1 claims: %v", err)
		}
		if got.ID != l.ID || len(got.Attempts) != 1 || got.Attempts[0].ID != a.ID {
			t.Errorf("claim returned %+v", got)
		}
		if _, err := db.Claim(ctx, l.ID, "n2", t0.Add(10*time.Second), t0.Add(40*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n2 claims a held lease: %v, want ErrLeaseHeld", err)
		}
		if _, err := db.Claim(ctx, l.ID, "n1", t0.Add(10*time.Second), t0.Add(40*time.Second)); err != nil {
			t.Errorf("n1 claims again: %v", err)
		}
		if st, err := renew(ctx, db, l.ID, "n1", t0.Add(50*time.Second)); err != nil || st != dialer.StatusQueued {
			t.Errorf("n1 renews: %q, %v", st, err)
		}
		if _, err := renew(ctx, db, l.ID, "n2", t0.Add(50*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n2 renews: %v, want ErrLeaseHeld", err)
		}
		// At exactly the expiry the lease still holds; after it, another node may claim.
		if _, err := db.Claim(ctx, l.ID, "n2", t0.Add(50*time.Second), t0.Add(80*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n2 claims at expiry: %v, want ErrLeaseHeld", err)
		}
		if _, err := db.Claim(ctx, l.ID, "n2", t0.Add(51*time.Second), t0.Add(80*time.Second)); err != nil {
			t.Errorf("n2 claims an expired lease: %v", err)
		}
		if _, err := renew(ctx, db, l.ID, "n1", t0.Add(90*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n1 renews a lease n2 took: %v, want ErrLeaseHeld", err)
		}
		if err := db.Release(ctx, l.ID, "n1"); err != nil {
			t.Errorf("n1 releases a lease it lost: %v, want nil", err)
		}
		if _, err := db.Claim(ctx, l.ID, "n1", t0.Add(52*time.Second), t0.Add(90*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n1's release freed n2's lease: %v", err)
		}
		if err := db.Release(ctx, l.ID, "n2"); err != nil {
			t.Fatalf("n2 releases: %v", err)
		}
		if _, err := renew(ctx, db, l.ID, "n2", t0.Add(90*time.Second)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("n2 renews a released lease: %v, want ErrLeaseHeld", err)
		}
		if _, err := db.Claim(ctx, l.ID, "n1", t0.Add(53*time.Second), t0.Add(90*time.Second)); err != nil {
			t.Errorf("n1 claims a released lease before it expired: %v", err)
		}

		// A cancel written elsewhere ends the lease; the holder learns it from Renew.
		if ok, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: dialer.StatusCanceled, EndedAt: t0.Add(time.Minute), Reason: "canceled through the API"}); !ok || err != nil {
			t.Fatalf("cancel: %v, %v", ok, err)
		}
		if st, err := renew(ctx, db, l.ID, "n1", t0.Add(2*time.Minute)); err != nil || st != dialer.StatusCanceled {
			t.Errorf("renew after cancel: %q, %v; want canceled, nil", st, err)
		}
		got, err = db.Claim(ctx, l.ID, "n2", t0.Add(54*time.Second), t0.Add(2*time.Minute))
		if err != nil || got.Status != dialer.StatusCanceled || len(got.Attempts) != 1 {
			t.Errorf("claim of a final lead: %+v, %v; want the lead and no error", got, err)
		}
		if _, err := renew(ctx, db, l.ID, "n2", t0.Add(2*time.Minute)); err != nil {
			t.Errorf("renew of a final lead: %v", err)
		}

		missing := uuid.Must(uuid.NewV7()).String()
		if _, err := db.Claim(ctx, missing, "n1", t0, t0.Add(time.Minute)); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("claim missing: %v", err)
		}
		if _, err := renew(ctx, db, missing, "n1", t0.Add(time.Minute)); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("renew missing: %v", err)
		}
		if err := db.Release(ctx, missing, "n1"); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("release missing: %v", err)
		}
		if _, err := db.Claim(ctx, l.ID, "", t0, t0.Add(time.Minute)); err == nil {
			t.Error("claim with no node name: no error")
		}
	})
}

func TestClaimConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		l := mustCreate(t, db, newLead("jansen"))
		var (
			wg      sync.WaitGroup
			won     atomic.Int32
			refused atomic.Int32
		)
		for i := range 10 {
			wg.Go(func() {
				_, err := db.Claim(t.Context(), l.ID, fmt.Sprintf("node%d", i), t0, t0.Add(time.Minute))
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, dialer.ErrLeaseHeld):
					refused.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || refused.Load() != 9 {
			t.Errorf("%d nodes won the lease, %d refused; want 1 and 9", won.Load(), refused.Load())
		}
	})
}

func TestUpdateLead(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		if _, err := db.Claim(ctx, l.ID, "n1", t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		update := func(u dialer.LeadUpdate, wantUpdated bool) {
			t.Helper()
			u.ID = l.ID
			updated, err := db.UpdateLead(ctx, u)
			if err != nil || updated != wantUpdated {
				t.Fatalf("UpdateLead(%+v) = %v, %v; want %v, nil", u, updated, err, wantUpdated)
			}
		}
		connected := t0.Add(7412 * time.Millisecond)
		ended := t0.Add(3 * time.Minute)

		update(dialer.LeadUpdate{Status: dialer.StatusDialing}, true)
		update(dialer.LeadUpdate{Status: dialer.StatusConnected, ConnectedAt: connected, Reason: "bridged"}, true)
		got := mustGet(t, db, l.ID)
		if got.Status != dialer.StatusConnected || got.ConnectedAt != connected || !got.EndedAt.IsZero() || got.Reason != "bridged" {
			t.Errorf("after connect: %+v", got)
		}
		// Zero times are left as they are; a non-final status keeps the lease.
		update(dialer.LeadUpdate{Status: dialer.StatusConnected, Reason: "bridged"}, true)
		if st, err := renew(ctx, db, l.ID, "n1", t0.Add(2*time.Hour)); err != nil || st != dialer.StatusConnected {
			t.Errorf("renew while connected: %q, %v", st, err)
		}
		update(dialer.LeadUpdate{Status: dialer.StatusCompleted, EndedAt: ended, Reason: "call ended"}, true)
		want := mustGet(t, db, l.ID)
		if want.Status != dialer.StatusCompleted || want.ConnectedAt != connected || want.EndedAt != ended || want.Reason != "call ended" {
			t.Errorf("after complete: %+v", want)
		}
		// Nothing moves a lead out of a final status, nor changes it.
		for _, s := range []dialer.Status{dialer.StatusDialing, dialer.StatusCanceled, dialer.StatusCompleted} {
			update(dialer.LeadUpdate{Status: s, EndedAt: ended.Add(time.Hour), Reason: "late"}, false)
		}
		equal(t, "final lead after late updates", mustGet(t, db, l.ID), want)

		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: "missing", Status: dialer.StatusFailed}); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("update missing: %v", err)
		}
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: l.ID, Status: ""}); err == nil {
			t.Error("empty status: no error")
		}
	})
}

func TestAttempts(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		other := mustCreate(t, db, newLead("jansen"))
		ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

		as := []dialer.Attempt{
			{LeadID: l.ID, Step: 0, Leg: dialer.LegAgent, Person: "piet", StartedAt: ms(100)},
			{LeadID: l.ID, Step: 1, Leg: dialer.LegAgent, Person: "kees", StartedAt: ms(20100)},
			{LeadID: l.ID, Step: 1, Leg: dialer.LegAgent, Person: "anna", StartedAt: ms(20100)},
			{LeadID: l.ID, Step: 1, Leg: dialer.LegCustomer, Person: "anna", StartedAt: ms(31000)},
		}
		var last int64
		for i := range as {
			if err := db.InsertAttempt(ctx, &as[i]); err != nil {
				t.Fatal(err)
			}
			if as[i].ID <= last {
				t.Errorf("attempt ids not increasing: %d after %d", as[i].ID, last)
			}
			last = as[i].ID
			if i == 1 { // interleave another lead's attempt
				if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: other.ID, Leg: dialer.LegAgent, Person: "piet"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Updated out of order: the order stays that of insertion.
		as[3].Result, as[3].AnsweredAt, as[3].EndedAt = dialer.ResultAnswered, ms(35000), ms(190000)
		as[0].Result, as[0].SIPCode, as[0].EndedAt = dialer.ResultBusy, 486, ms(900)
		as[1].Result, as[1].EndedAt = dialer.ResultCanceled, ms(25000)
		as[2].Result, as[2].AnsweredAt, as[2].AcceptedAt, as[2].EndedAt = dialer.ResultAccepted, ms(24000), ms(30999), ms(190001)
		for _, i := range []int{3, 0, 2, 1} {
			if err := db.UpdateAttempt(ctx, as[i]); err != nil {
				t.Fatal(err)
			}
		}
		equal(t, "attempts", mustGet(t, db, l.ID).Attempts, as)
		if n := len(mustGet(t, db, other.ID).Attempts); n != 1 {
			t.Errorf("other lead has %d attempts, want 1", n)
		}

		if err := db.InsertAttempt(ctx, &dialer.Attempt{LeadID: "missing", Leg: dialer.LegAgent}); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("attempt for a missing lead: %v", err)
		}
		if err := db.UpdateAttempt(ctx, dialer.Attempt{ID: last + 100, Result: dialer.ResultBusy}); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("update of a missing attempt: %v", err)
		}
	})
}

func TestPing(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		if err := db.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := db.Ping(ctx); err == nil {
			t.Error("ping with a canceled context: no error")
		}
	})
}

func TestMigrateTwice(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b) // migrated once
		l := mustCreate(t, db, newLead("jansen"))
		versions := func() (n, max int64) {
			t.Helper()
			err := db.SQL().QueryRowContext(t.Context(),
				"SELECT COUNT(*), MAX(version_id) FROM leadline_migrations").Scan(&n, &max)
			if err != nil {
				t.Fatal(err)
			}
			return n, max
		}
		n, max := versions()
		for range 2 {
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("migrate again: %v", err)
			}
		}
		if n2, max2 := versions(); n2 != n || max2 != max {
			t.Errorf("migration table changed: %d rows to %d, version %d to %d", n, n2, max, max2)
		}
		mustGet(t, db, l.ID)
	})
}

func TestMigrateConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		// On PostgreSQL every goroutine has its own pool, as separate processes would; SQLite
		// is migrated by one process, so there they share one store.
		var dbs []*store.DB
		for i := range 4 {
			if b.name == "sqlite" && i > 0 {
				dbs = append(dbs, dbs[0])
				continue
			}
			db, err := store.Open(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			dbs = append(dbs, db)
		}
		var wg sync.WaitGroup
		for _, db := range dbs {
			wg.Go(func() {
				if err := db.Migrate(t.Context()); err != nil {
					t.Errorf("concurrent migrate: %v", err)
				}
			})
		}
		wg.Wait()
		l := mustCreate(t, dbs[3], newLead("jansen"))
		mustGet(t, dbs[0], l.ID)
	})
}

func TestReopenSQLite(t *testing.T) {
	t.Parallel()
	u := sqliteURL(t)
	db, err := store.OpenAndMigrate(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	l := mustCreate(t, db, newLead("jansen"))
	a := dialer.Attempt{LeadID: l.ID, Leg: dialer.LegAgent, Person: "piet", StartedAt: t0}
	if err := db.InsertAttempt(t.Context(), &a); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpen(t, u)
	got := mustGet(t, db, l.ID)
	l.Attempts = []dialer.Attempt{a}
	equal(t, "lead after reopen", got, l)
	var mode string
	if err := db.SQL().QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestSQLiteMemory(t *testing.T) {
	t.Parallel()
	db := mustOpen(t, "sqlite://:memory:")
	l := mustCreate(t, db, newLead("jansen"))
	mustGet(t, db, l.ID)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"mysql://localhost/leadline",
		"leadline.db",
		"sqlite://",
		"user:secret@localhost/leadline",
		"postgres://localhost:1/x?sslmode=bogus",
	} {
		_, err := store.Open(t.Context(), u)
		if err == nil || !strings.HasPrefix(err.Error(), "open store: ") || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v; want an open store error, without the password", u, err)
		}
	}
}

func BenchmarkCreateLead(b *testing.B) {
	// Each lead has a number of its own (the usual case); "/window" turns joining on,
	// which adds the open-lead check and, on PostgreSQL, the per-number lock.
	lead := func(i int64) dialer.Lead {
		l := newLead("jansen")
		l.Phone = fmt.Sprintf("+3162%07d", i%10_000_000)
		l.Source, l.Interest, l.Email = "website", "Volvo XC60", "eva@example.com"
		l.IdempotencyKey = l.ID
		l.ExternalID = fmt.Sprintf("crm-%d", i)
		return l
	}
	for _, be := range backends {
		for _, mode := range []struct {
			name string
			opts dialer.CreateOptions
		}{{"", dialer.CreateOptions{}}, {"/window", joinOpts(t0)}} {
			b.Run(be.name+mode.name, func(b *testing.B) {
				db := newDB(b, be)
				ctx := b.Context()
				b.ReportAllocs()
				var n int64
				for b.Loop() {
					n++
					if _, out, err := db.CreateLead(ctx, lead(n), mode.opts); err != nil || out != dialer.OutcomeCreated {
						b.Fatal(out, err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "leads/s")
			})
			b.Run(be.name+mode.name+"/parallel", func(b *testing.B) {
				db := newDB(b, be)
				ctx := b.Context()
				b.SetParallelism(4) // 4×GOMAXPROCS concurrent creators: an API under load
				b.ReportAllocs()
				var n atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, out, err := db.CreateLead(ctx, lead(n.Add(1)), mode.opts); err != nil || out != dialer.OutcomeCreated {
							b.Error(out, err)
							return
						}
					}
				})
				b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "leads/s")
			})
		}
	}
}

// renew renews one lease with RenewAll and answers as a single renewal would: the
// status when node holds it (or the lead is final), ErrLeaseHeld when another node
// does, ErrNotFound when there is no such lead.
func renew(ctx context.Context, db *store.DB, id, node string, until time.Time) (dialer.Status, error) {
	got, err := db.RenewAll(ctx, node, []string{id}, until)
	if err != nil {
		return "", err
	}
	r, ok := got[id]
	switch {
	case !ok:
		return "", dialer.ErrNotFound
	case !r.Held && !r.Status.Final():
		return "", dialer.ErrLeaseHeld
	}
	return r.Status, nil
}

// RenewAll renews many leases at once, more than one statement's worth, and tells held
// from lost, final and missing ones.
func TestRenewAll(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		var ids []string
		for i := range 1203 {
			l := newLead("jansen")
			l.Phone = fmt.Sprintf("+316%08d", i)
			l = mustCreate(t, db, l)
			if _, err := db.Claim(ctx, l.ID, "n1", t0, t0.Add(10*time.Second)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, l.ID)
		}
		// One taken over after its lease lapsed, one canceled, one released, one missing.
		if _, err := db.Claim(ctx, ids[7], "n2", t0.Add(11*time.Second), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpdateLead(ctx, dialer.LeadUpdate{ID: ids[600], Status: dialer.StatusCanceled, EndedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.Release(ctx, ids[1202], "n1"); err != nil {
			t.Fatal(err)
		}
		missing := uuid.Must(uuid.NewV7()).String()
		got, err := db.RenewAll(ctx, "n1", append(slices.Clone(ids), missing), t0.Add(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Errorf("%d renewals for %d leads", len(got), len(ids))
		}
		for i, id := range ids {
			want := dialer.Renewal{Status: dialer.StatusQueued, Held: true}
			switch i {
			case 7, 1202:
				want.Held = false
			case 600:
				want = dialer.Renewal{Status: dialer.StatusCanceled}
			}
			if got[id] != want {
				t.Errorf("lead %d: %+v, want %+v", i, got[id], want)
			}
		}
		// The renewed leases hold past their first expiry; n2 cannot take one.
		if _, err := db.Claim(ctx, ids[8], "n2", t0.Add(15*time.Second), t0.Add(time.Minute)); !errors.Is(err, dialer.ErrLeaseHeld) {
			t.Errorf("claim of a renewed lease: %v, want ErrLeaseHeld", err)
		}
	})
}
