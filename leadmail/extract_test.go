package leadmail

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
)

var update = flag.Bool("update", false, "rewrite the .json files of testdata from what Extract returns")

// testRules are the rules every fixture runs with; the fixtures' .readme name the one
// they are about.
var testRules = []Rule{
	{ // 0: AutoPortal's "Naam: … Telefoon: …" mails (12, 13, 17, 24)
		Sender: "leads@autoportal.example",
		Fields: []*regexp.Regexp{
			regexp.MustCompile(`(?m)^Naam:[ \t]*(?P<name>.+)$`),
			regexp.MustCompile(`(?m)^Telefoon:[ \t]*(?P<phone>.+)$`),
			regexp.MustCompile(`(?m)^E-mail:[ \t]*(?P<email>\S+)`),
			regexp.MustCompile(`(?m)^Auto:[ \t]*(?P<interest>.+)$`),
			regexp.MustCompile(`(?s)Bericht:\s*(?P<message>.+?)(?:\n-- |\z)`),
		},
		Source: "AutoPortal",
	},
	{ // 1: the dealer's own website form, an HTML table (06)
		Sender:  "*@autohuisjansen.nl",
		Subject: regexp.MustCompile(`(?i)^Contactformulier`),
		Fields: []*regexp.Regexp{
			// The converted table is one line, its bold labels between asterisks:
			// "*Naam:* Mark Bakker *Telefoonnummer:* 06 - …".
			regexp.MustCompile(`Naam:[*\s]*(?P<name>.+?)[*\s]+Telefoonnummer:`),
			regexp.MustCompile(`Telefoonnummer:[*\s]*(?P<phone>.+?)[*\s]+E-mailadres:`),
			regexp.MustCompile(`E-mailadres:[*\s]*(?P<email>[^\s*]+@[^\s*(]+)`),
			regexp.MustCompile(`Interesse:[*\s]*(?P<interest>.+?)[*\s]+Opmerking:`),
			regexp.MustCompile(`Opmerking:[*\s]*(?P<message>[^\n]+)`),
		},
	},
	{ // 2: never matches a fixture's sender; shows a rule list is walked in order
		Sender: "*@*.crm.example",
		Fields: []*regexp.Regexp{regexp.MustCompile(`(?P<phone>\+\d{6,})`)},
	},
}

func TestRulesValid(t *testing.T) {
	for i, r := range testRules {
		if err := CheckRule(r); err != nil {
			t.Errorf("testRules[%d]: %v", i, err)
		}
	}
}

// TestExtract runs every testdata/NN-name.eml: its .json is the Result Extract must
// give, or its .error lines are substrings the NoLeadError's reason must hold.
func TestExtract(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(f, ".eml")
			if _, err := os.Stat(base + ".readme"); err != nil {
				t.Errorf("no .readme: every case says why it exists")
			}
			res, err := Extract(raw, testRules)
			checkInvariants(t, res, err)
			if want, rerr := os.ReadFile(base + ".error"); rerr == nil {
				var nl *NoLeadError
				if !errors.As(err, &nl) {
					t.Fatalf("got %+v, %v; want a NoLeadError", res, err)
				}
				for _, sub := range strings.Split(strings.TrimSpace(string(want)), "\n") {
					if !strings.Contains(nl.Reason, sub) {
						t.Errorf("reason %q\ndoes not hold %q", nl.Reason, sub)
					}
				}
				t.Logf("reason: %s", nl.Reason)
				return
			}
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if *update {
				if err := os.WriteFile(base+".json", got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(base + ".json")
			if err != nil {
				t.Fatalf("no .json or .error: %v (run with -update to write it, then read it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// checkInvariants holds for every input: a Result with leads that are safe to hand to
// the dialer, or a NoLeadError with a reason and a clean Message.
func checkInvariants(t *testing.T, res Result, err error) {
	t.Helper()
	if err != nil {
		var nl *NoLeadError
		if !errors.As(err, &nl) {
			t.Fatalf("error %v (%T) is not a *NoLeadError", err, err)
		}
		if nl.Reason == "" || !cleanString(nl.Reason, false) || utf8.RuneCountInString(nl.Reason) > maxReason {
			t.Errorf("bad reason %q", nl.Reason)
		}
		if res.Kind != "" || res.Leads != nil {
			t.Errorf("error with a non-zero result %+v", res)
		}
		checkMessage(t, nl.Message)
		return
	}
	checkMessage(t, res.Message)
	switch res.Kind {
	case KindADF, KindAutoScout24, KindRule:
	default:
		t.Errorf("kind %q", res.Kind)
	}
	if len(res.Leads) == 0 || len(res.Leads) > maxLeads {
		t.Errorf("%d leads", len(res.Leads))
	}
	seen := map[dialer.LeadInput]bool{}
	d := &dialer.Dealer{ID: "test"}
	for i, l := range res.Leads {
		if seen[l] {
			t.Errorf("lead %d repeats: %+v", i, l)
		}
		seen[l] = true
		if l.Source == "" || l.Phone == "" {
			t.Errorf("lead %d lacks source or phone: %+v", i, l)
		}
		if l.IdempotencyKey != "" {
			t.Errorf("lead %d has an idempotency key", i)
		}
		for _, f := range []struct {
			name, v string
			limit   int
		}{
			{"phone", l.Phone, limitPhone}, {"name", l.Name, limitName}, {"email", l.Email, limitEmail},
			{"source", l.Source, limitSource}, {"interest", l.Interest, limitInterest},
			{"message", l.Message, limitMessage}, {"assigned_to", l.AssignedTo, limitAssignedTo},
			{"external_id", l.ExternalID, limitExternalID},
		} {
			if !cleanString(f.v, f.name == "message") || utf8.RuneCountInString(f.v) > f.limit || f.v != strings.TrimSpace(f.v) {
				t.Errorf("lead %d %s %q: not clean, not trimmed or longer than %d", i, f.name, f.v, f.limit)
			}
		}
		if strings.Count(l.Phone, "") < 4 || strings.IndexFunc(l.Phone, unicode.IsLetter) >= 0 {
			t.Errorf("lead %d phone %q", i, l.Phone)
		}
		// The dialer itself takes every field but the phone, which it normalises with
		// the dealer's country; a lead mail must never be refused for the rest.
		l.AssignedTo = ""
		if _, err := d.Validate(l); err != nil {
			var ve *dialer.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("lead %d: %v", i, err)
			}
			for _, fe := range ve.Fields {
				if fe.Field != "phone" {
					t.Errorf("lead %d: the dialer refuses %s: %s", i, fe.Field, fe.Detail)
				}
			}
		}
	}
}

func checkMessage(t *testing.T, m Message) {
	t.Helper()
	for _, v := range []string{m.MessageID, m.From, m.Subject} {
		if !cleanString(v, false) || v != strings.TrimSpace(v) {
			t.Errorf("message field %q is not clean", v)
		}
	}
	if m.From != strings.ToLower(m.From) || (m.From != "" && !strings.Contains(m.From, "@")) {
		t.Errorf("from %q", m.From)
	}
	if strings.ContainsAny(m.MessageID, "<> ") {
		t.Errorf("message id %q", m.MessageID)
	}
}

// cleanString: valid UTF-8, no C0/C1 control characters or DEL, "\n" only when
// newlines is true.
func cleanString(s string, newlines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\n' && newlines {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func TestNoLeadErrorIsTyped(t *testing.T) {
	_, err := Extract([]byte("From: a@b.nl\r\nSubject: x\r\n\r\nhello\r\n"), nil)
	var nl *NoLeadError
	if !errors.As(err, &nl) || nl.Message.From != "a@b.nl" || nl.Message.Subject != "x" {
		t.Fatalf("got %#v", err)
	}
	if !strings.HasPrefix(err.Error(), "no lead in mail: ") {
		t.Errorf("Error() = %q", err.Error())
	}
	for _, raw := range [][]byte{nil, {}} {
		if _, err := Extract(raw, nil); !errors.As(err, &nl) || nl.Reason != "the message is empty" {
			t.Errorf("empty: %v", err)
		}
	}
}
