package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/ssrf"
)

// Endpoint is one of a dealer's webhooks.
type Endpoint struct {
	Dealer string
	// URL is where events are posted: http or https. It may hold user information
	// (basic authentication), never shown.
	URL string
	// Secrets sign every message, each a Standard Webhooks secret "whsec_<base64>";
	// several during a rotation, each giving a signature.
	Secrets []string
	// Events are the event types it takes; nil: all.
	Events []dialer.EventType
}

// ID names the endpoint in the store: the same for its dealer and URL whatever its
// secrets and events, so that a rotation keeps the deliveries in progress.
func (e Endpoint) ID() string {
	h := sha256.Sum256([]byte(e.Dealer + "\x00" + e.URL))
	return "wh_" + hex.EncodeToString(h[:12])
}

// Version changes with any change of the endpoint's configuration: its URL, secrets or
// events. An endpoint disabled by a 410 Gone is enabled again by a new Version.
func (e Endpoint) Version() string {
	secrets, events := slices.Clone(e.Secrets), make([]string, len(e.Events))
	slices.Sort(secrets)
	for i, t := range e.Events {
		events[i] = string(t)
	}
	slices.Sort(events)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", e.URL, strings.Join(secrets, "\x00"), strings.Join(events, "\x00"))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// ShownURL is a URL as logs and the API show it: without user information, query or
// fragment, which may hold credentials.
func ShownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unreadable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// Leads reads the lead an event is about. *store.DB implements it.
type Leads interface {
	// GetLead returns the dealer's lead with its attempts and duplicates;
	// dialer.ErrNotFound when missing.
	GetLead(ctx context.Context, dealer, id string) (dialer.Lead, error)
}

// Recorder counts deliveries. *metrics.Metrics implements it.
type Recorder interface {
	// WebhookDelivery is called after each try of a delivery, and for a delivery ended
	// without a try (its endpoint disabled or removed), with what became of the
	// delivery: delivered, failed (tried again later), gave_up or disabled. took is the
	// try's time, 0 without a try.
	WebhookDelivery(dealer string, event dialer.EventType, result dialer.DeliveryState, took time.Duration)
}

// Options configure a Sender. Leads is required.
type Options struct {
	Leads Leads
	// AllowPrivateTargets lets requests go to loopback, private and link-local addresses
	// (tests, CRMs on a private network); never to unspecified, multicast or broadcast
	// ones (package ssrf).
	AllowPrivateTargets bool
	// Timeout bounds one try, from connecting to the answer's status and headers;
	// default 10 s.
	Timeout time.Duration
	// Resolver resolves endpoint host names; nil: the system's.
	Resolver *net.Resolver
	Recorder Recorder     // nil: none
	Logger   *slog.Logger // nil: discard
	// Now stamps webhook-timestamp; nil: time.Now.
	Now func() time.Time
}

// DefaultTimeout bounds a try when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Sender posts events to endpoints. It implements the store's Courier; all methods are
// safe for concurrent use.
type Sender struct {
	o         Options
	client    *http.Client
	endpoints atomic.Pointer[map[string]*endpoint] // by ID
}

// endpoint is an Endpoint ready to send to.
type endpoint struct {
	Endpoint
	shown   string
	signers []*standardwebhooks.Webhook
}

// New returns a Sender without endpoints; call SetEndpoints.
func New(o Options) *Sender {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Recorder == nil {
		o.Recorder = nopRecorder{}
	}
	s := &Sender{o: o}
	d := &net.Dialer{Timeout: o.Timeout, Resolver: o.Resolver, Control: s.control}
	s.client = &http.Client{
		Transport: &http.Transport{
			Proxy:             nil, // a proxy's address would be all the check sees
			DialContext:       d.DialContext,
			ForceAttemptHTTP2: true,
			TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
			// Each try's context bounds connecting, TLS and waiting for the answer.
			// Deliveries to one CRM run side by side (one per lead): keep enough
			// connections to it that a burst does not open one per try.
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		// A 3xx is a failed try: redirects are not followed, whoever they point to.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	empty := map[string]*endpoint{}
	s.endpoints.Store(&empty)
	return s
}

// control refuses a connection to an address ssrf refuses: it runs after DNS, for every
// address tried, so a name that resolves (or is rebound) to 127.0.0.1 is refused too.
func (s *Sender) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", address, err)
	}
	return ssrf.Check(ap.Addr(), s.o.AllowPrivateTargets)
}

// SetEndpoints replaces the endpoints (at start and on a configuration reload). It
// fails, changing nothing, when a secret is not a Standard Webhooks secret.
func (s *Sender) SetEndpoints(eps []Endpoint) error {
	m := make(map[string]*endpoint, len(eps))
	for _, e := range eps {
		ep := &endpoint{Endpoint: e, shown: ShownURL(e.URL)}
		if len(e.Secrets) == 0 {
			return fmt.Errorf("webhook %s of %s: no secret", ep.shown, e.Dealer)
		}
		for i, secret := range e.Secrets {
			w, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				return fmt.Errorf("webhook %s of %s: secret %d: not a Standard Webhooks secret (whsec_ and base64)", ep.shown, e.Dealer, i+1)
			}
			ep.signers = append(ep.signers, w)
		}
		m[e.ID()] = ep
	}
	s.endpoints.Store(&m)
	return nil
}

// envelope is a webhook's body (SPEC.md, "Additions"; Standard Webhooks' payload
// structure): timestamp is when the event happened.
type envelope struct {
	Type      dialer.EventType `json:"type"`
	Timestamp leadview.Time    `json:"timestamp"`
	Data      leadview.Lead    `json:"data"`
}

// Body returns the body of event e: the lead as it is now, as GET /v1/leads/{id} shows
// it. The store calls it once per event and keeps what it returns for every try.
func (s *Sender) Body(ctx context.Context, e dialer.Event) ([]byte, error) {
	l, err := s.o.Leads.GetLead(ctx, e.Dealer, e.LeadID)
	if err != nil {
		return nil, fmt.Errorf("body of %s: %w", e.Type, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as the API writes it: a Message-ID reads <id@host>
	if err := enc.Encode(envelope{Type: e.Type, Timestamp: leadview.Time(e.At), Data: leadview.FromLead(l)}); err != nil {
		return nil, fmt.Errorf("body of %s: %w", e.Type, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Header names of a Standard Webhooks message, written in lower case as the
// specification names them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// userAgent is sent with every try.
const userAgent = "Leadline-Webhooks/1 (+https://www.standardwebhooks.com)"

// snippetLen caps the start of an answer's body kept with a failed try.
const snippetLen = 200

// Send makes one try of delivery d with body: a POST to its endpoint, signed with each
// of the endpoint's secrets at the present time, within Options.Timeout.
func (s *Sender) Send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult {
	start := time.Now()
	r := s.send(ctx, d, body)
	r.Took = time.Since(start)
	return r
}

func (s *Sender) send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult {
	failed := func(format string, args ...any) dialer.TryResult {
		return dialer.TryResult{Outcome: dialer.TryFailed, Error: fmt.Sprintf(format, args...)}
	}
	ep, ok := (*s.endpoints.Load())[d.Endpoint]
	if !ok {
		return failed("the endpoint is not configured on this node")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return failed("bad URL: %v", errors.Unwrap(err))
	}
	ts := s.o.Now()
	sigs := make([]string, 0, len(ep.signers))
	for _, w := range ep.signers {
		sig, err := w.Sign(d.ID, ts, body)
		if err != nil {
			return failed("signing: %v", err)
		}
		sigs = append(sigs, sig)
	}
	h := req.Header
	h[HeaderID] = []string{d.ID}
	h[HeaderTimestamp] = []string{strconv.FormatInt(ts.Unix(), 10)}
	h[HeaderSignature] = []string{strings.Join(sigs, " ")}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)

	res, err := s.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return failed("no answer within %s", s.o.Timeout)
		}
		// *url.Error names the whole URL, user information and query included: keep
		// only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return failed("%v", err)
	}
	defer res.Body.Close()
	head := make([]byte, snippetLen)
	n, _ := io.ReadFull(res.Body, head)
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // the connection may be kept
	r := dialer.TryResult{Status: res.StatusCode}
	status := strconv.Itoa(res.StatusCode)
	if t := http.StatusText(res.StatusCode); t != "" {
		status += " " + t
	}
	switch code := res.StatusCode; {
	case code >= 200 && code < 300:
		r.Outcome = dialer.TryDelivered
		return r
	case code == http.StatusGone:
		r.Outcome, r.Error = dialer.TryGone, status
	case code >= 300 && code < 400:
		r.Outcome, r.Error = dialer.TryFailed, status+": redirects are not followed; configure the URL it points to"
	default:
		r.Outcome, r.Error = dialer.TryFailed, status
		r.RetryAfter = retryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	if snip := snippet(head[:n]); snip != "" {
		r.Error += ": " + snip
	}
	return r
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when absent or
// unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && secs > 0 {
		return time.Duration(min(secs, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// snippet is the start of an answer's body (at most snippetLen bytes) fit to keep and
// show: invalid UTF-8 and control characters as spaces, runs of space as one, trimmed.
func snippet(b []byte) string {
	var out strings.Builder
	space := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b) // invalid bytes, or a character cut off: RuneError
		b = b[size:]
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			space = out.Len() > 0
			continue
		}
		if space {
			out.WriteByte(' ')
			space = false
		}
		out.WriteRune(r)
	}
	return out.String()
}

// Observe logs what became of d and counts it.
func (s *Sender) Observe(d dialer.Delivery, r dialer.TryResult) {
	s.o.Recorder.WebhookDelivery(d.Event.Dealer, d.Event.Type, d.State, r.Took)
	shown := d.URL
	if ep, ok := (*s.endpoints.Load())[d.Endpoint]; ok {
		shown = ep.shown
	}
	log := s.o.Logger.With("dealer", d.Event.Dealer, "lead_id", d.Event.LeadID, "event", d.Event.Type,
		"endpoint", d.Endpoint, "url", shown, "webhook_id", d.ID, "tries", d.Tries)
	if r.Status != 0 {
		log = log.With("http_status", r.Status)
	}
	switch d.State {
	case dialer.DeliveryDelivered:
		log.Debug("webhook delivered", "took", r.Took)
	case dialer.DeliveryFailed:
		log.Warn("webhook try failed; trying again later", "error", r.Error, "next_try_at", d.NextTryAt)
	case dialer.DeliveryGaveUp:
		log.Error("webhook delivery given up", "error", d.LastError)
	case dialer.DeliveryDisabled:
		if r.Outcome == dialer.TryGone {
			log.Error("webhook endpoint disabled: it answered 410 Gone; change its configuration to enable it again", "error", r.Error)
		} else {
			log.Info("webhook not sent: its endpoint is disabled")
		}
	}
}

type nopRecorder struct{}

func (nopRecorder) WebhookDelivery(string, dialer.EventType, dialer.DeliveryState, time.Duration) {}
