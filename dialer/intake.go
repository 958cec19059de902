package dialer

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// LeadInput is a lead as a web form or CRM sends it, before validation.
type LeadInput struct {
	Phone      string `json:"phone"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Source     string `json:"source"`
	Interest   string `json:"interest"`
	Message    string `json:"message"`
	AssignedTo string `json:"assigned_to"`
	ExternalID string `json:"external_id"`
	// IdempotencyKey comes from the Idempotency-Key header, not the body.
	IdempotencyKey string `json:"-"`
	// Public says the lead was posted with a public key (a web form's), whose poster
	// may not learn whether other leads exist: a repeat of an earlier lead is not let
	// past the daily cap of its number, so that it is refused as a first post would be.
	Public bool `json:"-"`
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
	if _, _, err := s.guard.checkNumber(ctx, l, s.now(), !in.Public); err != nil {
		return Lead{}, err
	}
	return l, nil
}
