package reportmail_test

import (
	"bytes"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/reportmail"
)

var ams, _ = time.LoadLocation("Europe/Amsterdam")

// The weekly time is the dealer's local time on both sides of a change of daylight
// saving time (Amsterdam: 25 October and 29 March 2026; New York: 1 November), the week
// is the ISO week of the mail's day (2026 has 53), the report's days the seven before it,
// and a mail due at the very moment asked about is the next week's.
func TestNext(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	monday8 := reportmail.Schedule{Day: time.Monday, At: 8 * time.Hour, Location: ams}
	for _, tc := range []struct {
		name     string
		s        reportmail.Schedule
		after    time.Time
		due      time.Time // in UTC
		week     string
		from, to string
	}{
		{"summer time", monday8, time.Date(2026, 10, 14, 12, 0, 0, 0, ams),
			time.Date(2026, 10, 19, 6, 0, 0, 0, time.UTC), "2026-W43", "2026-10-12", "2026-10-18"},
		{"at the moment: next week, after the change to winter time", monday8, time.Date(2026, 10, 19, 8, 0, 0, 0, ams),
			time.Date(2026, 10, 26, 7, 0, 0, 0, time.UTC), "2026-W44", "2026-10-19", "2026-10-25"},
		{"the Sunday of the change", monday8, time.Date(2026, 10, 25, 2, 30, 0, 0, ams),
			time.Date(2026, 10, 26, 7, 0, 0, 0, time.UTC), "2026-W44", "2026-10-19", "2026-10-25"},
		{"before the change to summer time", monday8, time.Date(2026, 3, 27, 9, 0, 0, 0, ams),
			time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), "2026-W14", "2026-03-23", "2026-03-29"},
		{"later the same day", monday8, time.Date(2026, 3, 30, 7, 59, 59, 0, ams),
			time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), "2026-W14", "2026-03-23", "2026-03-29"},
		{"53rd week", monday8, time.Date(2026, 12, 24, 0, 0, 0, 0, ams),
			time.Date(2026, 12, 28, 7, 0, 0, 0, time.UTC), "2026-W53", "2026-12-21", "2026-12-27"},
		{"new year", monday8, time.Date(2026, 12, 28, 9, 0, 0, 0, ams),
			time.Date(2027, 1, 4, 7, 0, 0, 0, time.UTC), "2027-W01", "2026-12-28", "2027-01-03"},
		{"new york, across its change", reportmail.Schedule{Day: time.Friday, At: 17*time.Hour + 30*time.Minute, Location: ny},
			time.Date(2026, 10, 30, 18, 0, 0, 0, ny), time.Date(2026, 11, 6, 22, 30, 0, 0, time.UTC), "2026-W45", "2026-10-30", "2026-11-05"},
		{"utc", reportmail.Schedule{Day: time.Sunday, At: 23*time.Hour + 59*time.Minute},
			time.Date(2026, 11, 29, 23, 59, 0, 0, time.UTC), time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC), "2026-W49", "2026-11-29", "2026-12-05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.Next("jansen", tc.after)
			if !r.DueAt.Equal(tc.due) || r.Week != tc.week || r.From != tc.from || r.To != tc.to || r.Dealer != "jansen" {
				t.Errorf("Next(%v) = %v (%s) %s, %s..%s; want %v %s %s..%s", tc.after, r.DueAt.UTC(), r.DueAt, r.Week, r.From, r.To,
					tc.due, tc.week, tc.from, tc.to)
			}
		})
	}
	// A local time the change to summer time skips (02:30 on 29 March) still gives that
	// Sunday's mail, and the next one is a week later at 02:30 again.
	s := reportmail.Schedule{Day: time.Sunday, At: 2*time.Hour + 30*time.Minute, Location: ams}
	r := s.Next("jansen", time.Date(2026, 3, 28, 12, 0, 0, 0, ams))
	if y, m, d := r.DueAt.In(ams).Date(); y != 2026 || m != 3 || d != 29 || r.Week != "2026-W13" {
		t.Errorf("the skipped hour: %v %s", r.DueAt.In(ams), r.Week)
	}
	r = s.Next("jansen", r.DueAt)
	if want := time.Date(2026, 4, 5, 2, 30, 0, 0, ams); !r.DueAt.Equal(want) {
		t.Errorf("a week after the skipped hour: %v, want %v", r.DueAt.In(ams), want)
	}
}

// scriptedWeek is a week of three leads with known results (the scenario of the
// dialer's TestReport, written out):
//
//	lead 1 (website, Monday):   piet answers in 3 s and accepts; the customer answers; bridged after 7.4 s; appointment
//	lead 2 (facebook, Tuesday): piet busy; kees answers in 2 s and passes; anna lets it ring; the owner answers in 6 s and accepts; bridged after 30.2 s
//	lead 3 (website, Friday):   piet's voicemail answers in 5 s; kees and anna let it ring; the owner too: exhausted
func scriptedWeek() (dialer.Dealer, []dialer.Lead, time.Time) {
	d := dialer.Dealer{ID: "jansen", Name: "Autohuis Jansen", Location: ams,
		Flow: []dialer.Step{{People: []string{"piet"}}, {People: []string{"kees", "anna"}}, {People: []string{"owner"}}}}
	from := time.Date(2026, 10, 19, 0, 0, 0, 0, ams)
	at := func(day int, s float64) time.Time {
		return from.AddDate(0, 0, day).Add(10*time.Hour + time.Duration(s*float64(time.Second)))
	}
	agent := func(day int, person string, start, answered float64, r dialer.Result) dialer.Attempt {
		a := dialer.Attempt{Leg: dialer.LegAgent, Person: person, Result: r, StartedAt: at(day, start), EndedAt: at(day, start+20)}
		if answered > 0 {
			a.AnsweredAt = at(day, start+answered)
		}
		return a
	}
	leads := []dialer.Lead{
		{ID: "l1", Dealer: "jansen", Source: "website", Status: dialer.StatusCompleted, CreatedAt: at(0, 0), ConnectedAt: at(0, 7.4),
			Outcome: dialer.CallOutcome{ID: "appointment", Person: "piet", At: at(0, 200)},
			Attempts: []dialer.Attempt{agent(0, "piet", 0.1, 3, dialer.ResultAccepted),
				{Leg: dialer.LegCustomer, Person: "piet", Result: dialer.ResultAnswered, StartedAt: at(0, 5), AnsweredAt: at(0, 7.4)}}},
		{ID: "l2", Dealer: "jansen", Source: "facebook", Status: dialer.StatusCompleted, CreatedAt: at(1, 0), ConnectedAt: at(1, 30.2),
			Attempts: []dialer.Attempt{agent(1, "piet", 0.1, 0, dialer.ResultBusy), agent(1, "kees", 1, 2, dialer.ResultDeclined),
				agent(1, "anna", 1, 0, dialer.ResultNoAnswer), agent(1, "owner", 20, 6, dialer.ResultAccepted),
				{Leg: dialer.LegCustomer, Person: "owner", Result: dialer.ResultAnswered, StartedAt: at(1, 28), AnsweredAt: at(1, 30.2)}}},
		{ID: "l3", Dealer: "jansen", Source: "website", Status: dialer.StatusExhausted, CreatedAt: at(4, 0),
			Attempts: []dialer.Attempt{agent(4, "piet", 0.1, 5, dialer.ResultNoAccept), agent(4, "kees", 20, 0, dialer.ResultNoAnswer),
				agent(4, "anna", 20, 0, dialer.ResultNoAnswer), agent(4, "owner", 40, 0, dialer.ResultNoAnswer)}},
	}
	return d, leads, from
}

// parts reads a multipart/alternative mail's text and HTML parts.
func parts(t *testing.T, raw []byte) (text, htmlPart string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	typ, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("content type %q: %v", typ, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []string{"text/plain", "text/html"} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != want {
			t.Fatalf("part %s, want %s", ct, want)
		}
		b, _ := io.ReadAll(p)
		if want == "text/plain" {
			text = string(b)
		} else {
			htmlPart = string(b)
		}
	}
	return text, htmlPart
}

// htmlRows is each table row of an HTML page as its cells' text, joined by " | ";
// and the page's other text, space-separated.
func htmlRows(t *testing.T, page string) (rows []string, text string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(page))
	var cells []string
	var words []string
	inCell := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return rows, strings.Join(strings.Fields(strings.Join(words, " ")), " ")
		case html.StartTagToken:
			switch n, _ := z.TagName(); string(n) {
			case "tr":
				cells = nil
			case "td", "th":
				inCell = true
				cells = append(cells, "")
			}
		case html.EndTagToken:
			switch n, _ := z.TagName(); string(n) {
			case "tr":
				rows = append(rows, strings.Join(cells, " | "))
			case "td", "th":
				inCell = false
			}
		case html.TextToken:
			s := strings.TrimSpace(string(z.Text()))
			if inCell {
				cells[len(cells)-1] += s
			} else if s != "" {
				words = append(words, s)
			}
		}
	}
}

// The report of a scripted week, mailed: the sentence and every figure of both tables
// (the salespeople: offered, answered, accepted, passed, missed, median answer, to the
// owner, outcomes; the sources: leads, connected and share, median speed to lead) are in
// the text part and in the HTML part, as the script makes them.
func TestComposeScriptedWeek(t *testing.T) {
	d, leads, from := scriptedWeek()
	r := dialer.BuildReport(&d, leads, from, from.AddDate(0, 0, 7))
	m, err := reportmail.Compose(reportmail.Mail{
		Report: r, Dealer: reportmail.Dealer{ID: "jansen", Name: "Autohuis Jansen", Location: ams,
			People: map[string]string{"piet": "Piet de Vries", "kees": "Kees Bakker", "anna": "Anna Smit", "owner": "Jan Jansen"}},
		From: mail.Address{Name: "Leadline", Address: "leadline@leads.example.com"}, To: []string{"owner@jansen.example"},
		MessageID: "report.jansen.2026-W44@leads.example.com", Date: time.Date(2026, 10, 26, 8, 0, 0, 0, ams),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Leadline weekly report, Autohuis Jansen: 3 leads, Mon 19 Oct to Sun 25 Oct 2026" {
		t.Errorf("subject %q", m.Subject)
	}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	text, page := parts(t, raw)

	const sentence = "3 leads came in; 2 reached a customer (66 %) and 2 went on to the owner."
	// person, offered, answered, accepted, passed, missed, median answer, to owner, outcomes
	people := [][]string{
		{"Piet de Vries", "3", "2", "1", "0", "1", "4.0 s", "2", "appointment 1"},
		{"Kees Bakker", "2", "1", "0", "1", "1", "2.0 s", "2", "-"},
		{"Anna Smit", "2", "0", "0", "0", "2", "-", "2", "-"},
		{"Jan Jansen", "2", "1", "1", "0", "1", "6.0 s", "0", "-"},
	}
	// source, leads, connected (share), median speed to lead
	sources := [][]string{
		{"website", "2", "1 (50 %)", "7.4 s"},
		{"facebook", "1", "1 (100 %)", "30.2 s"},
	}

	if !strings.Contains(text, sentence) || !strings.Contains(text, "Autohuis Jansen, Mon 19 Oct to Sun 25 Oct 2026") {
		t.Errorf("text part lacks the sentence or the period:\n%s", text)
	}
	for _, row := range append(people, sources...) {
		re := regexp.QuoteMeta(row[0])
		for _, cell := range row[1:] {
			re += `\s{2,}` + regexp.QuoteMeta(cell)
		}
		if !regexp.MustCompile(`(?m)^` + re + `\s*$`).MatchString(text) {
			t.Errorf("text part lacks the row %q:\n%s", row, text)
		}
	}

	rows, words := htmlRows(t, page)
	if !strings.Contains(words, sentence) {
		t.Errorf("HTML part lacks the sentence: %s", words)
	}
	for _, row := range append(people, sources...) {
		want := strings.Join(row, " | ")
		found := false
		for _, r := range rows {
			found = found || r == want
		}
		if !found {
			t.Errorf("HTML part lacks the row %q; rows:\n%s", want, strings.Join(rows, "\n"))
		}
	}
	if !strings.Contains(page, `name="viewport"`) {
		t.Error("the HTML has no viewport: it would not fit a phone")
	}

	// Again, the same bytes.
	m2, _ := reportmail.Compose(reportmail.Mail{Report: r, Dealer: reportmail.Dealer{ID: "jansen", Name: "Autohuis Jansen", Location: ams,
		People: map[string]string{"piet": "Piet de Vries", "kees": "Kees Bakker", "anna": "Anna Smit", "owner": "Jan Jansen"}},
		From: mail.Address{Name: "Leadline", Address: "leadline@leads.example.com"}, To: []string{"owner@jansen.example"},
		MessageID: "report.jansen.2026-W44@leads.example.com", Date: time.Date(2026, 10, 26, 8, 0, 0, 0, ams)})
	raw2, _ := m2.Bytes()
	if !bytes.Equal(raw, raw2) {
		t.Error("two mails of one report differ")
	}
}

// Names and sources are the dealer's and its leads' own text: the HTML escapes them.
func TestComposeEscapes(t *testing.T) {
	d, leads, from := scriptedWeek()
	leads[0].Source = `<img src=x onerror=alert(1)>`
	r := dialer.BuildReport(&d, leads, from, from.AddDate(0, 0, 7))
	m, err := reportmail.Compose(reportmail.Mail{Report: r,
		Dealer: reportmail.Dealer{ID: "jansen", Name: `Jansen <script>alert("x")</script> & Zn.`, People: map[string]string{"piet": "<b>Piet</b>"}},
		From:   mail.Address{Address: "leadline@leads.example.com"}, To: []string{"owner@jansen.example"},
		MessageID: "r@leads.example.com", Date: from})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<b>Piet", "<img"} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("the HTML holds %s unescaped", bad)
		}
	}
	rows, words := htmlRows(t, m.HTML)
	if !strings.Contains(words, `Jansen <script>alert("x")</script> & Zn.`) || !strings.Contains(strings.Join(rows, "\n"), "<b>Piet</b> | 3") {
		t.Errorf("escaped text does not read back: %s\n%s", words, rows)
	}
}

// A week without leads says so.
func TestComposeEmptyWeek(t *testing.T) {
	d, _, from := scriptedWeek()
	m, err := reportmail.Compose(reportmail.Mail{Report: dialer.BuildReport(&d, nil, from, from.AddDate(0, 0, 7)),
		Dealer: reportmail.Dealer{ID: "jansen", Location: ams}, From: mail.Address{Address: "leadline@leads.example.com"},
		To: []string{"owner@jansen.example"}, MessageID: "r@leads.example.com", Date: from})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "No leads came in.") || !strings.Contains(m.HTML, "No leads came in.") || m.Subject != "Leadline weekly report, jansen: 0 leads, Mon 19 Oct to Sun 25 Oct 2026" {
		t.Errorf("%s\n%s", m.Subject, m.Text)
	}
}

// TestImports: of the project, reportmail imports dialer and mailout only (doc.go).
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, "github.com/leadline/leadline/"); ok && rest != "dialer" && rest != "mailout" {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
