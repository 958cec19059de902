package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// BenchmarkMailIntake measures issue 11's e-mail goal: the time from the end of an ADF
// mail's DATA (the client sending the final dot) to the first INVITE of its lead at the
// salesperson's phone (goal: p99 under 20 ms on 2 cores), and to the 250 (the lead is
// committed). One SMTP connection sends the mails one after another, each after the
// previous lead's flow ended, so each figure is one mail's own path: SMTP, MIME and ADF
// parsing, the sender check, CreateLead with the original message, the attempt, the
// INVITE. The phone is busyPhone (486 at once). With PG_TEST_URL set it measures
// PostgreSQL too.
//
//	go test -run '^$' -bench BenchmarkMailIntake -benchtime 1000x ./cmd/leadline/
func BenchmarkMailIntake(b *testing.B) {
	type benchCase struct {
		name, url string
		hooks     bool // a webhook endpoint for every event, as in BenchmarkIntake
	}
	cases := []benchCase{{"sqlite", "sqlite://%s/leadline.db", false}, {"sqlite-webhooks", "sqlite://%s/leadline.db", true}}
	if u := os.Getenv("PG_TEST_URL"); u != "" {
		cases = append(cases, benchCase{"postgres", u, false})
	}
	numbers := rand.IntN(1_000_000)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ph := newBusyPhone(b)
			url := bc.url
			if strings.HasPrefix(url, "sqlite") {
				url = fmt.Sprintf(url, b.TempDir())
			}
			spec := appSpec{
				storeURL: url, rtp: rtpIntake,
				people: []person{{"piet", "Piet de Vries", ph.uri()}}, flow: "[piet]",
				logLevel:    slog.LevelError,
				extra:       `email: {listen: "127.0.0.1:0", domain: leads.example.com, rate_limit_per_sender: "100000/1h", rate_limit_per_dealer: "100000/1h"}`,
				dealerExtra: `    email: {senders: ["crm@autohuisjansen.nl"]}`,
			}
			if bc.hooks {
				withHooks(&spec, newBenchReceiver(b).url)
			}
			ta := startTestApp(b, spec)
			c, err := smtp.Dial(ta.mail.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			send := func() (dataEnd, committed time.Time) {
				numbers++
				mid := fmt.Sprintf("bench-%d-%d@crm.autohuisjansen.nl", numbers, time.Now().UnixNano())
				if err := c.Mail("crm@autohuisjansen.nl", nil); err != nil {
					b.Fatal(err)
				}
				if err := c.Rcpt("jansen@leads.example.com", nil); err != nil {
					b.Fatal(err)
				}
				w, err := c.Data()
				if err != nil {
					b.Fatal(err)
				}
				fmt.Fprintf(w, benchMail, mid, numbers, numbers%10_000_000)
				dataEnd = time.Now()
				if err := w.Close(); err != nil { // sends the dot and reads the 250
					b.Fatal(err)
				}
				return dataEnd, time.Now()
			}
			// A lead's id is known only from its INVITE: take the one new arrival.
			next := func() time.Time {
				deadline := time.Now().Add(10 * time.Second)
				for {
					ph.mu.Lock()
					for lead, at := range ph.arrived {
						delete(ph.arrived, lead)
						ph.mu.Unlock()
						return at
					}
					ph.mu.Unlock()
					if time.Now().After(deadline) {
						b.Fatal("no INVITE within 10 s of a mail")
					}
					select {
					case <-ph.signal:
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			for range 5 { // warm up
				send()
				next()
				waitIdle(b, ta)
			}

			toInvite := make([]time.Duration, 0, b.N)
			to250 := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				end, committed := send()
				invited := next()
				toInvite = append(toInvite, invited.Sub(end))
				to250 = append(to250, committed.Sub(end))
				b.StopTimer()
				waitIdle(b, ta)
				b.StartTimer()
			}
			b.StopTimer()
			reportPercentiles(b, "invite", toInvite)
			reportPercentiles(b, "250", to250)
		})
	}
}

const benchMail = "From: crm@autohuisjansen.nl\r\n" +
	"To: jansen@leads.example.com\r\n" +
	"Subject: New lead\r\n" +
	"Message-ID: <%s>\r\n" +
	"Content-Type: application/xml\r\n" +
	"\r\n" +
	"<?xml version=\"1.0\"?>\r\n<?adf version=\"1.0\"?>\r\n<adf><prospect>\r\n" +
	"<id source=\"crm.autohuisjansen.nl\">B-%d</id>\r\n" +
	"<vehicle><year>2022</year><make>Volvo</make><model>XC60</model></vehicle>\r\n" +
	"<customer><contact><name part=\"full\">Eva Jansen</name><phone type=\"voice\">+3162%07d</phone></contact></customer>\r\n" +
	"<provider><name>Website</name></provider>\r\n" +
	"</prospect></adf>\r\n"
