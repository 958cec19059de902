package leadmail

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
)

// Field limits in characters (runes). They mirror the dialer's (dialer/service.go),
// which are not exported; TestLimitsMatchDialer keeps the two in step.
const (
	limitPhone      = 32
	limitName       = 200
	limitEmail      = 254
	limitSource     = 100
	limitInterest   = 200
	limitMessage    = 2000
	limitAssignedTo = 64
	limitExternalID = 255

	limitSubject   = 998 // RFC 5322 line length: a subject longer than that is not one
	limitMessageID = 255
)

// cleanLead makes a lead safe to hand to the dialer: every field is valid UTF-8 without
// control characters (the message keeps its line breaks as "\n"), trimmed and within the
// dialer's limits. An e-mail that is not a bare address moves into the message, so that
// it cannot make the dialer refuse the whole lead; the phone loses its obvious junk.
func cleanLead(l dialer.LeadInput) dialer.LeadInput {
	out := dialer.LeadInput{
		Phone:      cleanPhone(l.Phone),
		Name:       cleanLine(l.Name, limitName),
		Source:     cleanLine(l.Source, limitSource),
		Interest:   cleanLine(l.Interest, limitInterest),
		AssignedTo: cleanLine(l.AssignedTo, limitAssignedTo),
		ExternalID: cleanLine(l.ExternalID, limitExternalID),
	}
	msg := cleanText(l.Message, limitMessage)
	if e, ok := cleanEmail(l.Email); ok {
		out.Email = e
	} else if e != "" {
		msg = cleanText(joinNonEmpty("\n", msg, "E-mail as given: "+e), limitMessage)
	}
	out.Message = msg
	return out
}

// cleanLine returns s as one line: invalid UTF-8 replaced, control and line-breaking
// characters turned into spaces, invisible direction overrides and byte order marks
// dropped, runs of white space collapsed, trimmed and cut to max runes.
func cleanLine(s string, max int) string {
	var b strings.Builder
	b.Grow(min(len(s), 4*max))
	space := false
	n := 0
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case dropped(r):
			continue
		case unicode.IsControl(r), unicode.IsSpace(r), r == '\u2028', r == '\u2029':
			space = b.Len() > 0
			continue
		}
		if space {
			if n+1 >= max {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// cleanText is cleanLine for a message: line breaks (CRLF, CR, LF, U+2028/9) become
// "\n", at most one blank line in a row, each line cleaned. Text cut at max runes ends
// with "…".
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n").Replace(s)
	var lines []string
	blank := false
	total := 0
	for line := range strings.SplitSeq(s, "\n") {
		line = cleanLine(line, max+1) // one more than fits, to know it was cut
		if line == "" {
			blank = len(lines) > 0
			continue
		}
		if blank {
			lines = append(lines, "")
			total++
			blank = false
		}
		lines = append(lines, line)
		total += utf8.RuneCountInString(line) + 1
		if total > max {
			break
		}
	}
	out := strings.Join(lines, "\n")
	if utf8.RuneCountInString(out) > max {
		out = strings.TrimSpace(string([]rune(out)[:max-1])) + "…"
	}
	return out
}

// dropped are characters removed outright: byte order marks and the invisible
// bidirectional embeddings, overrides and isolates, which can make a name display as
// something else than it is.
func dropped(r rune) bool {
	return r == '\uFEFF' || ('\u202A' <= r && r <= '\u202E') || ('\u2066' <= r && r <= '\u2069') ||
		r == '\u200E' || r == '\u200F'
}

// cleanEmail returns the bare address in s and true when it is one the dialer accepts
// (net/mail parses it and it is all there is); a "Name <addr>" form gives its address.
// Otherwise it returns s cleaned, and false.
func cleanEmail(s string) (string, bool) {
	s = cleanLine(s, 4*limitEmail)
	if s == "" {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || utf8.RuneCountInString(a.Address) > limitEmail || cleanLine(a.Address, limitEmail) != a.Address {
		return cleanLine(s, limitMessage/2), false
	}
	if b, err := mail.ParseAddress(a.Address); err != nil || b.Address != a.Address {
		return cleanLine(s, limitMessage/2), false
	}
	return a.Address, true
}

// cleanPhone trims what surrounds a phone number without normalising it (the dialer
// does that): it starts at the first digit, "+" or "(" before a digit, keeps digits, spaces and the
// separators + ( ) - . /, and stops at anything else, such as a letter ("06-12345678
// (mobiel)", "020 1234567 ext. 12"), a comma or a semicolon, or " / " after a whole
// number. Fewer than three digits is no number. A number still too long for the dialer
// loses its spaces and separators; if that is not enough it is dropped.
func cleanPhone(s string) string {
	s = cleanLine(s, 1024)
	start := -1
	for i, r := range s {
		if r == '+' || isDigit(r) || (r == '(' && len(s) > i+1 && (s[i+1] == '+' || isDigit(rune(s[i+1])))) {
			start = i
			break
		}
	}
	if start < 0 {
		return ""
	}
	s = s[start:]
	var b strings.Builder
	digits := 0
	for i, r := range s {
		if r == '/' && strings.HasPrefix(s[i:], "/ ") && strings.HasSuffix(b.String(), " ") && digits >= 8 {
			break
		}
		if !isDigit(r) && !strings.ContainsRune(" +()-./", r) {
			break
		}
		if isDigit(r) {
			digits++
		}
		b.WriteRune(r)
	}
	if digits < 3 {
		return ""
	}
	p := strings.TrimRight(b.String(), " +(-./")
	if utf8.RuneCountInString(p) > limitPhone {
		p = strings.Map(func(r rune) rune {
			if strings.ContainsRune(" -./", r) {
				return -1
			}
			return r
		}, p)
	}
	if utf8.RuneCountInString(p) > limitPhone {
		return ""
	}
	return p
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}
