package dialer_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// countingStore is a dialer.AbuseStore over every lead Submit stored, with an injected
// error.
type countingStore struct {
	*dialertest.Store
	mu    sync.Mutex
	leads []dialer.Lead // guarded by mu
	err   error
}

func (c *countingStore) CreateLead(ctx context.Context, l dialer.Lead, o dialer.CreateOptions) (dialer.Lead, dialer.Outcome, error) {
	stored, out, err := c.Store.CreateLead(ctx, l, o)
	if err == nil && out == dialer.OutcomeCreated {
		c.mu.Lock()
		c.leads = append(c.leads, stored)
		c.mu.Unlock()
	}
	return stored, out, err
}

func (c *countingStore) LeadsToNumber(_ context.Context, phone string, since time.Time) (int, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, time.Time{}, c.err
	}
	n, oldest := 0, time.Time{}
	for _, l := range c.leads {
		if l.Phone == phone && !l.CreatedAt.Before(since) {
			n++
			if oldest.IsZero() || l.CreatedAt.Before(oldest) {
				oldest = l.CreatedAt
			}
		}
	}
	return n, oldest, nil
}

func (c *countingStore) FindRepeat(_ context.Context, dealer, key, ext string) (dialer.Lead, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.leads {
		if l.Dealer == dealer && (key != "" && l.IdempotencyKey == key || ext != "" && l.ExternalID == ext) {
			return l, true, nil
		}
	}
	return dialer.Lead{}, false, nil
}

// abuseService is a Service whose dealers ring nobody (every dial fails at once), with
// a clock the test moves.
type abuseService struct {
	svc   *dialer.Service
	store *countingStore
	now   time.Time
	mu    sync.Mutex
}

func newAbuseService(t *testing.T, abuse bool) *abuseService {
	t.Helper()
	a := &abuseService{store: &countingStore{Store: dialertest.NewStore()}, now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	o := dialer.Options{
		Store: a.store, Caller: dialertest.NewCaller(nil), Speaker: &dialertest.Speaker{}, NodeID: "node-a",
		Now: func() time.Time { a.mu.Lock(); defer a.mu.Unlock(); return a.now },
	}
	if abuse {
		o.Abuse = a.store
	}
	a.svc = dialer.New(o)
	people := map[string]dialer.Person{"owner": {ID: "owner", Name: "Jan", Phone: "sip:owner@192.0.2.13"}}
	a.svc.SetDealers([]dialer.Dealer{
		{ID: "jansen", Language: "en", Country: "NL", CallerID: "+31201234567", RingTimeout: time.Second,
			AcceptTimeout: time.Second, CustomerRingTimeout: time.Second, MaxCallLength: time.Minute,
			People: people, Flow: []dialer.Step{{People: []string{"owner"}}}},
		{ID: "devries", Language: "en", Country: "BE", CallerID: "+3221234567", RingTimeout: time.Second,
			AcceptTimeout: time.Second, CustomerRingTimeout: time.Second, MaxCallLength: time.Minute,
			People: people, Flow: []dialer.Step{{People: []string{"owner"}}}},
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.svc.Drain(ctx)
	})
	return a
}

func (a *abuseService) advance(d time.Duration) {
	a.mu.Lock()
	a.now = a.now.Add(d)
	a.mu.Unlock()
}

func TestCountries(t *testing.T) {
	a := newAbuseService(t, false)
	a.svc.SetIntakeRules(dialer.IntakeRules{Countries: map[string][]string{"devries": {"be", "NL"}}})
	tests := []struct {
		dealer, phone string
		want          string // "" accepted; else the phone field's detail
	}{
		{"jansen", "06-12345678", ""},
		{"jansen", "+31 6 12345678", ""},
		{"jansen", "+32 470 12 34 56", "is a number in BE; this dealer only calls numbers in NL"},
		{"jansen", "0032 470 12 34 56", "is a number in BE; this dealer only calls numbers in NL"},
		{"jansen", "+44 7400 123456", "is a number in GB; this dealer only calls numbers in NL"},
		{"jansen", "+800 1234 5678", "is not a number of a single country; this dealer only calls numbers in NL"},
		{"devries", "0470 12 34 56", ""},
		{"devries", "+31 6 12345678", ""},
		{"devries", "+49 151 23456789", "is a number in DE; this dealer only calls numbers in BE, NL"},
		// The number's own problem comes first.
		{"jansen", "+32 900 12 345", "premium-rate numbers are not called"},
	}
	for _, tt := range tests {
		_, err := a.svc.Check(context.Background(), tt.dealer, dialer.LeadInput{Phone: tt.phone})
		_, _, serr := a.svc.Submit(context.Background(), tt.dealer, dialer.LeadInput{Phone: tt.phone})
		for name, err := range map[string]error{"Check": err, "Submit": serr} {
			if tt.want == "" {
				if err != nil {
					t.Errorf("%s(%s, %q): %v", name, tt.dealer, tt.phone, err)
				}
				continue
			}
			var ve *dialer.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "phone" || ve.Fields[0].Detail != tt.want {
				t.Errorf("%s(%s, %q) = %v; want phone: %s", name, tt.dealer, tt.phone, err, tt.want)
			}
		}
	}
	// Validate alone keeps to the dealer's own country.
	d, _ := a.svc.Dealer("devries")
	if _, err := d.Validate(dialer.LeadInput{Phone: "+31612345678"}); err == nil {
		t.Error("Validate took a number outside the dealer's country")
	}
}

func TestNumberCap(t *testing.T) {
	a := newAbuseService(t, true)
	a.svc.SetIntakeRules(dialer.IntakeRules{MaxLeadsPerNumberPerDay: 2, Countries: map[string][]string{"devries": {"BE", "NL"}}})
	ctx := context.Background()
	submit := func(dealer, phone, key string) (dialer.Lead, dialer.Outcome, error) {
		return a.svc.Submit(ctx, dealer, dialer.LeadInput{Phone: phone, IdempotencyKey: key})
	}
	first, _, err := submit("jansen", "06-12345678", "k1")
	if err != nil {
		t.Fatal(err)
	}
	a.advance(time.Hour)
	if _, _, err := submit("devries", "+31612345678", ""); err != nil { // another dealer, another format: same number
		t.Fatal(err)
	}
	a.advance(time.Hour)
	_, _, err = submit("jansen", "0612345678", "k3")
	var nerr *dialer.NumberLimitError
	if !errors.As(err, &nerr) || !errors.Is(err, dialer.ErrTooManyLeads) || nerr.Max != 2 || nerr.RetryAfter != 22*time.Hour {
		t.Fatalf("third lead: %v (%+v); want a NumberLimitError, retry in 22h", err, nerr)
	}
	if n := len(a.store.leads); n != 2 {
		t.Errorf("%d leads stored, want 2", n)
	}
	// A repeat of a stored lead is still answered with that lead.
	again, out, err := submit("jansen", "06-12345678", "k1")
	if err != nil || out != dialer.OutcomeRepeat || again.ID != first.ID {
		t.Errorf("repeat at the cap: %v, %v, id %s; want a repeat of the first lead %s", err, out, again.ID, first.ID)
	}
	// Other numbers are not affected.
	if _, _, err := submit("jansen", "06-87654321", ""); err != nil {
		t.Errorf("another number: %v", err)
	}
	// A day after the first lead, one more may come.
	a.advance(22 * time.Hour)
	if _, _, err := submit("jansen", "06-12345678", ""); err != nil {
		t.Errorf("after 24 h: %v", err)
	}
	if _, _, err := submit("jansen", "06-12345678", ""); !errors.Is(err, dialer.ErrTooManyLeads) {
		t.Errorf("again at the cap: %v", err)
	}

	// The store cannot count: nothing is stored, the client may retry.
	a.store.err = errors.New("database is down")
	if _, _, err := submit("jansen", "06-11111111", ""); !errors.Is(err, dialer.ErrUnavailable) {
		t.Errorf("store down: %v, want ErrUnavailable", err)
	}
}

// TestNumberCapPublic: at a number's cap, a post with a public (form) key that repeats
// an earlier lead is refused as a first post would be, so that its answer does not
// tell that the lead exists; Check, for the honeypot, refuses as Submit does.
func TestNumberCapPublic(t *testing.T) {
	a := newAbuseService(t, true)
	a.svc.SetIntakeRules(dialer.IntakeRules{MaxLeadsPerNumberPerDay: 1})
	ctx := context.Background()
	first, _, err := a.svc.Submit(ctx, "jansen", dialer.LeadInput{Phone: "06-12345678", ExternalID: "crm-1", IdempotencyKey: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []dialer.LeadInput{
		{Phone: "06-12345678", ExternalID: "crm-1", Channel: dialer.ChannelForm},
		{Phone: "06-12345678", IdempotencyKey: "k1", Channel: dialer.ChannelForm},
		{Phone: "06-12345678", Channel: dialer.ChannelForm},
	} {
		if _, out, err := a.svc.Submit(ctx, "jansen", in); !errors.Is(err, dialer.ErrTooManyLeads) {
			t.Errorf("public %+v at the cap: %v, %v; want ErrTooManyLeads", in, out, err)
		}
		if _, err := a.svc.Check(ctx, "jansen", in); !errors.Is(err, dialer.ErrTooManyLeads) {
			t.Errorf("Check(%+v) at the cap: %v; want ErrTooManyLeads", in, err)
		}
	}
	// With an API key a repeat is still answered with the first lead.
	in := dialer.LeadInput{Phone: "06-12345678", ExternalID: "crm-1"}
	if l, out, err := a.svc.Submit(ctx, "jansen", in); err != nil || out != dialer.OutcomeRepeat || l.ID != first.ID {
		t.Errorf("API repeat at the cap: %v, %v", out, err)
	}
	if _, err := a.svc.Check(ctx, "jansen", in); err != nil {
		t.Errorf("Check of an API repeat at the cap: %v", err)
	}
	// Below the cap Check takes the lead; it counts nothing.
	for range 3 {
		if _, err := a.svc.Check(ctx, "jansen", dialer.LeadInput{Phone: "06-87654321", Channel: dialer.ChannelForm}); err != nil {
			t.Errorf("Check below the cap: %v", err)
		}
	}
	if n := len(a.store.leads); n != 1 {
		t.Errorf("%d leads stored, want 1", n)
	}
}

func TestNumberCapDefault(t *testing.T) {
	a := newAbuseService(t, true)
	for i := range dialer.DefaultMaxLeadsPerNumberPerDay {
		if _, _, err := a.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: "06-12345678"}); err != nil {
			t.Fatalf("lead %d: %v", i+1, err)
		}
	}
	if _, _, err := a.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: "06-12345678"}); !errors.Is(err, dialer.ErrTooManyLeads) {
		t.Errorf("lead %d: %v, want ErrTooManyLeads", dialer.DefaultMaxLeadsPerNumberPerDay+1, err)
	}
	// Without an AbuseStore there is no cap.
	b := newAbuseService(t, false)
	for i := range 5 {
		if _, _, err := b.svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: "06-12345678"}); err != nil {
			t.Fatalf("no cap, lead %d: %v", i+1, err)
		}
	}
}

// TestFieldLimits: every field has a length limit, each reported by name.
func TestFieldLimits(t *testing.T) {
	a := newAbuseService(t, false)
	long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
	in := dialer.LeadInput{
		Phone: "06" + strings.Repeat("1", 40), Name: long(201), Email: "a@" + strings.Repeat("b", 260) + ".nl",
		Source: long(101), Interest: long(201), Message: long(2001), AssignedTo: long(65),
		ExternalID: long(256), IdempotencyKey: strings.Repeat("k", 256),
	}
	_, _, err := a.svc.Submit(context.Background(), "jansen", in)
	var ve *dialer.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	got := map[string]string{}
	for _, f := range ve.Fields {
		got[f.Field] = f.Detail
	}
	for _, f := range []string{"phone", "name", "email", "source", "interest", "message", "assigned_to", "external_id", "idempotency_key"} {
		if !strings.HasPrefix(got[f], "is longer than ") {
			t.Errorf("%s: %q", f, got[f])
		}
	}
	// At the limit is fine.
	in = dialer.LeadInput{Phone: "06-12345678", Name: long(200), Message: long(2000), Source: long(100)}
	if _, _, err := a.svc.Submit(context.Background(), "jansen", in); err != nil {
		t.Errorf("at the limits: %v", err)
	}
}
