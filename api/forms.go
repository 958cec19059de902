package api

// This file holds what public web forms need: a form key that only creates leads and
// only from the dealer's allowed origins (Origin, or Referer for plain form posts, and
// CORS for fetch()), a honeypot field, per-IP and per-phone rate limits, and an
// optional redirect after a plain form post.

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/phone"
)

// Form control fields: they travel with a lead from a web form but are not lead
// fields. API-key requests may not send them.
const (
	fieldFormKey  = "form_key" // the dealer's public form key (or ?form_key=)
	fieldHoneypot = "website"  // must stay empty: a hidden input only bots fill in
	fieldRedirect = "redirect" // where to send the browser after a plain form post (303)
)

// maxRedirect bounds the redirect field, in bytes.
const maxRedirect = 2048

// formControl is what a lead body carried besides lead fields.
type formControl struct {
	FormKey, Honeypot, Redirect string
	// Sent lists the control fields present in the body, for refusing them on API-key
	// requests.
	Sent []string
}

// queryControl reads the query of POST /v1/leads: form_key and redirect may be given
// there (the action URL of a plain HTML form), once each; nothing else.
func queryControl(rawQuery string) (formControl, error) {
	var ctl formControl
	if rawQuery == "" {
		return ctl, nil
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return ctl, badRequest("The query string cannot be parsed: %v. Percent-encode the values.", err)
	}
	verr := &dialer.ValidationError{}
	for _, key := range slices.Sorted(maps.Keys(vals)) {
		vs := vals[key]
		switch {
		case key != fieldFormKey && key != fieldRedirect:
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: fieldName(key),
				Detail: "is not a query parameter of POST /v1/leads (only form_key and redirect are); send lead fields in the body"})
		case len(vs) > 1:
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: key, Detail: fmt.Sprintf("is given %d times; send it once", len(vs))})
		default:
			*controlFields[key](&ctl) = vs[0]
			ctl.Sent = append(ctl.Sent, key)
		}
	}
	if len(verr.Fields) > 0 {
		return ctl, verr
	}
	return ctl, nil
}

// merge adds the query's control fields q to the body's c; a field in both is an
// error (so is anything wrong with the query, which q's error already said).
func (c *formControl) merge(q formControl) error {
	verr := &dialer.ValidationError{}
	for _, f := range q.Sent {
		if slices.Contains(c.Sent, f) {
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: f, Detail: "is given in both the query and the body; send it once"})
			continue
		}
		*controlFields[f](c) = *controlFields[f](&q)
		c.Sent = append(c.Sent, f)
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	return nil
}

// Rate is at most Count requests per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

// FormLimits are the rate limits on posts with a form key. They are kept in memory,
// per node.
type FormLimits struct {
	// PerIP limits posts from one client address (an IPv6 client's /64). Zero:
	// DefaultFormLimitPerIP.
	PerIP Rate
	// PerPhone limits posts for one customer number, over all dealers. Zero:
	// DefaultFormLimitPerPhone.
	PerPhone Rate
}

// Default form rate limits.
var (
	DefaultFormLimitPerIP    = Rate{Count: 20, Per: time.Hour}
	DefaultFormLimitPerPhone = Rate{Count: 3, Per: time.Hour}
)

// limiters are the form rate limiters and how the client's address is found.
type limiters struct {
	perIP, perPhone *httprate.RateLimiter
	ipRate, phRate  Rate
	// clientIP puts the client's address in the request's context: the TCP peer, or
	// with trusted proxies the first address in X-Forwarded-For that is not one.
	clientIP func(http.Handler) http.Handler
}

func newLimiters(l FormLimits, trusted []netip.Prefix) *limiters {
	if l.PerIP.Count <= 0 || l.PerIP.Per <= 0 {
		l.PerIP = DefaultFormLimitPerIP
	}
	if l.PerPhone.Count <= 0 || l.PerPhone.Per <= 0 {
		l.PerPhone = DefaultFormLimitPerPhone
	}
	headers := httprate.WithResponseHeaders(httprate.ResponseHeaders{RetryAfter: "Retry-After"})
	ls := &limiters{
		perIP:    httprate.NewRateLimiter(l.PerIP.Count, l.PerIP.Per, headers),
		perPhone: httprate.NewRateLimiter(l.PerPhone.Count, l.PerPhone.Per, headers),
		ipRate:   l.PerIP,
		phRate:   l.PerPhone,
		clientIP: middleware.ClientIPFromRemoteAddr,
	}
	if len(trusted) > 0 {
		cidrs := make([]string, len(trusted))
		for i, p := range trusted {
			cidrs[i] = p.String()
		}
		ls.clientIP = middleware.ClientIPFromXFF(cidrs...)
	}
	return ls
}

// clientKey is the rate-limit key of the request's client: its address, an IPv6
// address's /64.
func clientKey(r *http.Request) string {
	ip := middleware.GetClientIP(r.Context())
	if ip == "" {
		return "ip:unknown" // fail closed: one shared bucket
	}
	return "ip:" + httprate.CanonicalizeIP(ip)
}

// phoneKey is the rate-limit key of a customer number: E.164 when it can be read in
// the dealer's country, else its digits, so that "06-12345678" and "+31 6 12345678"
// count as one number.
func phoneKey(raw, country string) string {
	if p, err := phone.Normalize(raw, country); err == nil {
		return "phone:" + p
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, raw)
	return "phone:?" + digits
}

// limit counts the request against l under key; over the limit it returns a 429
// problem (Retry-After is set on w already).
func limit(w http.ResponseWriter, r *http.Request, l *httprate.RateLimiter, key string, rate Rate, what string) error {
	if !l.OnLimit(w, r, key) {
		return nil
	}
	return &requestError{
		status: http.StatusTooManyRequests,
		kind:   "rate-limited",
		title:  "Too many requests",
		detail: fmt.Sprintf("Web forms may send at most %d leads per %s %s; nothing was stored. "+
			"Try again after the time in Retry-After.", rate.Count, formatPer(rate.Per), what),
	}
}

func formatPer(d time.Duration) string {
	switch d {
	case time.Hour:
		return "hour"
	case time.Minute:
		return "minute"
	case 24 * time.Hour:
		return "day"
	}
	s := d.String() // 30m0s, 2h0m0s, 1h30m0s
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ---- origins ----

// checkFormOrigin accepts a form-key request only from one of the dealer's allowed
// origins: the Origin header when sent, else the origin of the Referer (older
// browsers omit Origin on same-origin form posts). A request with neither, or with
// Origin "null", is refused: a form key works from the dealer's pages only.
func checkFormOrigin(r *http.Request, d *DealerAccess) error {
	refuse := func(detail string) error {
		return &requestError{status: http.StatusForbidden, kind: "origin-not-allowed", title: "Origin not allowed", detail: detail}
	}
	const hint = " Add the page's origin to the dealer's allowed_origins, or post with an API key from a server."
	origins, referers := r.Header.Values("Origin"), r.Header.Values("Referer")
	switch {
	case len(origins) > 1 || len(referers) > 1:
		return refuse("The request has more than one Origin or Referer header.")
	case len(origins) == 1 && origins[0] == "null":
		return refuse("The browser sent Origin: null (a sandboxed page, a file, or Referrer-Policy: no-referrer); " +
			"form keys work only from the dealer's own web pages." + hint)
	case len(origins) == 1:
		if !d.allowsOrigin(origins[0]) {
			return refuse(fmt.Sprintf("Form keys of this dealer are not accepted from %s.", quoteOrigin(origins[0])) + hint)
		}
		return nil
	case len(referers) == 1:
		if !d.allowsOrigin(referers[0]) {
			o, _ := canonicalOrigin(referers[0])
			return refuse(fmt.Sprintf("Form keys of this dealer are not accepted from %s.", quoteOrigin(o)) + hint)
		}
		return nil
	}
	return refuse("The request has neither an Origin nor a Referer header, so it cannot come from the dealer's web page; " +
		"form keys are accepted only from a browser on one of the dealer's allowed_origins. Servers and CRMs post with an API key.")
}

// quoteOrigin quotes an origin for a message, cut short.
func quoteOrigin(o string) string {
	if o == "" {
		return "a page of no known origin"
	}
	return strconv.Quote(fieldName(o))
}

// corsHeaders lets a page on an allowed origin read the answer to its fetch(). Only
// POST /v1/leads and its preflight carry them; reading leads is never allowed from a
// browser. Of the answer's headers only Retry-After matters to a page: a form post's
// answer has no other (see writeReceipt).
func corsHeaders(w http.ResponseWriter, r *http.Request, a *Access) {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !a.allowsOrigin(origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "Retry-After")
}

// handlePreflight answers a CORS preflight for POST /v1/leads from an allowed origin:
// the page may send Content-Type and Idempotency-Key (the form key travels in the
// body or the query, never in a header). Other origins get 403.
func (s *server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	a := s.access()
	origin := r.Header.Get("Origin")
	if origin == "" || !a.allowsOrigin(origin) {
		w.Header().Add("Vary", "Origin")
		s.writeError(w, r, &requestError{status: http.StatusForbidden, kind: "origin-not-allowed", title: "Origin not allowed",
			detail: fmt.Sprintf("No dealer accepts web forms from %s; add it to the dealer's allowed_origins.", quoteOrigin(origin))})
		return
	}
	if m := r.Header.Get("Access-Control-Request-Method"); m != "" && m != http.MethodPost {
		w.Header().Add("Vary", "Origin")
		s.writeError(w, r, &requestError{status: http.StatusForbidden, kind: "origin-not-allowed", title: "Origin not allowed",
			detail: "Browsers may only POST /v1/leads; reading leads needs an API key from a server."})
		return
	}
	corsHeaders(w, r, a)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// ---- redirect and honeypot ----

// checkRedirect validates the redirect field: an absolute http(s) URL on one of the
// dealer's allowed origins, so that Leadline never sends a browser elsewhere.
func checkRedirect(raw string, d *DealerAccess) error {
	bad := func(detail string) error {
		return &dialer.ValidationError{Fields: []dialer.FieldError{{Field: fieldRedirect, Detail: detail}}}
	}
	if len(raw) > maxRedirect {
		return bad(fmt.Sprintf("is longer than %d characters", maxRedirect))
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || strings.ContainsAny(raw, "\r\n\t\\") {
		return bad("must be an absolute URL such as https://www.example.nl/thanks")
	}
	if !d.allowsOrigin(raw) {
		return bad("must be a page on one of the dealer's allowed_origins")
	}
	return nil
}
