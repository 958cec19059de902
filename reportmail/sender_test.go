package reportmail_test

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/mailout/smtptest"
	"github.com/leadline/leadline/reportmail"
)

// weekReports is a reportmail.Reports with the scripted week's leads; it records what it
// was asked.
type weekReports struct {
	mu    sync.Mutex
	asked []string
	err   error
}

func (w *weekReports) ReportDays(_ context.Context, dealer, from, to string) (dialer.Report, error) {
	w.mu.Lock()
	w.asked = append(w.asked, dealer+" "+from+" "+to)
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return dialer.Report{}, err
	}
	d, leads, start := scriptedWeek()
	first, err1 := time.ParseInLocation(time.DateOnly, from, ams)
	last, err2 := time.ParseInLocation(time.DateOnly, to, ams)
	if err := errors.Join(err1, err2); err != nil {
		return dialer.Report{}, err
	}
	var in []dialer.Lead
	end := last.AddDate(0, 0, 1)
	for _, l := range leads {
		if !l.CreatedAt.Before(first) && l.CreatedAt.Before(end) && !start.After(l.CreatedAt) {
			in = append(in, l)
		}
	}
	return dialer.BuildReport(&d, in, first, end), nil
}

// recorder records MailSent.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) MailSent(dealer, kind, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, dealer+" "+kind+" "+result)
}

func (r *recorder) counted() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.seen, "; ")
}

var (
	monday8  = reportmail.Schedule{Day: time.Monday, At: 8 * time.Hour, Location: ams}
	fromAddr = mail.Address{Name: "Leadline", Address: "leadline@leads.example.com"}
	jansen   = reportmail.Config{
		Dealer: reportmail.Dealer{ID: "jansen", Name: "Autohuis Jansen", Location: ams,
			People: map[string]string{"piet": "Piet de Vries", "kees": "Kees Bakker", "anna": "Anna Smit", "owner": "Jan Jansen"}},
		Schedule: monday8, To: []string{"owner@jansen.example", "sales@jansen.example"},
	}
)

// A try through a real relay (aiosmtpd) that refuses the first time: the try fails with
// the relay's code, the next one sends the report of the mail's days to every
// recipient, as text and HTML, with a Message-ID of its dealer and week and its time as
// Date; Observe counts both. A dealer without a weekly report any more is gone (nothing
// sent, nothing counted); a report that cannot be built fails.
func TestSenderSend(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Fail: 1, FailWith: "550 5.7.1 Relaying \x1b[31mdenied"})
	relay, err := mailout.New("smtp://"+srv.Addr, mailout.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reports, rec := &weekReports{}, &recorder{}
	s := reportmail.New(reportmail.Options{Reports: reports, Recorder: rec})
	s.SetDealers([]reportmail.Config{jansen})
	r := monday8.Next("jansen", time.Date(2026, 10, 25, 12, 0, 0, 0, ams)) // week 44: 19 to 25 October
	ctx := context.Background()

	if res := s.Send(ctx, r); res.Outcome != dialer.TryFailed || !strings.Contains(res.Error, "no outgoing mail relay") {
		t.Errorf("without a relay: %+v", res)
	}
	s.SetRelay(relay, fromAddr)
	res := s.Send(ctx, r)
	if res.Outcome != dialer.TryFailed || res.Status != 550 || !strings.Contains(res.Error, "Relaying") || strings.ContainsRune(res.Error, '\x1b') {
		t.Fatalf("first try: %+v", res)
	}
	r.State, r.Tries = dialer.DeliveryFailed, 1
	s.Observe(r, res)
	if res = s.Send(ctx, r); res.Outcome != dialer.TryDelivered || res.Status != 250 {
		t.Fatalf("second try: %+v", res)
	}
	r.State, r.Tries = dialer.DeliveryDelivered, 2
	s.Observe(r, res)

	ms := srv.Wait(t, 1, 5*time.Second)
	m := ms[0]
	if m.From != fromAddr.Address || !slices.Equal(m.To, jansen.To) {
		t.Errorf("envelope %v", m)
	}
	wantID := reportmail.MessageID(r, fromAddr.Address)
	if got := m.Header.Get("Message-Id"); got != "<"+wantID+">" || !strings.HasPrefix(wantID, "report-2026-w44-") ||
		!strings.HasSuffix(wantID, "@leads.example.com") {
		t.Errorf("Message-ID %s (want <%s>)", got, wantID)
	}
	if got := m.Header.Get("Date"); got != "Mon, 26 Oct 2026 08:00:00 +0100" {
		t.Errorf("Date %s, want the mail's time in the dealer's zone", got)
	}
	if m.Header.Get("X-Leadline-Dealer") != "jansen" ||
		m.Header.Get("Subject") != "Leadline weekly report, Autohuis Jansen: 3 leads, Mon 19 Oct to Sun 25 Oct 2026" {
		t.Errorf("header %v", m.Header)
	}
	text, page := parts(t, m.Raw)
	const sentence = "3 leads came in; 2 reached a customer (66 %) and 2 went on to the owner."
	if !strings.Contains(text, sentence) || !strings.Contains(text, "Piet de Vries") {
		t.Errorf("text part:\n%s", text)
	}
	if _, words := htmlRows(t, page); !strings.Contains(words, sentence) {
		t.Errorf("HTML part: %s", words)
	}
	if got := strings.Join(reports.asked, "; "); got != "jansen 2026-10-19 2026-10-25; jansen 2026-10-19 2026-10-25" {
		t.Errorf("reports asked for %q (the relay-less try asks none)", got)
	}

	// A dealer whose weekly report was removed: gone, not counted.
	gone := monday8.Next("bakker", r.DueAt)
	if res := s.Send(ctx, gone); res.Outcome != dialer.TryGone {
		t.Errorf("a dealer without reports: %+v", res)
	}
	gone.State = dialer.DeliveryDisabled
	s.Observe(gone, dialer.TryResult{Outcome: dialer.TryGone})
	// The store cannot say: failed, counted.
	reports.mu.Lock()
	reports.err = errors.New("report: database is away")
	reports.mu.Unlock()
	res = s.Send(ctx, r)
	if res.Outcome != dialer.TryFailed || !strings.Contains(res.Error, "database is away") {
		t.Errorf("without the report: %+v", res)
	}
	r.State, r.Tries = dialer.DeliveryGaveUp, 3
	s.Observe(r, res)
	if got := rec.counted(); got != "jansen report failed; jansen report sent; jansen report gave_up" {
		t.Errorf("counted %q", got)
	}
	if len(srv.Messages(t)) != 1 {
		t.Errorf("%d mails in the end, want 1", len(srv.Messages(t)))
	}
}

// Plans has each dealer's next mail by its own schedule and zone, in the order of the
// dealers' ids; a dealer left out of SetDealers has none.
func TestSenderPlans(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	bakker := reportmail.Config{Dealer: reportmail.Dealer{ID: "bakker", Location: ny},
		Schedule: reportmail.Schedule{Day: time.Friday, At: 17 * time.Hour, Location: ny}, To: []string{"boss@bakker.example"}}
	s := reportmail.New(reportmail.Options{Reports: &weekReports{}})
	s.SetDealers([]reportmail.Config{jansen, bakker})
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // a Wednesday
	ps := s.Plans(now)
	if len(ps) != 2 || ps[0].Dealer != "bakker" || ps[1].Dealer != "jansen" {
		t.Fatalf("plans %+v", ps)
	}
	if want := time.Date(2026, 11, 27, 17, 0, 0, 0, ny); !ps[0].DueAt.Equal(want) || ps[0].Week != "2026-W48" {
		t.Errorf("bakker: %+v, want %v", ps[0], want)
	}
	if want := time.Date(2026, 11, 30, 8, 0, 0, 0, ams); !ps[1].DueAt.Equal(want) || ps[1].Week != "2026-W49" {
		t.Errorf("jansen: %+v, want %v", ps[1], want)
	}
	if n, ok := s.Next("jansen", now); !ok || n != ps[1] {
		t.Errorf("Next: %+v %v", n, ok)
	}
	s.SetDealers([]reportmail.Config{bakker})
	if _, ok := s.Next("jansen", now); ok {
		t.Error("a dealer left out still has a next mail")
	}
	if ps := s.Plans(now); len(ps) != 1 || ps[0].Dealer != "bakker" {
		t.Errorf("plans %+v", ps)
	}
}
