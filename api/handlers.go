package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
)

// readyTimeout bounds a readiness check.
const readyTimeout = 5 * time.Second

// handleCreateLead is POST /v1/leads: 202 with the new lead, or 200 with the first lead
// and Idempotent-Replayed: true for a repeat. Submit is not called for a refused request.
func (s *server) handleCreateLead(w http.ResponseWriter, r *http.Request) {
	kind, err := leadBodyKind(r.Header.Get("Content-Type"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, bodyErr := decodeLead(kind, body)
	key, keyErr := idempotencyKey(r.Header)
	if err := joinValidation(bodyErr, keyErr); err != nil {
		s.writeError(w, r, err)
		return
	}
	in.IdempotencyKey = key

	lead, created, err := s.leads.Submit(r.Context(), dealerFrom(r.Context()), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/leads/"+url.PathEscape(lead.ID))
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		encode(w, http.StatusOK, toLeadJSON(lead))
		return
	}
	encode(w, http.StatusAccepted, toLeadJSON(lead))
}

// handleGetLead is GET /v1/leads/{id}.
func (s *server) handleGetLead(w http.ResponseWriter, r *http.Request) {
	lead, err := s.leads.Get(r.Context(), dealerFrom(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, toLeadJSON(lead))
}

// handleListLeads is GET /v1/leads?status=&limit=&cursor=.
func (s *server) handleListLeads(w http.ResponseWriter, r *http.Request) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, r, badRequest("The query string cannot be parsed: %v. Percent-encode the values.", err))
		return
	}
	q, err := listQuery(dealerFrom(r.Context()), vals)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	leads, next, err := s.leads.List(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := leadList{Leads: make([]leadJSON, 0, len(leads)), NextCursor: next}
	for _, l := range leads {
		out.Leads = append(out.Leads, toLeadJSON(l))
	}
	encode(w, http.StatusOK, out)
}

// handleCancelLead is POST /v1/leads/{id}/cancel: 200 with the lead.
func (s *server) handleCancelLead(w http.ResponseWriter, r *http.Request) {
	lead, err := s.leads.Cancel(r.Context(), dealerFrom(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, toLeadJSON(lead))
}

// handleHealthz is GET /healthz: the process is up.
func (s *server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, "ok")
}

// handleReadyz is GET /readyz: 200 when Options.Ready reports no error, else 503 with its
// text.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.writeError(w, r, &requestError{
				status: http.StatusServiceUnavailable,
				kind:   "not-ready",
				title:  "Not ready",
				detail: err.Error(),
			})
			return
		}
	}
	writeText(w, "ok")
}

// handleMetrics is GET /metrics, served by Options.Metrics.
func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metrics == nil {
		s.handleNotFound(w, r)
		return
	}
	s.metrics.ServeHTTP(w, r)
}

func writeText(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, body)
}
