package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// deliveryJSON is one event of a lead on its way to one of the dealer's webhook
// endpoints. It shows the endpoint's URL without user information or query, the HTTP
// status of the last try and why it failed, with a short, cleaned start of the answer;
// never a secret, never more of an answer.
type deliveryJSON struct {
	ID         string               `json:"id"` // the webhook-id of every try
	Event      dialer.EventType     `json:"event"`
	EventAt    leadview.Time        `json:"event_at"`
	Endpoint   string               `json:"endpoint"`
	URL        string               `json:"url"`
	Status     dialer.DeliveryState `json:"status"`
	Tries      int                  `json:"tries"`
	FirstTryAt leadview.Time        `json:"first_try_at,omitzero"`
	LastTryAt  leadview.Time        `json:"last_try_at,omitzero"`
	NextTryAt  leadview.Time        `json:"next_try_at,omitzero"`
	EndedAt    leadview.Time        `json:"ended_at,omitzero"`
	LastStatus int                  `json:"last_status,omitempty"`
	LastError  string               `json:"last_error,omitempty"`
}

// deliveryList is the answer to GET /v1/leads/{id}/deliveries.
type deliveryList struct {
	Deliveries []deliveryJSON `json:"deliveries"`
}

// handleLeadDeliveries is GET /v1/leads/{id}/deliveries: the lead's events and where each
// stands with each of the dealer's webhook endpoints.
func (s *server) handleLeadDeliveries(w http.ResponseWriter, r *http.Request) {
	ds, err := s.leads.Deliveries(r.Context(), dealerFrom(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := deliveryList{Deliveries: make([]deliveryJSON, 0, len(ds))}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, deliveryJSON{
			ID: d.ID, Event: d.Event.Type, EventAt: leadview.Time(d.Event.At), Endpoint: d.Endpoint, URL: d.URL,
			Status: d.State, Tries: d.Tries, FirstTryAt: leadview.Time(d.FirstTryAt), LastTryAt: leadview.Time(d.LastTryAt),
			NextTryAt: leadview.Time(d.NextTryAt), EndedAt: leadview.Time(d.DoneAt), LastStatus: d.LastStatus, LastError: d.LastError,
		})
	}
	encode(w, http.StatusOK, out)
}
