package media

import (
	"bytes"
	"strings"
)

// ParseInfoDigit extracts the key from the body of a SIP INFO request
// carrying DTMF, given the request's Content-Type.
//
//   - application/dtmf-relay (Cisco, de facto standard): lines of
//     "Key=Value"; the Signal line holds the key, as a character ('0'-'9',
//     '*', '#', 'A'-'D') or as its RFC 4733 event code ("10" for '*', "11"
//     for '#'). Keys are matched without regard to case, spaces around '='
//     and values are trimmed, and CRLF or LF line ends are accepted.
//     Duration and other lines are ignored.
//   - application/dtmf: the body is the key or its event code.
//
// Content-Type parameters are ignored. Any other content type, a missing
// Signal line or a value that is not a DTMF key reports false.
func ParseInfoDigit(contentType string, body []byte) (rune, bool) {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "application/dtmf-relay"):
		for len(body) > 0 {
			var line []byte
			line, body, _ = bytes.Cut(body, []byte("\n"))
			k, v, ok := bytes.Cut(line, []byte("="))
			if ok && strings.EqualFold(string(bytes.TrimSpace(k)), "signal") {
				return infoValue(v)
			}
		}
		return 0, false
	case strings.EqualFold(mt, "application/dtmf"):
		return infoValue(body)
	}
	return 0, false
}

// infoValue parses a key given as a character or an event code 0-15.
func infoValue(v []byte) (rune, bool) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 1:
		if c, ok := EventCode(rune(v[0])); ok {
			return EventDigit(c)
		}
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		return EventDigit(10 + v[1] - '0')
	case len(v) == 2 && v[0] == '0' && v[1] >= '0' && v[1] <= '9':
		return EventDigit(v[1] - '0')
	}
	return 0, false
}
