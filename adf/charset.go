package adf

import (
	"bytes"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
)

// toUTF8 returns data as UTF-8. A byte order mark, or a '<' with a zero byte beside it,
// marks UTF-16. Otherwise input that is valid UTF-8 is taken as UTF-8 whatever it
// declares: a mail reader has usually converted the part already and left the
// declaration (encoding="ISO-8859-1") behind, and legacy 8-bit text is almost never
// valid UTF-8 by accident. Other input is decoded as its <?xml encoding=…?> says
// (WHATWG labels: ISO-8859-1 means windows-1252), else as windows-1252 when it has no
// UTF-8 sequence at all, else as UTF-8 with the bad bytes replaced by U+FFFD.
func toUTF8(data []byte) []byte {
	if d, ok := fromUTF16(data); ok {
		return d
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if utf8.Valid(data) {
		return data
	}
	if label := declaredEncoding(data); label != "" {
		if enc, err := htmlindex.Get(label); err == nil && enc != unicode.UTF8 {
			if d, err := enc.NewDecoder().Bytes(data); err == nil {
				return d
			}
		}
	}
	if !hasUTF8Sequence(data) {
		if d, err := charmap.Windows1252.NewDecoder().Bytes(data); err == nil {
			return d
		}
	}
	return bytes.ToValidUTF8(data, []byte("\uFFFD"))
}

// fromUTF16 decodes data when a byte order mark or its first '<' marks it as UTF-16;
// ok is false, and data returned unchanged, when nothing does.
func fromUTF16(data []byte) (_ []byte, ok bool) {
	var enc encoding.Encoding
	switch {
	case len(data) < 2:
		return data, false
	case data[0] == 0xFF && data[1] == 0xFE, data[0] == '<' && data[1] == 0:
		enc = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case data[0] == 0xFE && data[1] == 0xFF, data[0] == 0 && data[1] == '<':
		enc = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	default:
		return data, false
	}
	// ExpectBOM uses the mark when there is one and the given byte order when not.
	d, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return data, false
	}
	return d, true
}

// declaredEncoding returns the encoding label of the first <?xml … encoding="…"?>
// declaration in data, or "".
func declaredEncoding(data []byte) string {
	i := indexTag(data, "<?xml")
	if i < 0 {
		return ""
	}
	decl := data[i:min(len(data), i+200)]
	if end := bytes.Index(decl, []byte("?>")); end >= 0 {
		decl = decl[:end]
	}
	// Not bytes.ToLower: it changes the length of invalid UTF-8, and so the index.
	j := -1
	for k := 0; k+len("encoding") <= len(decl); k++ {
		if equalFoldASCII(decl[k:k+len("encoding")], "encoding") {
			j = k
			break
		}
	}
	if j < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[j+len("encoding"):], " \t\r\n")
	rest, ok := bytes.CutPrefix(rest, []byte("="))
	if !ok {
		return ""
	}
	rest = bytes.TrimLeft(rest, " \t\r\n\"'")
	if end := bytes.IndexAny(rest, "\"' \t\r\n?"); end >= 0 {
		rest = rest[:end]
	}
	return string(rest)
}

// hasUTF8Sequence reports whether data holds at least one valid multi-byte UTF-8
// sequence.
func hasUTF8Sequence(data []byte) bool {
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if r != utf8.RuneError || n > 1 {
			return true
		}
		i += n
	}
	return false
}

// htmlText returns the text an HTML body shows, entities decoded, for an ADF document
// that the body shows escaped (&lt;adf&gt;…): tags are dropped (line-breaking ones
// leave a line break), script and style contents too, and no-break spaces become
// spaces so that they cannot end up inside a tag.
func htmlText(data []byte) []byte {
	z := html.NewTokenizer(bytes.NewReader(data))
	out := make([]byte, 0, len(data))
	raw := false // inside script or style
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return bytes.ReplaceAll(out, []byte("\u00A0"), []byte(" "))
		case html.TextToken:
			if t := z.Text(); !raw {
				out = append(out, t...)
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			raw = false
			switch string(name) {
			case "script", "style":
				// The tokenizer returns their content as one text token after the start tag.
				raw = tt == html.StartTagToken
			case "br", "p", "div", "tr", "li", "pre", "table", "h1", "h2", "h3", "h4", "h5", "h6":
				out = append(out, '\n')
			}
		}
	}
}
