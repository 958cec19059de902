package adf

import (
	"bytes"
	"errors"
	"fmt"
)

// Prospect is one <prospect> of an ADF document, as far as Leadline uses it. Parse
// fills it with text as written, whitespace collapsed and control characters removed.
type Prospect struct {
	ID, IDSource string  // the prospect's first non-empty <id> and its source attribute
	RequestDate  string  // as written
	Name         string  // full name: part="full", else first + middle + last; whitespace collapsed
	Phones       []Phone // in document order
	Email        string  // the first valid-looking one
	Vehicles     []Vehicle
	Comments     string // customer <comments>, whitespace-trimmed; line breaks kept
	Vendor       string // vendor's <vendorname> (or vendor contact name)
	Provider     string // provider's <name>
}

// Phone is one customer <phone>. Number is kept as written (the dialer normalises it);
// Type (voice, fax, cellphone, pager, or whatever the sender wrote) and Time are
// lower-cased; Preferred is preferredcontact="1".
type Phone struct {
	Number, Type, Time string
	Preferred          bool
}

// Vehicle is one <vehicle>: its interest (buy, lease, sell, trade-in, test-drive) and
// status (new, used) attributes, lower-cased, and the child elements as written.
type Vehicle struct {
	Interest, Status, Year, Make, Model, Trim, Stock, VIN string
}

// MaxSize is the largest input Parse reads; callers should cap what they read before
// that, but Parse refuses more with ErrTooLarge.
const MaxSize = 4 << 20

const (
	maxDepth  = 64        // elements open at once
	maxTokens = 100_000   // tags, texts and comments of one document
	maxToken  = 256 << 10 // bytes of one tag, text or comment; bounds the tokenizer's memory
	maxField  = 64 << 10  // bytes of text kept of one field
)

// Errors of Parse, wrapped with detail; branch with errors.Is.
var (
	// ErrNotADF: the input is empty or holds no <adf> element or <?adf?> prolog.
	ErrNotADF = errors.New("no ADF document")
	// ErrNoProspect: the document has no <prospect> with anything in it.
	ErrNoProspect = errors.New("no prospect in the ADF document")
	// ErrTooLarge: the input is larger than MaxSize.
	ErrTooLarge = errors.New("input too large")
	// ErrTooComplex: the document nests elements deeper than 64 or has more than
	// 100,000 tokens. No honest lead does; nothing of such a document is returned.
	ErrTooComplex = errors.New("document too complex")
	// ErrEntities: the document declares entities (<!ENTITY … > in a DOCTYPE). Parse
	// would expand none of them and read no DTD, but no honest lead declares one: a
	// billion laughs or an external entity is refused rather than read with its
	// references left as they are.
	ErrEntities = errors.New("the document declares entities")
)

// Parse reads an ADF document (or a text that contains one, such as a mail body with an
// ADF block inside, or an HTML body showing one escaped) and returns its prospects in
// document order. Errors say why nothing could be read; a document that is merely
// malformed (unclosed or stray tags, bare & or <, unknown entities, cut off) gives what
// it holds, except a field cut off by the end of the input, which is dropped.
func Parse(data []byte) ([]Prospect, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("parse adf: %w: the input is empty", ErrNotADF)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("parse adf: %w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxSize)
	}
	data = toUTF8(data)
	if declaresEntities(data) {
		return nil, fmt.Errorf("parse adf: %w (<!ENTITY …>); ADF needs none", ErrEntities)
	}
	found := false
	if i := markerStart(data); i >= 0 {
		found = true
		if ps, err := walk(data[i:]); err != nil || len(ps) > 0 {
			return ps, err
		}
	}
	// No ADF in the markup (or only a mention, as in a style sheet's comment): perhaps an
	// HTML body shows it escaped.
	if e := escapedMarkerStart(data); e >= 0 {
		if text := htmlText(data[e:]); markerStart(text) >= 0 {
			found = true
			if ps, err := walk(text[markerStart(text):]); err != nil || len(ps) > 0 {
				return ps, err
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("parse adf: %w: no <adf> element or <?adf?> prolog found", ErrNotADF)
	}
	return nil, fmt.Errorf("parse adf: %w", ErrNoProspect)
}

// Find reports whether data looks like it holds an ADF document: an <adf> element or an
// <?adf … ?> prolog followed by a <prospect>, case-insensitively, in raw markup or
// HTML-escaped (&lt;adf&gt;). It is a cheap sniff for callers deciding which MIME part
// to parse; it reports false for input larger than MaxSize, which Parse refuses.
func Find(data []byte) bool {
	if len(data) > MaxSize {
		return false
	}
	data, _ = fromUTF16(data)
	if i := markerStart(data); i >= 0 && indexTag(data[i:], "<prospect") >= 0 {
		return true
	}
	i := escapedMarkerStart(data)
	return i >= 0 && indexTag(data[i:], "&lt;prospect") >= 0
}

// markerStart is where the ADF document in data begins: its <adf> element, or when it
// has none, its <?adf?> prolog; -1 when there is neither. Starting at the element skips
// a DOCTYPE and whatever else precedes it, such as an HTML comment wrapping the block.
func markerStart(data []byte) int {
	if i := indexTag(data, "<adf"); i >= 0 {
		return i
	}
	return indexTag(data, "<?adf")
}

// escapedMarkerStart is markerStart for an ADF document shown HTML-escaped.
func escapedMarkerStart(data []byte) int {
	if i := indexTag(data, "&lt;adf"); i >= 0 {
		return i
	}
	return indexTag(data, "&lt;?adf")
}

// indexTag returns the index of the first occurrence in s of the opening tag tag (ASCII,
// lower case, starting with '<' or '&'), matched case-insensitively and followed by a
// byte that ends a tag name; -1 if there is none.
func indexTag(s []byte, tag string) int {
	for off := 0; ; {
		i := bytes.IndexByte(s[off:], tag[0])
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(tag)
		if end >= len(s) {
			return -1
		}
		if equalFoldASCII(s[i:end], tag) && endsName(s[end]) {
			return i
		}
		off = i + 1
	}
}

// endsName reports whether b may follow a tag name: white space, '>', '/', '?' or the
// '&' of an escaped '&gt;'.
func endsName(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '\f', '>', '/', '?', '&':
		return true
	}
	return false
}

// equalFoldASCII reports whether b equals the lower-case ASCII string s, ignoring the
// case of ASCII letters in b.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// declaresEntities reports whether a document (in UTF-8 or an 8-bit encoding) declares
// an entity: "<!ENTITY", in any case.
func declaresEntities(data []byte) bool {
	const decl = "<!entity"
	for i := bytes.Index(data, []byte("<!")); i >= 0; {
		if len(data)-i >= len(decl) && bytes.EqualFold(data[i:i+len(decl)], []byte(decl)) {
			return true
		}
		j := bytes.Index(data[i+2:], []byte("<!"))
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return false
}
