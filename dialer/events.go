package dialer

import (
	"time"
)

// A lead's events are what happened to it that the dealer's CRM hears of (SPEC.md,
// "Additions": webhook events). The store writes each in the transaction of the change it
// reports; which change is which event is decided here (Status.Event), so the store only
// applies it. The webhook sender carries them out.

// EventType names an event. The strings are part of the webhook API and the metrics.
type EventType string

// Event types.
const (
	// EventReceived: a new lead was stored (not a repeat, not a joined post).
	EventReceived EventType = "lead.received"
	// EventScheduled: the lead waits for a later time (opening or calling hours, a
	// customer retry, another round); next_action_at says when.
	EventScheduled EventType = "lead.scheduled"
	// EventConnected: a salesperson and the customer are bridged.
	EventConnected EventType = "lead.connected"
	// EventCompleted: the bridged call ended.
	EventCompleted EventType = "lead.completed"
	// EventCustomerUnreachable: a salesperson accepted but the customer could not be
	// reached, retries included.
	EventCustomerUnreachable EventType = "lead.customer_unreachable"
	// EventExhausted: nobody, the owner included, accepted the lead.
	EventExhausted EventType = "lead.exhausted"
	// EventReachedOwner: the flow reached its last step, the owner.
	EventReachedOwner EventType = "lead.reached_owner"
	// EventCanceled: the lead was canceled through the API.
	EventCanceled EventType = "lead.canceled"
	// EventFailed: the lead could not be worked (no opening hours, the call broke off).
	EventFailed EventType = "lead.failed"
	// EventOutcome: the salesperson gave the call's outcome after it.
	EventOutcome EventType = "lead.outcome"
)

// EventTypes are every event type, in the order the documentation lists them.
var EventTypes = []EventType{
	EventReceived, EventScheduled, EventConnected, EventCompleted, EventCustomerUnreachable,
	EventExhausted, EventReachedOwner, EventCanceled, EventFailed, EventOutcome,
}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool {
	for _, e := range EventTypes {
		if e == t {
			return true
		}
	}
	return false
}

// Event returns the event a lead moving to status s reports, or "" for none (queued and
// dialing are steps of the work, not news).
func (s Status) Event() EventType {
	switch s {
	case StatusScheduled:
		return EventScheduled
	case StatusConnected:
		return EventConnected
	case StatusCompleted:
		return EventCompleted
	case StatusCustomerUnreachable:
		return EventCustomerUnreachable
	case StatusExhausted:
		return EventExhausted
	case StatusCanceled:
		return EventCanceled
	case StatusFailed:
		return EventFailed
	}
	return ""
}

// CreatedEvents are the events storing a new lead in status s reports: always
// EventReceived, then the status's own (a lead stored scheduled is also EventScheduled).
func CreatedEvents(s Status) []EventType {
	if e := s.Event(); e != "" {
		return []EventType{EventReceived, e}
	}
	return []EventType{EventReceived}
}

// Event is one thing that happened to a lead. ID grows with every event, so a lead's
// events sort in the order they happened.
type Event struct {
	ID     int64
	LeadID string
	Dealer string
	Type   EventType
	At     time.Time
}

// DeliveryState is where the delivery of one event to one endpoint stands. The strings
// are part of the HTTP API and the metrics.
type DeliveryState string

// Delivery states. Delivered, gave_up and disabled are final.
const (
	// DeliveryPending: not tried yet, or being tried.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the endpoint answered 2xx.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: the last try failed; it is tried again at NextTryAt.
	DeliveryFailed DeliveryState = "failed"
	// DeliveryGaveUp: every try failed for the whole retry window, or the endpoint was
	// removed from the configuration.
	DeliveryGaveUp DeliveryState = "gave_up"
	// DeliveryDisabled: the endpoint answered 410 Gone (to this delivery or another);
	// nothing more is sent to it until its configuration changes.
	DeliveryDisabled DeliveryState = "disabled"
)

// Final reports whether no further try will be made.
func (s DeliveryState) Final() bool {
	return s == DeliveryDelivered || s == DeliveryGaveUp || s == DeliveryDisabled
}

// Delivery is one event on its way to one webhook endpoint, as the store keeps it.
type Delivery struct {
	// ID is the webhook-id: the same for every try, so that receivers can de-duplicate.
	ID    string
	Event Event
	// Endpoint names the endpoint (Endpoint.ID); URL is its address without user
	// information or query, for people to read.
	Endpoint string
	URL      string
	State    DeliveryState
	// Tries counts the tries started, the one in progress included.
	Tries      int
	FirstTryAt time.Time
	LastTryAt  time.Time
	NextTryAt  time.Time // zero unless State is DeliveryFailed
	DoneAt     time.Time // when it became final
	// LastStatus is the HTTP status of the last try, 0 when none came back; LastError
	// says why the last try failed (with a short, cleaned start of the answer's body).
	LastStatus int
	LastError  string
}

// TryOutcome classifies one try to deliver an event.
type TryOutcome int

// Try outcomes.
const (
	// TryDelivered: a 2xx answer.
	TryDelivered TryOutcome = iota + 1
	// TryFailed: anything else but 410: another status (3xx included: redirects are not
	// followed), a timeout, a refused or failed connection, a forbidden address.
	TryFailed
	// TryGone: 410 Gone: the receiver wants no more webhooks.
	TryGone
)

// TryResult is how one try went.
type TryResult struct {
	Outcome TryOutcome
	Status  int    // HTTP status; 0 when none came back
	Error   string // why it failed, for people; "" when delivered
	// RetryAfter is the answer's Retry-After, 0 when it had none.
	RetryAfter time.Duration
	Took       time.Duration
}
