package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/mailin"
	"github.com/leadline/leadline/mailin/imaptest"
	"github.com/leadline/leadline/simphone"
)

// Leads read from a dealer's IMAP mailbox on a real dovecot (mailin/imaptest), by the
// whole app as serve runs it, ringing simulated phones.

const rtpIMAP = "24900-24999"

// imapSpec is a Leadline whose test dealer reads the mailbox at url (user leads) and
// rings piet; a customer leg goes to the carrier.
func imapSpec(piet, carrier *simphone.Phone, url, password, extra string) appSpec {
	return appSpec{
		rtp: rtpIMAP, trunk: carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}}, flow: "[piet]",
		dealerExtra: fmt.Sprintf("    email:\n      senders: [\"crm@autohuisjansen.nl\", \"*@autoscout24.com\"]\n"+
			"      imap: {url: %q, username: leads, password: %q%s}", url, password, extra),
	}
}

// crlf gives a testdata mail the line ends it has in a mailbox.
func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

func readMail(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return crlf(b)
}

// leadMail is ADF lead mail number n from crm@autohuisjansen.nl, for customer number
// +316123400NN.
func leadMail(n int) []byte {
	return fmt.Appendf(nil, "From: CRM Autohuis Jansen <crm@autohuisjansen.nl>\r\nTo: leads@autohuisjansen.nl\r\n"+
		"Subject: New lead %d\r\nMessage-ID: <imap-%04d@crm.autohuisjansen.nl>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n<?adf version=\"1.0\"?>\r\n<adf><prospect>\r\n"+
		"<requestdate>2026-12-07T10:00:00+01:00</requestdate>\r\n"+
		"<vehicle><year>2022</year><make>Volvo</make><model>XC60</model></vehicle>\r\n"+
		"<customer><contact><name part=\"full\">Klant %d</name><phone>06-123400%02d</phone></contact></customer>\r\n"+
		"<vendor><vendorname>Autohuis Jansen</vendorname></vendor>\r\n</prospect></adf>\r\n", n, n, n, n)
}

func leadMailID(n int) string { return fmt.Sprintf("imap-%04d@crm.autohuisjansen.nl", n) }

// mailFlags maps each message of the INBOX by Message-ID to whether it is marked done
// and read.
func mailFlags(t *testing.T, srv *imaptest.Server) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range srv.Messages(t, "INBOX") {
		switch {
		case m.Has(mailin.DoneKeyword) && m.Has(`\Seen`):
			out[m.MessageID] = "done, seen"
		case m.Has(mailin.DoneKeyword):
			out[m.MessageID] = "done"
		case m.Has(`\Seen`):
			out[m.MessageID] = "seen"
		default:
			out[m.MessageID] = "new"
		}
	}
	return out
}

// TestIMAPLeadRings: the dealer's mailbox holds a lead mail and one marked done when
// Leadline starts: the first rings the salesperson, the second nothing. Mail appended
// while the reader idles rings at once. Each ends marked $Leadline and \Seen, each
// lead is on channel imap with its sender and Message-ID, and the time from the
// mail's arrival to the first INVITE is measured for channel imap.
func TestIMAPLeadRings(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	srv := imaptest.Start(t, imaptest.Options{})
	srv.Append(t, "INBOX", readMail(t, "adf-mail.eml"))
	srv.Append(t, "INBOX", leadMail(90), mailin.DoneKeyword)
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 50 * time.Millisecond, Code: 486})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	ta := startTestApp(t, imapSpec(piet, carrier, srv.URL(), srv.Password, ""))

	wait.For(t, 10*time.Second, "piet's phone to ring for the mail already there", func() bool { return len(piet.Calls()) == 1 })
	ctx := context.Background()
	l, err := ta.svc.Get(ctx, testDealer, piet.Calls()[0].Header("X-Leadline-Lead"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Channel != dialer.ChannelIMAP || l.Sender != "crm@autohuisjansen.nl" || l.MessageID != "adf-mail-0001@crm.autohuisjansen.nl" ||
		l.Name != "Eva Jansen" || l.Phone != "+31612345678" {
		t.Errorf("lead from the mailbox: %+v", l)
	}
	wait.For(t, 5*time.Second, "the mail to be marked", func() bool {
		return mailFlags(t, srv)["adf-mail-0001@crm.autohuisjansen.nl"] == "done, seen"
	})

	// While the reader idles: APPEND → INVITE at piet's phone, timed by the test.
	c := srv.Client(t)
	var took []time.Duration
	const appended = 5
	for n := 1; n <= appended; n++ {
		time.Sleep(200 * time.Millisecond) // the reader is back in IDLE
		srv.AppendWith(t, c, "INBOX", leadMail(n))
		at := time.Now()
		deadline := at.Add(10 * time.Second)
		for len(piet.Calls()) < n+1 {
			if time.Now().After(deadline) {
				t.Fatalf("mail %d appended: piet not rung within 10 s", n)
			}
			time.Sleep(time.Millisecond)
		}
		took = append(took, time.Since(at))
	}
	slices.Sort(took)
	t.Logf("IMAP APPEND → INVITE at the salesperson's phone, IDLE, dovecot on loopback, %d mails: min %v, median %v, max %v",
		appended, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

	want := map[string]string{"adf-mail-0001@crm.autohuisjansen.nl": "done, seen", leadMailID(90): "done"}
	for n := 1; n <= appended; n++ {
		want[leadMailID(n)] = "done, seen"
	}
	wait.For(t, 5*time.Second, "every mail to be marked", func() bool { return fmt.Sprint(mailFlags(t, srv)) == fmt.Sprint(want) })
	if n := len(piet.Calls()); n != 1+appended {
		t.Errorf("piet rung %d times, want %d (not for the mail marked done before the start)", n, 1+appended)
	}

	page := ta.metrics(t)
	count, _ := metricValue(page, `leadline_intake_to_invite_seconds_count{channel="imap"}`)
	sum, _ := metricValue(page, `leadline_intake_to_invite_seconds_sum{channel="imap"}`)
	if count != 1+appended {
		t.Errorf("intake_to_invite count for imap %v, want %d", count, 1+appended)
	} else {
		t.Logf("leadline_intake_to_invite_seconds{channel=\"imap\"} (reader told of the mail → INVITE): mean %v over %v leads",
			time.Duration(sum/count*float64(time.Second)).Round(time.Microsecond), count)
	}
	for series, want := range map[string]float64{
		`leadline_intake_total{channel="imap",dealer="jansen",result="created"}`: 1 + appended,
		`leadline_imap_connected{dealer="jansen"}`:                               1,
	} {
		if got, ok := metricValue(page, series); !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", series, got, ok, want)
		}
	}
}

// TestIMAPRefusedAndNoLead: a mail from a sender the dealer does not list is refused
// (counted), marked done but left unread for the people who read the mailbox; a mail
// from an allowed sender without a lead is kept as a rejection with its reason and
// marked done and read. Nobody is rung.
func TestIMAPRefusedAndNoLead(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	srv := imaptest.Start(t, imaptest.Options{})
	evil := bytes.Replace(leadMail(1), []byte("crm@autohuisjansen.nl"), []byte("leads@evil.example"), 1)
	srv.Append(t, "INBOX", evil)
	srv.Append(t, "INBOX", readMail(t, "no-lead-mail.eml"))
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	ta := startTestApp(t, imapSpec(piet, carrier, srv.URL(), srv.Password, ""))

	want := map[string]string{leadMailID(1): "done", "newsletter-77@crm.autohuisjansen.nl": "done, seen"}
	wait.For(t, 10*time.Second, "both mails to be marked", func() bool { return fmt.Sprint(mailFlags(t, srv)) == fmt.Sprint(want) })
	rs, _, err := ta.svc.Rejections(context.Background(), testDealer, 10, "")
	if err != nil || len(rs) != 1 || rs[0].Channel != dialer.ChannelIMAP || rs[0].MessageID != "newsletter-77@crm.autohuisjansen.nl" || rs[0].Reason == "" {
		t.Errorf("rejections %+v, %v; want the newsletter, with its reason", rs, err)
	}
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_intake_total{channel="imap",dealer="jansen",result="refused"}`:  1,
		`leadline_intake_total{channel="imap",dealer="jansen",result="rejected"}`: 1,
	} {
		if got, ok := metricValue(page, series); !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", series, got, ok, want)
		}
	}
	if n := len(piet.Calls()); n != 0 {
		t.Errorf("piet rung %d times", n)
	}
}

// TestIMAPUnreachable: a mailbox that cannot be reached is logged once and retried with
// backoff while the rest of Leadline runs (an API lead rings); a reload with a wrong
// password restarts the reader, which says why once; a reload with the right one
// restarts it again and the mailbox is read.
func TestIMAPUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	srv := imaptest.Start(t, imaptest.Options{})
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 50 * time.Millisecond, Code: 486})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	closed := "imap://" + freeTCPAddr(t)
	spec := imapSpec(piet, carrier, closed, srv.Password, "")
	spec.logLevel = -4 // debug: the retries show
	ta := startTestApp(t, spec)

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 10*time.Second, "piet to ring for the API lead", func() bool { return len(piet.Calls()) == 1 })
	if got := piet.Calls()[0].Header("X-Leadline-Lead"); got != id {
		t.Errorf("piet rung for %s, want %s", got, id)
	}
	wait.For(t, 10*time.Second, "two retries", func() bool { return strings.Count(ta.logs.String(), "IMAP mailbox still cannot be read") >= 2 })
	if n := strings.Count(ta.logs.String(), "level=WARN msg=\"IMAP mailbox cannot be read"); n != 1 {
		t.Errorf("%d warnings while unreachable, want 1", n)
	}
	if got, _ := metricValue(ta.metrics(t), `leadline_imap_connected{dealer="jansen"}`); got != 0 {
		t.Errorf("leadline_imap_connected = %v while unreachable, want 0", got)
	}

	reload := func(url, password string) {
		t.Helper()
		s := imapSpec(piet, carrier, url, password, "")
		s.nodeID = ta.cfg.NodeID
		cfg, err := config.Parse(s.yaml(t), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if err := ta.apply(t.Context(), cfg); err != nil { // what SIGHUP does with a valid file
			t.Fatal(err)
		}
	}
	reload(srv.URL(), "wrong")
	wait.For(t, 10*time.Second, "the refused login", func() bool { return strings.Contains(ta.logs.String(), "step=login") })
	if n := strings.Count(ta.logs.String(), "level=WARN msg=\"IMAP mailbox cannot be read"); n != 2 {
		t.Errorf("%d warnings after the wrong password, want 2 (unreachable, then login)", n)
	}
	reload(srv.URL(), srv.Password)
	wait.For(t, 10*time.Second, "the mailbox to be read", func() bool {
		got, _ := metricValue(ta.metrics(t), `leadline_imap_connected{dealer="jansen"}`)
		return got == 1
	})
	srv.Append(t, "INBOX", leadMail(1))
	wait.For(t, 10*time.Second, "piet to ring for the mail", func() bool { return len(piet.Calls()) == 2 })
}

// freeTCPAddr is a loopback address nothing listens on: connections are refused.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestIMAPKilled: `leadline serve` is killed (SIGKILL: no drain, no logout) while it
// reads a burst of lead mails, and started again on the same SQLite file: every mail in
// the mailbox is a lead exactly once, and every one ends marked done. A mail whose lead
// was committed but which was not yet marked is read again and its lead is a repeat.
func TestIMAPKilled(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	srv := imaptest.Start(t, imaptest.Options{})
	piet := newPhone(t, "piet", simphone.Behaviour{Code: 486})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	spec := imapSpec(piet, carrier, srv.URL(), srv.Password, "")
	spec.db = filepath.Join(t.TempDir(), "leadline.db")
	spec.nodeID = "imap-killed"

	bin := filepath.Join(t.TempDir(), "leadline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(t.TempDir(), "leadline.yaml")
	if err := os.WriteFile(cfgPath, spec.yaml(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		first   bytes.Buffer
		reading = make(chan struct{})
		once    sync.Once
		ended   = make(chan struct{})
	)
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			first.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), `msg="IMAP mailbox read"`) {
				once.Do(func() { close(reading) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-ended
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("---- log of the killed serve ----\n%s", first.String())
			mu.Unlock()
		}
	})
	select {
	case <-reading:
	case <-ended:
		t.Fatal("serve exited before reading the mailbox")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not read the mailbox within 30 s")
	}

	// A burst of mails; kill -9 as soon as the first of them rings piet, so that the
	// reader is in the middle of the rest.
	const mails = 12
	c := srv.Client(t)
	for n := 1; n <= mails; n++ {
		srv.AppendWith(t, c, "INBOX", leadMail(n))
	}
	wait.For(t, 10*time.Second, "the first lead to ring", func() bool { return len(piet.Calls()) >= 1 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-ended
	_ = cmd.Wait()
	before := mailFlags(t, srv)
	marked := 0
	for _, f := range before {
		if f != "new" {
			marked++
		}
	}
	t.Logf("killed after %d INVITEs with %d of %d mails marked", len(piet.Calls()), marked, mails)

	spec.nodeID = "imap-restarted"
	ta := startTestApp(t, spec)
	wait.For(t, 15*time.Second, "every mail to be marked after the restart", func() bool {
		for _, f := range mailFlags(t, srv) {
			if f != "done, seen" {
				return false
			}
		}
		return len(mailFlags(t, srv)) == mails
	})
	leads, _, err := ta.svc.List(context.Background(), dialer.ListQuery{Dealer: testDealer, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, l := range leads {
		seen[l.MessageID]++
	}
	for n := 1; n <= mails; n++ {
		if seen[leadMailID(n)] != 1 {
			t.Errorf("mail %d is %d leads, want 1", n, seen[leadMailID(n)])
		}
	}
	if len(leads) != mails {
		t.Errorf("%d leads, want %d", len(leads), mails)
	}
	page := ta.metrics(t)
	created, _ := metricValue(page, `leadline_intake_total{channel="imap",dealer="jansen",result="created"}`)
	repeats, _ := metricValue(page, `leadline_intake_total{channel="imap",dealer="jansen",result="repeat"}`)
	t.Logf("after the restart: %v leads created, %v repeats (mails committed before the kill but not marked)", created, repeats)
	if int(created)+int(repeats)+marked != mails {
		t.Errorf("the restart created %v leads and repeated %v, and %d mails were marked before the kill; want %d in all", created, repeats, marked, mails)
	}
}
