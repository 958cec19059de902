package reportmail

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/mailout"
)

// Schedule is when a dealer's weekly report is mailed: on Day at At (since midnight),
// in Location.
type Schedule struct {
	Day      time.Weekday
	At       time.Duration
	Location *time.Location // nil: UTC
}

// Next returns the dealer's first report mail due after after: its due time (Day at At
// in the dealer's zone, on the local clock, whatever daylight saving time does in
// between), its week (the ISO week of its day, "2026-W44") and its report's days, the
// seven days before its day.
func (s Schedule) Next(dealer string, after time.Time) dialer.ReportMail {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	t := after.In(loc)
	days := (int(s.Day) - int(t.Weekday()) + 7) % 7
	h, m := int(s.At/time.Hour), int(s.At%time.Hour/time.Minute)
	due := time.Date(t.Year(), t.Month(), t.Day()+days, h, m, 0, 0, loc)
	if !due.After(after) {
		due = time.Date(t.Year(), t.Month(), t.Day()+days+7, h, m, 0, 0, loc)
	}
	y, w := due.ISOWeek()
	day := time.Date(due.Year(), due.Month(), due.Day(), 0, 0, 0, 0, loc)
	return dialer.ReportMail{
		Dealer: dealer, Week: fmt.Sprintf("%04d-W%02d", y, w), DueAt: due,
		From: day.AddDate(0, 0, -7).Format(time.DateOnly), To: day.AddDate(0, 0, -1).Format(time.DateOnly),
	}
}

// Dealer is what the report says of the dealer.
type Dealer struct {
	ID       string
	Name     string
	Location *time.Location // the report's days are in it; nil: UTC
	// People are the salespeople's names by id.
	People map[string]string
}

// Mail is a report mail to compose: the report, from whom to whom, its Message-ID and
// Date.
type Mail struct {
	Report    dialer.Report
	Dealer    Dealer
	From      mail.Address
	To        []string
	MessageID string // id@domain
	Date      time.Time
}

// Compose makes the owner's report mail: a sentence on top (how many leads, how many
// reached a customer, how many went on to the owner), then a table of the salespeople
// (offered, answered, accepted, passed, missed, median answer, to the owner, outcomes)
// and one of the sources (leads, connected share, median speed to lead); as plain text
// and as HTML that reads on a phone (html/template escapes every name), alternatives in
// one mail.
func Compose(m Mail) (mailout.Message, error) {
	v := view(m.Report, m.Dealer)
	var text bytes.Buffer
	writeText(&text, v)
	var html bytes.Buffer
	if err := page.Execute(&html, v); err != nil {
		return mailout.Message{}, fmt.Errorf("report mail: %w", err)
	}
	return mailout.Message{
		From: m.From, To: m.To, Date: m.Date, MessageID: m.MessageID,
		Subject: fmt.Sprintf("Leadline weekly report, %s: %s, %s", v.Dealer, plural(v.Leads, "lead"), v.Period),
		Headers: [][2]string{{"X-Leadline-Dealer", m.Dealer.ID}, {"X-Leadline-Report", v.Period}},
		Text:    text.String(), HTML: html.String(),
	}, nil
}

// reportView is the report as the mail shows it, every figure a string.
type reportView struct {
	Dealer, Period, Sentence string
	Leads                    int
	People                   []personRow
	Sources                  []sourceRow
}

type personRow struct {
	Name, Offered, Answered, Accepted, Passed, Missed, MedianAnswer, ToOwner, Outcomes string
}

type sourceRow struct {
	Source, Leads, Connected, Share, MedianSpeed string
}

func view(r dialer.Report, d Dealer) reportView {
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	first, last := r.From.In(loc), r.To.Add(-time.Nanosecond).In(loc)
	v := reportView{
		Dealer: cmp.Or(d.Name, d.ID, r.Dealer), Leads: r.Leads,
		Period: first.Format("Mon 2 Jan") + " to " + last.Format("Mon 2 Jan 2006"),
	}
	switch {
	case r.Leads == 0:
		v.Sentence = "No leads came in."
	default:
		v.Sentence = fmt.Sprintf("%s came in; %d reached a customer (%s) and %d went on to the owner.",
			plural(r.Leads, "lead"), r.Connected, share(r.Connected, r.Leads), r.ReachedOwner)
	}
	for _, p := range r.People {
		name := p.Person
		if n := d.People[p.Person]; n != "" {
			name = n
		}
		v.People = append(v.People, personRow{
			Name: name, Offered: strconv.Itoa(p.Offered), Answered: strconv.Itoa(p.Answered),
			Accepted: strconv.Itoa(p.Accepted), Passed: strconv.Itoa(p.Declined), Missed: strconv.Itoa(p.Missed),
			MedianAnswer: seconds(p.MedianAnswer), ToOwner: strconv.Itoa(p.ToOwner), Outcomes: outcomes(p.Outcomes),
		})
	}
	for _, s := range r.Sources {
		v.Sources = append(v.Sources, sourceRow{
			Source: cmp.Or(s.Source, "(none given)"), Leads: strconv.Itoa(s.Leads), Connected: strconv.Itoa(s.Connected),
			Share: share(s.Connected, s.Leads), MedianSpeed: seconds(s.MedianSpeed),
		})
	}
	return v
}

// writeText writes the plain-text part: the sentence and two tables in fixed columns.
func writeText(b *bytes.Buffer, v reportView) {
	fmt.Fprintf(b, "%s, %s\n\n%s\n", v.Dealer, v.Period, v.Sentence)
	if len(v.People) > 0 {
		b.WriteString("\nSalespeople\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "person\toffered\tanswered\taccepted\tpassed\tmissed\tmedian answer\tto owner\toutcomes")
		for _, p := range v.People {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Offered, p.Answered, p.Accepted, p.Passed,
				p.Missed, p.MedianAnswer, p.ToOwner, p.Outcomes)
		}
		_ = tw.Flush() // a bytes.Buffer does not fail
	}
	if len(v.Sources) > 0 {
		b.WriteString("\nSources\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "source\tleads\tconnected\tmedian speed to lead")
		for _, s := range v.Sources {
			fmt.Fprintf(tw, "%s\t%s\t%s (%s)\t%s\n", s.Source, s.Leads, s.Connected, s.Share, s.MedianSpeed)
		}
		_ = tw.Flush()
	}
	b.WriteString("\npassed: pressed another key than 1; missed: no answer, or voicemail; to owner: leads they did not take that went on to the owner.\n")
}

// page is the HTML part: one column, tables that scroll sideways on a narrow screen,
// styles inline (mail readers drop style sheets).
var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Dealer}}: {{.Period}}</title></head>
<body style="margin:0;padding:12px;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.4;color:#1a1a1a;background:#ffffff">
<div style="max-width:640px;margin:0 auto">
<h1 style="font-size:19px;margin:0 0 4px">{{.Dealer}}</h1>
<p style="margin:0 0 12px;color:#555">Weekly report, {{.Period}}</p>
<p style="margin:0 0 16px;font-size:16px">{{.Sentence}}</p>
{{- if .People}}
<h2 style="font-size:16px;margin:16px 0 6px">Salespeople</h2>
<div style="overflow-x:auto">
<table style="border-collapse:collapse;font-size:14px;white-space:nowrap">
<tr style="background:#f0f0f0"><th style="text-align:left;padding:4px 8px">Person</th><th style="padding:4px 8px">Offered</th><th style="padding:4px 8px">Answered</th><th style="padding:4px 8px">Accepted</th><th style="padding:4px 8px">Passed</th><th style="padding:4px 8px">Missed</th><th style="padding:4px 8px">Median answer</th><th style="padding:4px 8px">To owner</th><th style="text-align:left;padding:4px 8px">Outcomes</th></tr>
{{- range .People}}
<tr style="border-top:1px solid #dddddd"><td style="padding:4px 8px">{{.Name}}</td><td style="text-align:right;padding:4px 8px">{{.Offered}}</td><td style="text-align:right;padding:4px 8px">{{.Answered}}</td><td style="text-align:right;padding:4px 8px">{{.Accepted}}</td><td style="text-align:right;padding:4px 8px">{{.Passed}}</td><td style="text-align:right;padding:4px 8px">{{.Missed}}</td><td style="text-align:right;padding:4px 8px">{{.MedianAnswer}}</td><td style="text-align:right;padding:4px 8px">{{.ToOwner}}</td><td style="padding:4px 8px">{{.Outcomes}}</td></tr>
{{- end}}
</table>
</div>
{{- end}}
{{- if .Sources}}
<h2 style="font-size:16px;margin:16px 0 6px">Sources</h2>
<div style="overflow-x:auto">
<table style="border-collapse:collapse;font-size:14px;white-space:nowrap">
<tr style="background:#f0f0f0"><th style="text-align:left;padding:4px 8px">Source</th><th style="padding:4px 8px">Leads</th><th style="padding:4px 8px">Connected</th><th style="padding:4px 8px">Median speed to lead</th></tr>
{{- range .Sources}}
<tr style="border-top:1px solid #dddddd"><td style="padding:4px 8px">{{.Source}}</td><td style="text-align:right;padding:4px 8px">{{.Leads}}</td><td style="text-align:right;padding:4px 8px">{{.Connected}} ({{.Share}})</td><td style="text-align:right;padding:4px 8px">{{.MedianSpeed}}</td></tr>
{{- end}}
</table>
</div>
{{- end}}
<p style="margin:16px 0 0;font-size:13px;color:#666">Passed: pressed another key than 1. Missed: no answer, or voicemail. To owner: leads they did not take that went on to the owner.</p>
</div>
</body></html>
`))

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// share is n of total as a whole percentage, "75 %"; "-" of none.
func share(n, total int) string {
	if total == 0 {
		return "-"
	}
	return strconv.Itoa(100*n/total) + " %"
}

// seconds writes a median: "4.2 s", "1m05s", or "-" when there is none.
func seconds(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// outcomes lists counts by outcome, "appointment 2, follow_up 1", or "-".
func outcomes(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, id+" "+strconv.Itoa(m[id]))
	}
	return strings.Join(parts, ", ")
}
