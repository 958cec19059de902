package dialer

import (
	"errors"
	"slices"
	"time"
)

// Status is where a lead stands. The strings are part of the HTTP API.
type Status string

// Lead statuses, as SPEC.md names them.
const (
	StatusQueued              Status = "queued"
	StatusScheduled           Status = "scheduled"
	StatusDialing             Status = "dialing"
	StatusConnected           Status = "connected"
	StatusCompleted           Status = "completed"
	StatusExhausted           Status = "exhausted"
	StatusCustomerUnreachable Status = "customer_unreachable"
	StatusCanceled            Status = "canceled"
	StatusFailed              Status = "failed"
)

// Statuses are every lead status, in SPEC.md's order: the open ones, then FinalStatuses.
var Statuses = []Status{
	StatusQueued, StatusScheduled, StatusDialing, StatusConnected,
	StatusCompleted, StatusExhausted, StatusCustomerUnreachable, StatusCanceled, StatusFailed,
}

// FinalStatuses are the statuses a lead ends in, in SPEC.md's order: no further call is
// made for a lead in one of them, and the store never moves a lead out of one. This is
// the one list of them; the store's SQL, the metrics' series and the API's messages
// are built from it.
var FinalStatuses = []Status{
	StatusCompleted, StatusExhausted, StatusCustomerUnreachable, StatusCanceled, StatusFailed,
}

// Final reports whether s is one of FinalStatuses: no further call will be made for a
// lead in this status.
func (s Status) Final() bool { return slices.Contains(FinalStatuses, s) }

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// LegKind tells the salesperson's leg from the customer's.
type LegKind string

// Leg kinds.
const (
	LegAgent    LegKind = "agent"
	LegCustomer LegKind = "customer"
)

// Result is how one attempt ended. The strings are part of the HTTP API and the metrics.
type Result string

// Attempt results. Agent legs end in any but ResultAnswered; customer legs in
// ResultAnswered, ResultNoAnswer, ResultBusy, ResultRejected or ResultFailed.
const (
	ResultAccepted Result = "accepted"  // agent pressed 1
	ResultDeclined Result = "declined"  // agent pressed another key
	ResultNoAccept Result = "no_accept" // answered, no key (voicemail)
	ResultNoAnswer Result = "no_answer"
	ResultBusy     Result = "busy"
	ResultRejected Result = "rejected" // another final SIP error
	ResultFailed   Result = "failed"   // no response, network, interrupted
	ResultCanceled Result = "canceled" // another person in the same step won
	ResultAnswered Result = "answered" // customer picked up
)

// Lead is one enquiry and everything Leadline did about it.
type Lead struct {
	ID     string
	Dealer string
	Status Status

	Name       string
	Phone      string // E.164
	Email      string
	Source     string
	Interest   string
	Message    string
	AssignedTo string // a person id, or ""
	ExternalID string
	// IdempotencyKey is the client's Idempotency-Key header; never shown back.
	IdempotencyKey string

	// Channel is how the lead arrived; Sender and MessageID say who e-mailed it (see
	// LeadInput).
	Channel   Channel
	Sender    string
	MessageID string

	CreatedAt time.Time
	// ReceivedAt is when the lead arrived, before Submit stored it; known only to the
	// node that took it in (zero once read back from the store).
	ReceivedAt  time.Time
	ConnectedAt time.Time // zero until the customer is bridged
	EndedAt     time.Time // zero until the lead reaches a final status
	// Reason says in words why the lead ended as it did, for people reading the API.
	Reason string
	// NextAt is when a scheduled lead will be dialled (opening hours, the customer's
	// quiet hours, a retry, another round); zero otherwise.
	NextAt time.Time
	// Outcome is what the salesperson said came of the call; zero until they said.
	Outcome CallOutcome
	// Round is the round of the flow the lead is in, or is scheduled to start: 0 the
	// first walk; each customer retry and each further walk after nobody accepted is
	// the next round. Attempts record theirs.
	Round int

	Attempts []Attempt // oldest first
	// Duplicates are the later submissions for this number that joined the lead while it
	// was open (Dealer.DuplicateWindow), oldest first; nil when there are none.
	Duplicates []Duplicate
	// Recording is the lead's call recording, or nil when it has none (recording.go).
	Recording *RecordingInfo
}

// SpeedToLead is the time from arrival to the customer being bridged, or 0.
func (l *Lead) SpeedToLead() time.Duration {
	if l.ConnectedAt.IsZero() {
		return 0
	}
	return l.ConnectedAt.Sub(l.CreatedAt)
}

// Duplicate is a submission that joined an open lead for the same number instead of
// starting a second call. It keeps everything the customer sent; its number is the lead's.
type Duplicate struct {
	ReceivedAt time.Time

	Name       string
	Email      string
	Source     string
	Interest   string
	Message    string
	AssignedTo string
	ExternalID string
	// IdempotencyKey is the client's Idempotency-Key header; never shown back. A repeat
	// of it, or of ExternalID, is answered with the lead this submission joined.
	IdempotencyKey string
	// Channel, Sender and MessageID say how the submission arrived, as on a Lead.
	Channel   Channel
	Sender    string
	MessageID string
}

// Attempt is one call leg placed for a lead.
type Attempt struct {
	ID     int64 // assigned by the store
	LeadID string
	Round  int // the lead's round the attempt belongs to
	// Step is the index into the dealer's flow, or RetryStep; the customer leg carries the
	// accepting step.
	Step   int
	Leg    LegKind
	Person string // the salesperson; on a customer leg, the one who accepted
	Result Result // "" while the leg is in progress

	SIPCode int // final SIP status when the far end sent one (486, 603…), else 0
	// Trunk names the trunk that carried the leg (or gave its final answer); "" for a
	// SIP URI dialled directly, or when no trunk took the call.
	Trunk      string
	StartedAt  time.Time
	AnsweredAt time.Time
	AcceptedAt time.Time
	EndedAt    time.Time
}

// Action is what Leadline will do next for a scheduled lead. The strings are part of
// the HTTP API (next_action).
type Action string

// Planned actions.
const (
	// ActionDial starts the flow, or goes on with it, when the dealer opens or the
	// customer's calling hours begin.
	ActionDial Action = "dial"
	// ActionRetryCustomer rings the salesperson who accepted before (then the flow) to
	// try the customer again.
	ActionRetryCustomer Action = "retry_customer"
	// ActionNextRound walks the flow again after nobody accepted.
	ActionNextRound Action = "next_round"
)

// Plan returns what will happen to a scheduled lead at NextAt and, for a retry, the
// salesperson rung first. It reads the attempts: for a lead in a later round read
// without them (Attempts nil, as ListLeads returns leads) it cannot tell and returns "",
// as it does for a lead that is not scheduled.
func (l *Lead) Plan() (Action, string) {
	if l.Status != StatusScheduled || l.Round > 0 && l.Attempts == nil {
		return "", ""
	}
	p := readProgress(l, nil)
	switch {
	case p.start == RetryStep:
		return ActionRetryCustomer, p.retryWith
	case l.Round > 0 && len(p.attempted) == 0:
		return ActionNextRound, ""
	}
	return ActionDial, ""
}

// RetryStep is the step of a retry round's first call: the salesperson who accepted the
// lead before, rung again before the flow.
const RetryStep = -1

// Errors the store returns.
var (
	ErrNotFound = errors.New("not found")
	// ErrBadCursor means a ListQuery's Cursor is not one the store gave out: the client
	// sent something other than a page's next cursor.
	ErrBadCursor = errors.New("not a cursor of this store")
	// ErrLeaseHeld means another node is working on the lead.
	ErrLeaseHeld = errors.New("lead is being worked on by another node")
)

// Errors the dialer service returns to intake.
var (
	// ErrUnavailable means the lead could not be stored (database down): nothing was kept
	// and the client should retry.
	ErrUnavailable = errors.New("lead store unavailable")
	// ErrDraining means the server is shutting down and takes no new leads.
	ErrDraining = errors.New("server is shutting down")
)

// Errors a Caller returns for a leg the far end refused. They decide an attempt's result.
var (
	ErrBusy     = errors.New("busy")      // 486, 600
	ErrNoAnswer = errors.New("no answer") // 408, 480, 487
	ErrRejected = errors.New("rejected")  // any other final SIP error
	// ErrHungUp ends a leg whose far end sent BYE.
	ErrHungUp = errors.New("far end hung up")
	// ErrMediaTimeout ends a leg that sent no RTP for too long.
	ErrMediaTimeout = errors.New("no media received")
)

// RefusedBy is the error that stands for a final SIP status code of 300 or more when a
// Caller's leg is refused (RFC 3261 section 21): ErrBusy, ErrNoAnswer or ErrRejected.
func RefusedBy(code int) error {
	switch code {
	case 486, 600: // Busy Here, Busy Everywhere
		return ErrBusy
	case 408, 480, 487: // Request Timeout, Temporarily Unavailable, Request Terminated
		return ErrNoAnswer
	}
	return ErrRejected
}
