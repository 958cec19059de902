package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// requestInfo collects what handlers learn about a request for its log line.
type requestInfo struct {
	dealer string
	scope  Scope
}

type (
	requestInfoKey struct{}
	dealerKey      struct{}
)

// statusWriter remembers the status and size of an answer for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until the header is written
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// quietPaths are polled by machines; their successful requests are logged at debug level.
var quietPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logRequests logs one line per request: method, path, route, status, duration, size and,
// once authenticated, the dealer. It never logs headers (the API key travels in them),
// the query or the body, and it redacts path segments that look like phone numbers.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			level := slog.LevelInfo
			if quietPaths[r.URL.Path] && status < 400 {
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", redactPath(r.URL.Path)),
				slog.String("route", routePattern(r)),
				slog.Int("status", status),
				slog.Duration("duration", time.Since(start)),
				slog.Int64("bytes", sw.bytes),
			}
			if info.dealer != "" {
				attrs = append(attrs, slog.String("dealer", info.dealer), slog.String("credential", info.scope.String()))
			}
			s.log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// recoverPanics turns a panic in a handler into a 500 problem, logging it with its stack.
// http.ErrAbortHandler is passed on, as net/http expects.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				// The answer is under way; all that is left is to log and cut it short.
				s.log.ErrorContext(r.Context(), "panic after the answer started",
					"method", r.Method, "route", routePattern(r), "error", err)
				panic(http.ErrAbortHandler)
			}
			s.writeError(w, r, err)
		}()
		next.ServeHTTP(w, r)
	})
}

// requireDealer authenticates the request's API key and puts its dealer in the context.
// A form key is refused (403): it only creates leads. A refused request never reaches
// the handler.
func (s *server) requireDealer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, err := apiKey(r.Header)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		c, err := s.authenticate(r, key)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if c.scope != ScopeAPI {
			s.writeError(w, r, &requestError{status: http.StatusForbidden, kind: "forbidden", title: "Forbidden",
				detail: "This is a form key: it can only create leads (POST /v1/leads). Reading and canceling leads needs one of the dealer's api_keys."})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dealerKey{}, c.dealer.Dealer)))
	})
}

// authenticate finds key's credential and notes its dealer for the log line; an
// unknown key is a 401 problem that does not repeat the key.
func (s *server) authenticate(r *http.Request, key string) (credential, error) {
	c, ok := s.access().lookup(key)
	if !ok || c.dealer.Dealer == "" { // "" would match every dealer's leads in the store
		return credential{}, unauthorized("The key is not valid. " +
			"Use one of the dealer's api_keys (or, in a web form, form_keys) from the Leadline configuration.")
	}
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.dealer, info.scope = c.dealer.Dealer, c.scope
	}
	return c, nil
}

// errNoKey is apiKey's error when the request carries no key header at all.
var errNoKey = unauthorized(`This endpoint needs the dealer's API key: send "Authorization: Bearer KEY" or "X-API-Key: KEY".`)

// apiKey returns the key of "Authorization: Bearer KEY" or "X-API-Key: KEY"; errNoKey
// when neither header is sent. The key is never part of an error.
func apiKey(h http.Header) (string, error) {
	auths, xkeys := h.Values("Authorization"), h.Values("X-API-Key")
	if len(auths) > 1 || len(xkeys) > 1 {
		return "", unauthorized("Send the API key once, in either Authorization or X-API-Key.")
	}
	var bearer, xkey string
	if len(auths) == 1 {
		scheme, token, _ := strings.Cut(strings.TrimSpace(auths[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", unauthorized(`The Authorization header must have the form "Bearer KEY", with the dealer's API key.`)
		}
		if bearer = strings.TrimSpace(token); bearer == "" {
			return "", unauthorized(`The Authorization header has no key after "Bearer".`)
		}
	}
	if len(xkeys) == 1 {
		if xkey = strings.TrimSpace(xkeys[0]); xkey == "" {
			return "", unauthorized("The X-API-Key header is empty.")
		}
	}
	switch {
	case bearer != "" && xkey != "" && bearer != xkey:
		return "", unauthorized("Authorization and X-API-Key carry different keys; send one of them.")
	case bearer != "":
		return bearer, nil
	case xkey != "":
		return xkey, nil
	}
	return "", errNoKey
}

// dealerFrom returns the dealer requireDealer authenticated.
func dealerFrom(ctx context.Context) string {
	d, _ := ctx.Value(dealerKey{}).(string)
	return d
}

// routePattern is the matched route, such as /v1/leads/{id}, or "" when none matched.
func routePattern(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		return rctx.RoutePattern()
	}
	return ""
}

// redactPath replaces path segments that look like phone numbers, so that a lead's phone
// sent where an id belongs does not reach the log.
func redactPath(p string) string {
	if !strings.ContainsAny(p, "0123456789") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if looksLikePhone(seg) {
			segs[i] = "REDACTED"
		}
	}
	return strings.Join(segs, "/")
}

// looksLikePhone reports whether s is 6 or more digits, perhaps with + ( ) - . or spaces.
func looksLikePhone(s string) bool {
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case strings.ContainsRune("+()-. ", c):
		default:
			return false
		}
	}
	return digits >= 6
}
