package leadmail

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
)

func TestCleanPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"06-12345678", "06-12345678"},
		{"  +31 6 1234 5678  ", "+31 6 1234 5678"},
		{"Tel: 06-12345678 (mobiel)", "06-12345678"},
		{"Telefoon (mobiel): 06 12345678", "06 12345678"},
		{"tel:+31612345678", "+31612345678"},
		{"+32 (0)470 12 34 56", "+32 (0)470 12 34 56"},
		{"(020) 123 45 67", "(020) 123 45 67"},
		{"0470/12.34.56", "0470/12.34.56"},
		{"020 1234567 ext. 12", "020 1234567"},
		{"06-12345678, 020-1234567", "06-12345678"},
		{"06 12345678 / 020 1234567", "06 12345678"},
		{"06\u00a012345678", "06 12345678"},        // no-break space
		{"\u200e06-12345678\u200f", "06-12345678"}, // direction marks
		{"06-1234\x005678", "06-1234 5678"},
		{"geen", ""},
		{"12", ""},
		{"+", ""},
		{"", ""},
		{strings.Repeat("1 ", 20), strings.Repeat("1", 20)}, // too long with spaces: they go
		{strings.Repeat("1", 33), ""},                       // too long without: dropped
		{"+31 6 12 34 56 78 (alleen na 18:00 uur)", "+31 6 12 34 56 78"},
	}
	for _, tt := range tests {
		if got := cleanPhone(tt.in); got != tt.want {
			t.Errorf("cleanPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCleanLine(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"  Eva   Jansen ", 200, "Eva Jansen"},
		{"Eva\r\nJansen", 200, "Eva Jansen"},
		{"Eva\x00\x07\x1b\x7f\u0085\u009fJansen", 200, "Eva Jansen"},
		{"Eva\u2028Jansen", 200, "Eva Jansen"},
		{"\ufeffEva \u202eJansen\u202c", 200, "Eva Jansen"},
		{"bad \xff\xfe utf8", 200, "bad \ufffd utf8"},
		{"abcdef", 3, "abc"},
		{"ab cdef", 3, "ab"},
		{"é é é", 3, "é é"},
	}
	for _, tt := range tests {
		if got := cleanLine(tt.in, tt.max); got != tt.want {
			t.Errorf("cleanLine(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	in := "\r\n  Hallo,\r\n\r\n\r\n\r\nIs de auto\tnog\x00 beschikbaar?  \rGroet\u2029Eva\n\n"
	if got, want := cleanText(in, 2000), "Hallo,\n\nIs de auto nog beschikbaar?\nGroet\nEva"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	long := strings.Repeat("woord ", 1000)
	got := cleanText(long, limitMessage)
	if n := utf8.RuneCountInString(got); n > limitMessage || !strings.HasSuffix(got, "…") {
		t.Errorf("long text: %d runes, ends %q", n, got[len(got)-10:])
	}
}

func TestCleanEmail(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"eva@example.nl", "eva@example.nl", true},
		{" Eva Jansen <eva@example.nl> ", "eva@example.nl", true},
		{"eva@example.nl\x00", "eva@example.nl", true},
		{"eva at example.nl", "eva at example.nl", false},
		{"", "", false},
		{"a@" + strings.Repeat("b", 260) + ".nl", "a@" + strings.Repeat("b", 260) + ".nl", false},
	}
	for _, tt := range tests {
		got, ok := cleanEmail(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cleanEmail(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	l := cleanLead(dialer.LeadInput{Phone: "0612345678", Email: "eva at example.nl", Message: "Hallo"})
	if l.Email != "" || l.Message != "Hallo\nE-mail as given: eva at example.nl" {
		t.Errorf("a bad e-mail goes to the message: %+v", l)
	}
}

// TestLimitsMatchDialer checks the limits here against the dialer's own: a value at the
// limit is not refused for its length, one character more is.
func TestLimitsMatchDialer(t *testing.T) {
	d := &dialer.Dealer{ID: "test"}
	fields := []struct {
		name  string
		limit int
		set   func(*dialer.LeadInput, string)
	}{
		{"phone", limitPhone, func(l *dialer.LeadInput, v string) { l.Phone = v }},
		{"name", limitName, func(l *dialer.LeadInput, v string) { l.Name = v }},
		{"email", limitEmail, func(l *dialer.LeadInput, v string) { l.Email = v }},
		{"source", limitSource, func(l *dialer.LeadInput, v string) { l.Source = v }},
		{"interest", limitInterest, func(l *dialer.LeadInput, v string) { l.Interest = v }},
		{"message", limitMessage, func(l *dialer.LeadInput, v string) { l.Message = v }},
		{"assigned_to", limitAssignedTo, func(l *dialer.LeadInput, v string) { l.AssignedTo = v }},
		{"external_id", limitExternalID, func(l *dialer.LeadInput, v string) { l.ExternalID = v }},
	}
	tooLong := func(in dialer.LeadInput, field string) bool {
		_, err := d.Validate(in)
		return err != nil && strings.Contains(err.Error(), field+": is longer than")
	}
	for _, f := range fields {
		var at, over dialer.LeadInput
		f.set(&at, strings.Repeat("1", f.limit))
		f.set(&over, strings.Repeat("1", f.limit+1))
		if tooLong(at, f.name) || !tooLong(over, f.name) {
			t.Errorf("%s: the limit here is %d; the dialer's differs", f.name, f.limit)
		}
	}
}
