package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// LeadInput is a lead as a web form, a CRM, an e-mail or a portal sends it, before
// validation. The fields without a json name are set by the adapter that took the lead
// in, never by the sender's body.
type LeadInput struct {
	Phone      string `json:"phone"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Source     string `json:"source"`
	Interest   string `json:"interest"`
	Message    string `json:"message"`
	AssignedTo string `json:"assigned_to"`
	ExternalID string `json:"external_id"`
	// IdempotencyKey comes from the Idempotency-Key header, not the body; an e-mail's
	// Message-ID or a portal's event id serve as one too.
	IdempotencyKey string `json:"-"`

	// Channel is how the lead arrived; "" is ChannelAPI.
	Channel Channel `json:"-"`
	// Sender is who sent an e-mailed lead (its From address) or the portal of a
	// webhook; MessageID the e-mail's Message-ID. Both are kept with the lead.
	Sender    string `json:"-"`
	MessageID string `json:"-"`
	// Original is the message as it arrived, kept for audit (e-mail, webhook); nil for
	// API and form posts.
	Original *Original `json:"-"`
	// ReceivedAt is when the lead arrived (the end of an e-mail's DATA, its arrival in
	// a mailbox), for the intake-to-INVITE measure; zero: when Submit was called.
	ReceivedAt time.Time `json:"-"`
}

// Channel is how a lead arrived. The strings are part of the HTTP API and the metrics.
type Channel string

// Channels.
const (
	ChannelAPI     Channel = "api"     // POST /v1/leads with an API key (JSON, form or ADF)
	ChannelForm    Channel = "form"    // a public web form, with a form key
	ChannelEmail   Channel = "email"   // an e-mail to Leadline's SMTP receiver
	ChannelIMAP    Channel = "imap"    // an e-mail fetched from the dealer's mailbox
	ChannelWebhook Channel = "webhook" // a portal's lead webhook
)

// Valid reports whether c is one of the channels.
func (c Channel) Valid() bool {
	switch c {
	case ChannelAPI, ChannelForm, ChannelEmail, ChannelIMAP, ChannelWebhook:
		return true
	}
	return false
}

// Original is a message as it arrived, kept with its lead, or with its rejection, for
// audit. Body is cut at MaxOriginal bytes; Size is the whole message's size.
type Original struct {
	ContentType string // message/rfc822 for e-mail
	Body        []byte
	Size        int64
}

// MaxOriginal bounds the bytes of an original message kept with a lead or rejection.
const MaxOriginal = 1 << 20

// NewOriginal keeps body, cut at MaxOriginal, with its content type and whole size.
func NewOriginal(contentType string, body []byte) *Original {
	return &Original{ContentType: contentType, Body: body[:min(len(body), MaxOriginal)], Size: int64(len(body))}
}

// Truncated reports whether Body holds less than the whole message.
func (o *Original) Truncated() bool { return int64(len(o.Body)) < o.Size }

// Rejection is a message that reached Leadline for a dealer but holds no lead that can
// be called: kept with its reason, so that nothing is silently dropped.
type Rejection struct {
	ID         string // assigned by Service.Reject
	Dealer     string
	Channel    Channel
	ReceivedAt time.Time
	Sender     string
	MessageID  string
	Subject    string
	Reason     string // what was looked for and not found, or what was wrong
	Original   *Original
	// Size is the whole original message's size in bytes (Original.Size), 0 when none
	// was kept; set by Reject and by the archive's readers, lists included, which
	// carry no Original.
	Size int64
}

// FieldError is one rejected input field.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// ValidationError lists every bad field of a LeadInput. Nothing is stored when it is returned.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Detail
	}
	return "invalid lead: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// Recorder receives the flow's measurable events. *metrics.Metrics implements it; labels
// never carry a lead id or a phone number.
type Recorder interface {
	// LeadReceived is called once per newly stored lead; repeats and joins do not count.
	LeadReceived(dealer string)
	// LeadJoined is called once per submission that joined an open lead of the dealer
	// (Dealer.DuplicateWindow) instead of being stored as a lead.
	LeadJoined(dealer string)
	// LeadFinished is called once per lead with its final status; speed is the speed to
	// lead, or 0 when the customer was never bridged.
	LeadFinished(dealer string, s Status, speed time.Duration)
	// AgentAttempt is called once per finished agent leg; answer is the time from INVITE
	// to answer, or 0 when the leg was not answered.
	AgentAttempt(dealer, person string, r Result, answer time.Duration)
	// ReachedOwner is called when a lead's flow reaches its last step.
	ReachedOwner(dealer string)
	// CustomerAttempt is called once per finished customer leg with its result.
	CustomerAttempt(dealer string, r Result)
	// Intake is called once per lead submitted or message refused or rejected, with how
	// it arrived and what became of it.
	Intake(dealer string, ch Channel, r IntakeResult)
	// FirstInvite is called when the first salesperson's INVITE of a lead leaves, d after
	// the lead arrived (LeadInput.ReceivedAt), for leads dialled as they arrive.
	FirstInvite(dealer string, ch Channel, d time.Duration)
	// CallOutcome is called once per outcome a salesperson gave after a call.
	CallOutcome(dealer, person, outcome string)
}

// IntakeResult is what became of a lead or message that arrived. The strings are
// metric label values.
type IntakeResult string

// Intake results.
const (
	IntakeCreated     IntakeResult = "created"     // a new lead; its flow starts
	IntakeRepeat      IntakeResult = "repeat"      // the same lead again (idempotency key, external id, Message-ID)
	IntakeJoined      IntakeResult = "joined"      // joined the open lead for its number
	IntakeInvalid     IntakeResult = "invalid"     // refused: a bad field (API 422)
	IntakeLimited     IntakeResult = "limited"     // refused: the number had its daily cap of leads
	IntakeUnavailable IntakeResult = "unavailable" // not stored: the store is down; the sender retries
	IntakeRejected    IntakeResult = "rejected"    // a message with no callable lead, kept with its reason
	IntakeRefused     IntakeResult = "refused"     // refused at the door: sender not allowed, too big, too many
)

// Check refuses a lead for dealer exactly as Submit would before storing it: while
// draining, when it is invalid (with the dealer's countries), when its number had its
// day's leads. It returns the lead normalised; it stores nothing, starts nothing and
// does not count towards any limit. The API checks posts caught by its honeypot with it,
// so that they are refused as a real post would be.
func (s *Service) Check(ctx context.Context, dealer string, in LeadInput) (Lead, error) {
	if s.draining.Load() {
		return Lead{}, ErrDraining
	}
	d, ok := s.Dealer(dealer)
	if !ok {
		return Lead{}, fmt.Errorf("check: unknown dealer %q: %w", dealer, ErrNotFound)
	}
	l, err := d.validate(in, s.guard.countries(d))
	if err != nil {
		return Lead{}, err
	}
	if _, _, err := s.guard.checkNumber(ctx, l, s.now(), in.Channel != ChannelForm); err != nil {
		return Lead{}, err
	}
	return l, nil
}

// ErrNoArchive is returned by Reject and the archive's readers when the service keeps no
// archive.
var ErrNoArchive = errors.New("no archive for original messages is configured")

// Reject keeps a message that reached Leadline for a dealer but held no lead that can
// be called, with the reason, and counts it. It returns the rejection as kept (ID
// set). An error means nothing was kept: an e-mail is then refused temporarily, so
// that its sender tries again.
func (s *Service) Reject(ctx context.Context, r Rejection) (Rejection, error) {
	if s.archive == nil {
		return Rejection{}, ErrNoArchive
	}
	if _, ok := s.Dealer(r.Dealer); !ok {
		return Rejection{}, fmt.Errorf("reject: unknown dealer %q: %w", r.Dealer, ErrNotFound)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Rejection{}, fmt.Errorf("reject: %w", err)
	}
	r.ID = id.String()
	r.Channel = cmp.Or(r.Channel, ChannelAPI)
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = s.now()
	}
	r.ReceivedAt = r.ReceivedAt.UTC().Truncate(time.Millisecond)
	r.Size = 0
	if r.Original != nil {
		r.Size = r.Original.Size
	}
	kept, err := s.archive.InsertRejection(ctx, r)
	if err != nil {
		s.rec.Intake(r.Dealer, r.Channel, IntakeUnavailable)
		return Rejection{}, fmt.Errorf("reject: %w: %w", ErrUnavailable, err)
	}
	if !kept { // the same message again: its first rejection stands
		s.rec.Intake(r.Dealer, r.Channel, IntakeRepeat)
		return r, nil
	}
	s.rec.Intake(r.Dealer, r.Channel, IntakeRejected)
	s.log.InfoContext(ctx, "message held no lead; kept", "dealer", r.Dealer, "channel", r.Channel,
		"rejection_id", r.ID, "reason", r.Reason)
	return r, nil
}

// Refused counts a message refused at the door for dealer (a sender it does not allow,
// too big, too many): nothing was kept and the sender was told.
func (s *Service) Refused(dealer string, ch Channel) {
	s.rec.Intake(dealer, ch, IntakeRefused)
}

// Rejections returns a page of the dealer's rejections, newest first.
func (s *Service) Rejections(ctx context.Context, dealer string, limit int, cursor string) ([]Rejection, string, error) {
	if s.archive == nil {
		return nil, "", ErrNoArchive
	}
	return s.archive.Rejections(ctx, dealer, limit, cursor)
}

// Rejection returns one of the dealer's rejections with its original message.
func (s *Service) Rejection(ctx context.Context, dealer, id string) (Rejection, error) {
	if s.archive == nil {
		return Rejection{}, ErrNoArchive
	}
	return s.archive.Rejection(ctx, dealer, id)
}

// Original returns the original message of the dealer's lead.
func (s *Service) Original(ctx context.Context, dealer, leadID string) (*Original, error) {
	if s.archive == nil {
		return nil, ErrNoArchive
	}
	return s.archive.Original(ctx, dealer, leadID)
}
