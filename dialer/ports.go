package dialer

import (
	"context"
	"fmt"
	"time"
)

// The dialer's ports: every interface through which it reaches the world, each as small
// as its consumer in this package needs, with the errors it returns and whether it
// blocks. The adapters implement them (store, sip, tts, metrics); cmd wires them into
// Options; dialertest has in-memory fakes of them for the tests.

// LeadStore is everything the Service needs from the lead database, in three parts by
// who uses them: intake's writes, the flow's, and the reads the API answers with.
// *store.DB implements it. Every method is safe for concurrent use. Times are passed in
// by the caller so that tests and the flow share one clock.
type LeadStore interface {
	IntakeStore
	FlowStore
	LeadReader
}

// IntakeStore is what Submit needs: storing a lead, and planning scheduled ones.
type IntakeStore interface {
	// CreateLead takes in l (ID, Dealer, Phone, CreatedAt and Status set by the caller) and
	// says what it did:
	//   - OutcomeRepeat: the dealer already has a lead, or a joined submission, with l's
	//     non-empty IdempotencyKey or ExternalID. Nothing is written; that lead is returned.
	//   - OutcomeJoined: o.JoinSince is set and the dealer has a lead for l.Phone that is
	//     not final and was created at or after o.JoinSince. l is kept as a Duplicate of
	//     that lead (the newest such) and no lead is stored; that lead is returned.
	//   - OutcomeCreated: l is stored, holding o.Lease when o.Lease.Node is set, and
	//     returned.
	// A returned earlier lead carries its attempts and duplicates. The checks and the
	// write are one transaction that holds across nodes: of concurrent creates for one
	// number with JoinSince set, one creates and the others join (or repeat). A created
	// lead's events (CreatedEvents of its status, at its CreatedAt) are written in that
	// transaction too.
	CreateLead(ctx context.Context, l Lead, o CreateOptions) (stored Lead, out Outcome, err error)

	// LastPlanned returns the latest planned time (NextAt) of the dealer's scheduled
	// leads at or after from; the zero time when there is none.
	LastPlanned(ctx context.Context, dealer string, from time.Time) (time.Time, error)

	// Advance moves a scheduled lead's NextAt forward to at, when it is later, and makes
	// its queue job look at it then. updated is false when the lead is not scheduled or
	// already due by then.
	Advance(ctx context.Context, id string, at time.Time) (updated bool, err error)
}

// FlowStore is what a lead's flow needs: its lease, its attempts, its status and the
// salesperson's outcome, and the round robin's turns. Only the flow's goroutine (and
// Cancel, for the status) calls it for a lead.
type FlowStore interface {
	// Claim takes the lease on an unfinished lead for node until the given time, when no
	// other node holds an unexpired lease (now decides expiry). It returns the lead with its
	// attempts. ErrLeaseHeld when another node holds it; ErrNotFound when missing.
	// A lead in a final status is returned with no lease taken and no error.
	Claim(ctx context.Context, id, node string, now, until time.Time) (Lead, error)
	// RenewAll extends node's lease, until the given time, on each of ids that node still
	// holds and that is not final, and says for every id that exists what it found: the
	// lead's status, so that a cancel written by another node is seen, and whether node
	// holds the lease (false when another node took the lead over, it was released, or
	// it is final). One call renews all of a node's flows.
	RenewAll(ctx context.Context, node string, ids []string, until time.Time) (map[string]Renewal, error)
	// Release gives up node's lease at once (clean shutdown) and makes the lead due for
	// resumption now, so another node, or this one restarted, resumes it without waiting.
	Release(ctx context.Context, id, node string) error

	// InsertAttempt records a leg before its INVITE is sent and sets a.ID. events, when
	// given, are written in the same transaction: what ringing this leg means for the
	// lead (EventReachedOwner with the first leg of the flow's last step), so that a
	// resumed flow, which skips the people already rung, neither loses nor repeats it.
	InsertAttempt(ctx context.Context, a *Attempt, events ...EventType) error
	// UpdateAttempt writes a's result, SIP code and timestamps.
	UpdateAttempt(ctx context.Context, a Attempt) error
	// UpdateLead writes status, connected_at, ended_at and reason, and the event the new
	// status reports (Status.Event), in one transaction. It never moves a lead out of a
	// final status: updated is false (and nothing, no event either, is written) when the
	// lead is already final, for example canceled through the API while the flow ran.
	UpdateLead(ctx context.Context, u LeadUpdate) (updated bool, err error)
	// SetOutcome writes the call's outcome on lead id, with its lead.outcome event, in
	// one transaction, whatever the lead's status (it is given after the call ended). A
	// lead that has an outcome keeps its first. ErrNotFound when the lead is missing.
	SetOutcome(ctx context.Context, id string, o CallOutcome) error

	// Turn returns the next turn of a round robin step, counted per dealer and step key
	// from 0 across every node and restart.
	Turn(ctx context.Context, dealer, step string) (int64, error)
}

// LeadReader is what the API reads through the Service: one lead, and a page of leads.
type LeadReader interface {
	// GetLead returns the lead with its attempts and duplicates, each oldest first.
	// ErrNotFound when the lead does not exist or belongs to another dealer (dealer ""
	// matches any dealer).
	GetLead(ctx context.Context, dealer, id string) (Lead, error)
	// ListLeads returns the dealer's leads newest first, without attempts.
	// ErrBadCursor when q.Cursor is not a next cursor the store gave out.
	ListLeads(ctx context.Context, q ListQuery) (leads []Lead, next string, err error)
}

// Renewal is what RenewAll found of one lead.
type Renewal struct {
	Status Status
	Held   bool
}

// Lease is a node's claim on a lead until a time.
type Lease struct {
	Node  string
	Until time.Time
}

// CreateOptions are how CreateLead stores a new lead.
type CreateOptions struct {
	// Lease is taken on the new lead when Lease.Node is set.
	Lease Lease
	// JoinSince, when set, makes a lead for a number that has an open lead of the dealer
	// created at or after it join that lead instead of being stored (Dealer.DuplicateWindow).
	// Zero: every lead that is not a repeat is stored.
	JoinSince time.Time
	// Original, when set, is kept with a new lead, in the same transaction.
	Original *Original
}

// Archive keeps what intake received besides leads: the original messages of leads
// and the messages that held no lead (rejections). *store.DB implements it. Every
// method is safe for concurrent use.
type Archive interface {
	// InsertRejection stores r (ID, Dealer and ReceivedAt set). A second rejection of
	// the dealer with the same non-empty MessageID is not stored again: kept is false,
	// with a nil error.
	InsertRejection(ctx context.Context, r Rejection) (kept bool, err error)
	// Rejections returns a page of the dealer's rejections, newest first, without their
	// originals but with their Size; next is the cursor of the following page, "" on the
	// last.
	// ErrBadCursor when cursor is not one the store gave out.
	Rejections(ctx context.Context, dealer string, limit int, cursor string) (rs []Rejection, next string, err error)
	// Rejection returns one rejection with its original. ErrNotFound when missing or
	// another dealer's.
	Rejection(ctx context.Context, dealer, id string) (Rejection, error)
	// Original returns the original message kept with the dealer's lead. ErrNotFound
	// when the lead is missing, another dealer's, or has none.
	Original(ctx context.Context, dealer, leadID string) (*Original, error)
}

// AbuseStore is what the per-number cap needs from persistence. *store.DB implements
// it. Both methods are safe for concurrent use and only read.
type AbuseStore interface {
	// LeadsToNumber returns how many leads of any dealer have the E.164 number phone and
	// were created at or after since, and when the oldest of those was created (zero
	// when n is 0).
	LeadsToNumber(ctx context.Context, phone string, since time.Time) (n int, oldest time.Time, err error)
	// FindRepeat returns the dealer's lead with the non-empty idempotency key, or else
	// with the non-empty external id, with its attempts; found is false when there is
	// none.
	FindRepeat(ctx context.Context, dealer, idempotencyKey, externalID string) (l Lead, found bool, err error)
}

// ReportStore reads what a report needs. *store.DB implements it.
type ReportStore interface {
	// LeadsBetween returns the dealer's leads created at or after from and before to,
	// oldest first, each with its attempts.
	LeadsBetween(ctx context.Context, dealer string, from, to time.Time) ([]Lead, error)
}

// DeliveryLog reads the deliveries of a lead's events. *store.DB implements it.
type DeliveryLog interface {
	// Deliveries returns the deliveries of the dealer's lead, by event then endpoint.
	// ErrNotFound when the lead does not exist or is another dealer's.
	Deliveries(ctx context.Context, dealer, leadID string) ([]Delivery, error)
}

// Outcome says what CreateLead, and so Submit, did with a lead.
type Outcome int

// Outcomes of taking a lead in.
const (
	// OutcomeCreated: a new lead was stored; its flow starts.
	OutcomeCreated Outcome = iota + 1
	// OutcomeRepeat: the dealer had a lead, or a joined submission, with the same
	// Idempotency-Key or external_id. That lead is returned; nothing was stored.
	OutcomeRepeat
	// OutcomeJoined: the number had an open lead at the dealer, created within the
	// dealer's DuplicateWindow. The submission was kept with that lead as a Duplicate
	// and that lead is returned; nobody is rung for it a second time.
	OutcomeJoined
)

func (o Outcome) String() string {
	switch o {
	case OutcomeCreated:
		return "created"
	case OutcomeRepeat:
		return "repeat"
	case OutcomeJoined:
		return "joined"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// ListQuery selects a page of a dealer's leads.
type ListQuery struct {
	Dealer string
	Status Status // "" for any
	Limit  int    // 1..100
	Cursor string // the next value of the previous page, or ""
}

// LeadUpdate is a change of a lead's status. Zero ConnectedAt and EndedAt are left as
// they are; NextAt is always written (zero clears it); Round only ever raises the lead's.
type LeadUpdate struct {
	ID          string
	Status      Status
	ConnectedAt time.Time
	EndedAt     time.Time
	Reason      string
	NextAt      time.Time
	Round       int
}

// Audio is telephone audio: 8 kHz mono signed 16-bit linear PCM.
type Audio []int16

// Duration is how long the audio plays.
func (a Audio) Duration() time.Duration { return time.Duration(len(a)) * time.Second / 8000 }

// DialOpts describes one outbound leg.
type DialOpts struct {
	LeadID string  // sent as X-Leadline-Lead
	Kind   LegKind // for logs and metrics
	// CallID is the leg's SIP Call-ID, chosen by the dialer so that its log lines and the
	// Caller's carry the same call_id; empty: the Caller makes one.
	CallID string
	// CallerID is the number shown to the callee (E.164); DisplayName its display name,
	// for example "Lead Eva Jansen". Both are escaped by the Caller.
	CallerID    string
	DisplayName string
	// EarlyMedia, when set, receives the callee's early media (183 with SDP) one way
	// until the leg is answered, in place of whatever it plays meanwhile.
	EarlyMedia Leg
	// Privacy is what the callee may be shown of the caller id: "" (nothing asked),
	// "id" (withhold it) or "none" (show it); RFC 3323 and RFC 3325 section 9.3.
	Privacy string
	// Route, when set, is where the leg's requests go instead of the target's host, as
	// "transport:ip:port": a registered device's (Device.Route).
	Route string
	// SRTP is the callee's media encryption when it is a person's SIP URI or registered
	// phone: "" or "off", "optional", "required" (Person.SRTP). A number's is its
	// trunk's.
	SRTP string
}

// Trunked is implemented by a Leg, and by an error from Dial, that went through a
// trunk: Trunk names the trunk that carried the call, or that gave the final answer.
// The dialer records it with the attempt.
type Trunked interface {
	Trunk() string
}

// Caller places outbound legs. *sip.UA implements it.
type Caller interface {
	// Dial sends an INVITE to target (a SIP URI or an E.164 number for the trunk) and
	// blocks until the callee answers, refuses, or ctx ends. Ending ctx before the answer
	// cancels the call (CANCEL); a 2xx that races the CANCEL is acknowledged and hung up by
	// the Caller, never returned. Errors: ErrBusy, ErrNoAnswer, ErrRejected (matched with
	// errors.Is; the error also has a SIPCode() int method when the far end answered),
	// ctx.Err() when ctx ended, anything else for network failure. A leg or error that
	// went through a trunk implements Trunked.
	Dial(ctx context.Context, target string, o DialOpts) (Leg, error)
}

// Leg is one answered call. Done and Err mirror context.Context: Done is closed when the
// leg has ended for any reason (remote BYE, Hangup, dead media), and Err then says why.
type Leg interface {
	// Play sends a once and blocks until it has been played, ctx ends or the leg ends.
	// Media relayed from a bridged or early-media peer takes precedence over Play.
	Play(ctx context.Context, a Audio) error
	// Digits delivers the keys the far end presses (RFC 4733, SIP INFO, in-band tones).
	Digits() <-chan rune
	// Bridge relays media both ways between this leg and other until either ends.
	Bridge(other Leg) error
	// Hangup ends the leg (BYE) and waits briefly for the far end; it is idempotent.
	// The leg is ended whatever it returns: an error says only that the far end did not
	// confirm (no answer to the BYE, or not 2xx).
	Hangup(ctx context.Context) error
	Done() <-chan struct{}
	Err() error
}

// Speaker turns a prompt into telephone audio in a language (nl, en, de, fr). It may
// block for the time synthesis takes; on error the dialer plays silence.
type Speaker interface {
	Speak(ctx context.Context, language string, p Prompt) (Audio, error)
}

// Devices finds a registered person's devices. The sip registrar implements it.
type Devices interface {
	// Devices returns the devices of the dealer's person that this node can ring now, in
	// no particular order; none (and a nil error) when no app of theirs is registered.
	// It is called as a step's phones are about to ring and should answer within
	// milliseconds.
	Devices(ctx context.Context, dealer, person string) ([]Device, error)
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
