package mailout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is a mail to build. Bytes is a pure function of it: the same Message gives
// the same bytes, Message-ID, Date and MIME boundary included, so a mail tried again
// is the same mail, recognisable by its Message-ID.
type Message struct {
	From mail.Address
	To   []string // addresses
	// Subject is one line; control characters become spaces, and it is cut to 200
	// characters.
	Subject string
	Date    time.Time
	// MessageID is the Message-ID without its angle brackets: id@domain.
	MessageID string
	// Headers are more header fields, in order (X-Leadline-Lead…); values are one line,
	// encoded when not ASCII.
	Headers [][2]string
	// Text is the plain-text body. With HTML, the mail is multipart/alternative: the
	// text first, then the HTML (mail readers show the last part they can).
	Text string
	HTML string
}

// maxSubject caps a subject, in characters.
const maxSubject = 200

// ErrMessage is wrapped by Bytes' errors: the message lacks something it must have.
var ErrMessage = errors.New("incomplete message")

// Bytes returns the message as sent: header fields, then the body, every line ending
// in CRLF. Parts that are ASCII with short lines go as 7bit; others as
// quoted-printable UTF-8.
func (m Message) Bytes() ([]byte, error) {
	if m.From.Address == "" || len(m.To) == 0 || m.MessageID == "" || m.Date.IsZero() {
		return nil, fmt.Errorf("mail: %w: it needs From, To, Message-ID and Date", ErrMessage)
	}
	var b bytes.Buffer
	h := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	h("From", m.From.String())
	to := make([]string, len(m.To))
	for i, a := range m.To {
		to[i] = (&mail.Address{Address: a}).String()
	}
	h("To", strings.Join(to, ", "))
	h("Subject", headerText(m.Subject, maxSubject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", "<"+oneLine(m.MessageID)+">")
	// RFC 3834: no vacation or out-of-office replies to a machine's mail.
	h("Auto-Submitted", "auto-generated")
	for _, kv := range m.Headers {
		h(textproto.CanonicalMIMEHeaderKey(oneLine(kv[0])), headerText(kv[1], 900))
	}
	h("MIME-Version", "1.0")
	if m.HTML == "" {
		cte, body := encodeBody(m.Text)
		h("Content-Type", textType("text/plain"))
		h("Content-Transfer-Encoding", cte)
		b.WriteString("\r\n")
		b.Write(body)
		return b.Bytes(), nil
	}
	// A boundary of the Message-ID's hash: deterministic, and not in either part (a
	// part that holds it is refused rather than sent broken).
	sum := sha256.Sum256([]byte(m.MessageID))
	boundary := "leadline-" + hex.EncodeToString(sum[:12])
	if strings.Contains(m.Text, boundary) || strings.Contains(m.HTML, boundary) {
		return nil, fmt.Errorf("mail: %w: a part holds the MIME boundary", ErrMessage)
	}
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	h("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary}))
	b.WriteString("\r\n")
	for _, p := range []struct{ typ, text string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		cte, body := encodeBody(p.text)
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {textType(p.typ)}, "Content-Transfer-Encoding": {cte}})
		if err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

func textType(typ string) string {
	return mime.FormatMediaType(typ, map[string]string{"charset": "utf-8"})
}

// encodeBody returns a part's Content-Transfer-Encoding and its body with CRLF line
// ends, ending in one: 7bit when it is ASCII with short lines, else quoted-printable.
func encodeBody(text string) (cte string, body []byte) {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	crlf := strings.ReplaceAll(text, "\n", "\r\n")
	if plain7bit(text) {
		return "7bit", []byte(crlf)
	}
	var b bytes.Buffer
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(crlf)) // a bytes.Buffer does not fail
	_ = qp.Close()
	return "quoted-printable", b.Bytes()
}

// plain7bit reports whether body may go as it is: ASCII without control characters
// other than tab and line breaks, lines of at most 998 characters (RFC 5322).
func plain7bit(body string) bool {
	line := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\n':
			line = 0
			continue
		case c >= 0x7f || c < ' ' && c != '\t':
			return false
		}
		if line++; line > 998 {
			return false
		}
	}
	return true
}

// headerText is s as a header field's value: one line (control characters as
// spaces), at most max characters, encoded as RFC 2047 words when it is not ASCII.
func headerText(s string, max int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// oneLine replaces control characters (line breaks above all: no header injection)
// and invalid UTF-8 with spaces, and trims.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " ")))
}
