package mailin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/mailin/imaptest"
)

// These tests read a real dovecot (imaptest) and hand what they read to memIntake, a
// dialer stand-in with the store's de-duplication: the same idempotency key is one
// lead, the same Message-ID one rejection.

// memIntake records what the readers hand the dialer, de-duplicating as the store does.
type memIntake struct {
	mu       sync.Mutex
	down     bool
	keys     map[string]bool
	leads    []dialer.LeadInput // created
	at       []time.Time        // when each was created
	repeats  int
	rejected []dialer.Rejection
	refused  int
}

func newMemIntake() *memIntake { return &memIntake{keys: map[string]bool{}} }

func (m *memIntake) Submit(_ context.Context, _ string, in dialer.LeadInput) (dialer.Lead, dialer.Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return dialer.Lead{}, 0, fmt.Errorf("submit: %w: database is locked", dialer.ErrUnavailable)
	}
	if m.keys[in.IdempotencyKey] {
		m.repeats++
		return dialer.Lead{ID: "repeat"}, dialer.OutcomeRepeat, nil
	}
	m.keys[in.IdempotencyKey] = true
	m.leads = append(m.leads, in)
	m.at = append(m.at, time.Now())
	return dialer.Lead{ID: fmt.Sprintf("lead-%d", len(m.leads))}, dialer.OutcomeCreated, nil
}

func (m *memIntake) Reject(_ context.Context, r dialer.Rejection) (dialer.Rejection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return dialer.Rejection{}, fmt.Errorf("reject: %w", dialer.ErrUnavailable)
	}
	for _, old := range m.rejected {
		if old.MessageID == r.MessageID {
			return old, nil
		}
	}
	r.ID = fmt.Sprintf("rejection-%d", len(m.rejected)+1)
	m.rejected = append(m.rejected, r)
	return r, nil
}

func (m *memIntake) Refused(string, dialer.Channel) {
	m.mu.Lock()
	m.refused++
	m.mu.Unlock()
}

func (m *memIntake) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// counts is what memIntake was handed, in one comparable string.
func (m *memIntake) counts() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("leads=%d repeats=%d rejected=%d refused=%d", len(m.leads), m.repeats, len(m.rejected), m.refused)
}

func (m *memIntake) lead(i int) (dialer.LeadInput, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leads[i], m.at[i]
}

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) IMAPConnected(dealer string, up bool) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf("%s %v", dealer, up))
	r.mu.Unlock()
}

func (r *recorder) IMAPRemoved(dealer string) {
	r.mu.Lock()
	r.events = append(r.events, dealer+" removed")
	r.mu.Unlock()
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return ""
	}
	return r.events[len(r.events)-1]
}

// logBuffer is a log a test can search, safe for the readers' goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count is how many lines of the log contain s.
func (l *logBuffer) count(s string) int {
	n := 0
	for line := range strings.SplitSeq(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// imapRig is one Readers reading one dealer's mailbox on a dovecot.
type imapRig struct {
	srv *imaptest.Server
	in  *memIntake
	obs *recorder
	log *logBuffer
	rs  *Readers
	mb  Mailbox
}

// startReaders runs Readers for the test mailbox on srv until the test ends; mutate
// adjusts the configuration and mailbox first.
func startReaders(t *testing.T, srv *imaptest.Server, mutate func(*ReaderConfig, *Mailbox)) *imapRig {
	t.Helper()
	rig := &imapRig{srv: srv, in: newMemIntake(), obs: &recorder{}, log: &logBuffer{}}
	cfg := ReaderConfig{
		MaxBytes: 64 << 10, Observer: rig.obs, Poll: time.Minute,
		Logger:  slog.New(slog.NewTextHandler(rig.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, LoginBackoff: 200 * time.Millisecond,
	}
	rig.mb = testMailbox
	rig.mb.IMAP = IMAP{URL: srv.URL(), Username: srv.User, Password: srv.Password}
	if mutate != nil {
		mutate(&cfg, &rig.mb)
	}
	rig.rs = NewReaders(cfg, rig.in)
	rig.rs.SetMailboxes([]Mailbox{rig.mb})
	rig.rs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rig.rs.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if t.Failed() || os.Getenv("LEADLINE_TEST_LOG") != "" {
			t.Logf("---- reader log ----\n%s", rig.log.String())
		}
	})
	return rig
}

// adfMail is ADF lead mail number n from sender.
func adfMail(n int, from string) []byte {
	return fmt.Appendf(nil, "From: CRM <%s>\r\nTo: leads@autohuisjansen.nl\r\nSubject: New lead %d\r\n"+
		"Message-ID: <imap-lead-%04d@crm.autohuisjansen.nl>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0100\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"<?xml version=\"1.0\"?>\r\n<?adf version=\"1.0\"?>\r\n<adf><prospect>\r\n"+
		"<requestdate>2026-12-07T10:00:00+01:00</requestdate>\r\n"+
		"<vehicle interest=\"buy\"><year>2022</year><make>Volvo</make><model>XC60</model></vehicle>\r\n"+
		"<customer><contact><name part=\"full\">Eva Jansen %d</name><phone>06-1234%04d</phone></contact></customer>\r\n"+
		"<vendor><vendorname>Autohuis Jansen</vendorname></vendor>\r\n</prospect></adf>\r\n", from, n, n, n, n)
}

func msgID(n int) string { return fmt.Sprintf("imap-lead-%04d@crm.autohuisjansen.nl", n) }

// flagsOf maps each message of folder by Message-ID to its flags, sorted, as one string.
func flagsOf(t *testing.T, srv *imaptest.Server, folder string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range srv.Messages(t, folder) {
		var fs []string
		for _, f := range m.Flags {
			switch {
			case f == `\Recent`:
			case strings.EqualFold(f, DoneKeyword): // go-imap lower-cases keywords
				fs = append(fs, DoneKeyword)
			default:
				fs = append(fs, f)
			}
		}
		slices.Sort(fs)
		out[m.MessageID] = strings.Join(fs, " ")
	}
	return out
}

// TestIMAPIdle: mail already in the folder when the reader starts is taken, also one a
// person has read (\Seen), but not one marked done; mail appended while the reader
// idles is taken at once, though the next poll is a minute away (IDLE). Each is a lead
// as the SMTP receiver makes it, on channel imap, received when the reader learned of
// it, and marked $Leadline and \Seen only then.
func TestIMAPIdle(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	const from = "crm@autohuisjansen.nl"
	srv.Append(t, "INBOX", adfMail(1, from))
	srv.Append(t, "INBOX", adfMail(2, from), DoneKeyword)
	srv.Append(t, "INBOX", adfMail(3, from), `\Seen`)
	rig := startReaders(t, srv, nil)
	wait.For(t, 10*time.Second, "the two mails not done to be taken", func() bool { return rig.in.counts() == "leads=2 repeats=0 rejected=0 refused=0" })
	wait.For(t, 5*time.Second, "them to be marked", func() bool {
		f := flagsOf(t, srv, "INBOX")
		return f[msgID(1)] == `$Leadline \Seen` && f[msgID(3)] == `$Leadline \Seen`
	})
	if f := flagsOf(t, srv, "INBOX"); f[msgID(2)] != "$Leadline" {
		t.Errorf("the mail marked done before the start has flags %q; want it untouched", f[msgID(2)])
	}
	if got := rig.obs.last(); got != "jansen true" {
		t.Errorf("observer last told %q, want connected", got)
	}

	// Appended while idling: IDLE tells the reader (the next poll is a minute away).
	c := srv.Client(t)
	var took []time.Duration
	for n := 4; n <= 8; n++ {
		time.Sleep(100 * time.Millisecond) // back in IDLE after the last one
		srv.AppendWith(t, c, "INBOX", adfMail(n, from))
		appended := time.Now()
		want := n - 1 // leads: 1, 3 and those appended so far
		wait.For(t, 10*time.Second, "the appended mail to be taken", func() bool { return strings.HasPrefix(rig.in.counts(), fmt.Sprintf("leads=%d ", want)) })
		_, at := rig.in.lead(want - 1)
		took = append(took, at.Sub(appended))
	}
	t.Logf("APPEND done → lead submitted, IDLE, dovecot on loopback: %v", took)

	l, _ := rig.in.lead(2)
	if l.Channel != dialer.ChannelIMAP || l.Sender != from || l.MessageID != msgID(4) || l.IdempotencyKey != "msgid:"+msgID(4) ||
		l.ReceivedAt.IsZero() || l.Original == nil || !bytes.Contains(l.Original.Body, []byte("<adf>")) || l.Name != "Eva Jansen 4" {
		t.Errorf("lead as handed over: %+v", l)
	}
	wait.For(t, 5*time.Second, "every mail to be marked", func() bool {
		for _, fl := range flagsOf(t, srv, "INBOX") {
			if !strings.Contains(fl, "$Leadline") {
				return false
			}
		}
		return true
	})
}

// TestIMAPPollMoveFallback: a server without IDLE and MOVE (but with UIDPLUS) is
// polled; with move_to, a message read is copied to the folder (created for it),
// marked \Deleted and expunged by its UID alone: a message a person marked \Deleted
// stays where it is.
func TestIMAPPollMoveFallback(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{Capabilities: "IMAP4rev1 LITERAL+ SASL-IR UIDPLUS UNSELECT NAMESPACE"})
	srv.Append(t, "INBOX", []byte("From: someone@example.com\r\nSubject: deleted by a person\r\nMessage-ID: <person@example.com>\r\n\r\nbye\r\n"), `\Deleted`)
	rig := startReaders(t, srv, func(cfg *ReaderConfig, mb *Mailbox) {
		cfg.Poll = 300 * time.Millisecond
		mb.IMAP.MoveTo = "Leadline"
	})
	wait.For(t, 10*time.Second, "the reader to connect", func() bool { return rig.obs.last() == "jansen true" })
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	wait.For(t, 10*time.Second, "the mail to be taken by polling", func() bool { return rig.in.counts() == "leads=1 repeats=0 rejected=0 refused=0" })
	wait.For(t, 5*time.Second, "the mail to be moved", func() bool { return len(srv.Messages(t, "INBOX")) == 1 })
	if f := flagsOf(t, srv, "Leadline"); f[msgID(1)] != `$Leadline \Seen` {
		t.Errorf("moved messages: %v; want the lead mail, marked $Leadline \\Seen", f)
	}
	if f := flagsOf(t, srv, "INBOX"); f["person@example.com"] != `\Deleted` {
		t.Errorf("INBOX after the move: %v; want the message the person deleted left as it was", f)
	}
	if n := rig.log.count("the server has no IDLE"); n != 1 {
		t.Errorf("%d log lines about polling, want 1", n)
	}
}

// TestIMAPMoveTo: with MOVE (dovecot's own), a message read is moved to move_to, which
// is created when missing; a refused one stays in the folder, marked done but unread.
func TestIMAPMoveTo(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	srv.Append(t, "INBOX", adfMail(2, "someone@elsewhere.example"))
	rig := startReaders(t, srv, func(_ *ReaderConfig, mb *Mailbox) { mb.IMAP.MoveTo = "Leads" })
	wait.For(t, 10*time.Second, "both mails to be handled", func() bool { return rig.in.counts() == "leads=1 repeats=0 rejected=0 refused=1" })
	wait.For(t, 5*time.Second, "the lead mail to be moved", func() bool { return len(srv.Messages(t, "INBOX")) == 1 })
	if f := flagsOf(t, srv, "Leads"); f[msgID(1)] != `$Leadline \Seen` {
		t.Errorf("Leads holds %v; want the lead mail, marked", f)
	}
	wait.For(t, 5*time.Second, "the refused mail to be marked", func() bool { return flagsOf(t, srv, "INBOX")[msgID(2)] == "$Leadline" })
}

// TestIMAPStoreDown: while the store cannot take the lead, the message stays unmarked
// and the reader looks again soon; once the store is back, it is taken and marked.
func TestIMAPStoreDown(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	rig := startReaders(t, srv, nil)
	rig.in.setDown(true)
	wait.For(t, 10*time.Second, "the reader to connect", func() bool { return rig.obs.last() == "jansen true" })
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	wait.For(t, 10*time.Second, "a second try while the store is down", func() bool {
		return rig.log.count("lead from a mail not stored") >= 2
	})
	if f := flagsOf(t, srv, "INBOX"); f[msgID(1)] != "" {
		t.Fatalf("flags %q while the store is down; want none", f[msgID(1)])
	}
	rig.in.setDown(false)
	wait.For(t, 10*time.Second, "the lead once the store is back", func() bool { return rig.in.counts() == "leads=1 repeats=0 rejected=0 refused=0" })
	wait.For(t, 5*time.Second, "the mail to be marked", func() bool { return flagsOf(t, srv, "INBOX")[msgID(1)] == `$Leadline \Seen` })
	if rig.obs.last() != "jansen true" {
		t.Errorf("the store being down disconnected the mailbox: %v", rig.obs.events)
	}
}

// TestIMAPCrashBeforeMark: the reader dies after the lead is committed and before the
// message is marked (a crash, as far as the mailbox can tell). The next connection
// reads the message again: its lead is a repeat, and now it is marked. No duplicate.
func TestIMAPCrashBeforeMark(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	var crashed atomic.Bool
	rig := startReaders(t, srv, func(cfg *ReaderConfig, _ *Mailbox) {
		cfg.afterCommit = func(uint32) error {
			if crashed.CompareAndSwap(false, true) {
				return errors.New("crash between commit and mark")
			}
			return nil
		}
	})
	wait.For(t, 10*time.Second, "the message to be read again and marked", func() bool {
		return flagsOf(t, srv, "INBOX")[msgID(1)] == `$Leadline \Seen`
	})
	if got := rig.in.counts(); got != "leads=1 repeats=1 rejected=0 refused=0" {
		t.Errorf("intake %s; want one lead and its repeat", got)
	}
}

// TestIMAPOversize: a message over the size limit is not fetched; from an allowed
// sender, its header is kept as a rejection saying why; from another, it is refused.
// Both are marked done.
func TestIMAPOversize(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	big := append(adfMail(1, "crm@autohuisjansen.nl"), bytes.Repeat([]byte(strings.Repeat("x", 78)+"\r\n"), 200)...)
	srv.Append(t, "INBOX", big)
	srv.Append(t, "INBOX", append(adfMail(2, "spam@elsewhere.example"), bytes.Repeat([]byte("y\r\n"), 3000)...))
	rig := startReaders(t, srv, func(cfg *ReaderConfig, _ *Mailbox) { cfg.MaxBytes = 4096 })
	wait.For(t, 10*time.Second, "both to be handled", func() bool { return rig.in.counts() == "leads=0 repeats=0 rejected=1 refused=1" })
	rig.in.mu.Lock()
	r := rig.in.rejected[0]
	rig.in.mu.Unlock()
	if r.Channel != dialer.ChannelIMAP || r.MessageID != msgID(1) || !strings.Contains(r.Reason, "over the limit of 4096") ||
		r.Original.ContentType != "text/rfc822-headers" || r.Original.Size != int64(len(big)) || bytes.Contains(r.Original.Body, []byte("<adf>")) {
		t.Errorf("rejection %+v", r)
	}
	wait.For(t, 5*time.Second, "both to be marked", func() bool {
		f := flagsOf(t, srv, "INBOX")
		return f[msgID(1)] == `$Leadline \Seen` && f[msgID(2)] == "$Leadline"
	})
}

// TestIMAPDKIM: with require_dkim, a message read from a mailbox is checked as one
// received by SMTP (the signature travels in it): signed by its From domain it is
// taken, unsigned it is refused and marked done.
func TestIMAPDKIM(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(domain string) ([]string, error) {
		if domain == "sel._domainkey.autohuisjansen.nl" {
			return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
		}
		return nil, fmt.Errorf("no TXT for %s", domain)
	}
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(adfMail(1, "crm@autohuisjansen.nl")), &dkim.SignOptions{
		Domain: "autohuisjansen.nl", Selector: "sel", Signer: priv,
	}); err != nil {
		t.Fatal(err)
	}
	srv := imaptest.Start(t, imaptest.Options{})
	srv.Append(t, "INBOX", signed.Bytes())
	srv.Append(t, "INBOX", adfMail(2, "crm@autohuisjansen.nl"))
	rig := startReaders(t, srv, func(cfg *ReaderConfig, mb *Mailbox) {
		cfg.LookupTXT = lookup
		mb.RequireDKIM, mb.RequireSPF = true, true
	})
	wait.For(t, 10*time.Second, "both to be handled", func() bool { return rig.in.counts() == "leads=1 repeats=0 rejected=0 refused=1" })
	if l, _ := rig.in.lead(0); l.MessageID != msgID(1) {
		t.Errorf("lead from %s; want the signed mail", l.MessageID)
	}
	if n := rig.log.count("require_spf cannot be checked"); n != 1 {
		t.Errorf("%d log lines about SPF, want 1", n)
	}
}

// TestIMAPTLS: imaps:// speaks TLS from the start; imap:// upgrades with STARTTLS when
// the server offers it; a certificate the reader does not trust is never given the
// password: the reader says so once and keeps trying.
func TestIMAPTLS(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{TLS: true})
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	for _, tt := range []struct{ name, url string }{{"imaps", srv.TLSURL()}, {"starttls", srv.URL()}} {
		t.Run(tt.name, func(t *testing.T) {
			rig := startReaders(t, srv, func(cfg *ReaderConfig, mb *Mailbox) {
				cfg.TLS = srv.TLSConfig()
				mb.IMAP.URL = tt.url
			})
			wait.For(t, 10*time.Second, "the reader to connect", func() bool { return rig.obs.last() == "jansen true" })
		})
	}
	// The test's own APPEND logs in without TLS; the readers' two, over TLS.
	tlsLogins := func() int { return strings.Count(srv.Log(), ", TLS, session=") }
	if n := tlsLogins(); n != 2 {
		t.Errorf("%d logins over TLS in dovecot's log, want both readers':\n%s", n, srv.Log())
	}

	t.Run("untrusted", func(t *testing.T) {
		rig := startReaders(t, srv, func(_ *ReaderConfig, mb *Mailbox) { mb.IMAP.URL = srv.TLSURL() })
		wait.For(t, 10*time.Second, "a few attempts", func() bool { return rig.log.count("IMAP mailbox still cannot be read") >= 2 })
		if n := rig.log.count("level=WARN msg=\"IMAP mailbox cannot be read"); n != 1 || rig.log.count("step=tls") < 3 {
			t.Errorf("%d warnings; want one, at the tls step", n)
		}
		if rig.obs.last() != "jansen false" {
			t.Errorf("observer told %v", rig.obs.events)
		}
	})
	if n := strings.Count(srv.Log(), "Login: user=<leads>"); n != 3 {
		t.Errorf("%d logins in dovecot's log after the untrusted attempts, want still 3 (one APPEND, two readers)", n)
	}
}

// TestIMAPLoginRefused: a wrong password is logged once and retried with backoff (at
// least LoginBackoff apart); a reload with the right one restarts the reader, which
// then reads the mailbox. A reload that only changes the senders keeps the connection;
// removing the mailbox stops its reader.
func TestIMAPLoginRefused(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	rig := startReaders(t, srv, func(_ *ReaderConfig, mb *Mailbox) { mb.IMAP.Password = "wrong" })
	// Dovecot delays each further attempt from the address (its auth penalty): two will do.
	// The reader's own log, not dovecot's: dovecot logs a refusal before the reader reads it.
	wait.For(t, 15*time.Second, "two refused logins", func() bool {
		return strings.Count(srv.Log(), "auth failed") >= 2 && rig.log.count("step=login") >= 2
	})
	if n := rig.log.count("level=WARN"); n != 1 {
		t.Errorf("%d warnings; want one, at the login step", n)
	}
	if rig.obs.last() != "jansen false" {
		t.Errorf("observer told %v", rig.obs.events)
	}

	mb := rig.mb
	mb.IMAP.Password = srv.Password
	rig.rs.SetMailboxes([]Mailbox{mb})
	wait.For(t, 10*time.Second, "the reader to connect after the reload", func() bool { return rig.obs.last() == "jansen true" })
	events := func() int { rig.obs.mu.Lock(); defer rig.obs.mu.Unlock(); return len(rig.obs.events) }
	before := events()

	mb.Senders = []string{"other@example.com"}
	rig.rs.SetMailboxes([]Mailbox{mb})
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	wait.For(t, 10*time.Second, "the mail to be refused by the new senders", func() bool { return rig.in.counts() == "leads=0 repeats=0 rejected=0 refused=1" })
	if n := events(); n != before {
		t.Errorf("a reload of the senders reconnected: %v", rig.obs.events[before-1:])
	}

	rig.rs.SetMailboxes(nil)
	wait.For(t, 10*time.Second, "the reader to stop", func() bool { return rig.obs.last() == "jansen removed" })
}

// TestIMAPServerRestart: a server that goes away is reported once; when it is back,
// the reader reconnects by itself and reads what arrived meanwhile.
func TestIMAPServerRestart(t *testing.T) {
	srv := imaptest.Start(t, imaptest.Options{})
	rig := startReaders(t, srv, nil)
	wait.For(t, 10*time.Second, "the reader to connect", func() bool { return rig.obs.last() == "jansen true" })
	srv.Stop()
	wait.For(t, 10*time.Second, "a few attempts", func() bool { return rig.log.count("IMAP mailbox still cannot be read") >= 2 })
	srv.Restart()
	srv.Append(t, "INBOX", adfMail(1, "crm@autohuisjansen.nl"))
	wait.For(t, 10*time.Second, "the mail after the restart", func() bool { return rig.in.counts() == "leads=1 repeats=0 rejected=0 refused=0" })
	for msg, want := range map[string]int{"level=WARN": 1, "IMAP connection lost": 1, "IMAP mailbox read again": 1} {
		if n := rig.log.count(msg); n != want {
			t.Errorf("%d log lines with %q for one outage; want %d", n, msg, want)
		}
	}
}

func TestDoneMarker(t *testing.T) {
	for _, tt := range []struct {
		permanent []string
		want      string
	}{
		{[]string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`, `\*`}, DoneKeyword},
		{[]string{`\Seen`, `$leadline`}, DoneKeyword},
		{[]string{`\Answered`, `\Seen`, `\Deleted`}, `\Seen`},
		{nil, DoneKeyword}, // no PERMANENTFLAGS: all flags are permanent (RFC 3501 7.1)
	} {
		if got := doneMarker(tt.permanent); got != tt.want {
			t.Errorf("doneMarker(%v) = %s, want %s", tt.permanent, got, tt.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:143": true, "[::1]:143": true, "127.8.9.10:993": true, "[::ffff:127.0.0.1]:143": true,
		"192.0.2.1:143": false, "[2001:db8::1]:143": false,
	} {
		a := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))
		if got := loopback(a); got != want {
			t.Errorf("loopback(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestPlainRefused: imap:// to an address that is not loopback, from a server without
// STARTTLS, is not given the password.
func TestPlainRefused(t *testing.T) {
	ip := nonLoopbackIP(t)
	srv := imaptest.Start(t, imaptest.Options{Listen: ip})
	rig := startReaders(t, srv, nil)
	wait.For(t, 10*time.Second, "the refusal", func() bool { return rig.log.count("offers no STARTTLS") >= 1 })
	if strings.Contains(srv.Log(), "user=<leads>") {
		t.Errorf("the password was sent in the clear:\n%s", srv.Log())
	}
}

// nonLoopbackIP is an IPv4 address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no IPv4 address but loopback")
	return ""
}

func TestBackoff(t *testing.T) {
	cfg := ReaderConfig{}
	cfg.defaults()
	r := &reader{cfg: &cfg}
	for failures, want := range map[int][2]time.Duration{
		1: {500 * time.Millisecond, time.Second}, 2: {time.Second, 2 * time.Second}, 4: {4 * time.Second, 8 * time.Second},
		20: {150 * time.Second, 5 * time.Minute},
	} {
		r.failures = failures
		for range 20 {
			if d := r.backoff(errors.New("x")); d < want[0] || d > want[1] {
				t.Fatalf("backoff after %d failures = %v, want within %v", failures, d, want)
			}
		}
	}
	r.failures = 1
	if d := r.backoff(&stepError{"login", errLogin}); d < time.Minute {
		t.Errorf("backoff after a refused login = %v, want at least a minute", d)
	}
}
