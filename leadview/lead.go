package leadview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Lead is a lead as Leadline shows it (SPEC.md, "HTTP API"). Empty strings are left
// out except id, dealer, status and phone; zero times are left out. The idempotency key
// is never shown.
type Lead struct {
	ID         string        `json:"id"`
	Dealer     string        `json:"dealer"`
	Status     dialer.Status `json:"status"`
	Name       string        `json:"name,omitempty"`
	Phone      string        `json:"phone"`
	Email      string        `json:"email,omitempty"`
	Source     string        `json:"source,omitempty"`
	Interest   string        `json:"interest,omitempty"`
	Message    string        `json:"message,omitempty"`
	AssignedTo string        `json:"assigned_to,omitempty"`
	ExternalID string        `json:"external_id,omitempty"`
	// Channel is how the lead arrived; Sender and MessageID who e-mailed it (its From
	// address and Message-ID) or which portal sent it (and its event id).
	Channel            dialer.Channel `json:"channel"`
	Sender             string         `json:"sender,omitempty"`
	MessageID          string         `json:"message_id,omitempty"`
	CreatedAt          Time           `json:"created_at,omitzero"`
	ConnectedAt        Time           `json:"connected_at,omitzero"`
	EndedAt            Time           `json:"ended_at,omitzero"`
	SpeedToLeadSeconds *float64       `json:"speed_to_lead_seconds,omitempty"`
	Reason             string         `json:"reason,omitempty"`
	// Outcome is what the salesperson said came of the call, once they said.
	Outcome *Outcome `json:"outcome,omitempty"`
	// NextAction and NextActionAt say what Leadline will do next with a scheduled lead
	// and when (dialer.Action): "dial" (opening hours, the customer's calling hours),
	// "retry_customer" (NextActionPerson, who accepted before, is rung first), or
	// "next_round" (the flow again after nobody accepted).
	NextAction       dialer.Action `json:"next_action,omitempty"`
	NextActionAt     Time          `json:"next_action_at,omitzero"`
	NextActionPerson string        `json:"next_action_person,omitempty"`
	Attempts         []Attempt     `json:"attempts,omitempty"`
	Duplicates       []Duplicate   `json:"duplicates,omitempty"`
	// Recording is the lead's call recording, when its call was recorded.
	Recording *Recording `json:"recording,omitempty"`
}

// Recording is what a lead shows of its call recording: its length, size and expiry
// while it is kept, with the path it is fetched from (GET, or DELETE to erase it);
// once deleted, when and why ("retention", "erasure"). Duration and bytes are 0 while
// the call is being recorded.
type Recording struct {
	DurationSeconds float64 `json:"duration_seconds"`
	Bytes           int64   `json:"bytes"`
	ExpiresAt       Time    `json:"expires_at,omitzero"`
	URL             string  `json:"url,omitempty"`
	DeletedAt       Time    `json:"deleted_at,omitzero"`
	DeletedReason   string  `json:"deleted_reason,omitempty"`
}

// Outcome is a salesperson's answer after a call: an id of the dealer's outcomes
// (appointment, follow_up, not_interested…), who gave it and when.
type Outcome struct {
	ID     string `json:"id"`
	Person string `json:"person"`
	At     Time   `json:"at"`
}

// Duplicate is a later post for the lead's number that joined the lead while it was
// open. Empty strings are left out but channel; the idempotency key is never shown.
type Duplicate struct {
	ReceivedAt Time           `json:"received_at"`
	Name       string         `json:"name,omitempty"`
	Email      string         `json:"email,omitempty"`
	Source     string         `json:"source,omitempty"`
	Interest   string         `json:"interest,omitempty"`
	Message    string         `json:"message,omitempty"`
	AssignedTo string         `json:"assigned_to,omitempty"`
	ExternalID string         `json:"external_id,omitempty"`
	Channel    dialer.Channel `json:"channel"`
	Sender     string         `json:"sender,omitempty"`
	MessageID  string         `json:"message_id,omitempty"`
}

// Attempt is one call leg. An attempt in progress has no result.
type Attempt struct {
	Round      int            `json:"round"` // 1 for the lead's first walk through the flow
	Leg        dialer.LegKind `json:"leg"`
	Person     string         `json:"person"`
	Result     dialer.Result  `json:"result,omitempty"`
	SIPCode    int            `json:"sip_code,omitempty"`
	Trunk      string         `json:"trunk,omitempty"` // the trunk that carried the leg
	StartedAt  Time           `json:"started_at,omitzero"`
	AnsweredAt Time           `json:"answered_at,omitzero"`
	AcceptedAt Time           `json:"accepted_at,omitzero"`
	EndedAt    Time           `json:"ended_at,omitzero"`
}

// FromLead shows l: its attempts and duplicates as they are in l, its scheduled lead's
// next action (dialer.Lead.Plan), its speed to lead from the shown times.
func FromLead(l dialer.Lead) Lead {
	j := Lead{
		ID:          l.ID,
		Dealer:      l.Dealer,
		Status:      l.Status,
		Name:        l.Name,
		Phone:       l.Phone,
		Email:       l.Email,
		Source:      l.Source,
		Interest:    l.Interest,
		Message:     l.Message,
		AssignedTo:  l.AssignedTo,
		ExternalID:  l.ExternalID,
		Channel:     Channel(l.Channel),
		Sender:      l.Sender,
		MessageID:   l.MessageID,
		CreatedAt:   Time(l.CreatedAt),
		ConnectedAt: Time(l.ConnectedAt),
		EndedAt:     Time(l.EndedAt),
		Reason:      l.Reason,
	}
	if o := l.Outcome; o.ID != "" {
		j.Outcome = &Outcome{ID: o.ID, Person: o.Person, At: Time(o.At)}
	}
	if l.Status == dialer.StatusScheduled && !l.NextAt.IsZero() {
		j.NextActionAt = Time(l.NextAt)
		j.NextAction, j.NextActionPerson = l.Plan()
	}
	if !l.ConnectedAt.IsZero() {
		// From the shown (millisecond) times, so that the numbers add up for the reader.
		ms := l.ConnectedAt.Truncate(time.Millisecond).Sub(l.CreatedAt.Truncate(time.Millisecond)).Milliseconds()
		s := math.Max(float64(ms), 0) / 1000
		j.SpeedToLeadSeconds = &s
	}
	if r := l.Recording; r != nil {
		j.Recording = &Recording{
			DurationSeconds: math.Round(r.Duration.Seconds()*1000) / 1000, Bytes: r.Bytes, ExpiresAt: Time(r.ExpiresAt),
			DeletedAt: Time(r.DeletedAt), DeletedReason: r.DeletedReason,
		}
		if r.DeletedAt.IsZero() {
			j.Recording.URL = "/v1/leads/" + l.ID + "/recording"
		}
	}
	for _, a := range l.Attempts {
		j.Attempts = append(j.Attempts, Attempt{
			Round:      a.Round + 1,
			Leg:        a.Leg,
			Person:     a.Person,
			Result:     a.Result,
			SIPCode:    a.SIPCode,
			Trunk:      a.Trunk,
			StartedAt:  Time(a.StartedAt),
			AnsweredAt: Time(a.AnsweredAt),
			AcceptedAt: Time(a.AcceptedAt),
			EndedAt:    Time(a.EndedAt),
		})
	}
	for _, d := range l.Duplicates {
		j.Duplicates = append(j.Duplicates, Duplicate{
			ReceivedAt: Time(d.ReceivedAt),
			Name:       d.Name,
			Email:      d.Email,
			Source:     d.Source,
			Interest:   d.Interest,
			Message:    d.Message,
			AssignedTo: d.AssignedTo,
			ExternalID: d.ExternalID,
			Channel:    Channel(d.Channel),
			Sender:     d.Sender,
			MessageID:  d.MessageID,
		})
	}
	return j
}

// Channel is how a lead or submission arrived as shown: dialer.ChannelAPI when unset
// (leads stored before channels were recorded).
func Channel(c dialer.Channel) dialer.Channel {
	return cmp.Or(c, dialer.ChannelAPI)
}

// Time is shown as RFC 3339 in UTC with exactly three fractional digits,
// 2026-11-27T10:00:07.412Z.
type Time time.Time

// TimeLayout is the layout of a shown Time.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// String is t as shown, for messages.
func (t Time) String() string { return time.Time(t).UTC().Format(TimeLayout) }

// IsZero reports whether t is the zero time (omitzero leaves it out).
func (t Time) IsZero() bool { return time.Time(t).IsZero() }

// UnmarshalJSON reads a time written by MarshalJSON (or any RFC 3339 time), and null
// as the zero time: a webhook body read back (the CRM mail is made from one) gives the
// times it was written with.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("leadview time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("leadview time: %w", err)
	}
	*t = Time(v)
	return nil
}

// MarshalJSON writes t as a JSON string in TimeLayout.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}
