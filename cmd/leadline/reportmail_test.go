package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/mailout/smtptest"
	"github.com/leadline/leadline/simphone"
)

const rtpReportMail = "26100-26199"

// stepClock is the wall clock moved by an offset the test sets: it runs, so that the
// calls' waits pass, and it jumps when the test says.
type stepClock struct{ offset atomic.Int64 }

func (c *stepClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// set makes the clock read at.
func (c *stepClock) set(at time.Time) { c.offset.Store(int64(time.Until(at))) }

// textPart is the text/plain part of a multipart/alternative mail, decoded.
func textPart(t *testing.T, raw []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	typ, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("content type %q: %v", typ, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var text string
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		typ, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, typ)
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		if typ == "text/plain" {
			text = string(b)
		}
	}
	if !slices.Equal(types, []string{"text/plain", "text/html"}) {
		t.Errorf("parts %q, want text and HTML", types)
	}
	return text
}

// The owner's weekly report mail, end to end: a lead on Wednesday 18 November 2026
// (piet's phone is busy, the owner takes it, the customer answers), then the clock is
// set to Monday 23 November 08:00 in Amsterdam, the report's time: the report of 16 to
// 22 November arrives at both recipients through the relay (aiosmtpd), once, with the
// lead's figures; the store and the metrics say so. Leadline restarted on the same
// database sends it no more; at the next Monday's time the next week's report arrives.
func TestWeeklyReportMail(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	smtptest.Available(t)
	srv := smtptest.Start(t, smtptest.Options{Port: smtptest.FreePort(t)})
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	clock := &stepClock{}
	clock.set(time.Date(2026, 11, 18, 12, 0, 0, 0, ams))

	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 100 * time.Millisecond, Code: 486})
	owner := newPhone(t, "owner", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	carrier.Behave("+31612345678", simphone.Behaviour{Ring: 100 * time.Millisecond, HangUp: 500 * time.Millisecond})
	spec := appSpec{
		db: t.TempDir() + "/leadline.db", rtp: rtpReportMail, trunk: carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}, {"owner", "Jan Jansen", owner.URI()}},
		flow:   "[piet, owner]",
		// The sweep that wakes a mail due on the store's clock runs every takeover time.
		extra: fmt.Sprintf("takeover_after: 1s\nemail: {domain: leads.example.com, relay: \"smtp://%s\"}", srv.Addr),
		dealerExtra: "    timezone: Europe/Amsterdam\n" +
			"    reports: {to: [owner@jansen.example, sales@jansen.example], weekly: \"mon 08:00\"}\n",
		appOpts: []appOption{withClock(clock.now), withMail(mailout.Options{Timeout: 5 * time.Second})},
	}
	first := startTestApp(t, spec)
	id := first.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678", "source": "website"})
	if l := first.waitFinal(t, id, 30*time.Second); l.Status != "completed" {
		t.Fatalf("lead %s: %v", l.Status, summarize(l))
	}
	rs, err := first.db.ReportMails(t.Context(), testDealer)
	if err != nil || len(rs) != 1 || rs[0].Week != "2026-W48" || rs[0].State != dialer.DeliveryPending {
		t.Fatalf("planned: %+v %v", rs, err)
	}
	if got := srv.Messages(t); len(got) != 0 {
		t.Fatalf("%d mails before the report's time", len(got))
	}

	clock.set(time.Date(2026, 11, 23, 8, 0, 1, 0, ams))
	ms := srv.Wait(t, 1, 30*time.Second)
	m := ms[0]
	if m.From != "leadline@leads.example.com" || !slices.Equal(m.To, []string{"owner@jansen.example", "sales@jansen.example"}) {
		t.Errorf("envelope %v", m)
	}
	if got, want := m.Header.Get("Subject"), "Leadline weekly report, Autohuis Jansen: 1 lead, Mon 16 Nov to Sun 22 Nov 2026"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if got := m.Header.Get("Message-Id"); !strings.HasPrefix(got, "<report-2026-w48-") || !strings.HasSuffix(got, "@leads.example.com>") {
		t.Errorf("Message-ID %s", got)
	}
	text := textPart(t, m.Raw)
	for _, want := range []string{
		"1 lead came in; 1 reached a customer (100 %) and 1 went on to the owner.",
		"Piet de Vries", "Jan Jansen", "website",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	wait.For(t, 10*time.Second, "week 48 delivered and week 49 planned", func() bool {
		rs, err = first.db.ReportMails(t.Context(), testDealer)
		return err == nil && len(rs) == 2 && rs[0].Week == "2026-W49" && rs[0].State == dialer.DeliveryPending &&
			rs[1].State == dialer.DeliveryDelivered
	})
	if rs[1].Tries != 1 || rs[1].LastStatus != 250 {
		t.Errorf("week 48: %+v", rs[1])
	}
	wait.For(t, 10*time.Second, "the report mail counted", func() bool {
		v, _ := metricValue(first.metrics(t), `leadline_mail_sent_total{dealer="jansen",kind="report",result="sent"}`)
		return v == 1
	})
	if v, ok := metricValue(first.metrics(t), `leadline_mail_sent_total{dealer="jansen",kind="report",result="failed"}`); !ok || v != 0 {
		t.Errorf("failed report mails: %v (present %v), want 0", v, ok)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	// Started again on the same database, still on Monday morning: week 48 is not sent
	// again.
	// Then next Monday's time comes: week 49's report, of a week without leads.
	second := startTestApp(t, spec)
	rs, err = second.db.ReportMails(t.Context(), testDealer)
	if err != nil || len(rs) != 2 || rs[0].Week != "2026-W49" || rs[0].State != dialer.DeliveryPending {
		t.Fatalf("after the restart: %+v %v", rs, err)
	}
	clock.set(time.Date(2026, 11, 30, 8, 0, 1, 0, ams))
	ms = srv.Wait(t, 2, 30*time.Second)
	if len(ms) != 2 {
		t.Fatalf("%d mails, want 2", len(ms))
	}
	if got := ms[1].Header.Get("Subject"); got != "Leadline weekly report, Autohuis Jansen: 0 leads, Mon 23 Nov to Sun 29 Nov 2026" {
		t.Errorf("second mail: %q (the first: %q)", got, ms[0].Header.Get("Subject"))
	}
	if !strings.Contains(textPart(t, ms[1].Raw), "No leads came in.") {
		t.Error("week 49's report does not say it had no leads")
	}
	wait.For(t, 10*time.Second, "week 49 delivered", func() bool {
		rs, err = second.db.ReportMails(t.Context(), testDealer)
		return err == nil && len(rs) == 3 && rs[1].Week == "2026-W49" && rs[1].State == dialer.DeliveryDelivered
	})
	if rs[2].Week != "2026-W48" || rs[2].Tries != 1 || rs[1].Tries != 1 || rs[0].Week != "2026-W50" {
		t.Errorf("in the end: %+v", rs)
	}
	if got := srv.Messages(t); len(got) != 2 {
		t.Errorf("%d mails in the end, want 2", len(got))
	}
}
