package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes lists every endpoint of SPEC.md's "HTTP API" table and its additions.
func (s *server) routes() *chi.Mux {
	r := chi.NewRouter()
	r.Use(s.logRequests, s.recoverPanics)
	r.NotFound(s.handleNotFound)
	r.MethodNotAllowed(s.handleMethodNotAllowed)

	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Get("/metrics", s.handleMetrics)

	// Creating a lead authenticates itself: a form key may come in the body.
	r.With(s.withClientIP).Post("/v1/leads", s.handleCreateLead)
	r.Options("/v1/leads", s.handlePreflight)
	// A portal's webhook authenticates itself with the dealer's portal secret.
	r.Post("/v1/hooks/marktplaats/{dealer}", s.handleMarktplaats)

	r.Group(func(r chi.Router) {
		r.Use(s.requireDealer)
		r.Get("/v1/leads", s.handleListLeads)
		r.Get("/v1/leads/{id}", s.handleGetLead)
		r.Post("/v1/leads/{id}/cancel", s.handleCancelLead)
		r.Get("/v1/leads/{id}/source", s.handleLeadSource)
		r.Get("/v1/leads/{id}/deliveries", s.handleLeadDeliveries)
		r.Get("/v1/leads/{id}/recording", s.handleGetRecording)
		r.Delete("/v1/leads/{id}/recording", s.handleDeleteRecording)
		r.Get("/v1/rejections", s.handleListRejections)
		r.Get("/v1/rejections/{id}", s.handleGetRejection)
		r.Get("/v1/rejections/{id}/source", s.handleRejectionSource)
		r.Get("/v1/reports/people", s.handleReportPeople)
		r.Get("/v1/reports/sources", s.handleReportSources)
	})
	return r
}

// allowedMethods lists the methods routed for path, for the Allow header of a 405.
func (s *server) allowedMethods(path string) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if s.router.Match(chi.NewRouteContext(), m, path) {
			allow = append(allow, m)
		}
	}
	return allow
}

// withClientIP finds the client's address for the per-IP form limit (see limiters).
func (s *server) withClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.limits.clientIP(next).ServeHTTP(w, r)
	})
}
