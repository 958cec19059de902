package reportmail

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/mailout"
)

// Relay submits a message. *mailout.Relay implements it.
type Relay interface {
	// Send submits msg from the envelope sender from to the recipients to; nil when the
	// relay took it. Errors carry the relay's reply code (mailout.Code).
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Reports builds the owner's report of whole days. *dialer.Service implements it.
type Reports interface {
	// ReportDays returns dealer's report of the days from to to (dates, to included),
	// in the dealer's time zone.
	ReportDays(ctx context.Context, dealer, from, to string) (dialer.Report, error)
}

// Recorder counts mails. *metrics.Metrics implements it.
type Recorder interface {
	// MailSent counts a mail by dealer, kind (Kind here) and result (ResultSent,
	// ResultFailed: tried again later, ResultGaveUp).
	MailSent(dealer, kind, result string)
}

// Kind is the report mail's kind in leadline_mail_sent_total; the results are the
// CRM mail's (crmmail).
const (
	Kind         = "report"
	ResultSent   = "sent"
	ResultFailed = "failed"
	ResultGaveUp = "gave_up"
)

// Config is a dealer's weekly report: what it says of the dealer, when it goes and to
// whom.
type Config struct {
	Dealer   Dealer
	Schedule Schedule
	To       []string // addresses
}

// Options configure a Sender.
type Options struct {
	Reports  Reports      // required
	Recorder Recorder     // nil: none
	Logger   *slog.Logger // nil: discard
}

// Sender plans and sends the dealers' weekly report mails for the store's report jobs
// (store.ReportMailer): Next and Plans from each dealer's Schedule, Send one try through
// the relay, Observe what became of it. Its methods are safe for concurrent use; SetRelay
// and SetDealers replace the settings at a reload.
type Sender struct {
	o       Options
	relay   atomic.Pointer[relayFrom]
	dealers atomic.Pointer[map[string]Config] // by dealer id
}

type relayFrom struct {
	Relay
	from mail.Address
}

// New returns a Sender without relay or dealers: SetRelay and SetDealers.
func New(o Options) *Sender {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Recorder == nil {
		o.Recorder = nopRecorder{}
	}
	s := &Sender{o: o}
	empty := map[string]Config{}
	s.dealers.Store(&empty)
	return s
}

// SetRelay sets the relay mail leaves through and its sender; nil r: none, and every
// try fails until one is set.
func (s *Sender) SetRelay(r Relay, from mail.Address) {
	if r == nil {
		s.relay.Store(nil)
		return
	}
	s.relay.Store(&relayFrom{Relay: r, from: from})
}

// SetDealers replaces the dealers that get a weekly report; a dealer left out gets none.
func (s *Sender) SetDealers(cs []Config) {
	m := make(map[string]Config, len(cs))
	for _, c := range cs {
		m[c.Dealer.ID] = c
	}
	s.dealers.Store(&m)
}

func (s *Sender) dealer(id string) (Config, bool) {
	c, ok := (*s.dealers.Load())[id]
	return c, ok
}

// Next returns dealer's first report mail due after after; false when the dealer has no
// weekly report.
func (s *Sender) Next(dealer string, after time.Time) (dialer.ReportMail, bool) {
	c, ok := s.dealer(dealer)
	if !ok {
		return dialer.ReportMail{}, false
	}
	return c.Schedule.Next(dealer, after), true
}

// Plans returns every dealer's next report mail after now, by dealer id: what the store
// plans at start and at a reload (store.DB.PlanReports).
func (s *Sender) Plans(now time.Time) []dialer.ReportMail {
	m := *s.dealers.Load()
	out := make([]dialer.ReportMail, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id].Schedule.Next(id, now))
	}
	return out
}

// Send makes one try of report mail r: builds the report of its days, composes it and
// hands it to the relay, from the configured sender to the dealer's recipients. The same
// r makes the same mail: its Message-ID names the dealer and week, its Date is r's time,
// so a mail sent again (a node killed before it wrote the relay's answer) is recognisably
// the same. A dealer without a weekly report any more is TryGone: nothing is sent. Every
// failure is tried again, a relay's 5xx too, as for CRM mail.
func (s *Sender) Send(ctx context.Context, r dialer.ReportMail) dialer.TryResult {
	start := time.Now()
	res := s.send(ctx, r)
	res.Took = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, r dialer.ReportMail) dialer.TryResult {
	failed := func(code int, format string, args ...any) dialer.TryResult {
		return dialer.TryResult{Outcome: dialer.TryFailed, Status: code, Error: clean(fmt.Sprintf(format, args...))}
	}
	c, ok := s.dealer(r.Dealer)
	if !ok {
		return dialer.TryResult{Outcome: dialer.TryGone, Error: "the dealer has no weekly report any more (dealers[].reports)"}
	}
	rf := s.relay.Load()
	if rf == nil {
		return failed(0, "no outgoing mail relay is configured (email.relay)")
	}
	rep, err := s.o.Reports.ReportDays(ctx, r.Dealer, r.From, r.To)
	if err != nil {
		return failed(0, "%v", err)
	}
	loc := c.Dealer.Location
	if loc == nil {
		loc = time.UTC
	}
	m, err := Compose(Mail{Report: rep, Dealer: c.Dealer, From: rf.from, To: c.To,
		MessageID: MessageID(r, rf.from.Address), Date: r.DueAt.In(loc)})
	if err != nil {
		return failed(0, "%v", err)
	}
	raw, err := m.Bytes()
	if err != nil {
		return failed(0, "%v", err)
	}
	if err := rf.Send(ctx, rf.from.Address, c.To, raw); err != nil {
		return failed(mailout.Code(err), "%v", err)
	}
	return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 250}
}

// MessageID is the Message-ID of report mail r from the address from, without its
// angle brackets: report-<week>-<a hash of the dealer id>@<from's domain>. The dealer id
// is hashed so that whatever it holds, the id is a valid one.
func MessageID(r dialer.ReportMail, from string) string {
	h := sha256.Sum256([]byte(r.Dealer))
	_, domain, _ := strings.Cut(from, "@")
	if domain == "" {
		domain = "leadline.invalid"
	}
	return "report-" + strings.ToLower(clean(r.Week)) + "-" + hex.EncodeToString(h[:8]) + "@" + domain
}

// clean makes text one line of printable characters, at most 300 bytes: an error as the
// store keeps it (a relay's answer is not ours to trust).
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "")
	}
	return s
}

// Observe logs what became of r (its State, after the try that gave res) and counts
// it; a mail dropped because the dealer has no weekly report any more is only logged.
func (s *Sender) Observe(r dialer.ReportMail, res dialer.TryResult) {
	log := s.o.Logger.With("dealer", r.Dealer, "week", r.Week, "tries", r.Tries)
	if res.Status != 0 {
		log = log.With("smtp_code", res.Status)
	}
	switch r.State {
	case dialer.DeliveryDelivered:
		s.o.Recorder.MailSent(r.Dealer, Kind, ResultSent)
		log.Info("report mail sent", "days", r.From+" to "+r.To, "took", res.Took)
	case dialer.DeliveryDisabled:
		log.Info("report mail dropped: the dealer has no weekly report any more")
	case dialer.DeliveryGaveUp:
		s.o.Recorder.MailSent(r.Dealer, Kind, ResultGaveUp)
		log.Error("report mail given up", "error", r.LastError)
	default:
		s.o.Recorder.MailSent(r.Dealer, Kind, ResultFailed)
		log.Warn("report mail failed; trying again later", "error", res.Error, "next_try_at", r.NextTryAt)
	}
}

type nopRecorder struct{}

func (nopRecorder) MailSent(string, string, string) {}
