package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/leadline/leadline/phone"
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

// Field limits, in characters.
var fieldLimits = map[string]int{
	"phone": 32, "name": 200, "email": 254, "source": 100, "interest": 200,
	"message": 2000, "assigned_to": 64, "external_id": 255, "idempotency_key": 255,
	"sender": 254, "message_id": 998,
}

// Validate checks and normalises a lead for dealer d, whose customers' numbers must be
// in d.Country (when set). It returns *ValidationError listing every bad field.
func (d *Dealer) Validate(in LeadInput) (Lead, error) {
	var countries []string
	if d.Country != "" {
		countries = []string{strings.ToUpper(d.Country)}
	}
	return d.validate(in, countries)
}

// validate is Validate with the regions customers' numbers may be in; nil: any.
func (d *Dealer) validate(in LeadInput, countries []string) (Lead, error) {
	ve := &ValidationError{}
	fields := []struct {
		name string
		val  *string
	}{
		{"phone", &in.Phone}, {"name", &in.Name}, {"email", &in.Email}, {"source", &in.Source},
		{"interest", &in.Interest}, {"message", &in.Message}, {"assigned_to", &in.AssignedTo},
		{"external_id", &in.ExternalID}, {"idempotency_key", &in.IdempotencyKey},
		{"sender", &in.Sender}, {"message_id", &in.MessageID},
	}
	bad := map[string]bool{}
	for _, f := range fields {
		*f.val = strings.TrimSpace(*f.val)
		switch {
		case !utf8.ValidString(*f.val):
			ve.add(f.name, "is not valid UTF-8")
			bad[f.name] = true
		case utf8.RuneCountInString(*f.val) > fieldLimits[f.name]:
			ve.add(f.name, "is longer than %d characters", fieldLimits[f.name])
			bad[f.name] = true
		default:
			if c, at, ok := controlChar(f.name, *f.val); ok {
				hint := "remove it"
				if f.name == "message" {
					hint = "of those, only line breaks and tabs are allowed"
				}
				ve.add(f.name, "contains a control character (U+%04X, character %d); %s", c, at, hint)
				bad[f.name] = true
			}
		}
	}
	if in.Channel == "" {
		in.Channel = ChannelAPI
	}
	if !in.Channel.Valid() {
		ve.add("channel", "unknown channel %q", in.Channel)
	}
	l := Lead{
		Dealer: d.ID, Name: in.Name, Email: in.Email, Source: in.Source, Interest: in.Interest,
		Message: in.Message, AssignedTo: in.AssignedTo, ExternalID: in.ExternalID,
		IdempotencyKey: in.IdempotencyKey, Channel: in.Channel, Sender: in.Sender, MessageID: in.MessageID,
	}
	if in.Phone == "" {
		ve.add("phone", "is required")
	} else if !bad["phone"] {
		p, err := phone.Normalize(in.Phone, d.Country)
		if err != nil {
			ve.add("phone", "%v", err)
		} else if msg := countryProblem(p, countries); msg != "" {
			ve.add("phone", "%s", msg)
		}
		l.Phone = p
	}
	if in.Email != "" && !bad["email"] {
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
			ve.add("email", "is not an e-mail address")
		}
	}
	if in.AssignedTo != "" && !bad["assigned_to"] {
		if _, ok := d.People[in.AssignedTo]; !ok {
			ve.add("assigned_to", "unknown person %q at dealer %q", in.AssignedTo, d.ID)
		}
	}
	if len(ve.Fields) > 0 {
		return Lead{}, ve
	}
	return l, nil
}

// controlChar finds the first control character (C0, DEL or C1) in the lead field
// named field, and its place (1 for the first character); ok is false when there is
// none. Only a message may hold line breaks (CR, LF) and tabs. Lead fields are spoken
// in whispers and shown in SIP headers: espeak-ng reads U+0001 as the start of a
// command, and a header must hold no CR or LF.
func controlChar(field, v string) (c rune, at int, ok bool) {
	i := 0
	for _, r := range v {
		i++
		if !unicode.IsControl(r) || field == "message" && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		return r, i, true
	}
	return 0, 0, false
}

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
