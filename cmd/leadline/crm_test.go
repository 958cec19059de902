package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/adf"
	"github.com/leadline/leadline/adf/adftest"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/mailout/smtptest"
	"github.com/leadline/leadline/simphone"
)

const (
	rtpCRM     = "26000-26099"
	crmAddress = "leads@crm.example.com"
)

// crmSpec is the test dealer with its CRM at crmAddress, behind the relay on 127.0.0.1
// at port (which need not be listening yet), retrying fast.
func crmSpec(port int, people []person, flow, dealerExtra string) appSpec {
	return appSpec{
		rtp: rtpCRM, people: people, flow: flow, ring: 3 * time.Second, accept: 3 * time.Second,
		extra:       fmt.Sprintf("email: {domain: leads.example.com, relay: \"smtp://127.0.0.1:%d\"}", port),
		dealerExtra: "    crm_email: " + crmAddress + "\n" + dealerExtra,
		appOpts:     []appOption{fastRetries, withMail(mailout.Options{Timeout: 5 * time.Second})},
	}
}

// adfOf is the ADF document a CRM mail carries, decoded.
func adfOf(t *testing.T, m smtptest.Message) []byte {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	if msg.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The CRM gets the lead's result by mail, as ADF that validates against the ADF 1.0 DTD
// (xmllint), through a real relay (aiosmtpd) that is down when the lead completes
// (connection refused) and refuses the first mail it sees (551): the completed lead's mail
// arrives once the relay takes it, then the salesperson's outcome as an update of the same
// prospect; each exactly once, each with the Message-ID of its delivery; the history and
// the metrics say so.
func TestCRMMailADF(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	adftest.Xmllint(t)
	smtptest.Available(t)
	port := smtptest.FreePort(t)
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 100 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond,
		Then: '1', ThenAfter: 4 * time.Second, Tone: 700})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	carrier.Behave("+31612345678", simphone.Behaviour{Ring: 100 * time.Millisecond, Tone: 500, HangUp: 1500 * time.Millisecond})
	spec := crmSpec(port, []person{{"piet", "Piet de Vries", piet.URI()}}, "[piet]",
		"    outcomes: [appointment, follow_up, not_interested]")
	spec.trunk = carrier.Addr().String()
	ta := startTestApp(t, spec)

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678", "email": "eva@example.nl",
		"interest": "Volvo XC60", "message": "Saturday & <asap>", "source": "website", "external_id": "crm-77"})
	if l := ta.waitFinal(t, id, 30*time.Second); l.Status != "completed" {
		t.Fatalf("lead %s (%s), want completed", l.Status, l.Reason)
	}
	// The relay is down: the completed lead's mail fails, and is tried again.
	wait.For(t, 30*time.Second, "a failed try of the CRM mail", func() bool {
		for _, d := range ta.deliveries(t, id) {
			if d.Event == "lead.completed" && d.Status == "failed" && strings.Contains(d.LastError, "connect") {
				return true
			}
		}
		return false
	})
	srv := smtptest.Start(t, smtptest.Options{Port: port, Fail: 1, FailWith: "551 5.7.1 Not now"})
	ds := ta.waitDelivered(t, id, 2, 45*time.Second)
	ms := srv.Wait(t, 2, 5*time.Second)
	if len(ms) != 2 {
		t.Fatalf("%d mails arrived, want 2 (the completed lead and its outcome)", len(ms))
	}
	byEvent := map[string]deliveryView{}
	for _, d := range ds {
		byEvent[d.Event] = d
		if d.Status != "delivered" || d.URL != "mailto:"+crmAddress || d.LastStatus != 250 {
			t.Errorf("delivery %+v", d)
		}
	}
	if d := byEvent["lead.completed"]; d.Tries < 3 {
		t.Errorf("lead.completed was tried %d times; want at least 3 (refused connection, 551, sent)", d.Tries)
	}

	var prospectIDs []string
	for i, want := range []struct{ event, resend, comment string }{
		{"lead.completed", "", "Taken by: Piet de Vries."},
		{"lead.outcome", `<prospect status="resend">`, "Outcome: appointment (given by Piet de Vries)."},
	} {
		m := ms[i]
		if m.From != "leadline@leads.example.com" || len(m.To) != 1 || m.To[0] != crmAddress {
			t.Errorf("mail %d: envelope %v", i+1, m)
		}
		if got, wantID := m.Header.Get("Message-Id"), "<"+byEvent[want.event].ID+"@leads.example.com>"; got != wantID {
			t.Errorf("mail %d: Message-ID %s, want %s (its delivery's id)", i+1, got, wantID)
		}
		if m.Header.Get("X-Leadline-Event") != want.event || m.Header.Get("X-Leadline-Lead") != id {
			t.Errorf("mail %d: %v", i+1, m.Header)
		}
		doc := adfOf(t, m)
		adftest.Valid(t, doc)
		if want.resend != "" && !bytes.Contains(doc, []byte(want.resend)) || want.resend == "" && bytes.Contains(doc, []byte("resend")) {
			t.Errorf("mail %d: status of the prospect:\n%s", i+1, doc)
		}
		ps, err := adf.Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		p := ps[0]
		prospectIDs = append(prospectIDs, p.ID)
		if p.Name != "Eva Jansen" || p.Email != "eva@example.nl" || len(p.Phones) != 1 || p.Phones[0].Number != "+31612345678" ||
			len(p.Vehicles) != 1 || p.Vehicles[0].Make != "Volvo" || p.Vehicles[0].Model != "XC60" || p.Vendor != "Autohuis Jansen" {
			t.Errorf("mail %d: prospect %+v", i+1, p)
		}
		for _, c := range []string{"Saturday & <asap>", "Leadline: completed", "Speed to lead:", "Talk time:", want.comment} {
			if !strings.Contains(p.Comments, c) {
				t.Errorf("mail %d: comments lack %q:\n%s", i+1, c, p.Comments)
			}
		}
		if !bytes.Contains(doc, []byte(`<id sequence="2" source="website">crm-77</id>`)) {
			t.Errorf("mail %d: no external id:\n%s", i+1, doc)
		}
	}
	if prospectIDs[0] != id || prospectIDs[1] != id {
		t.Errorf("prospect ids %q, want the lead's %s in both", prospectIDs, id)
	}
	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_mail_sent_total{dealer="jansen",kind="crm",result="sent"}`:    2,
		`leadline_mail_sent_total{dealer="jansen",kind="crm",result="gave_up"}`: 0,
	} {
		if got, _ := metricValue(page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got, _ := metricValue(page, `leadline_mail_sent_total{dealer="jansen",kind="crm",result="failed"}`); got < 2 {
		t.Errorf("failed tries counted %v, want at least 2", got)
	}
	// Nothing more is sent: both deliveries are final.
	if ms := srv.Messages(t); len(ms) != 2 {
		t.Errorf("%d mails in the end", len(ms))
	}
}

// A CRM mail still to send when Leadline stops is sent by the next start: the delivery
// is in the store, not in memory. A lead canceled while the relay is down; Leadline
// stopped; the relay up; Leadline started again on the same database: the mail arrives,
// once.
func TestCRMMailAfterRestart(t *testing.T) {
	adftest.Xmllint(t)
	smtptest.Available(t)
	port := smtptest.FreePort(t)
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	spec := crmSpec(port, []person{{"piet", "Piet de Vries", piet.URI()}}, "[piet]", "")
	spec.ring = time.Minute
	spec.db = t.TempDir() + "/leadline.db"
	first := startTestApp(t, spec)
	id := first.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	status, _, body := first.request(t, "POST", "/v1/leads/"+id+"/cancel", "", "Authorization", "Bearer "+testKey)
	if status != 200 {
		t.Fatalf("cancel: %d %s", status, body)
	}
	wait.For(t, 20*time.Second, "a failed try of the CRM mail", func() bool {
		ds := first.deliveries(t, id)
		return len(ds) == 1 && ds[0].Status == "failed"
	})
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	srv := smtptest.Start(t, smtptest.Options{Port: port})
	second := startTestApp(t, spec)
	ds := second.waitDelivered(t, id, 1, 30*time.Second)
	if ds[0].Status != "delivered" || ds[0].Event != "lead.canceled" {
		t.Errorf("delivery %+v", ds[0])
	}
	ms := srv.Wait(t, 1, 5*time.Second)
	if len(ms) != 1 || ms[0].Header.Get("Message-Id") != "<"+ds[0].ID+"@leads.example.com>" {
		t.Fatalf("%d mails: %v", len(ms), ms)
	}
	doc := adfOf(t, ms[0])
	adftest.Valid(t, doc)
	if ps, _ := adf.Parse(doc); len(ps) != 1 || ps[0].ID != id || !strings.Contains(ps[0].Comments, "Leadline: canceled") {
		t.Errorf("the ADF:\n%s", doc)
	}
}
