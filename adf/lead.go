package adf

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
)

// The dialer's field limits in characters (fieldLimits in dialer/service.go; a test
// holds them together).
const (
	maxPhone      = 32
	maxName       = 200
	maxEmail      = 254
	maxSource     = 100
	maxInterest   = 200
	maxMessage    = 2000
	maxExternalID = 255
)

// Lead turns a prospect into a lead input for the dialer, which validates it and
// normalises the phone number:
//   - Name: the name, at most 200 characters.
//   - Phone: the best number, as written: a number that can take a call (any type but
//     fax and pager) before one that cannot, then a preferred one (preferredcontact="1")
//     before the others, then the first; numbers without a digit ("N/A") are skipped.
//     Empty when there is none: the caller decides. Cut to 32 characters, never inside
//     a run of digits.
//   - Email: the e-mail address when the dialer would accept it, else empty.
//   - Interest: the vehicles as "2024 Volvo XC60 T6 (stock 123, VIN …)", joined with
//     "; ", the ones the customer wants first and then, labelled "trade-in: " or
//     "sell: ", the customer's own; at most 200 characters.
//   - Message: the comments, line breaks kept, at most 2000 characters.
//   - Source: the provider's name, else the vendor's; at most 100 characters.
//   - ExternalID: "source:id" (the <id> and its source attribute), or the id alone when
//     it has no source, or empty when there is no id; when that would be longer than
//     255 characters, "sha256:" and the hex SHA-256 of it, so that two different ids
//     never become one by truncation (the dialer takes a repeated external id for a
//     repeated lead).
//
// Every field is valid UTF-8, without control characters (Message keeps "\n") or
// bidirectional overrides, trimmed, and within the dialer's limits; nothing is made up.
func (p Prospect) Lead() dialer.LeadInput {
	source := cleanLine(p.Provider)
	if source == "" {
		source = cleanLine(p.Vendor)
	}
	return dialer.LeadInput{
		Name:       truncate(cleanLine(p.Name), maxName),
		Phone:      bestPhone(p.Phones),
		Email:      validEmail(cleanLine(p.Email)),
		Interest:   truncate(interest(p.Vehicles), maxInterest),
		Message:    truncate(cleanText(p.Comments), maxMessage),
		Source:     truncate(source, maxSource),
		ExternalID: externalID(p.IDSource, p.ID),
	}
}

// bestPhone returns the number of phones to call, or "".
func bestPhone(phones []Phone) string {
	best, bestRank := "", 4
	for _, ph := range phones {
		n := cleanLine(ph.Number)
		if !strings.ContainsFunc(n, isDigit) {
			continue
		}
		rank := 0
		if t := strings.ToLower(ph.Type); strings.Contains(t, "fax") || strings.Contains(t, "pager") {
			rank += 2
		}
		if !ph.Preferred {
			rank++
		}
		if rank < bestRank {
			best, bestRank = n, rank
		}
	}
	return truncatePhone(best)
}

// truncatePhone cuts a number to the dialer's limit without ending inside a run of
// digits, which would leave a different, shorter number.
func truncatePhone(s string) string {
	if utf8.RuneCountInString(s) <= maxPhone {
		return s
	}
	r := []rune(s)
	cut := maxPhone
	if isDigit(r[cut-1]) && isDigit(r[cut]) {
		for cut > 0 && isDigit(r[cut-1]) {
			cut--
		}
	}
	return strings.TrimRight(string(r[:cut]), " -./(,;:+")
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

// interest describes the vehicles of a prospect.
func interest(vs []Vehicle) string {
	var want, own []string
	for _, v := range vs {
		s := describe(v)
		if s == "" {
			continue
		}
		switch i := strings.ToLower(cleanLine(v.Interest)); i {
		case "trade-in", "sell":
			own = append(own, i+": "+s)
		default:
			want = append(want, s)
		}
	}
	return strings.Join(append(want, own...), "; ")
}

// describe writes a vehicle as "2024 Volvo XC60 T6 (stock 123, VIN …)", leaving out
// what it lacks, and a make or trim the model already names.
func describe(v Vehicle) string {
	year, mk, model, trim := cleanLine(v.Year), cleanLine(v.Make), cleanLine(v.Model), cleanLine(v.Trim)
	if mk != "" && hasWordPrefix(model, mk) {
		mk = ""
	}
	if trim != "" && hasWordSuffix(model, trim) {
		trim = ""
	}
	var words, extra []string
	for _, w := range []string{year, mk, model, trim} {
		if w != "" {
			words = append(words, w)
		}
	}
	if s := cleanLine(v.Stock); s != "" {
		extra = append(extra, "stock "+s)
	}
	if s := cleanLine(v.VIN); s != "" {
		extra = append(extra, "VIN "+s)
	}
	s := strings.Join(words, " ")
	switch {
	case len(extra) == 0:
		return s
	case s == "":
		return strings.Join(extra, ", ")
	}
	return s + " (" + strings.Join(extra, ", ") + ")"
}

// hasWordPrefix reports whether s starts with the word or words w, ignoring case.
func hasWordPrefix(s, w string) bool {
	return len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) && (len(s) == len(w) || s[len(w)] == ' ')
}

// hasWordSuffix reports whether s ends with the word or words w, ignoring case.
func hasWordSuffix(s, w string) bool {
	i := len(s) - len(w)
	return i >= 0 && strings.EqualFold(s[i:], w) && (i == 0 || s[i-1] == ' ')
}

// externalID makes the lead's external id from the prospect's id and its source.
func externalID(source, id string) string {
	id = cleanLine(id)
	if id == "" {
		return ""
	}
	s := id
	if src := cleanLine(source); src != "" {
		s = src + ":" + id
	}
	if utf8.RuneCountInString(s) <= maxExternalID {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// truncate cuts s to at most n characters, on a character boundary, and trims it.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return strings.TrimSpace(s[:i])
		}
		count++
	}
	return s
}

// cleanLine returns s as one line: valid UTF-8 (bad bytes become U+FFFD), every run of
// white space (line breaks included) one space, no control characters or
// bidirectional controls, trimmed.
func cleanLine(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s { // yields U+FFFD for each invalid byte
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
		case invisible(r):
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isClean reports whether cleanLine would return s unchanged, for the common case of
// printable ASCII.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F {
			if c != ' ' || i == 0 || i == len(s)-1 || s[i-1] == ' ' {
				return false
			}
		}
	}
	return true
}

// cleanText is cleanLine for every line of s, with line breaks kept (CR LF, CR, NEL
// and the Unicode line and paragraph separators become "\n"), runs of empty lines cut
// to one, and leading and trailing empty lines removed.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	blank := false
	add := func(line string) {
		line = cleanLine(line)
		switch {
		case line == "":
			blank = len(out) > 0
		case blank:
			out = append(out, "", line)
			blank = false
		default:
			out = append(out, line)
		}
	}
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isLineBreak(r) {
			add(s[start:i])
			start = i + n
		}
		i += n
	}
	add(s[start:])
	return strings.Join(out, "\n")
}

func isLineBreak(r rune) bool {
	return r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029'
}

// invisible reports whether r is a control character (C0, DEL, C1), a bidirectional
// embedding, override or isolate, or a byte order mark: characters that have no place
// in a lead and can make what a salesperson reads differ from what is stored.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cc, r) || r == '\uFEFF' ||
		'\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}
