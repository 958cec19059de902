package dialertest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Store is an in-memory dialer.LeadStore (the intake's, the flow's and the API's parts),
// dialer.Archive and dialer.ReportStore.
type Store struct {
	mu       sync.Mutex // guards the following fields
	leads    map[string]*lead
	attempts []dialer.Attempt
	joins    []join             // oldest first
	turns    map[string]int64   // round robin turns by dealer and step
	rejected []dialer.Rejection // oldest first
	events   []dialer.Event     // oldest first
	// Down makes every call fail, as a database that went away.
	Down bool
}

type lead struct {
	dialer.Lead
	node     string
	until    time.Time
	original *dialer.Original
}

// join is a submission kept with the open lead it joined.
type join struct {
	dialer.Duplicate
	leadID, dealer string
}

var (
	_ dialer.LeadStore = (*Store)(nil)
	_ dialer.Archive   = (*Store)(nil)
)

// NewStore returns an empty store.
func NewStore() *Store { return &Store{leads: map[string]*lead{}} }

var errDown = errorString("store down")

type errorString string

func (e errorString) Error() string { return string(e) }

// CreateLead repeats, joins or stores l as dialer.LeadStore says; under one lock, so
// concurrent creates behave as the real store's transactions do.
func (s *Store) CreateLead(_ context.Context, l dialer.Lead, o dialer.CreateOptions) (dialer.Lead, dialer.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return dialer.Lead{}, 0, errDown
	}
	if id := s.repeatOfLocked(l); id != "" {
		return s.withDuplicatesLocked(s.withAttemptsLocked(s.leads[id].Lead)), dialer.OutcomeRepeat, nil
	}
	if !o.JoinSince.IsZero() {
		var open *lead
		for _, c := range s.leads {
			if c.Dealer == l.Dealer && c.Phone == l.Phone && !c.Status.Final() && !c.CreatedAt.Before(o.JoinSince) &&
				(open == nil || c.CreatedAt.After(open.CreatedAt)) {
				open = c
			}
		}
		if open != nil {
			s.joins = append(s.joins, join{leadID: open.ID, dealer: l.Dealer, Duplicate: dialer.Duplicate{
				ReceivedAt: l.CreatedAt, Name: l.Name, Email: l.Email, Source: l.Source, Interest: l.Interest,
				Message: l.Message, AssignedTo: l.AssignedTo, ExternalID: l.ExternalID, IdempotencyKey: l.IdempotencyKey,
				Channel: l.Channel, Sender: l.Sender, MessageID: l.MessageID,
			}})
			return s.withDuplicatesLocked(s.withAttemptsLocked(open.Lead)), dialer.OutcomeJoined, nil
		}
	}
	if l.Channel == "" {
		l.Channel = dialer.ChannelAPI
	}
	l.ReceivedAt = time.Time{} // not stored
	s.leads[l.ID] = &lead{Lead: l, node: o.Lease.Node, until: o.Lease.Until, original: o.Original}
	for _, t := range dialer.CreatedEvents(l.Status) {
		s.eventLocked(l.ID, l.Dealer, t, l.CreatedAt)
	}
	return l, dialer.OutcomeCreated, nil
}

// eventLocked records an event, as the real store does in the transaction of the change.
func (s *Store) eventLocked(id, dealer string, t dialer.EventType, at time.Time) {
	s.events = append(s.events, dialer.Event{ID: int64(len(s.events) + 1), LeadID: id, Dealer: dealer, Type: t, At: at})
}

// SetOutcome writes the call's outcome on lead id with its event; a lead that has one
// keeps it.
func (s *Store) SetOutcome(_ context.Context, id string, o dialer.CallOutcome) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return errDown
	}
	l, ok := s.leads[id]
	if !ok {
		return dialer.ErrNotFound
	}
	if l.Outcome.ID != "" {
		return nil
	}
	l.Outcome = o
	s.eventLocked(id, l.Dealer, dialer.EventOutcome, o.At)
	return nil
}

// Events returns the types of lead id's events, oldest first.
func (s *Store) Events(id string) []dialer.EventType {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dialer.EventType
	for _, e := range s.events {
		if e.LeadID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// repeatOfLocked returns the id of the dealer's lead that l repeats, or "": as the real
// store, the one with l's idempotency key first (on a lead, then on a submission that
// joined one), then the one with its external id.
func (s *Store) repeatOfLocked(l dialer.Lead) string {
	for _, pass := range []struct {
		want string
		of   func(dialer.Lead) string
		ofJ  func(join) string
	}{
		{l.IdempotencyKey, func(o dialer.Lead) string { return o.IdempotencyKey }, func(j join) string { return j.IdempotencyKey }},
		{l.ExternalID, func(o dialer.Lead) string { return o.ExternalID }, func(j join) string { return j.ExternalID }},
	} {
		if pass.want == "" {
			continue
		}
		for _, o := range s.leads {
			if o.Dealer == l.Dealer && pass.of(o.Lead) == pass.want {
				return o.ID
			}
		}
		for _, j := range s.joins {
			if j.dealer == l.Dealer && pass.ofJ(j) == pass.want {
				return j.leadID
			}
		}
	}
	return ""
}

// withDuplicatesLocked returns l with the submissions that joined it, oldest first.
func (s *Store) withDuplicatesLocked(l dialer.Lead) dialer.Lead {
	l.Duplicates = nil
	for _, j := range s.joins {
		if j.leadID == l.ID {
			l.Duplicates = append(l.Duplicates, j.Duplicate)
		}
	}
	return l
}

func (s *Store) withAttemptsLocked(l dialer.Lead) dialer.Lead {
	l.Attempts = nil
	for _, a := range s.attempts {
		if a.LeadID == l.ID {
			l.Attempts = append(l.Attempts, a)
		}
	}
	return l
}

func (s *Store) GetLead(_ context.Context, dealer, id string) (dialer.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return dialer.Lead{}, errDown
	}
	l, ok := s.leads[id]
	if !ok || (dealer != "" && l.Dealer != dealer) {
		return dialer.Lead{}, dialer.ErrNotFound
	}
	return s.withDuplicatesLocked(s.withAttemptsLocked(l.Lead)), nil
}

func (s *Store) ListLeads(_ context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.leads[q.Cursor]; q.Cursor != "" && !ok { // the fake's cursors are lead ids
		return nil, "", dialer.ErrBadCursor
	}
	var out []dialer.Lead
	for _, l := range s.leads {
		if l.Dealer == q.Dealer && (q.Status == "" || l.Status == q.Status) && (q.Cursor == "" || l.ID < q.Cursor) {
			out = append(out, l.Lead)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if q.Limit > 0 && len(out) > q.Limit {
		return out[:q.Limit], out[q.Limit-1].ID, nil
	}
	return out, "", nil
}

func (s *Store) Claim(_ context.Context, id, node string, now, until time.Time) (dialer.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return dialer.Lead{}, errDown
	}
	l, ok := s.leads[id]
	if !ok {
		return dialer.Lead{}, dialer.ErrNotFound
	}
	if l.Status.Final() {
		return s.withAttemptsLocked(l.Lead), nil
	}
	if l.node != "" && l.node != node && !l.until.Before(now) {
		return dialer.Lead{}, dialer.ErrLeaseHeld
	}
	l.node, l.until = node, until
	return s.withAttemptsLocked(l.Lead), nil
}

func (s *Store) RenewAll(_ context.Context, node string, ids []string, until time.Time) (map[string]dialer.Renewal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return nil, errDown
	}
	out := map[string]dialer.Renewal{}
	for _, id := range ids {
		l, ok := s.leads[id]
		if !ok {
			continue
		}
		held := !l.Status.Final() && l.node == node
		if held {
			l.until = until
		}
		out[id] = dialer.Renewal{Status: l.Status, Held: held}
	}
	return out, nil
}

func (s *Store) Release(_ context.Context, id, node string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leads[id]; ok && l.node == node {
		l.node, l.until = "", time.Time{}
	}
	return nil
}

func (s *Store) InsertAttempt(_ context.Context, a *dialer.Attempt, events ...dialer.EventType) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return errDown
	}
	l, ok := s.leads[a.LeadID]
	if !ok {
		return dialer.ErrNotFound
	}
	a.ID = int64(len(s.attempts) + 1)
	s.attempts = append(s.attempts, *a)
	for _, t := range events {
		s.eventLocked(a.LeadID, l.Dealer, t, a.StartedAt)
	}
	return nil
}

func (s *Store) UpdateAttempt(_ context.Context, a dialer.Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return errDown
	}
	s.attempts[a.ID-1] = a
	return nil
}

func (s *Store) UpdateLead(_ context.Context, u dialer.LeadUpdate) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return false, errDown
	}
	l, ok := s.leads[u.ID]
	if !ok {
		return false, dialer.ErrNotFound
	}
	if l.Status.Final() {
		return false, nil
	}
	l.Status = u.Status
	if !u.ConnectedAt.IsZero() {
		l.ConnectedAt = u.ConnectedAt
	}
	if !u.EndedAt.IsZero() {
		l.EndedAt = u.EndedAt
	}
	l.Reason = u.Reason
	l.NextAt = u.NextAt
	l.Round = max(l.Round, u.Round)
	if u.Status.Final() {
		l.node = ""
	}
	if t := u.Status.Event(); t != "" {
		s.eventLocked(l.ID, l.Dealer, t, time.Now())
	}
	return true, nil
}

func (s *Store) LastPlanned(_ context.Context, dealer string, from time.Time) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return time.Time{}, errDown
	}
	var last time.Time
	for _, l := range s.leads {
		if l.Dealer == dealer && l.Status == dialer.StatusScheduled && !l.NextAt.Before(from) && l.NextAt.After(last) {
			last = l.NextAt
		}
	}
	return last, nil
}

func (s *Store) Advance(_ context.Context, id string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return false, errDown
	}
	l, ok := s.leads[id]
	if !ok || l.Status != dialer.StatusScheduled || !l.NextAt.After(at) {
		return false, nil
	}
	l.NextAt = at
	return true, nil
}

func (s *Store) Turn(_ context.Context, dealer, step string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return 0, errDown
	}
	if s.turns == nil {
		s.turns = map[string]int64{}
	}
	k := dealer + "\x00" + step
	t := s.turns[k]
	s.turns[k] = t + 1
	return t, nil
}

// InsertRejection keeps r, once per dealer and non-empty Message-ID.
func (s *Store) InsertRejection(_ context.Context, r dialer.Rejection) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return false, errDown
	}
	for _, k := range s.rejected {
		if r.MessageID != "" && k.Dealer == r.Dealer && k.MessageID == r.MessageID {
			return false, nil
		}
	}
	s.rejected = append(s.rejected, r)
	return true, nil
}

// Rejections returns the dealer's rejections newest first, limit at a time (ids are
// time-ordered, so the cursor is the last id of the page).
func (s *Store) Rejections(_ context.Context, dealer string, limit int, cursor string) ([]dialer.Rejection, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return nil, "", errDown
	}
	if limit < 1 {
		limit = 50
	}
	var out []dialer.Rejection
	for i := len(s.rejected) - 1; i >= 0; i-- {
		r := s.rejected[i]
		if r.Dealer != dealer || cursor != "" && r.ID >= cursor {
			continue
		}
		if len(out) == limit {
			return out, out[limit-1].ID, nil
		}
		r.Original = nil
		out = append(out, r)
	}
	return out, "", nil
}

// Rejection returns one of the dealer's rejections.
func (s *Store) Rejection(_ context.Context, dealer, id string) (dialer.Rejection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return dialer.Rejection{}, errDown
	}
	for _, r := range s.rejected {
		if r.ID == id && r.Dealer == dealer {
			return r, nil
		}
	}
	return dialer.Rejection{}, dialer.ErrNotFound
}

// Original returns the original kept with the dealer's lead.
func (s *Store) Original(_ context.Context, dealer, leadID string) (*dialer.Original, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return nil, errDown
	}
	if l, ok := s.leads[leadID]; ok && l.Dealer == dealer && l.original != nil {
		return l.original, nil
	}
	return nil, dialer.ErrNotFound
}

var _ dialer.ReportStore = (*Store)(nil)

// LeadsBetween returns the dealer's leads created in [from, to), oldest first, with
// their attempts.
func (s *Store) LeadsBetween(_ context.Context, dealer string, from, to time.Time) ([]dialer.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Down {
		return nil, errDown
	}
	var out []dialer.Lead
	for _, l := range s.leads {
		if l.Dealer == dealer && !l.CreatedAt.Before(from) && l.CreatedAt.Before(to) {
			out = append(out, s.withAttemptsLocked(l.Lead))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}
