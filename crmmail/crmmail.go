package crmmail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadline/leadline/adf"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/mailout"
)

// Events are the events that mail a dealer's CRM: the lead's final status, which carries
// its whole result (who took it, speed to lead, talk time), and the salesperson's
// outcome, given after the call, as an update of the same prospect. Earlier events (a
// lead received, scheduled, connected) are not mailed: each ADF mail is a lead to most
// CRMs, and one that arrives before the result would stand without it.
var Events = []dialer.EventType{
	dialer.EventCompleted, dialer.EventCustomerUnreachable, dialer.EventExhausted,
	dialer.EventCanceled, dialer.EventFailed, dialer.EventOutcome,
}

// Dealer is what a mail says of the dealer.
type Dealer struct {
	ID       string
	Name     string
	CallerID string         // the dealer's number: the ADF vendor's contact
	Location *time.Location // request dates are written in it; nil: UTC
	// People are the salespeople's names by id, for the result's words.
	People map[string]string
}

// Endpoint is one of a dealer's CRM addresses (dealers[].crm_email).
type Endpoint struct {
	Dealer  Dealer
	Address string
}

// idPrefix starts the id of every CRM mail endpoint; webhook endpoints' ids start
// otherwise ("wh_").
const idPrefix = "mail_"

// ID names the endpoint in the store: the same for its dealer and address.
func (e Endpoint) ID() string {
	h := sha256.Sum256([]byte(e.Dealer.ID + "\x00" + strings.ToLower(e.Address)))
	return idPrefix + hex.EncodeToString(h[:12])
}

// Version changes with what the endpoint takes (the address and the events mailed).
func (e Endpoint) Version() string {
	var events []string
	for _, t := range Events {
		events = append(events, string(t))
	}
	h := sha256.Sum256([]byte(strings.ToLower(e.Address) + "\x00" + strings.Join(events, "\x00")))
	return hex.EncodeToString(h[:16])
}

// URL is the endpoint as the delivery history shows it.
func (e Endpoint) URL() string { return "mailto:" + strings.ToLower(e.Address) }

// IsEndpoint reports whether a delivery's endpoint id is a CRM mail endpoint.
func IsEndpoint(id string) bool { return strings.HasPrefix(id, idPrefix) }

// Relay submits a message. *mailout.Relay implements it.
type Relay interface {
	// Send submits msg from the envelope sender from to the recipients to; nil when the
	// relay took it. Errors carry the relay's reply code (mailout.Code).
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Recorder counts mails. *metrics.Metrics implements it.
type Recorder interface {
	// MailSent counts a mail by dealer, kind (KindCRM, KindReport) and result (ResultSent,
	// ResultFailed: tried again later, ResultGaveUp).
	MailSent(dealer, kind, result string)
}

// Mail kinds and results, as the metrics label them.
const (
	KindCRM      = "crm"
	KindReport   = "report"
	ResultSent   = "sent"
	ResultFailed = "failed"
	ResultGaveUp = "gave_up"
)

// Options configure a Sender.
type Options struct {
	Recorder Recorder     // nil: none
	Logger   *slog.Logger // nil: discard
}

// Sender mails the lead's result to CRM endpoints, one try at a time, for the store's
// delivery jobs (through cmd's courier, which gives it the deliveries of CRM mail
// endpoints). Its methods are safe for concurrent use.
type Sender struct {
	o         Options
	relay     atomic.Pointer[relayFrom]
	endpoints atomic.Pointer[map[string]Endpoint] // by ID
}

type relayFrom struct {
	Relay
	from mail.Address
}

// New returns a Sender without relay or endpoints: SetRelay and SetEndpoints.
func New(o Options) *Sender {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Recorder == nil {
		o.Recorder = nopRecorder{}
	}
	s := &Sender{o: o}
	empty := map[string]Endpoint{}
	s.endpoints.Store(&empty)
	return s
}

// SetRelay sets the relay mail leaves through and its sender (at start and on a
// configuration reload); nil r: none, and every try fails until one is set.
func (s *Sender) SetRelay(r Relay, from mail.Address) {
	if r == nil {
		s.relay.Store(nil)
		return
	}
	s.relay.Store(&relayFrom{Relay: r, from: from})
}

// SetEndpoints replaces the endpoints.
func (s *Sender) SetEndpoints(eps []Endpoint) {
	m := make(map[string]Endpoint, len(eps))
	for _, e := range eps {
		m[e.ID()] = e
	}
	s.endpoints.Store(&m)
}

// Send makes one try of delivery d, whose endpoint is a CRM address: the ADF mail made
// from body (the webhook body the store froze at the event's first try) to the relay.
// The same delivery and body make the same mail, so a mail tried again is the same
// mail with the same Message-ID. Every failure is tried again: a relay's 5xx answer
// too, since the usual cause (authentication, a relaying rule, a mailbox full) is put
// right within the retry window, and a lead's result is worth more than the tries.
func (s *Sender) Send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult {
	start := time.Now()
	r := s.send(ctx, d, body)
	r.Took = time.Since(start)
	return r
}

func (s *Sender) send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult {
	failed := func(code int, format string, args ...any) dialer.TryResult {
		return dialer.TryResult{Outcome: dialer.TryFailed, Status: code, Error: clean(fmt.Sprintf(format, args...))}
	}
	ep, ok := (*s.endpoints.Load())[d.Endpoint]
	if !ok {
		return failed(0, "the CRM address is not configured on this node")
	}
	rf := s.relay.Load()
	if rf == nil {
		return failed(0, "no outgoing mail relay is configured (email.relay)")
	}
	m, err := Compose(ep, rf.from, d.ID, body)
	if err != nil {
		return failed(0, "%v", err)
	}
	raw, err := m.Bytes()
	if err != nil {
		return failed(0, "%v", err)
	}
	if err := rf.Send(ctx, rf.from.Address, []string{ep.Address}, raw); err != nil {
		return failed(mailout.Code(err), "%v", err)
	}
	return dialer.TryResult{Outcome: dialer.TryDelivered, Status: 250}
}

// envelope is the webhook body a mail is made from.
type envelope struct {
	Type      dialer.EventType `json:"type"`
	Timestamp leadview.Time    `json:"timestamp"`
	Data      leadview.Lead    `json:"data"`
}

// ErrBody is wrapped by Compose's errors: the body is not an event of a lead.
var ErrBody = errors.New("not an event body")

// Compose makes the mail of delivery id to endpoint ep, from from, of an event's body
// (the webhook body: {"type", "timestamp", "data": the lead as shown}): the lead and its
// result as an ADF 1.0 document, the whole of a text/plain body, which is what CRMs that
// take ADF by mail read. Its Message-ID is the delivery's id at the sender's domain; its
// Date the event's time. The same arguments give the same mail.
func Compose(ep Endpoint, from mail.Address, id string, body []byte) (mailout.Message, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return mailout.Message{}, fmt.Errorf("crm mail: %w: %v", ErrBody, err)
	}
	if e.Data.ID == "" || !e.Type.Valid() || e.Timestamp.IsZero() {
		return mailout.Message{}, fmt.Errorf("crm mail: %w: no lead, type or time", ErrBody)
	}
	var doc bytes.Buffer
	if err := adf.Write(&doc, adf.Document{Prospects: []adf.Entry{Entry(ep.Dealer, e.Type, e.Data)}}); err != nil {
		return mailout.Message{}, fmt.Errorf("crm mail: %w", err)
	}
	l := e.Data
	who := cmpOr(l.Name, l.Phone)
	subject := "ADF lead: " + who + " (" + strings.ReplaceAll(string(l.Status), "_", " ") + ")"
	if e.Type == dialer.EventOutcome && l.Outcome != nil {
		subject = "ADF lead update: " + who + " (outcome: " + l.Outcome.ID + ")"
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return mailout.Message{
		From: from, To: []string{ep.Address}, Subject: subject,
		Date:      time.Time(e.Timestamp).In(location(ep.Dealer)),
		MessageID: id + "@" + cmpOr(domain, "leadline.invalid"),
		Headers: [][2]string{
			{"X-Leadline-Lead", l.ID}, {"X-Leadline-Event", string(e.Type)}, {"X-Leadline-Dealer", ep.Dealer.ID},
		},
		Text: doc.String(),
	}, nil
}

// Entry is the ADF prospect of lead l as event t reports it, for dealer d:
//   - <id source="Leadline"> the lead's id, and its external_id as a second <id> (its
//     source attribute the lead's source, else its channel);
//   - status="resend" for lead.outcome: an update of the prospect sent at the final
//     status, under the same id;
//   - requestdate: when the lead arrived, in the dealer's time zone;
//   - vehicle: the interest, by adf.Vehicles (year, make, model when sure, else the
//     whole text as the model; empty elements when there is no interest);
//   - customer: name, e-mail and phone, and as comments the customer's message, then
//     Leadline's result (status, who took it, speed to lead, talk time, outcome, calls);
//   - vendor: the dealer, its name and number;
//   - provider: Leadline, with the lead's source and channel as its service.
func Entry(d Dealer, t dialer.EventType, l leadview.Lead) adf.Entry {
	loc := location(d)
	e := adf.Entry{
		Resend:      t == dialer.EventOutcome,
		IDs:         []adf.ID{{Value: l.ID, Source: "Leadline"}},
		RequestDate: time.Time(l.CreatedAt).In(loc),
		Vehicles:    adf.Vehicles(l.Interest),
		Customer: adf.Customer{
			Contact:  adf.Contact{Name: l.Name, Email: l.Email, Phones: []adf.Phone{{Number: l.Phone, Type: "voice"}}},
			Comments: comments(d, l),
		},
		Vendor: adf.Vendor{Name: cmpOr(d.Name, d.ID), Contact: adf.Contact{Name: cmpOr(d.Name, d.ID)}},
		Provider: &adf.Provider{Name: "Leadline", Service: strings.TrimSpace(
			cmpOr(l.Source, "no source given") + " (" + string(leadview.Channel(l.Channel)) + ")")},
	}
	if l.ExternalID != "" {
		e.IDs = append(e.IDs, adf.ID{Value: l.ExternalID, Source: cmpOr(l.Source, string(leadview.Channel(l.Channel)))})
	}
	if d.CallerID != "" {
		e.Vendor.Contact.Phones = []adf.Phone{{Number: d.CallerID, Type: "voice"}}
	}
	return e
}

// comments is the customer's message, then Leadline's result in a few lines.
func comments(d Dealer, l leadview.Lead) string {
	var b strings.Builder
	if m := strings.TrimSpace(l.Message); m != "" {
		b.WriteString(m)
		b.WriteString("\n\n")
	}
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("Leadline: %s.", statusSentence(l))
	if p := acceptedBy(l); p != "" {
		line("Taken by: %s.", name(d, p))
	}
	if l.SpeedToLeadSeconds != nil {
		line("Speed to lead: %s (from the lead's arrival to the customer on the line).", seconds(*l.SpeedToLeadSeconds))
	}
	if !l.ConnectedAt.IsZero() && !l.EndedAt.IsZero() {
		talk := time.Time(l.EndedAt).Sub(time.Time(l.ConnectedAt))
		line("Talk time: %s.", seconds(talk.Seconds()))
	}
	if o := l.Outcome; o != nil {
		line("Outcome: %s (given by %s).", o.ID, name(d, o.Person))
	}
	if calls := callList(d, l); calls != "" {
		line("Calls: %s.", calls)
	}
	return strings.TrimRight(b.String(), "\n")
}

// statusSentence says how the lead ended, with the reason when there is one.
func statusSentence(l leadview.Lead) string {
	s := statusWords(l.Status)
	if r := strings.TrimSpace(l.Reason); r != "" {
		s += " (" + strings.TrimSuffix(r, ".") + ")"
	}
	return s
}

// statusWords names a status for people.
func statusWords(s dialer.Status) string {
	switch s {
	case dialer.StatusCompleted:
		return "completed: the customer and a salesperson spoke"
	case dialer.StatusCustomerUnreachable:
		return "customer unreachable: a salesperson accepted, the customer did not answer"
	case dialer.StatusExhausted:
		return "exhausted: nobody, the owner included, took the lead"
	case dialer.StatusCanceled:
		return "canceled"
	case dialer.StatusFailed:
		return "failed: the lead could not be worked"
	}
	return string(s)
}

// acceptedBy is the salesperson who last pressed 1 for the lead.
func acceptedBy(l leadview.Lead) string {
	for _, a := range slices.Backward(l.Attempts) {
		if a.Leg == dialer.LegAgent && a.Result == dialer.ResultAccepted {
			return a.Person
		}
	}
	return ""
}

// callList is the lead's calls: "Piet de Vries busy, Jan Jansen accepted, customer
// answered".
func callList(d Dealer, l leadview.Lead) string {
	var parts []string
	for _, a := range l.Attempts {
		who := "customer"
		if a.Leg == dialer.LegAgent {
			who = name(d, a.Person)
		}
		res := strings.ReplaceAll(string(a.Result), "_", " ")
		if res == "" {
			res = "in progress"
		}
		parts = append(parts, who+" "+res)
	}
	return strings.Join(parts, ", ")
}

// name is a person's name, or their id when the dealer has no name for them.
func name(d Dealer, id string) string {
	if n := d.People[id]; n != "" && n != id {
		return n
	}
	return id
}

// seconds writes a time in seconds as "7.4 s" or "3m05s".
func seconds(s float64) string {
	if s < 60 {
		return fmt.Sprintf("%.1f s", s)
	}
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

func location(d Dealer) *time.Location {
	if d.Location == nil {
		return time.UTC
	}
	return d.Location
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clean makes an error fit to keep in the delivery history: one line, printable, at
// most 300 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	s = strings.Join(strings.Fields(s), " ")
	for len(s) > 300 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// Observe logs what became of d and counts it.
func (s *Sender) Observe(d dialer.Delivery, r dialer.TryResult) {
	result := ResultFailed
	switch d.State {
	case dialer.DeliveryDelivered:
		result = ResultSent
	case dialer.DeliveryGaveUp, dialer.DeliveryDisabled:
		result = ResultGaveUp
	}
	s.o.Recorder.MailSent(d.Event.Dealer, KindCRM, result)
	log := s.o.Logger.With("dealer", d.Event.Dealer, "lead_id", d.Event.LeadID, "event", d.Event.Type,
		"endpoint", d.Endpoint, "to", strings.TrimPrefix(d.URL, "mailto:"), "delivery_id", d.ID, "tries", d.Tries)
	if r.Status != 0 {
		log = log.With("smtp_code", r.Status)
	}
	switch d.State {
	case dialer.DeliveryDelivered:
		log.Debug("crm mail sent", "took", r.Took)
	case dialer.DeliveryFailed:
		log.Warn("crm mail failed; trying again later", "error", r.Error, "next_try_at", d.NextTryAt)
	default:
		log.Error("crm mail given up", "error", d.LastError)
	}
}

type nopRecorder struct{}

func (nopRecorder) MailSent(string, string, string) {}
