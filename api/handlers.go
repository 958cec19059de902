package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// readyTimeout bounds a readiness check.
const readyTimeout = 5 * time.Second

// handleCreateLead is POST /v1/leads. The caller is an API key (Authorization or
// X-API-Key) or a form key (form_key in the query or the body); an ADF body needs an
// API key (createFromADF). An API key gets 202 with
// the new lead; 202 with the open lead it joined and Leadline-Joined: <its id> for a lead
// whose number has one; 200 with the first lead and Idempotent-Replayed: true for a
// repeat. A form key gets the same formReceipt whatever became of its post (202, or 303
// to the redirect field's URL). Submit is not called for a refused request.
func (s *server) handleCreateLead(w http.ResponseWriter, r *http.Request) {
	access := s.access()
	corsHeaders(w, r, access)

	var (
		c      credential
		authed bool
	)
	key, err := apiKey(r.Header)
	switch {
	case err == nil:
		if c, err = s.authenticate(r, key); err != nil {
			s.writeError(w, r, err)
			return
		}
		authed = true
	case err != errNoKey:
		s.writeError(w, r, err)
		return
	}
	qctl, queryErr := queryControl(r.URL.RawQuery)
	if _, ok := queryErr.(*requestError); ok {
		s.writeError(w, r, queryErr)
		return
	}
	kind, err := leadBodyKind(r.Header.Get("Content-Type"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if kind == bodyADF {
		s.createFromADF(w, r, c, authed, qctl, queryErr)
		return
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	in, ctl, bodyErr := decodeLead(kind, body)
	if _, ok := bodyErr.(*requestError); ok {
		s.writeError(w, r, bodyErr) // 400: the body cannot be read, so neither can a form key in it
		return
	}
	ctlErr := joinValidation(queryErr, ctl.merge(qctl))
	if !authed {
		if ctl.FormKey == "" {
			s.writeError(w, r, errNoKey)
			return
		}
		if c, err = s.authenticate(r, ctl.FormKey); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if authed && c.scope == ScopeForm && ctl.FormKey != "" {
		s.writeError(w, r, unauthorized("Send the form key once: in form_key, or in a header, not both."))
		return
	}
	idem, keyErr := idempotencyKey(r.Header)
	in.IdempotencyKey = idem
	in.Channel = dialer.ChannelAPI
	if c.scope == ScopeForm {
		in.Channel = dialer.ChannelForm // its answer may not tell a repeat from a first post
		s.createFromForm(w, r, c.dealer, in, ctl, joinValidation(bodyErr, ctlErr, keyErr))
		return
	}

	// An API key: a server or CRM, perhaps signing its posts.
	forget, err := s.verifySignature(r, c.dealer, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var apiErr error
	if len(ctl.Sent) > 0 {
		verr := &dialer.ValidationError{}
		for _, f := range ctl.Sent {
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: f,
				Detail: "is only for public web forms posting with a form key; this request carries an API key"})
		}
		apiErr = verr
	}
	if err := joinValidation(bodyErr, ctlErr, apiErr, keyErr); err != nil {
		s.writeError(w, r, err)
		return
	}
	lead, out, err := s.leads.Submit(r.Context(), c.dealer.Dealer, in)
	if err != nil {
		forget() // nothing was stored: the sender may retry the same signed request
		s.writeError(w, r, err)
		return
	}
	writeCreated(w, lead, out)
}

// createFromForm finishes a post with a form key: origin, per-IP limit, redirect,
// validation, per-phone limit, then the honeypot, then Submit, answered with a
// formReceipt. verr holds the body's and headers' validation errors.
func (s *server) createFromForm(w http.ResponseWriter, r *http.Request, d *DealerAccess, in dialer.LeadInput, ctl formControl, verr error) {
	if err := checkFormOrigin(r, d); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := limit(w, r, s.limits.perIP, clientKey(r), s.limits.ipRate, "from one address"); err != nil {
		s.writeError(w, r, err)
		return
	}
	var redirectErr error
	if ctl.Redirect != "" {
		redirectErr = checkRedirect(ctl.Redirect, d)
	}
	if err := joinValidation(verr, redirectErr); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := limit(w, r, s.limits.perPhone, phoneKey(in.Phone, d.Country), s.limits.phRate, "for one phone number"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ctl.Honeypot != "" {
		// A bot filled in the hidden field. It gets the answer a person would get, but
		// nothing is stored and nobody is called.
		if _, err := s.leads.Check(r.Context(), d.Dealer, in); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.log.InfoContext(r.Context(), "honeypot filled in: lead discarded", "dealer", d.Dealer)
		s.writeReceipt(w, r, "", ctl.Redirect)
		return
	}
	lead, out, err := s.leads.Submit(r.Context(), d.Dealer, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := ""
	if out == dialer.OutcomeCreated {
		id = lead.ID
	}
	s.writeReceipt(w, r, id, ctl.Redirect)
}

// HeaderJoined names, on the answer to an API-key post that joined an open lead for the
// same number, the id of that lead (which is also the answer's body).
const HeaderJoined = "Leadline-Joined"

// writeCreated answers an API-key post with the stored, joined or repeated lead: 202;
// 202 with Leadline-Joined for a join; 200 with Idempotent-Replayed for a repeat.
func writeCreated(w http.ResponseWriter, lead dialer.Lead, out dialer.Outcome) {
	status := http.StatusAccepted
	switch out {
	case dialer.OutcomeRepeat:
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	case dialer.OutcomeJoined:
		// Accepted as the first post was: what was sent is kept and the lead it joined
		// is being worked on. A client that cares tells the two apart by the header.
		w.Header().Set(HeaderJoined, lead.ID)
	}
	w.Header().Set("Location", "/v1/leads/"+url.PathEscape(lead.ID))
	encode(w, status, leadview.FromLead(lead))
}

// receiptReceived is the status of every formReceipt.
const receiptReceived = "received"

// formReceipt is the whole answer to a form-key post that was taken in. A form key is
// public and reads no leads, so the answer says nothing its poster did not send: not
// whether the post made a lead, repeated one (same Idempotency-Key or external_id),
// joined an open lead for the same number, or was caught by the honeypot.
type formReceipt struct {
	// ID is the new lead's id; for a repeat, a join or the honeypot, a fresh UUIDv7 that
	// names no lead, made as a new lead's id is, so that it does not tell which.
	ID     string `json:"id"`
	Status string `json:"status"` // always "received"
}

// writeReceipt answers a form-key post that was taken in: 202 with a formReceipt, or 303
// See Other to redirect when it is set. id is the new lead's; "" for anything else,
// which gets a fresh id. Neither Location (but the redirect), Idempotent-Replayed nor
// Leadline-Joined is sent: every such post is answered alike.
func (s *server) writeReceipt(w http.ResponseWriter, r *http.Request, id, redirect string) {
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			s.writeError(w, r, fmt.Errorf("form receipt id: %w", err))
			return
		}
		id = u.String()
	}
	status := http.StatusAccepted
	if redirect != "" {
		w.Header().Set("Location", redirect)
		status = http.StatusSeeOther
	}
	encode(w, status, formReceipt{ID: id, Status: receiptReceived})
}

// handleGetLead is GET /v1/leads/{id}.
func (s *server) handleGetLead(w http.ResponseWriter, r *http.Request) {
	lead, err := s.leads.Get(r.Context(), dealerFrom(r.Context()), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	encode(w, http.StatusOK, leadview.FromLead(lead))
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
	out := leadList{Leads: make([]leadview.Lead, 0, len(leads)), NextCursor: next}
	for _, l := range leads {
		out.Leads = append(out.Leads, leadview.FromLead(l))
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
	encode(w, http.StatusOK, leadview.FromLead(lead))
}

// handleHealthz is GET /healthz: the process is up.
func (s *server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, "ok")
}

// handleReadyz is GET /readyz: 200 when Options.Ready reports no error (with what is
// down when it reports a *Degraded), else 503 with its text.
func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		err := s.ready(ctx)
		var d *Degraded
		if errors.As(err, &d) {
			writeText(w, "ok: "+d.Detail)
			return
		}
		if err != nil {
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
