package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
)

// Leads is what the API needs from the dialer. Every method is safe for concurrent use and
// returns once the lead is stored; none waits for a call.
type Leads interface {
	// Submit validates and stores a lead and starts its flow. created=false: a repeat of an
	// earlier lead (same Idempotency-Key or external_id); nothing new was started.
	// Errors: *dialer.ValidationError (nothing stored), dialer.ErrUnavailable,
	// dialer.ErrDraining.
	Submit(ctx context.Context, dealer string, in dialer.LeadInput) (lead dialer.Lead, created bool, err error)
	// Get returns the dealer's lead with its attempts; dialer.ErrNotFound when it does not
	// exist or belongs to another dealer.
	Get(ctx context.Context, dealer, id string) (dialer.Lead, error)
	// List returns a page of q.Dealer's leads, newest first, and the cursor of the next
	// page, "" on the last page.
	List(ctx context.Context, q dialer.ListQuery) ([]dialer.Lead, string, error)
	// Cancel stops dialling the dealer's lead and returns it; dialer.ErrNotFound as Get.
	Cancel(ctx context.Context, dealer, id string) (dialer.Lead, error)
}

// DefaultMaxBodyBytes is the largest request body accepted when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 10

// Options are NewHandler's dependencies.
type Options struct {
	// Logger receives one line per request and the text of internal errors. Nil discards.
	Logger *slog.Logger
	// Leads serves the /v1/leads endpoints. Required.
	Leads Leads
	// Authenticate maps an API key to its dealer; ok=false refuses the request with 401.
	// It should compare keys in constant time. Required.
	Authenticate func(key string) (dealer string, ok bool)
	// Ready reports whether the server can take leads (store reachable, SIP listening);
	// GET /readyz answers 503 with its error's text. Nil: always ready.
	Ready func(ctx context.Context) error
	// Metrics is served at GET /metrics. Nil: /metrics is not found.
	Metrics http.Handler
	// MaxBodyBytes caps a request body; a larger one is refused with 413. 0 (or less):
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// server holds the handlers' dependencies. It is immutable once NewHandler returns.
type server struct {
	log          *slog.Logger
	leads        Leads
	authenticate func(key string) (string, bool)
	ready        func(ctx context.Context) error
	metrics      http.Handler
	maxBody      int64
	router       *chi.Mux // for the Allow header of 405 answers
}

// NewHandler returns the HTTP API. It panics when opts.Leads or opts.Authenticate is nil.
func NewHandler(opts Options) http.Handler {
	if opts.Leads == nil {
		panic("api: Options.Leads is nil")
	}
	if opts.Authenticate == nil {
		panic("api: Options.Authenticate is nil")
	}
	s := &server{
		log:          opts.Logger,
		leads:        opts.Leads,
		authenticate: opts.Authenticate,
		ready:        opts.Ready,
		metrics:      opts.Metrics,
		maxBody:      opts.MaxBodyBytes,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.router = s.routes()
	return s.router
}
