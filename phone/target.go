package phone

import (
	"net/netip"
	"strconv"
	"strings"
)

// Kind tells a Target's two forms apart.
type Kind uint8

// Target kinds. The zero Kind is an unset Target.
const (
	KindNumber Kind = iota + 1 // an E.164 number, dialled through the trunk
	KindSIP                    // a sip: or sips: URI, dialled directly
	// KindRegistered is a person's own softphones, which register to Leadline (the
	// keyword Registered): they are rung wherever their registrations say.
	KindRegistered
)

// Registered is the phone keyword of a person whose softphones register to Leadline.
const Registered = "registered"

func (k Kind) String() string {
	switch k {
	case KindNumber:
		return "number"
	case KindSIP:
		return "sip"
	case KindRegistered:
		return Registered
	}
	return "unset"
}

// Target is where a person's phone rings: a number or a SIP URI. Build it with
// ParseTarget; the fields are then normalised and safe to put in a SIP header.
type Target struct {
	Kind Kind
	// Number is the E.164 number when Kind is KindNumber.
	Number string
	// URI is the canonical URI when Kind is KindSIP: lower-case scheme and host,
	// e.g. "sip:piet@192.0.2.10:5060".
	URI string
	// The URI's parts when Kind is KindSIP. Scheme is "sip" or "sips"; User may be
	// empty; Host is a lower-case name, an IPv4 address or a bracketed IPv6 address;
	// Port is 0 when absent; Params is what follows the first ";" (no leading ";").
	Scheme, User, Host string
	Port               int
	Params             string
}

// IsSIP reports whether t is a SIP URI.
func (t Target) IsSIP() bool { return t.Kind == KindSIP }

// IsRegistered reports whether t is the person's registered softphones.
func (t Target) IsRegistered() bool { return t.Kind == KindRegistered }

// String returns the number, the URI or the keyword Registered.
func (t Target) String() string {
	switch t.Kind {
	case KindNumber:
		return t.Number
	case KindSIP:
		return t.URI
	case KindRegistered:
		return Registered
	}
	return ""
}

// ParseTarget reads a person's configured phone. Text starting with "sip:" or "sips:"
// (any case) is parsed strictly as sip:[user@]host[:port][;params]: no spaces,
// control characters, quotes, angle brackets, passwords or ?headers, a host that is a
// valid name, IPv4 or [IPv6] address, a port from 1 to 65535. The keyword Registered
// (any case) is a KindRegistered target. Anything else is a number, normalised with
// Normalize(s, region).
//
// The error wraps ErrInvalidURI for a bad URI, and otherwise one of Normalize's.
func ParseTarget(s, region string) (Target, error) {
	trimmed := strings.TrimSpace(s)
	lower := strings.ToLower(trimmed)
	if lower == Registered {
		return Target{Kind: KindRegistered}, nil
	}
	if strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:") {
		return parseSIP(s)
	}
	if strings.HasPrefix(trimmed, "<") {
		return Target{}, fail(ErrInvalidURI, "sip URI in angle brackets: write the bare URI")
	}
	if strings.Contains(trimmed, "@") {
		return Target{}, fail(ErrInvalidURI, "looks like a SIP address: write it as sip:"+trimmed)
	}
	if i := strings.IndexByte(lower, ':'); i > 0 && !strings.ContainsAny(lower[:i], "0123456789+ ") {
		return Target{}, fail(ErrInvalidURI, "only sip: and sips: URIs are supported")
	}
	n, err := Normalize(s, region)
	if err != nil {
		return Target{}, err
	}
	return Target{Kind: KindNumber, Number: n}, nil
}

// maxURI bounds a SIP URI; hostnames alone are at most 253 bytes.
const maxURI = 512

func parseSIP(s string) (Target, error) {
	if len(s) > maxURI {
		return Target{}, fail(ErrInvalidURI, "sip URI is too long")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			return Target{}, fail(ErrInvalidURI, "sip URI contains a space")
		case c < 0x20 || c == 0x7f:
			return Target{}, fail(ErrInvalidURI, "sip URI contains a control character")
		case c >= 0x80:
			return Target{}, fail(ErrInvalidURI, "sip URI contains a non-ASCII character")
		case c == '<' || c == '>':
			return Target{}, fail(ErrInvalidURI, "sip URI contains an angle bracket: write the bare URI")
		case c == '"' || c == '\'' || c == '`':
			return Target{}, fail(ErrInvalidURI, "sip URI contains a quote")
		case c == '?':
			return Target{}, fail(ErrInvalidURI, "sip URI headers (?…) are not allowed")
		case c == '\\' || c == '{' || c == '}' || c == '|' || c == '^' || c == ',':
			return Target{}, fail(ErrInvalidURI, "sip URI contains "+strconv.Quote(string(c)))
		}
	}
	colon := strings.IndexByte(s, ':')
	t := Target{Kind: KindSIP, Scheme: strings.ToLower(s[:colon])}
	rest := s[colon+1:]
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		t.User, rest = rest[:at], rest[at+1:]
		if err := checkUser(t.User); err != nil {
			return Target{}, err
		}
	}
	hostport := rest
	if semi := strings.IndexByte(rest, ';'); semi >= 0 {
		hostport, t.Params = rest[:semi], rest[semi+1:]
		if err := checkParams(t.Params); err != nil {
			return Target{}, err
		}
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return Target{}, err
	}
	t.Host, t.Port = host, port

	var b strings.Builder
	b.WriteString(t.Scheme)
	b.WriteByte(':')
	if t.User != "" {
		b.WriteString(t.User)
		b.WriteByte('@')
	}
	b.WriteString(t.Host)
	if t.Port != 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(t.Port))
	}
	if t.Params != "" {
		b.WriteByte(';')
		b.WriteString(t.Params)
	}
	t.URI = b.String()
	return t, nil
}

// checkUser accepts RFC 3261 user characters minus ";", "?" and quotes, and %HH escapes
// that do not decode to control characters or spaces.
func checkUser(u string) error {
	if u == "" {
		return fail(ErrInvalidURI, "sip URI has an empty user before @")
	}
	if strings.Contains(u, "@") {
		return fail(ErrInvalidURI, "sip URI has more than one @")
	}
	if strings.Contains(u, ":") {
		return fail(ErrInvalidURI, "passwords in sip URIs are not allowed")
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case isAlnum(c) || strings.IndexByte("-_.!~*()&=+$/", c) >= 0:
		case c == '%':
			if i+2 >= len(u) || !isHex(u[i+1]) || !isHex(u[i+2]) {
				return fail(ErrInvalidURI, "sip URI user has a bad % escape")
			}
			if v := unhex(u[i+1])<<4 | unhex(u[i+2]); v <= 0x20 || v == 0x7f {
				return fail(ErrInvalidURI, "sip URI user has an escaped space or control character")
			}
			i += 2
		default:
			return fail(ErrInvalidURI, "sip URI user contains "+strconv.Quote(string(c)))
		}
	}
	return nil
}

// checkParams accepts ";"-separated name[=value] pairs of token characters.
func checkParams(p string) error {
	for param := range strings.SplitSeq(p, ";") {
		name, value, hasValue := strings.Cut(param, "=")
		if name == "" {
			return fail(ErrInvalidURI, "sip URI has an empty parameter")
		}
		if !isToken(name) || (hasValue && (value == "" || !isToken(value))) {
			return fail(ErrInvalidURI, "sip URI has a bad parameter "+strconv.Quote(param))
		}
	}
	return nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte("-_.!~*+%", c) < 0 {
			return false
		}
	}
	return true
}

func splitHostPort(hp string) (host string, port int, err error) {
	if hp == "" {
		return "", 0, fail(ErrInvalidURI, "sip URI has no host")
	}
	portText := ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, fail(ErrInvalidURI, "sip URI has an unclosed [ in its host")
		}
		host = hp[:end+1]
		switch after := hp[end+1:]; {
		case after == "":
		case after[0] == ':':
			portText = after[1:]
			if portText == "" {
				return "", 0, fail(ErrInvalidURI, "sip URI has an empty port")
			}
		default:
			return "", 0, fail(ErrInvalidURI, "sip URI has text after its IPv6 address")
		}
		a, perr := netip.ParseAddr(host[1 : len(host)-1])
		if perr != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fail(ErrInvalidURI, "sip URI has a bad IPv6 address "+strconv.Quote(host))
		}
		host = "[" + a.String() + "]"
	} else {
		if a, err := netip.ParseAddr(hp); err == nil && a.Is6() {
			return "", 0, fail(ErrInvalidURI, "sip URI has an IPv6 address without brackets: write [address]")
		}
		host = hp
		if i := strings.IndexByte(hp, ':'); i >= 0 {
			host, portText = hp[:i], hp[i+1:]
			if portText == "" {
				return "", 0, fail(ErrInvalidURI, "sip URI has an empty port")
			}
		}
		if !ValidHost(host) {
			return "", 0, fail(ErrInvalidURI, "sip URI has a bad host "+strconv.Quote(host))
		}
		host = strings.ToLower(host)
	}
	if portText != "" {
		port, err = parsePort(portText)
		if err != nil {
			return "", 0, err
		}
	}
	return host, port, nil
}

func parsePort(s string) (int, error) {
	bad := fail(ErrInvalidURI, "sip URI has a bad port "+strconv.Quote(s)+": use 1-65535")
	if len(s) > 5 {
		return 0, bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, bad
	}
	return p, nil
}

// ValidHost reports whether h is a DNS name (RFC 1123 labels) or an IPv4 address. It
// does not accept IPv6; callers bracket and check that themselves. Exported for config,
// which checks sip.external_host with it.
func ValidHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Is4()
	}
	name := strings.TrimSuffix(h, ".")
	allDigits := true
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		allDigits = true
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isAlnum(c) && c != '-' {
				return false
			}
			if c < '0' || c > '9' {
				allDigits = false
			}
		}
	}
	// The last label of a name is never all digits: "1.2.3.999" is a bad address.
	return !allDigits
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
