package sip

import (
	"strings"
	"unicode"
)

// quotedDisplayName makes s safe inside a SIP quoted-string (RFC 3261 section 25.1):
// control characters (CR and LF among them) become spaces, '"' and '\' are escaped, and
// the result is at most 64 runes. Nothing a lead types can end a header or start another.
func quotedDisplayName(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 64 {
			break
		}
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r) || r == unicode.ReplacementChar || !unicode.IsPrint(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
		n++
	}
	return strings.TrimSpace(b.String())
}

// userPart keeps only the characters of a telephone-subscriber that need no escaping
// (RFC 3261 section 25.1 user-unreserved plus digits and '+'), so a caller id can never
// smuggle URI or header syntax.
func userPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '+' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || strings.ContainsRune("-_.!~*'()", r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
