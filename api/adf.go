package api

// ADF over HTTP: a CRM or lead provider may post an ADF 1.0 document (Auto-lead Data
// Format, the XML car portals send leads in) to POST /v1/leads with the dealer's API
// key, instead of JSON. The adf package reads it; this file decides who may send it and
// how its problems are answered.

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/leadline/leadline/adf"
	"github.com/leadline/leadline/dialer"
)

// The media types of ADF documents.
const (
	mediaXML     = "application/xml"
	mediaTextXML = "text/xml"
	mediaADF     = "application/x-adf+xml"
)

// adfPaths names, for a 422, where in an ADF document each lead field comes from.
var adfPaths = map[string]string{
	"phone":       "prospect/customer/contact/phone",
	"name":        "prospect/customer/contact/name",
	"email":       "prospect/customer/contact/email",
	"interest":    "prospect/vehicle",
	"message":     "prospect/customer/comments",
	"source":      "prospect/provider/name",
	"external_id": "prospect/id",
}

// adfNeedsAPIKey refuses an ADF document posted with a form key: ADF comes from servers
// (CRMs, lead providers), which hold an API key; a web page posts JSON or form data.
func adfNeedsAPIKey() error {
	return &requestError{
		status: http.StatusUnsupportedMediaType,
		kind:   "unsupported-media-type",
		title:  "Unsupported media type",
		detail: "ADF documents are taken only with one of the dealer's api_keys, from a server or CRM. " +
			"A web form posts its lead with the form key as " + mediaJSON + " or " + mediaForm + ".",
		header: map[string]string{"Accept-Post": mediaJSON + ", " + mediaForm},
	}
}

// createFromADF finishes POST /v1/leads with an ADF body: an API key (a form key is
// refused before the body is read), the body, the signature, then the document's one
// prospect as a lead, answered as a JSON post is. qctl and queryErr are what the query
// carried. Nothing is stored for a refused document.
func (s *server) createFromADF(w http.ResponseWriter, r *http.Request, c credential, authed bool, qctl formControl, queryErr error) {
	if !authed {
		// No key header: only a form key in the query can be left, and it is refused.
		if qctl.FormKey == "" {
			s.writeError(w, r, errNoKey)
			return
		}
		var err error
		if c, err = s.authenticate(r, qctl.FormKey); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if c.scope != ScopeAPI {
		s.writeError(w, r, adfNeedsAPIKey())
		return
	}
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	forget, err := s.verifySignature(r, c.dealer, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var ctlErr error
	if len(qctl.Sent) > 0 {
		verr := &dialer.ValidationError{}
		for _, f := range qctl.Sent {
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: f,
				Detail: "is only for public web forms posting with a form key; this request carries an API key"})
		}
		ctlErr = verr
	}
	idem, keyErr := idempotencyKey(r.Header)
	p, docErr := readADF(body)
	if _, ok := docErr.(*requestError); ok {
		s.writeError(w, r, docErr)
		return
	}
	if err := joinValidation(queryErr, ctlErr, docErr, keyErr); err != nil {
		s.writeError(w, r, err)
		return
	}
	in := p.Lead()
	in.IdempotencyKey = idem
	in.Channel = dialer.ChannelAPI
	lead, out, err := s.leads.Submit(r.Context(), c.dealer.Dealer, in)
	if err != nil {
		forget() // nothing was stored: the sender may retry the same signed request
		s.writeError(w, r, adfFields(err, in))
		return
	}
	writeCreated(w, lead, out)
}

// readADF reads the one prospect of an ADF document. Errors: a *requestError (400) for
// a body that holds no ADF document, declares entities or is too complex to be a lead;
// a *dialer.ValidationError (422, field "prospect") for a document with no prospect or
// with several.
func readADF(body []byte) (adf.Prospect, error) {
	ps, err := adf.Parse(body)
	prospect := func(detail string) error {
		return &dialer.ValidationError{Fields: []dialer.FieldError{{Field: "prospect", Detail: detail}}}
	}
	switch {
	case errors.Is(err, adf.ErrEntities):
		// adf never reads a DTD nor expands an entity the document defines, so a billion
		// laughs or an external entity costs nothing; but no honest lead declares one.
		return adf.Prospect{}, badRequest("The document declares entities (<!ENTITY …> in its DOCTYPE). " +
			"ADF needs none and Leadline reads no DTD: send the document without an internal DTD subset.")
	case errors.Is(err, adf.ErrNotADF):
		return adf.Prospect{}, badRequest("The body holds no ADF document: no <adf> element or <?adf?> prolog was found. " +
			`Send an ADF 1.0 document, <?xml version="1.0"?><?adf version="1.0"?><adf><prospect>…</prospect></adf>, or send JSON.`)
	case errors.Is(err, adf.ErrNoProspect):
		return adf.Prospect{}, prospect("is missing: the document has no <prospect> with anything in it; send one prospect with its customer's <contact>")
	case errors.Is(err, adf.ErrTooComplex):
		return adf.Prospect{}, badRequest("The ADF document nests elements deeper than 64 or has more than 100,000 tokens; " +
			"no lead needs that. Send one prospect.")
	case errors.Is(err, adf.ErrTooLarge):
		return adf.Prospect{}, &requestError{status: http.StatusRequestEntityTooLarge, kind: "body-too-large",
			title: "Request body too large", detail: "The ADF document is too large; send one prospect."}
	case err != nil:
		return adf.Prospect{}, badRequest("The ADF document cannot be read: %v.", err)
	case len(ps) > 1:
		return adf.Prospect{}, prospect(fmt.Sprintf("is given %d times; send one prospect per request: each is a lead, "+
			"answered with its own id, status and Idempotent-Replayed", len(ps)))
	}
	return ps[0], nil
}

// adfFields renames the fields of a validation error to where they are in an ADF
// document; other errors are returned as they are.
func adfFields(err error, in dialer.LeadInput) error {
	verr, ok := errors.AsType[*dialer.ValidationError](err)
	if !ok {
		return err
	}
	out := &dialer.ValidationError{Fields: make([]dialer.FieldError, len(verr.Fields))}
	for i, f := range verr.Fields {
		if path, ok := adfPaths[f.Field]; ok {
			f.Field = path
		}
		if f.Field == adfPaths["phone"] && in.Phone == "" {
			f.Detail = "is required: the customer's <contact> has no <phone> with a number in it, and Leadline calls that number"
		}
		out.Fields[i] = f
	}
	return out
}
