package dialer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Options wires a Service. Store, Caller and Speaker are required.
type Options struct {
	Store    LeadStore
	Caller   Caller
	Speaker  Speaker
	Recorder Recorder     // nil: no metrics
	Logger   *slog.Logger // nil: discard
	// NodeID names this process in leases; unique per running node.
	NodeID string
	// LeaseTTL is how long a node's claim on a lead lasts without renewal; a lead of a
	// node that died is resumed by another within about this long (default 10 s).
	LeaseTTL time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Ringback is what a salesperson hears while the customer's phone rings (looped).
	Ringback Audio
	// Abuse counts the leads to a customer number for the daily cap (see IntakeRules and
	// SetIntakeRules); nil: no cap.
	Abuse AbuseStore
	// Archive keeps original messages and rejections (e-mail intake); nil: neither is
	// kept, and Reject fails.
	Archive Archive
	// Reports reads the leads of the owner's report; nil: Report fails.
	Reports ReportStore
	// Devices finds registered people's softphones; nil: a registered person has no
	// device (their attempts fail).
	Devices Devices
	// Deliveries reads the webhook deliveries of leads' events; nil: a lead shows none.
	Deliveries DeliveryLog
	// Recordings records the bridged calls of dealers that record (recording.go); nil:
	// no call is recorded.
	Recordings CallRecorder
}

// Service takes leads in and runs one flow per lead. It implements the API's lead
// operations. Every flow runs in its own goroutine, the only one that changes that lead;
// Drain waits for them.
type Service struct {
	store    LeadStore
	archive  Archive
	reports  ReportStore
	history  DeliveryLog
	caller   Caller
	speaker  Speaker
	rec      Recorder
	log      *slog.Logger
	node     string
	ttl      time.Duration
	now      func() time.Time
	ringback Audio
	recorder CallRecorder // nil: nothing is recorded

	dealers  atomic.Pointer[map[string]*Dealer]
	draining atomic.Bool

	flowCtx context.Context // parent of every flow; canceled by Drain when its time is up
	stopAll context.CancelCauseFunc
	wg      sync.WaitGroup // the flows' goroutines; Drain waits for them
	flows   registry       // the flows running here, their leases renewed together (registry.go)

	devices Devices // registered people's softphones; may be nil (devices.go)
	guard   guard   // intake limits: countries, leads per number (abuse.go)
	stagger stagger // planned slots of scheduled leads (schedule.go)
}

// New returns a Service with no dealers; call SetDealers before taking leads.
func New(o Options) *Service {
	if o.Recorder == nil {
		o.Recorder = nopRecorder{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NodeID == "" {
		o.NodeID = uuid.NewString()
	}
	s := &Service{
		store: o.Store, archive: o.Archive, reports: o.Reports, history: o.Deliveries, caller: o.Caller, speaker: o.Speaker, rec: o.Recorder, log: o.Logger,
		node: o.NodeID, ttl: o.LeaseTTL, now: o.Now, ringback: o.Ringback,
	}
	s.guard.store = o.Abuse
	s.devices = o.Devices
	s.recorder = o.Recordings
	s.flowCtx, s.stopAll = context.WithCancelCause(context.Background())
	empty := map[string]*Dealer{}
	s.dealers.Store(&empty)
	return s
}

// SetDealers replaces the dealers (config reload). Flows already running keep the
// dealer they started with.
func (s *Service) SetDealers(ds []Dealer) {
	m := make(map[string]*Dealer, len(ds))
	for i := range ds {
		d := ds[i]
		m[d.ID] = &d
	}
	s.dealers.Store(&m)
}

// Dealer returns the current configuration of dealer id.
func (s *Service) Dealer(id string) (*Dealer, bool) {
	d, ok := (*s.dealers.Load())[id]
	return d, ok
}

// Submit validates a lead, stores it and starts its flow at once (OutcomeCreated). When
// it repeats an earlier lead (same Idempotency-Key or external_id) that lead is returned
// and nothing new starts (OutcomeRepeat). When the dealer has a DuplicateWindow and the
// number an open lead of the dealer created within it, the submission is kept with that
// lead, which is returned, and nobody is rung again (OutcomeJoined). A web form's
// (ChannelForm) repeat is refused at the daily cap as a new lead would be: its poster
// may not learn whether other leads exist. A number outside
// the dealer's countries is a *ValidationError; a number that had its daily cap of leads
// (IntakeRules) a *NumberLimitError. Nothing is stored for either.
func (s *Service) Submit(ctx context.Context, dealer string, in LeadInput) (Lead, Outcome, error) {
	d, ok := s.Dealer(dealer)
	if !ok {
		return Lead{}, 0, fmt.Errorf("submit: unknown dealer %q: %w", dealer, ErrNotFound)
	}
	l, out, err := s.submit(ctx, d, in)
	ch := cmp.Or(in.Channel, ChannelAPI)
	switch {
	case err == nil:
		s.rec.Intake(dealer, ch, map[Outcome]IntakeResult{
			OutcomeCreated: IntakeCreated, OutcomeRepeat: IntakeRepeat, OutcomeJoined: IntakeJoined,
		}[out])
	case errors.As(err, new(*ValidationError)):
		s.rec.Intake(dealer, ch, IntakeInvalid)
	case errors.As(err, new(*NumberLimitError)):
		s.rec.Intake(dealer, ch, IntakeLimited)
	default: // the store is down, or the node is shutting down: the sender tries again
		s.rec.Intake(dealer, ch, IntakeUnavailable)
	}
	return l, out, err
}

func (s *Service) submit(ctx context.Context, d *Dealer, in LeadInput) (Lead, Outcome, error) {
	dealer := d.ID
	if s.draining.Load() {
		return Lead{}, 0, ErrDraining
	}
	l, err := d.validate(in, s.guard.countries(d))
	if err != nil {
		return Lead{}, 0, err
	}
	// The cap counts stored leads only, so joined submissions never use it up. It is
	// checked before joining all the same: a number at its cap is refused, whatever its
	// post would have become.
	if first, repeat, err := s.guard.checkNumber(ctx, l, s.now(), in.Channel != ChannelForm); err != nil {
		return Lead{}, 0, err
	} else if repeat {
		return first, OutcomeRepeat, nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Lead{}, 0, fmt.Errorf("submit: %w", err)
	}
	l.ID = id.String()
	l.Status = StatusQueued
	l.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	l.ReceivedAt = cmp.Or(in.ReceivedAt, l.CreatedAt)
	// A lead that may be dialled now is stored already claimed by this node and dialing:
	// its first INVITE waits for this one commit and the attempt's, nothing else. Outside
	// opening or calling hours it is stored scheduled, and its queue job starts it then.
	lease := Lease{Node: s.node, Until: l.CreatedAt.Add(s.ttl)}
	if scheduled := s.plan(ctx, d, &l); scheduled {
		lease = Lease{}
	} else {
		l.Status = StatusDialing
	}
	o := CreateOptions{Lease: lease, Original: in.Original}
	if d.DuplicateWindow > 0 {
		o.JoinSince = l.CreatedAt.Add(-d.DuplicateWindow)
	}
	stored, out, err := s.store.CreateLead(ctx, l, o)
	if err != nil {
		return Lead{}, 0, fmt.Errorf("submit: %w: %w", ErrUnavailable, err)
	}
	switch out {
	case OutcomeRepeat:
		return stored, out, nil
	case OutcomeJoined:
		// The open lead's flow goes on as it was; this submission shows in its
		// duplicates. No phone number in the log: it is personal data.
		s.rec.LeadJoined(dealer)
		s.log.InfoContext(ctx, "lead joined an open lead for the same number", "lead_id", stored.ID, "dealer", dealer)
		return s.wake(ctx, d, stored), out, nil
	}
	s.rec.LeadReceived(dealer)
	stored.ReceivedAt = l.ReceivedAt
	if stored.Status == StatusDialing {
		s.start(stored, true)
	}
	return stored, OutcomeCreated, nil
}

// Get returns a dealer's lead with its attempts and duplicates.
func (s *Service) Get(ctx context.Context, dealer, id string) (Lead, error) {
	return s.store.GetLead(ctx, dealer, id)
}

// List returns a page of a dealer's leads.
func (s *Service) List(ctx context.Context, q ListQuery) ([]Lead, string, error) {
	return s.store.ListLeads(ctx, q)
}

// Deliveries returns the webhook deliveries of a dealer's lead's events, by event then
// endpoint; ErrNotFound when the lead does not exist or is another dealer's.
func (s *Service) Deliveries(ctx context.Context, dealer, id string) ([]Delivery, error) {
	if s.history == nil {
		if _, err := s.store.GetLead(ctx, dealer, id); err != nil {
			return nil, err
		}
		return []Delivery{}, nil
	}
	return s.history.Deliveries(ctx, dealer, id)
}

// Cancel stops dialling a lead: it is marked canceled and, if its flow runs here, every
// leg is hung up. A lead that already ended is returned as it is.
func (s *Service) Cancel(ctx context.Context, dealer, id string) (Lead, error) {
	l, err := s.store.GetLead(ctx, dealer, id)
	if err != nil {
		return Lead{}, err
	}
	if !l.Status.Final() {
		now := s.now()
		updated, err := s.store.UpdateLead(ctx, LeadUpdate{ID: id, Status: StatusCanceled, EndedAt: now, Reason: "canceled through the API"})
		if err != nil {
			return Lead{}, fmt.Errorf("cancel: %w", err)
		}
		if updated {
			s.rec.LeadFinished(dealer, StatusCanceled, 0)
		}
		s.flows.stop(id, errLeadCanceled)
	}
	return s.store.GetLead(ctx, dealer, id)
}

var (
	errLeadCanceled = errors.New("lead canceled")
	errShutdown     = errors.New("server shutting down")
	errLeaseLost    = errors.New("lease lost to another node")
)

// start runs l's flow in a new goroutine unless it already runs here. claimed says l is
// fresh from the store with this node's lease; otherwise the flow claims it first.
func (s *Service) start(l Lead, claimed bool) {
	ctx, cancel := context.WithCancelCause(s.flowCtx)
	if !s.flows.add(l.ID, cancel) {
		cancel(nil)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.flows.remove(l.ID)
			cancel(nil)
		}()
		s.runFlow(ctx, l, claimed)
	}()
}

// Draining reports whether Drain was called: the node takes no new leads.
func (s *Service) Draining() bool { return s.draining.Load() }

// Running is the number of flows in progress on this node.
func (s *Service) Running() int { return s.flows.len() }

// Watch is the queue's look at a lead that is not final: it starts the lead's flow here
// unless it already runs here (the flow then claims the lease, and steps back when a live
// node holds it) and asks to be called again after a lease time, or after LocalWatch when
// the flow runs here. It returns 0 once the lead is final. Store errors are returned for
// the queue to retry.
func (s *Service) Watch(ctx context.Context, id string) (time.Duration, error) {
	if s.flows.has(id) {
		// Its flow holds the lease here and renews it. Should this node die, the queue's
		// sweep of lapsed leases makes the job due again long before this.
		return LocalWatch, nil
	}
	l, err := s.store.GetLead(ctx, "", id)
	switch {
	case errors.Is(err, ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("watch lead %s: %w", id, err)
	case l.Status.Final():
		return 0, nil
	case l.Status == StatusScheduled && l.NextAt.After(s.now()):
		return l.NextAt.Sub(s.now()), nil
	}
	if !s.draining.Load() {
		s.start(l, false)
	}
	return s.ttl, nil
}

// LocalWatch is how long the queue leaves the job of a lead whose flow runs on a node,
// from the lead's creation with a lease on and after each look while the flow runs: the
// flow's end (Release, or a final status) or the store's sweep of lapsed leases brings
// it back sooner.
const LocalWatch = time.Hour

// Drain stops taking leads and waits for the flows in progress until ctx ends; then it
// hangs up the rest, leaving their leads for a later start to resume.
func (s *Service) Drain(ctx context.Context) {
	s.draining.Store(true)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	s.stopAll(errShutdown)
	<-done
}

type nopRecorder struct{}

func (nopRecorder) LeadReceived(string)                                {}
func (nopRecorder) LeadJoined(string)                                  {}
func (nopRecorder) LeadFinished(string, Status, time.Duration)         {}
func (nopRecorder) AgentAttempt(string, string, Result, time.Duration) {}
func (nopRecorder) CustomerAttempt(string, Result)                     {}
func (nopRecorder) ReachedOwner(string)                                {}
func (nopRecorder) Intake(string, Channel, IntakeResult)               {}
func (nopRecorder) FirstInvite(string, Channel, time.Duration)         {}
func (nopRecorder) CallOutcome(string, string, string)                 {}
