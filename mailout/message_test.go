package mailout_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/mailout"
)

func reportMessage() mailout.Message {
	return mailout.Message{
		From:      mail.Address{Name: "Leadline – Autohuis Jansen", Address: "leadline@leads.example.com"},
		To:        []string{"owner@jansen.example", "manager@jansen.example"},
		Subject:   "Wekelijks rapport: 12 leads, 3 bij de eigenaar\r\nBcc: victim@example.com",
		Date:      time.Date(2026, 12, 7, 8, 0, 0, 0, time.FixedZone("CET", 3600)),
		MessageID: "report.jansen.2026-W50@leads.example.com",
		Headers:   [][2]string{{"X-Leadline-Dealer", "jansen"}, {"x-leadline-week", "2026-W50\nInjected: yes"}},
		Text:      "Plain text, naïve café.\n" + strings.Repeat("long ", 300) + "\n",
		HTML:      "<p>HTML part</p>\n",
	}
}

// The same Message gives the same bytes: a mail tried again is the same mail.
func TestMessageDeterministic(t *testing.T) {
	a, err := reportMessage().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := reportMessage().Bytes()
	if !bytes.Equal(a, b) {
		t.Error("two builds of one message differ")
	}
	if !bytes.Contains(a, []byte("\r\nMessage-ID: <report.jansen.2026-W50@leads.example.com>\r\n")) ||
		!bytes.Contains(a, []byte("\r\nDate: Mon, 07 Dec 2026 08:00:00 +0100\r\n")) {
		t.Errorf("Message-ID or Date not as given:\n%s", a)
	}
}

// A multipart/alternative mail reads back with a mail parser: one-line header fields
// (no field injected through the subject or a header value), the subject and sender's
// name decoded, the text part first and the HTML last, each decoded to what was given;
// every line within the 998 characters SMTP allows, ending in CRLF.
func TestMessageReadsBack(t *testing.T) {
	m := reportMessage()
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 || bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d is %d bytes or holds a bare line break: %q", i+1, len(line), line[:min(len(line), 80)])
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" || msg.Header.Get("Injected") != "" {
		t.Errorf("a header field was injected: %v", msg.Header)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Wekelijks rapport: 12 leads, 3 bij de eigenaar  Bcc: victim@example.com" {
		t.Errorf("subject %q, %v", subject, err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || from[0].Name != "Leadline – Autohuis Jansen" {
		t.Errorf("from %v, %v", from, err)
	}
	if to, err := msg.Header.AddressList("To"); err != nil || len(to) != 2 {
		t.Errorf("to %v, %v", to, err)
	}
	if msg.Header.Get("Auto-Submitted") != "auto-generated" || msg.Header.Get("X-Leadline-Week") != "2026-W50 Injected: yes" {
		t.Errorf("header %v", msg.Header)
	}
	typ, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("content type %q, %v", typ, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []struct{ typ, text string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if ct := p.Header.Get("Content-Type"); ct != want.typ+"; charset=utf-8" {
			t.Errorf("part type %q, want %s", ct, want.typ)
		}
		body, _ := io.ReadAll(p) // quoted-printable is decoded by the reader
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want.text {
			t.Errorf("%s part reads back as %q…", want.typ, got[:min(len(got), 60)])
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}
}

// A single text part: 7bit when it is short-lined ASCII, quoted-printable otherwise.
func TestMessageEncodings(t *testing.T) {
	for _, tc := range []struct{ text, cte string }{
		{"<adf>\n  <prospect/>\n</adf>\n", "7bit"},
		{"Jänsen\n", "quoted-printable"},
		{strings.Repeat("x", 999), "quoted-printable"},
		{"bare\rreturn and nul\x00", "quoted-printable"},
	} {
		m := reportMessage()
		m.HTML, m.Text = "", tc.text
		raw, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := mail.ReadMessage(bytes.NewReader(raw))
		if got := msg.Header.Get("Content-Transfer-Encoding"); got != tc.cte {
			t.Errorf("%q: %s, want %s", tc.text[:min(len(tc.text), 20)], got, tc.cte)
		}
	}
	if _, err := (mailout.Message{}).Bytes(); !errors.Is(err, mailout.ErrMessage) {
		t.Errorf("an empty message: %v", err)
	}
}
