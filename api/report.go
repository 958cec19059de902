package api

import (
	"net/http"
	"net/url"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// The owner's reports: how each salesperson followed the dealer's process and how each
// lead source fared, over whole days in the dealer's time zone.

// peopleReport is the answer to GET /v1/reports/people.
type peopleReport struct {
	Dealer string        `json:"dealer"`
	From   leadview.Time `json:"from"`
	To     leadview.Time `json:"to"`
	Leads  int           `json:"leads"`
	People []personJSON  `json:"people"`
}

// sourcesReport is the answer to GET /v1/reports/sources.
type sourcesReport struct {
	Dealer  string        `json:"dealer"`
	From    leadview.Time `json:"from"`
	To      leadview.Time `json:"to"`
	Leads   int           `json:"leads"`
	Sources []sourceJSON  `json:"sources"`
}

type personJSON struct {
	Person              string         `json:"person"`
	Offered             int            `json:"offered"`
	Answered            int            `json:"answered"`
	Accepted            int            `json:"accepted"`
	Declined            int            `json:"declined"`
	Missed              int            `json:"missed"`
	Busy                int            `json:"busy"`
	Failed              int            `json:"failed"`
	Canceled            int            `json:"canceled"`
	MedianAnswerSeconds float64        `json:"median_answer_seconds"`
	ToOwner             int            `json:"to_owner"`
	Outcomes            map[string]int `json:"outcomes,omitempty"` // by outcome id, of the calls they finished
}

type sourceJSON struct {
	Source                   string  `json:"source"`
	Leads                    int     `json:"leads"`
	Connected                int     `json:"connected"`
	ConnectedShare           float64 `json:"connected_share"`
	MedianSpeedToLeadSeconds float64 `json:"median_speed_to_lead_seconds"`
}

// report reads the from and to query parameters (and nothing else) and makes the
// dealer's report.
func (s *server) report(r *http.Request) (dialer.Report, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return dialer.Report{}, badRequest("The query string cannot be parsed: %v. Percent-encode the values.", err)
	}
	verr := &dialer.ValidationError{}
	for key, vs := range vals {
		switch {
		case key != "from" && key != "to":
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: fieldName(key),
				Detail: "is not a query parameter; use from and to (dates such as 2026-11-30)"})
		case len(vs) > 1:
			verr.Fields = append(verr.Fields, dialer.FieldError{Field: key, Detail: "is given more than once; give it once"})
		}
	}
	if len(verr.Fields) > 0 {
		return dialer.Report{}, verr
	}
	return s.leads.ReportDays(r.Context(), dealerFrom(r.Context()), vals.Get("from"), vals.Get("to"))
}

// handleReportPeople is GET /v1/reports/people?from=&to=.
func (s *server) handleReportPeople(w http.ResponseWriter, r *http.Request) {
	rp, err := s.report(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := peopleReport{Dealer: rp.Dealer, From: leadview.Time(rp.From), To: leadview.Time(rp.To), Leads: rp.Leads,
		People: make([]personJSON, 0, len(rp.People))}
	for _, p := range rp.People {
		out.People = append(out.People, personJSON{
			Person: p.Person, Offered: p.Offered, Answered: p.Answered, Accepted: p.Accepted,
			Declined: p.Declined, Missed: p.Missed, Busy: p.Busy, Failed: p.Failed, Canceled: p.Canceled,
			MedianAnswerSeconds: p.MedianAnswer.Seconds(), ToOwner: p.ToOwner, Outcomes: p.Outcomes,
		})
	}
	encode(w, http.StatusOK, out)
}

// handleReportSources is GET /v1/reports/sources?from=&to=.
func (s *server) handleReportSources(w http.ResponseWriter, r *http.Request) {
	rp, err := s.report(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := sourcesReport{Dealer: rp.Dealer, From: leadview.Time(rp.From), To: leadview.Time(rp.To), Leads: rp.Leads,
		Sources: make([]sourceJSON, 0, len(rp.Sources))}
	for _, src := range rp.Sources {
		share := 0.0
		if src.Leads > 0 {
			share = float64(src.Connected) / float64(src.Leads)
		}
		out.Sources = append(out.Sources, sourceJSON{
			Source: src.Source, Leads: src.Leads, Connected: src.Connected, ConnectedShare: share,
			MedianSpeedToLeadSeconds: src.MedianSpeed.Seconds(),
		})
	}
	encode(w, http.StatusOK, out)
}
