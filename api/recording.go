package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
)

// Recordings serves leads' call recordings. *recording.Library implements it.
type Recordings interface {
	// Open returns the dealer's lead's finished recording (a WAV file) and when it was
	// made; dialer.ErrNotFound when there is none (never recorded, erased, expired, or
	// still being recorded).
	Open(ctx context.Context, dealer, leadID string) (io.ReadSeekCloser, time.Time, error)
	// Erase deletes it (a customer's erasure request); dialer.ErrNotFound as Open.
	Erase(ctx context.Context, dealer, leadID string) error
}

// handleGetRecording is GET /v1/leads/{id}/recording: the WAV file, with range
// requests (http.ServeContent).
func (s *server) handleGetRecording(w http.ResponseWriter, r *http.Request) {
	dealer, id := dealerFrom(r.Context()), chi.URLParam(r, "id")
	if s.recordings == nil {
		s.writeError(w, r, s.noRecording(r, dealer, id))
		return
	}
	f, made, err := s.recordings.Open(r.Context(), dealer, id)
	if errors.Is(err, dialer.ErrNotFound) {
		err = s.noRecording(r, dealer, id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="lead-`+id+`.wav"`)
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", made, f)
}

// handleDeleteRecording is DELETE /v1/leads/{id}/recording: 204 once it is gone; the
// lead then says it was erased.
func (s *server) handleDeleteRecording(w http.ResponseWriter, r *http.Request) {
	dealer, id := dealerFrom(r.Context()), chi.URLParam(r, "id")
	var err error = dialer.ErrNotFound
	if s.recordings != nil {
		err = s.recordings.Erase(r.Context(), dealer, id)
	}
	if errors.Is(err, dialer.ErrNotFound) {
		err = s.noRecording(r, dealer, id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// noRecording is the 404 of a lead without a recording to serve: the lead's own 404
// when it does not exist, else why it has none.
func (s *server) noRecording(r *http.Request, dealer, id string) error {
	l, err := s.leads.Get(r.Context(), dealer, id)
	if err != nil {
		return err
	}
	detail := "This lead's call was not recorded: its dealer does not record calls, the customer did not allow it, or the call was not bridged."
	switch rec := l.Recording; {
	case rec != nil && !rec.DeletedAt.IsZero():
		detail = "This lead's recording was deleted (" + rec.DeletedReason + ") at " + rec.DeletedAt.UTC().Format(time.RFC3339) + "."
	case rec != nil:
		detail = "This lead's call is being recorded; the recording can be fetched once the call has ended."
	}
	return &requestError{status: http.StatusNotFound, kind: "recording-not-found", title: "No recording", detail: detail}
}
