package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/pgtest"
	"github.com/leadline/leadline/store"
)

// weekly is a dealer's report time in the fake mailer: Day at At, UTC.
type weekly struct {
	day time.Weekday
	at  time.Duration
}

// reportMailer is a store.ReportMailer that plans by its schedules, records every try
// and answers as its script says.
type reportMailer struct {
	mu       sync.Mutex
	weekly   map[string]weekly // by dealer; a dealer not in it has no weekly report
	sent     []dialer.ReportMail
	observed []dialer.ReportMail
	// script answers a try; nil: delivered.
	script func(r dialer.ReportMail) dialer.TryResult
	// block, when set, holds every Send until it is closed.
	block chan struct{}
}

func newReportMailer(schedules map[string]weekly) *reportMailer {
	return &reportMailer{weekly: schedules}
}

func (m *reportMailer) set(dealer string, w *weekly) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w == nil {
		delete(m.weekly, dealer)
		return
	}
	m.weekly[dealer] = *w
}

func (m *reportMailer) Next(dealer string, after time.Time) (dialer.ReportMail, bool) {
	m.mu.Lock()
	w, ok := m.weekly[dealer]
	m.mu.Unlock()
	if !ok {
		return dialer.ReportMail{}, false
	}
	t := after.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day()+(int(w.day)-int(t.Weekday())+7)%7, 0, 0, 0, 0, time.UTC)
	due := day.Add(w.at)
	if !due.After(after) {
		day = day.AddDate(0, 0, 7)
		due = day.Add(w.at)
	}
	y, wk := due.ISOWeek()
	return dialer.ReportMail{
		Dealer: dealer, Week: fmt.Sprintf("%04d-W%02d", y, wk), DueAt: due,
		From: day.AddDate(0, 0, -7).Format(time.DateOnly), To: day.AddDate(0, 0, -1).Format(time.DateOnly),
	}, true
}

func (m *reportMailer) Send(ctx context.Context, r dialer.ReportMail) dialer.TryResult {
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return dialer.TryResult{Outcome: dialer.TryFailed, Error: ctx.Err().Error()}
		}
	}
	m.mu.Lock()
	m.sent = append(m.sent, r)
	script := m.script
	m.mu.Unlock()
	if script == nil {
		return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 250}
	}
	return script(r)
}

func (m *reportMailer) Observe(r dialer.ReportMail, _ dialer.TryResult) {
	m.mu.Lock()
	m.observed = append(m.observed, r)
	m.mu.Unlock()
}

// sentWeeks lists the weeks of the tries, in order.
func (m *reportMailer) sentWeeks() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.sent {
		out = append(out, r.Dealer+" "+r.Week)
	}
	return out
}

// plans are the mailer's plans after now, for dealers.
func (m *reportMailer) plans(now time.Time, dealers ...string) []dialer.ReportMail {
	var out []dialer.ReportMail
	for _, d := range dealers {
		if p, ok := m.Next(d, now); ok {
			out = append(out, p)
		}
	}
	return out
}

// stepClock is the wall clock moved by an offset a test sets: it runs, so that waits
// on it pass, and it jumps when the test says.
type stepClock struct{ offset atomic.Int64 }

// newStepClock returns a clock that reads at now.
func newStepClock(at time.Time) *stepClock {
	c := &stepClock{}
	c.set(at)
	return c
}

func (c *stepClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// set makes the clock read at now.
func (c *stepClock) set(at time.Time) { c.offset.Store(int64(time.Until(at))) }

// Monday 23 November 2026 is in ISO week 48; its report covers 16 to 22 November.
var (
	monday   = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	mon0800  = weekly{day: time.Monday, at: 8 * time.Hour}
	week48   = "jansen 2026-W48"
	week49   = "jansen 2026-W49"
	dueWeek1 = monday.Add(8 * time.Hour)
)

// openAt opens the store at u on clock c, sweeping every 200 ms, with m installed,
// closed at the end of the test.
func openAt(t *testing.T, u string, c *stepClock, m store.ReportMailer) *store.DB {
	t.Helper()
	db, err := store.OpenAndMigrate(t.Context(), u, store.WithNow(c.now), store.WithTakeover(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.MailReports(m)
	return db
}

// reportSummary lists a dealer's report mails, the latest first: week and state.
func reportSummary(rs []dialer.ReportMail) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s:%s", r.Week, r.State))
	}
	return out
}

// waitReports polls the dealer's report mails until done says they are as wanted.
func waitReports(t *testing.T, db *store.DB, dealer string, done func([]dialer.ReportMail) bool) []dialer.ReportMail {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := db.ReportMails(t.Context(), dealer)
		if err != nil {
			t.Fatal(err)
		}
		if done(rs) {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("report mails of %s not as wanted after 30 s: %q", dealer, reportSummary(rs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// summaryIs is a waitReports condition: the mails are want.
func summaryIs(want ...string) func([]dialer.ReportMail) bool {
	return func(rs []dialer.ReportMail) bool { return slices.Equal(reportSummary(rs), want) }
}

func planReports(t *testing.T, db *store.DB, plans []dialer.ReportMail) {
	t.Helper()
	if err := db.PlanReports(t.Context(), plans); err != nil {
		t.Fatal(err)
	}
}

// A week's report is planned, sent once when it falls due on the store's clock (set
// forward: the sweep wakes its job), and the next week's is planned with it. Planning
// again (a reload, another node's start) sends nothing more. A store stopped over the
// next one's time and opened again sends it, late, once; then plans the week after, not
// the weeks missed.
func TestReportMailOncePerWeek(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		clock := newStepClock(dueWeek1.Add(-time.Hour))
		m := newReportMailer(map[string]weekly{"jansen": mon0800})
		db := openAt(t, u, clock, m)
		planReports(t, db, m.plans(clock.now(), "jansen"))
		rs, err := db.ReportMails(t.Context(), "jansen")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].Week != "2026-W48" || rs[0].State != dialer.DeliveryPending || !rs[0].DueAt.Equal(dueWeek1) ||
			rs[0].From != "2026-11-16" || rs[0].To != "2026-11-22" || rs[0].Tries != 0 {
			t.Fatalf("planned %+v", rs)
		}
		work(t, db, &courier{}, fastPolicy)

		clock.set(dueWeek1.Add(time.Second))
		rs = waitReports(t, db, "jansen", summaryIs("2026-W49:pending", "2026-W48:delivered"))
		if r := rs[1]; r.Tries != 1 || r.LastStatus != 250 || r.DoneAt.Before(dueWeek1) || r.FirstTryAt.Before(dueWeek1) {
			t.Errorf("week 48: %+v", r)
		}
		if r := rs[0]; !r.DueAt.Equal(dueWeek1.AddDate(0, 0, 7)) || r.Tries != 0 {
			t.Errorf("week 49: %+v", r)
		}
		if got := m.sentWeeks(); !slices.Equal(got, []string{week48}) {
			t.Fatalf("sent %q", got)
		}
		// Planned again, as a reload or another node's start does: the same.
		planReports(t, db, m.plans(clock.now(), "jansen"))
		if rs, _ := db.ReportMails(t.Context(), "jansen"); !slices.Equal(reportSummary(rs), []string{"2026-W49:pending", "2026-W48:delivered"}) {
			t.Errorf("planned again: %q", reportSummary(rs))
		}

		// Stopped over week 49's time, opened again a day after it.
		if err := db.StopWork(t.Context()); err != nil {
			t.Fatal(err)
		}
		db.Close()
		clock.set(dueWeek1.AddDate(0, 0, 8))
		db = openAt(t, u, clock, m)
		planReports(t, db, m.plans(clock.now(), "jansen"))
		work(t, db, &courier{}, fastPolicy)
		waitReports(t, db, "jansen", summaryIs("2026-W50:pending", "2026-W49:delivered", "2026-W48:delivered"))
		if got := m.sentWeeks(); !slices.Equal(got, []string{week48, week49}) {
			t.Errorf("sent %q, want each week once", got)
		}
	})
}

// Two nodes on one PostgreSQL database plan the same week at once and both work the
// queue: the week's report is tried once, by one of them.
func TestReportMailTwoNodes(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	clock := newStepClock(dueWeek1.Add(-time.Hour))
	var nodes []*store.DB
	var mailers []*reportMailer
	for range 2 {
		m := newReportMailer(map[string]weekly{"jansen": mon0800})
		mailers = append(mailers, m)
		nodes = append(nodes, openAt(t, u, clock, m))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, db := range nodes {
		wg.Go(func() { errs[i] = db.PlanReports(t.Context(), mailers[i].plans(clock.now(), "jansen")) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, db := range nodes {
		work(t, db, &courier{}, fastPolicy)
	}
	clock.set(dueWeek1.Add(time.Second))
	rs := waitReports(t, nodes[0], "jansen", summaryIs("2026-W49:pending", "2026-W48:delivered"))
	if rs[1].Tries != 1 {
		t.Errorf("week 48 tried %d times", rs[1].Tries)
	}
	if got := append(mailers[0].sentWeeks(), mailers[1].sentWeeks()...); !slices.Equal(got, []string{week48}) {
		t.Errorf("sent %q, want week 48 once", got)
	}
}

// A failed try is tried again by the delivery policy's backoff; each try is observed.
// A try that fails until GiveUpAfter since the first gives the week up, and the next
// week is planned all the same.
func TestReportMailRetriesAndGivesUp(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		clock := newStepClock(dueWeek1.Add(time.Second))
		m := newReportMailer(map[string]weekly{"jansen": mon0800, "bakker": mon0800})
		var jansenTries atomic.Int32
		m.script = func(r dialer.ReportMail) dialer.TryResult {
			if r.Dealer == "jansen" && jansenTries.Add(1) == 1 {
				return dialer.TryResult{Outcome: dialer.TryFailed, Status: 451, Error: "451 4.3.0 try later"}
			}
			if r.Dealer == "bakker" {
				return dialer.TryResult{Outcome: dialer.TryFailed, Status: 554, Error: "554 no"}
			}
			return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 250}
		}
		db := openAt(t, b.newURL(t), clock, m)
		// Planned a second before the time, so that the mails are due as work starts.
		planReports(t, db, m.plans(dueWeek1.Add(-time.Second), "jansen", "bakker"))
		policy := fastPolicy
		policy.GiveUpAfter = 2 * time.Second // bakker: about ten tries
		work(t, db, &courier{}, policy)
		rs := waitReports(t, db, "jansen", summaryIs("2026-W49:pending", "2026-W48:delivered"))
		if r := rs[1]; r.Tries != 2 || r.LastStatus != 250 || r.LastError != "" {
			t.Errorf("jansen week 48: %+v", r)
		}
		rs = waitReports(t, db, "bakker", summaryIs("2026-W49:pending", "2026-W48:gave_up"))
		if r := rs[1]; r.Tries < 2 || r.LastStatus != 554 || r.LastError != "554 no" {
			t.Errorf("bakker week 48: %+v", r)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		var states []string
		for _, r := range m.observed {
			if r.Dealer == "jansen" {
				states = append(states, string(r.State))
			}
		}
		if !slices.Equal(states, []string{"failed", "delivered"}) {
			t.Errorf("jansen observed %q", states)
		}
	})
}

// A node that died mid-try (kill -9) leaves its lease; once it lapses the sweep gives
// the mail a new job, which tries it again: at least once.
func TestReportMailTakenOverAfterNodeDied(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		clock := newStepClock(dueWeek1.Add(time.Minute))
		m := newReportMailer(map[string]weekly{"jansen": mon0800})
		db := openAt(t, u, clock, m)
		planReports(t, db, m.plans(dueWeek1.Add(-time.Second), "jansen"))
		// As a node that died after it started the first try: a lease that lapsed, a try
		// counted, and a job that is not the mail's any more.
		lapsed := clock.now().Add(-time.Second).UnixMilli()
		if _, err := rawDB(t, b, u).ExecContext(t.Context(), `UPDATE report_mails SET lease_until = $1, tries = 1,
			first_try_at = $1, job_id = job_id + 1000000`, lapsed); err != nil {
			t.Fatal(err)
		}
		work(t, db, &courier{}, fastPolicy)
		rs := waitReports(t, db, "jansen", summaryIs("2026-W49:pending", "2026-W48:delivered"))
		if rs[1].Tries != 2 {
			t.Errorf("week 48: %d tries, want 2 (one by the dead node)", rs[1].Tries)
		}
		if got := m.sentWeeks(); !slices.Equal(got, []string{week48}) {
			t.Errorf("sent %q", got)
		}
	})
}

// A mail whose job River lost (pruned, or never written by a node that died) is given
// a new one by the sweep once it is due.
func TestReportMailLostJobReplaced(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		clock := newStepClock(dueWeek1.Add(-time.Hour))
		m := newReportMailer(map[string]weekly{"jansen": mon0800})
		db := openAt(t, u, clock, m)
		planReports(t, db, m.plans(clock.now(), "jansen"))
		if _, err := rawDB(t, b, u).ExecContext(t.Context(), `UPDATE report_mails SET job_id = 987654321`); err != nil {
			t.Fatal(err)
		}
		work(t, db, &courier{}, fastPolicy)
		clock.set(dueWeek1.Add(time.Second))
		waitReports(t, db, "jansen", summaryIs("2026-W49:pending", "2026-W48:delivered"))
		if got := m.sentWeeks(); !slices.Equal(got, []string{week48}) {
			t.Errorf("sent %q", got)
		}
	})
}

// Planning follows the configuration: a changed time replaces the untried mail; a
// week already sent is not planned again when the time moves later in that week (the
// next week's is); a dealer without a weekly report any more loses its untried mail; a
// mail tried already stays whatever the plan.
func TestPlanReports(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		u := b.newURL(t)
		clock := newStepClock(dueWeek1.Add(-time.Hour))
		m := newReportMailer(map[string]weekly{"jansen": mon0800, "bakker": mon0800})
		db := openAt(t, u, clock, m)
		ctx := t.Context()
		summary := func(dealer string) []string {
			t.Helper()
			rs, err := db.ReportMails(ctx, dealer)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, fmt.Sprintf("%s %s %s", r.Week, r.DueAt.Format("Mon 15:04"), r.State))
			}
			return out
		}
		planReports(t, db, m.plans(clock.now(), "jansen", "bakker"))

		// jansen's report moves to Tuesday 09:00, still week 48: replaced.
		m.set("jansen", &weekly{day: time.Tuesday, at: 9 * time.Hour})
		planReports(t, db, m.plans(clock.now(), "jansen", "bakker"))
		if got := summary("jansen"); !slices.Equal(got, []string{"2026-W48 Tue 09:00 pending"}) {
			t.Errorf("moved to Tuesday: %q", got)
		}
		// bakker loses its weekly report: its untried mail goes.
		m.set("bakker", nil)
		planReports(t, db, m.plans(clock.now(), "jansen", "bakker"))
		if got := summary("bakker"); len(got) != 0 {
			t.Errorf("bakker without reports: %q", got)
		}

		// Week 48 sent on Tuesday; then the time moves to Wednesday: week 49's Wednesday.
		raw := rawDB(t, b, u)
		if _, err := raw.ExecContext(ctx, `UPDATE report_mails SET state = 'delivered', tries = 1 WHERE dealer = 'jansen'`); err != nil {
			t.Fatal(err)
		}
		clock.set(dueWeek1.AddDate(0, 0, 1).Add(2 * time.Hour)) // Tuesday 10:00
		m.set("jansen", &weekly{day: time.Wednesday, at: 9 * time.Hour})
		planReports(t, db, m.plans(clock.now(), "jansen"))
		if got := summary("jansen"); !slices.Equal(got, []string{"2026-W49 Wed 09:00 pending", "2026-W48 Tue 09:00 delivered"}) {
			t.Errorf("moved to Wednesday after week 48 was sent: %q", got)
		}

		// Week 49's mail failed once (tried): it stays when the time moves again.
		if _, err := raw.ExecContext(ctx, `UPDATE report_mails SET state = 'failed', tries = 1 WHERE week = '2026-W49'`); err != nil {
			t.Fatal(err)
		}
		m.set("jansen", &weekly{day: time.Friday, at: 9 * time.Hour})
		planReports(t, db, m.plans(clock.now(), "jansen"))
		if got := summary("jansen"); !slices.Equal(got, []string{"2026-W49 Wed 09:00 failed", "2026-W48 Tue 09:00 delivered"}) {
			t.Errorf("a tried mail when the time moved: %q", got)
		}
	})
}
