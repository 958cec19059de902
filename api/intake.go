package api

// This file holds what intake keeps besides leads: the original message of an e-mailed
// or webhook lead (GET /v1/leads/{id}/source), and the messages that held no lead that
// can be called, kept with their reason (GET /v1/rejections…).

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// Headers of an original message's answer.
const (
	// HeaderOriginalSize is the size in bytes of the whole message as it arrived.
	HeaderOriginalSize = "Leadline-Original-Size"
	// HeaderTruncated is "true" when the body holds only the first
	// dialer.MaxOriginal bytes of the message, "false" when it holds all of it.
	HeaderTruncated = "Leadline-Truncated"
)

// handleLeadSource is GET /v1/leads/{id}/source: the message the lead arrived in.
func (s *server) handleLeadSource(w http.ResponseWriter, r *http.Request) {
	dealer, id := dealerFrom(r.Context()), chi.URLParam(r, "id")
	o, err := s.leads.Original(r.Context(), dealer, id)
	if errors.Is(err, dialer.ErrNotFound) {
		// The store does not say whether the lead or its original is missing; a lead
		// that exists is worth a word on why it has none.
		if l, gerr := s.leads.Get(r.Context(), dealer, id); gerr == nil {
			err = &requestError{
				status: http.StatusNotFound,
				kind:   "source-not-found",
				title:  "No original message",
				detail: noSourceDetail(l),
			}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOriginal(w, o, "lead-"+id)
}

// noSourceDetail says why lead l has no original message.
func noSourceDetail(l dialer.Lead) string {
	const only = " Only leads that arrived by e-mail (channel email or imap) or through a portal's webhook (webhook) keep one."
	switch leadview.Channel(l.Channel) {
	case dialer.ChannelAPI:
		return fmt.Sprintf("Lead %q was posted to POST /v1/leads (channel api), which keeps no original message; "+
			"its fields are all there is.", l.ID) + only
	case dialer.ChannelForm:
		return fmt.Sprintf("Lead %q came from a web form (channel form), which keeps no original message; "+
			"its fields are all there is.", l.ID) + only
	}
	return fmt.Sprintf("Lead %q arrived through channel %s, but no original message was kept with it.", l.ID, l.Channel)
}

// rejectionJSON is a rejection as the API shows it. Empty sender, message_id and
// subject are left out.
type rejectionJSON struct {
	ID         string         `json:"id"`
	Channel    dialer.Channel `json:"channel"`
	ReceivedAt leadview.Time  `json:"received_at"`
	Sender     string         `json:"sender,omitempty"`
	MessageID  string         `json:"message_id,omitempty"`
	Subject    string         `json:"subject,omitempty"`
	Reason     string         `json:"reason"`
	Size       int64          `json:"size"` // of the original message; 0 when none was kept
}

// rejectionList is the answer to GET /v1/rejections.
type rejectionList struct {
	Rejections []rejectionJSON `json:"rejections"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

func toRejectionJSON(r dialer.Rejection) rejectionJSON {
	return rejectionJSON{
		ID: r.ID, Channel: leadview.Channel(r.Channel), ReceivedAt: leadview.Time(r.ReceivedAt),
		Sender: r.Sender, MessageID: r.MessageID, Subject: r.Subject, Reason: r.Reason, Size: r.Size,
	}
}

// handleListRejections is GET /v1/rejections?limit=&cursor=.
func (s *server) handleListRejections(w http.ResponseWriter, r *http.Request) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, badRequest("The query string cannot be parsed: %v. Percent-encode the values.", err))
		return
	}
	limit, cursor, err := pageQuery(vals, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rs, next, err := s.leads.Rejections(r.Context(), dealerFrom(r.Context()), limit, cursor)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := rejectionList{Rejections: make([]rejectionJSON, 0, len(rs)), NextCursor: next}
	for _, rj := range rs {
		out.Rejections = append(out.Rejections, toRejectionJSON(rj))
	}
	encode(w, http.StatusOK, out)
}

// handleGetRejection is GET /v1/rejections/{id}.
func (s *server) handleGetRejection(w http.ResponseWriter, r *http.Request) {
	rj, err := s.rejection(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, toRejectionJSON(rj))
}

// handleRejectionSource is GET /v1/rejections/{id}/source: the message as it arrived.
func (s *server) handleRejectionSource(w http.ResponseWriter, r *http.Request) {
	rj, err := s.rejection(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rj.Original == nil {
		s.writeError(w, r, &requestError{
			status: http.StatusNotFound,
			kind:   "source-not-found",
			title:  "No original message",
			detail: fmt.Sprintf("Rejection %q was kept without its message (its size is 0); its reason says what was wrong.", rj.ID),
		})
		return
	}
	writeOriginal(w, rj.Original, "rejection-"+rj.ID)
}

// rejection reads the rejection of the request's path; a missing one is a
// rejection-not-found problem.
func (s *server) rejection(r *http.Request) (dialer.Rejection, error) {
	id := chi.URLParam(r, "id")
	rj, err := s.leads.Rejection(r.Context(), dealerFrom(r.Context()), id)
	if errors.Is(err, dialer.ErrNotFound) {
		return rj, &requestError{
			status: http.StatusNotFound,
			kind:   "rejection-not-found",
			title:  "Rejection not found",
			detail: fmt.Sprintf("There is no rejection %q for this API key's dealer. "+
				"Check the id: it is the \"id\" of an entry of GET /v1/rejections.", id),
		}
	}
	return rj, err
}

// writeOriginal answers a kept message as a download that no browser renders: its own
// content type, but as an attachment, never sniffed, in a sandbox with no sources; and
// how big the whole message was, and whether this is all of it.
func writeOriginal(w http.ResponseWriter, o *dialer.Original, name string) {
	ct, ext := originalType(o.ContentType)
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": safeName(name) + ext}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store") // personal data
	h.Set("Content-Length", strconv.Itoa(len(o.Body)))
	h.Set(HeaderOriginalSize, strconv.FormatInt(max(o.Size, int64(len(o.Body))), 10))
	h.Set(HeaderTruncated, strconv.FormatBool(o.Truncated()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(o.Body)
}

// originalType is the Content-Type an original is served with, and a file name
// extension for it: its kept type, rewritten cleanly, or application/octet-stream when
// that cannot be read.
func originalType(kept string) (contentType, ext string) {
	mt, params, err := mime.ParseMediaType(kept)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream", ".bin"
	}
	ct := mime.FormatMediaType(mt, params)
	if ct == "" {
		ct = mt
	}
	switch {
	case mt == "message/rfc822":
		ext = ".eml"
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		ext = ".json"
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		ext = ".xml"
	case strings.HasPrefix(mt, "text/"):
		ext = ".txt"
	default:
		ext = ".bin"
	}
	return ct, ext
}

// safeName keeps the letters, digits, - and _ of a file name, at most 80.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
	return s[:min(len(s), 80)]
}
