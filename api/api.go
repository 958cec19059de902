package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
)

// Leads is what the API needs from the dialer. Every method is safe for concurrent use and
// returns once the lead is stored; none waits for a call.
type Leads interface {
	// Submit validates and stores a lead and starts its flow (dialer.OutcomeCreated). For a
	// repeat of an earlier lead (same Idempotency-Key or external_id) it returns that lead
	// (dialer.OutcomeRepeat); for a lead whose number has an open lead of the dealer, it
	// keeps the submission with that lead and returns it (dialer.OutcomeJoined). Neither
	// starts anything new. A web form's (dialer.ChannelForm) repeat is refused at the daily
	// cap as a new lead would be. Errors: *dialer.ValidationError (nothing stored),
	// *dialer.NumberLimitError (the number had its day's leads; nothing stored),
	// dialer.ErrUnavailable, dialer.ErrDraining.
	Submit(ctx context.Context, dealer string, in dialer.LeadInput) (lead dialer.Lead, out dialer.Outcome, err error)
	// Check refuses a lead as Submit would (invalid, its number at the daily cap,
	// draining) and returns it normalised, but stores and starts nothing: a post caught
	// by the honeypot is refused as a real one would be. Errors: as Submit's.
	Check(ctx context.Context, dealer string, in dialer.LeadInput) (dialer.Lead, error)
	// Get returns the dealer's lead with its attempts; dialer.ErrNotFound when it does not
	// exist or belongs to another dealer.
	Get(ctx context.Context, dealer, id string) (dialer.Lead, error)
	// List returns a page of q.Dealer's leads, newest first, and the cursor of the next
	// page, "" on the last page.
	List(ctx context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error)
	// Cancel stops dialling the dealer's lead and returns it; dialer.ErrNotFound as Get.
	Cancel(ctx context.Context, dealer, id string) (dialer.Lead, error)
	// Deliveries returns the webhook deliveries of the dealer's lead's events, by event
	// then endpoint; dialer.ErrNotFound as Get.
	Deliveries(ctx context.Context, dealer, id string) ([]dialer.Delivery, error)

	// Reject keeps a message that reached Leadline for a dealer but held no lead that
	// can be called, with its reason, and returns it as kept. Errors:
	// dialer.ErrUnavailable (nothing kept; the sender should try again),
	// dialer.ErrNotFound for an unknown dealer.
	Reject(ctx context.Context, r dialer.Rejection) (dialer.Rejection, error)
	// Original returns the message as it arrived, kept with the dealer's e-mailed or
	// webhook lead; dialer.ErrNotFound when the lead does not exist, is another dealer's
	// or has none (API and form leads).
	Original(ctx context.Context, dealer, leadID string) (*dialer.Original, error)
	// Rejections returns a page of the dealer's rejections (messages that held no lead
	// that can be called), newest first, with their Size but not their Original, and
	// the cursor of the next page, "" on the last. dialer.ErrBadCursor for a cursor it
	// did not give out.
	Rejections(ctx context.Context, dealer string, limit int, cursor string) ([]dialer.Rejection, string, error)
	// Rejection returns one of the dealer's rejections with its Original (nil when none
	// was kept); dialer.ErrNotFound when it does not exist or is another dealer's.
	Rejection(ctx context.Context, dealer, id string) (dialer.Rejection, error)
	// ReportDays returns the owner's report of the dealer over whole days in its time
	// zone (from and to are dates, to included; "" for the last seven days);
	// *dialer.ValidationError naming from or to for a bad date.
	ReportDays(ctx context.Context, dealer, from, to string) (dialer.Report, error)
}

// DefaultMaxBodyBytes is the largest request body accepted when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 10

// Options are NewHandler's dependencies.
type Options struct {
	// Logger receives one line per request and the text of internal errors. Nil discards.
	Logger *slog.Logger
	// Leads serves the /v1/leads endpoints. Required.
	Leads Leads
	// Access returns the current keys and rules of every dealer (see NewAccess). It is
	// called once per request, so a configuration reload takes effect at the next
	// request. Required.
	Access func() *Access
	// Ready reports whether the server can take leads (store reachable, SIP listening);
	// GET /readyz answers 503 with its error's text. Nil: always ready.
	Ready func(ctx context.Context) error
	// Metrics is served at GET /metrics. Nil: /metrics is not found.
	Metrics http.Handler
	// MaxBodyBytes caps a request body; a larger one is refused with 413. 0 (or less):
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// FormLimits are the rate limits on posts with a form key; zero values take the
	// defaults.
	FormLimits FormLimits
	// TrustedProxies are the reverse proxies and load balancers whose X-Forwarded-For
	// names the client, for the per-IP form limit. Empty: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// Now is the clock for webhook signature timestamps. Nil: time.Now.
	Now func() time.Time
	// Recordings serves and erases leads' call recordings (recording.go). Nil: no lead
	// has one to serve.
	Recordings Recordings
}

// server holds the handlers' dependencies. It is immutable once NewHandler returns.
type server struct {
	log     *slog.Logger
	leads   Leads
	access  func() *Access
	ready   func(ctx context.Context) error
	metrics http.Handler
	maxBody int64
	limits  *limiters
	seen    *replayCache // webhook signatures accepted lately
	now     func() time.Time
	router  *chi.Mux // for the Allow header of 405 answers

	recordings Recordings // may be nil
}

// NewHandler returns the HTTP API. It panics when opts.Leads or opts.Access is nil.
func NewHandler(opts Options) http.Handler {
	if opts.Leads == nil {
		panic("api: Options.Leads is nil")
	}
	if opts.Access == nil {
		panic("api: Options.Access is nil")
	}
	s := &server{
		log:     opts.Logger,
		leads:   opts.Leads,
		access:  opts.Access,
		ready:   opts.Ready,
		metrics: opts.Metrics,
		maxBody: opts.MaxBodyBytes,
		limits:  newLimiters(opts.FormLimits, opts.TrustedProxies),
		seen:    newReplayCache(maxSeen),
		now:     opts.Now,

		recordings: opts.Recordings,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.router = s.routes()
	return s.router
}
