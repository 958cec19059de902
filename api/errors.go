package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
)

// problemTypes is where the problem types are documented (docs/api.md, "Errors"); a
// problem's type is this plus its anchor.
const problemTypes = "https://github.com/leadline/leadline/blob/main/docs/api.md#"

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = 5

// problem is an RFC 9457 problem details object.
type problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Instance string              `json:"instance,omitempty"`
	Errors   []dialer.FieldError `json:"errors,omitempty"` // 422 only: every bad field
}

// requestError refuses a request with a status below 500. Its detail is meant for the
// client and may be shown as it is.
type requestError struct {
	status int
	kind   string // anchor of the problem type
	title  string
	detail string
	header map[string]string // set on the response, e.g. WWW-Authenticate
}

func (e *requestError) Error() string { return e.detail }

func badRequest(format string, args ...any) *requestError {
	return &requestError{
		status: http.StatusBadRequest,
		kind:   "malformed-request",
		title:  "Malformed request",
		detail: fmt.Sprintf(format, args...),
	}
}

// badCursor refuses a cursor query parameter that is not a next_cursor of this server.
func badCursor() *requestError {
	return badRequest("The cursor query parameter is not a next_cursor of this server. " +
		"Pass next_cursor of the previous page as it is, or leave cursor out for the first page.")
}

func unauthorized(detail string) *requestError {
	return &requestError{
		status: http.StatusUnauthorized,
		kind:   "unauthorized",
		title:  "Unauthorized",
		detail: detail,
		header: map[string]string{"WWW-Authenticate": `Bearer realm="leadline"`},
	}
}

// writeError answers err as a problem. It is the only place where errors become HTTP
// statuses: *dialer.ValidationError → 422 listing each field; *requestError → its own
// status; *dialer.NumberLimitError → 429 with Retry-After; dialer.ErrBadCursor → 400;
// dialer.ErrNotFound → 404;
// dialer.ErrDraining and dialer.ErrUnavailable → 503 with Retry-After (the latter's text
// logged); anything else → 500, its text logged and never sent.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problem{Instance: r.URL.Path}
	var (
		verr *dialer.ValidationError
		rerr *requestError
		nerr *dialer.NumberLimitError
	)
	switch {
	case errors.As(err, &verr):
		p.Status = http.StatusUnprocessableEntity
		p.Type, p.Title = problemTypes+"invalid-request", "Invalid request"
		p.Errors = listedFields(verr.Fields)
		p.Detail = validationDetail(verr.Fields)
	case errors.As(err, &rerr):
		p.Status, p.Type, p.Title, p.Detail = rerr.status, problemTypes+rerr.kind, rerr.title, rerr.detail
		for k, v := range rerr.header {
			w.Header().Set(k, v)
		}
	case errors.As(err, &nerr):
		secs := int64(math.Ceil(nerr.RetryAfter.Seconds()))
		p.Status = http.StatusTooManyRequests
		p.Type, p.Title = problemTypes+"number-limit", "Too many leads for this number"
		p.Detail = fmt.Sprintf("This phone number already had %d leads in the last 24 hours, the most Leadline calls one "+
			"number a day (max_leads_per_number_per_day); nothing was stored. It can be called again in %s.",
			nerr.Max, (time.Duration(secs) * time.Second).String())
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	case errors.Is(err, dialer.ErrBadCursor):
		b := badCursor()
		p.Status, p.Type, p.Title, p.Detail = b.status, problemTypes+b.kind, b.title, b.detail
	case errors.Is(err, dialer.ErrNotFound):
		p.Status = http.StatusNotFound
		p.Type, p.Title = problemTypes+"lead-not-found", "Lead not found"
		p.Detail = fmt.Sprintf("There is no lead %q for this API key's dealer. "+
			"Check the id: it is the \"id\" of the answer to POST /v1/leads.", chi.URLParam(r, "id"))
	case errors.Is(err, dialer.ErrDraining):
		p.Status = http.StatusServiceUnavailable
		p.Type, p.Title = problemTypes+"shutting-down", "Shutting down"
		p.Detail = fmt.Sprintf("This server is shutting down and takes no new leads; nothing was stored. "+
			"Send the lead again in %d seconds.", retryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	case errors.Is(err, dialer.ErrUnavailable):
		// The store's error says why (a full disk, a database down); the answer does not.
		// It holds no lead data.
		s.log.Log(r.Context(), causeLevel(r, err), "lead store unavailable", "method", r.Method, "route", routePattern(r), "error", err)
		p.Status = http.StatusServiceUnavailable
		p.Type, p.Title = problemTypes+"unavailable", "Service unavailable"
		p.Detail = fmt.Sprintf("The lead store cannot be reached or cannot write; nothing was stored. "+
			"Send the request again in %d seconds.", retryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	default:
		p.Status = http.StatusInternalServerError
		p.Type, p.Title = problemTypes+"internal-error", "Internal server error"
		p.Detail = "Something went wrong on our side and the request may not have completed. " +
			"Retry later; when retrying POST /v1/leads, send the same Idempotency-Key so that the lead is not created twice."
		s.log.Log(r.Context(), causeLevel(r, err), "internal error",
			"method", r.Method, "route", routePattern(r), "error", err)
	}
	writeJSON(w, p.Status, "application/problem+json", p)
}

// A 422 lists at most maxListedFields bad fields in errors, and names at most
// maxDetailFields in its detail, so that a body of thousands of unknown fields is not
// answered with many times its size.
const (
	maxListedFields = 20
	maxDetailFields = 5
)

// listedFields is the errors member of a 422: the first maxListedFields bad fields and,
// when there are more, one entry (field "…") that says how many were left out.
func listedFields(fields []dialer.FieldError) []dialer.FieldError {
	if len(fields) <= maxListedFields {
		if fields == nil {
			return []dialer.FieldError{}
		}
		return fields
	}
	more := len(fields) - maxListedFields
	return append(slices.Clip(fields[:maxListedFields]), dialer.FieldError{Field: "…",
		Detail: fmt.Sprintf("%d more %s wrong and not listed here; fix the ones above and send the request again",
			more, plural(more, "field is", "fields are"))})
}

// causeLevel is the level to log the cause of a 5xx at: error, or info when the client
// went away (nobody reads the answer).
func causeLevel(r *http.Request, err error) slog.Level {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return slog.LevelInfo
	}
	return slog.LevelError
}

// validationDetail sums up the bad fields in one sentence: what is wrong with each, or
// with more than maxDetailFields, the names of the first ones.
func validationDetail(fields []dialer.FieldError) string {
	if len(fields) == 0 {
		return "The request is invalid."
	}
	head := fmt.Sprintf("Fix %d %s and send the request again: ", len(fields), plural(len(fields), "field", "fields"))
	if len(fields) > maxDetailFields {
		names := make([]string, maxDetailFields)
		for i, f := range fields[:maxDetailFields] {
			names[i] = f.Field
		}
		which := "each"
		if len(fields) > maxListedFields {
			which = fmt.Sprintf("the first %d", maxListedFields)
		}
		return head + fmt.Sprintf("%s and %d more; errors says what is wrong with %s.", strings.Join(names, ", "), len(fields)-maxDetailFields, which)
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Field + " " + f.Detail
	}
	return head + strings.Join(parts, "; ") + "."
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (s *server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, &requestError{
		status: http.StatusNotFound,
		kind:   "not-found",
		title:  "Not found",
		detail: "No endpoint has this path. The API's paths are /v1/leads, /v1/leads/{id}, /v1/leads/{id}/cancel, " +
			"/v1/leads/{id}/source, /v1/rejections, /v1/rejections/{id}, /v1/rejections/{id}/source, " +
			"/v1/hooks/marktplaats/{dealer}, /healthz, /readyz and /metrics.",
	})
}

func (s *server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	allow := s.allowedMethods(r.URL.Path)
	s.writeError(w, r, &requestError{
		status: http.StatusMethodNotAllowed,
		kind:   "method-not-allowed",
		title:  "Method not allowed",
		detail: fmt.Sprintf("%s is not allowed on this path; use %s.", r.Method, strings.Join(allow, " or ")),
		header: map[string]string{"Allow": strings.Join(allow, ", ")},
	})
}
