package crmmail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/adf"
	"github.com/leadline/leadline/adf/adftest"
	"github.com/leadline/leadline/crmmail"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/mailout/smtptest"
)

var ams, _ = time.LoadLocation("Europe/Amsterdam")

func dealer() crmmail.Dealer {
	return crmmail.Dealer{
		ID: "jansen", Name: "Autohuis Jansen & Zn.", CallerID: "+31201234567", Location: ams,
		People: map[string]string{"piet": "Piet de Vries", "kees": "Kees Bakker", "owner": "Jan Jansen"},
	}
}

var from = mail.Address{Name: "Leadline", Address: "leadline@leads.example.com"}

// completedLead is a lead kees passed on and piet took: bridged 7.412 s after it came
// in, talked 3 min 5 s, an appointment.
func completedLead() dialer.Lead {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return dialer.Lead{
		ID: "0193f0c2-7d3a-7b6e-9a51-2f1c3d4e5f60", Dealer: "jansen", Status: dialer.StatusCompleted,
		Name: "Eva Jänsen", Phone: "+31612345678", Email: "eva@example.nl", Source: "autoscout24", Channel: dialer.ChannelEmail,
		Interest: "2024 Volvo XC60 T6 (stock 123, VIN YV1UZA8V1P1234567)", Message: "Can I come Saturday? <asap> & thanks",
		ExternalID: "autoscout24:998877", Reason: "the customer hung up",
		CreatedAt: t0, ConnectedAt: at(7412), EndedAt: at(7412 + 185_000),
		Attempts: []dialer.Attempt{
			{Leg: dialer.LegAgent, Person: "kees", Result: dialer.ResultDeclined, StartedAt: at(100), AnsweredAt: at(2000), EndedAt: at(3000)},
			{Leg: dialer.LegAgent, Person: "piet", Result: dialer.ResultAccepted, StartedAt: at(3100), AnsweredAt: at(5000), AcceptedAt: at(6000), EndedAt: at(192_412)},
			{Leg: dialer.LegCustomer, Person: "piet", Result: dialer.ResultAnswered, StartedAt: at(6100), AnsweredAt: at(7412), EndedAt: at(192_412)},
		},
	}
}

// body is the webhook body of event t of l, as the webhook sender writes it.
func body(t *testing.T, typ dialer.EventType, l dialer.Lead, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "timestamp": leadview.Time(at), "data": leadview.FromLead(l)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ep() crmmail.Endpoint {
	return crmmail.Endpoint{Dealer: dealer(), Address: "leads@crm.example.com"}
}

// mailADF builds the mail of an event and returns it with its ADF body.
func mailADF(t *testing.T, id string, b []byte) (mailout.Message, []byte) {
	t.Helper()
	m, err := crmmail.Compose(ep(), from, id, b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m, decodeQP(t, msg)
}

// decodeQP is a single-part message's body, decoded when it is quoted-printable.
func decodeQP(t *testing.T, msg *mail.Message) []byte {
	t.Helper()
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

// The final status's mail: an ADF document valid against the DTD, whose prospect reads
// back as the lead (ids, request date, customer, vehicle) with Leadline's result in the
// comments; the outcome's mail is an update (status="resend") of the same prospect id.
func TestComposeADF(t *testing.T) {
	l := completedLead()
	m, doc := mailADF(t, "0193f0c3-delivery-1", body(t, dialer.EventCompleted, l, l.EndedAt))
	adftest.Valid(t, doc)
	if m.MessageID != "0193f0c3-delivery-1@leads.example.com" || !m.Date.Equal(l.EndedAt) || m.Subject != "ADF lead: Eva Jänsen (completed)" {
		t.Errorf("message %q, date %v, subject %q", m.MessageID, m.Date, m.Subject)
	}
	ps, err := adf.Parse(doc)
	if err != nil || len(ps) != 1 {
		t.Fatalf("Parse: %v, %d prospects", err, len(ps))
	}
	p := ps[0]
	if p.ID != l.ID || p.IDSource != "Leadline" || p.RequestDate != "2026-11-27T11:00:00+01:00" || p.Name != "Eva Jänsen" ||
		p.Email != "eva@example.nl" || len(p.Phones) != 1 || p.Phones[0].Number != "+31612345678" ||
		p.Vendor != "Autohuis Jansen & Zn." || p.Provider != "Leadline" {
		t.Errorf("prospect %+v", p)
	}
	if len(p.Vehicles) != 1 || p.Vehicles[0] != (adf.Vehicle{Year: "2024", Make: "Volvo", Model: "XC60 T6", Stock: "123", VIN: "YV1UZA8V1P1234567"}) {
		t.Errorf("vehicles %+v", p.Vehicles)
	}
	for _, want := range []string{
		"Can I come Saturday? <asap> & thanks\n\n",
		"Leadline: completed: the customer and a salesperson spoke (the customer hung up).",
		"Taken by: Piet de Vries.",
		"Speed to lead: 7.4 s (from the lead's arrival to the customer on the line).",
		"Talk time: 3m05s.",
		"Calls: Kees Bakker declined, Piet de Vries accepted, customer answered.",
	} {
		if !strings.Contains(p.Comments, want) {
			t.Errorf("comments lack %q:\n%s", want, p.Comments)
		}
	}
	for _, want := range []string{`<id sequence="2" source="autoscout24">autoscout24:998877</id>`, `<service>autoscout24 (email)</service>`,
		`<phone type="voice">+31201234567</phone>`} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("the ADF lacks %s:\n%s", want, doc)
		}
	}
	if bytes.Contains(doc, []byte(`status="resend"`)) {
		t.Error("the first mail of a lead is an update")
	}

	// The salesperson's outcome, after the call: the same prospect, as an update.
	l.Outcome = dialer.CallOutcome{ID: "appointment", Person: "piet", At: l.EndedAt.Add(5 * time.Second)}
	m, doc = mailADF(t, "0193f0c3-delivery-2", body(t, dialer.EventOutcome, l, l.Outcome.At))
	adftest.Valid(t, doc)
	ps, _ = adf.Parse(doc)
	if !bytes.Contains(doc, []byte(`<prospect status="resend">`)) || ps[0].ID != l.ID ||
		!strings.Contains(ps[0].Comments, "Outcome: appointment (given by Piet de Vries).") ||
		m.Subject != "ADF lead update: Eva Jänsen (outcome: appointment)" {
		t.Errorf("the outcome's mail: %s\n%s", m.Subject, doc)
	}
}

// Every final status gives a valid document, with what the lead has: none bridged, no
// name, no interest, no e-mail; a lead nobody took says so.
func TestComposeEveryStatus(t *testing.T) {
	for _, st := range []dialer.Status{dialer.StatusCustomerUnreachable, dialer.StatusExhausted, dialer.StatusCanceled, dialer.StatusFailed} {
		t.Run(string(st), func(t *testing.T) {
			l := dialer.Lead{ID: "l-" + string(st), Dealer: "jansen", Status: st, Phone: "+31612345678",
				CreatedAt: time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), Reason: "nobody pressed 1",
				Attempts: []dialer.Attempt{{Leg: dialer.LegAgent, Person: "owner", Result: dialer.ResultNoAnswer}}}
			_, doc := mailADF(t, "d-"+string(st), body(t, st.Event(), l, l.CreatedAt.Add(time.Minute)))
			adftest.Valid(t, doc)
			ps, _ := adf.Parse(doc)
			if !strings.Contains(ps[0].Comments, "Leadline: "+strings.ReplaceAll(string(st), "_", " ")) ||
				!strings.Contains(ps[0].Comments, "Calls: Jan Jansen no answer.") || strings.Contains(ps[0].Comments, "Taken by") {
				t.Errorf("comments:\n%s", ps[0].Comments)
			}
		})
	}
}

// The same delivery and body make the same bytes: a mail tried again is the same mail.
func TestComposeDeterministic(t *testing.T) {
	l := completedLead()
	b := body(t, dialer.EventCompleted, l, l.EndedAt)
	m1, _ := crmmail.Compose(ep(), from, "d-1", b)
	m2, _ := crmmail.Compose(ep(), from, "d-1", b)
	r1, _ := m1.Bytes()
	r2, _ := m2.Bytes()
	if !bytes.Equal(r1, r2) {
		t.Error("two mails of one delivery differ")
	}
	if _, err := crmmail.Compose(ep(), from, "d-1", []byte(`{"type":"lead.completed"}`)); err == nil {
		t.Error("a body without a lead made a mail")
	}
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

// A try through a real relay (aiosmtpd) that refuses the first time: the try fails with
// the relay's code, the next one sends the mail, which arrives at the CRM's address with
// the ADF valid; Observe counts both.
func TestSend(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Fail: 1, FailWith: "451 4.3.0 Mailbox busy"})
	relay, err := mailout.New("smtp://"+srv.Addr, mailout.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s := crmmail.New(crmmail.Options{Recorder: rec})
	e := ep()
	e.Dealer.Name = "Autohuis Jänsen" // non-ASCII: the body goes quoted-printable
	s.SetEndpoints([]crmmail.Endpoint{e})
	l := completedLead()
	d := dialer.Delivery{ID: "0193f0c3-delivery-1", Endpoint: e.ID(), URL: e.URL(),
		Event: dialer.Event{LeadID: l.ID, Dealer: "jansen", Type: dialer.EventCompleted, At: l.EndedAt}}
	b := body(t, dialer.EventCompleted, l, l.EndedAt)

	if r := s.Send(context.Background(), d, b); r.Outcome != dialer.TryFailed || !strings.Contains(r.Error, "no outgoing mail relay") {
		t.Errorf("without a relay: %+v", r)
	}
	s.SetRelay(relay, from)
	r := s.Send(context.Background(), d, b)
	if r.Outcome != dialer.TryFailed || r.Status != 451 || !strings.Contains(r.Error, "Mailbox busy") {
		t.Fatalf("first try: %+v", r)
	}
	d.State = dialer.DeliveryFailed
	s.Observe(d, r)
	if r := s.Send(context.Background(), d, b); r.Outcome != dialer.TryDelivered {
		t.Fatalf("second try: %+v", r)
	}
	d.State = dialer.DeliveryDelivered
	s.Observe(d, r)

	ms := srv.Wait(t, 1, 5*time.Second)
	if ms[0].From != from.Address || len(ms[0].To) != 1 || ms[0].To[0] != "leads@crm.example.com" ||
		ms[0].Header.Get("Message-Id") != "<0193f0c3-delivery-1@leads.example.com>" {
		t.Errorf("arrived: %v, %v", ms[0], ms[0].Header)
	}
	msg, _ := mail.ReadMessage(bytes.NewReader(ms[0].Raw))
	doc := decodeQP(t, msg)
	adftest.Valid(t, doc)
	if !bytes.Contains(doc, []byte("<vendorname>Autohuis Jänsen</vendorname>")) {
		t.Errorf("the ADF that arrived:\n%s", doc)
	}
	if strings.Join(rec.seen, "; ") != "jansen crm failed; jansen crm sent" {
		t.Errorf("counted %q", rec.seen)
	}
	if !crmmail.IsEndpoint(e.ID()) || crmmail.IsEndpoint("wh_0123") || e.URL() != "mailto:leads@crm.example.com" {
		t.Errorf("endpoint id %q, url %q", e.ID(), e.URL())
	}
}

// TestImports: of the project, crmmail imports adf, dialer, leadview and mailout only
// (doc.go).
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"adf": true, "dialer": true, "leadview": true, "mailout": true}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, "github.com/leadline/leadline/"); ok && !allowed[rest] {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
