package leadmail

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// pathological builds mails that would cost a naive reader far more than their size.
func pathological() map[string][]byte {
	hdr := "From: crm@autohuisjansen.nl\r\nSubject: x\r\nMessage-ID: <p@x>\r\nMIME-Version: 1.0\r\n"
	m := map[string][]byte{}

	// Half a million empty sibling parts in 3 MB.
	var b bytes.Buffer
	b.WriteString(hdr + "Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for b.Len() < 3<<20 {
		b.WriteString("--b\r\n\r\n")
	}
	m["many-siblings"] = bytes.Clone(b.Bytes())

	// 20,000 nested containers.
	b.Reset()
	b.WriteString(hdr + "Content-Type: multipart/mixed; boundary=n0\r\n\r\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n", i, i+1)
	}
	m["deep-nesting"] = bytes.Clone(b.Bytes())

	// 2 MB of base64 at the bottom of 12 nested containers, 8 of them followed.
	b.Reset()
	b.WriteString(hdr + "Content-Type: multipart/mixed; boundary=d0\r\n\r\n")
	for i := range 11 {
		fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", i, i+1)
	}
	b.WriteString("--d11\r\nContent-Type: application/xml; name=x.xml\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("PGFkZj48cHJvc3BlY3Q+", 3)[:57] + "\r\n"
	for b.Len() < 2<<20 {
		b.WriteString(line)
	}
	m["deep-payload"] = bytes.Clone(b.Bytes())

	// A 2 MB text body for the rules, one line.
	b.Reset()
	b.WriteString("From: leads@autoportal.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nNaam: ")
	b.WriteString(strings.Repeat("a", 2<<20))
	m["long-text"] = bytes.Clone(b.Bytes())

	// An AutoScout24 mail whose HTML is 30,000 comments with XML in them.
	b.Reset()
	b.WriteString("From: no-reply@rtm.autoscout24.com\r\nSubject: Klantnr: 1. Gemiste oproep voor X\r\nContent-Type: text/html\r\n\r\n<html>")
	for range 30000 {
		b.WriteString("<!--<a><b><c>1</c></b></a>-->")
	}
	m["many-comments"] = bytes.Clone(b.Bytes())

	// ADF in every one of many parts.
	b.Reset()
	b.WriteString(hdr + "Content-Type: multipart/mixed; boundary=z\r\n\r\n")
	for i := range 400 {
		fmt.Fprintf(&b, "--z\r\nContent-Type: text/xml\r\n\r\n<adf><prospect><customer><contact><name part=\"full\">P%d</name><phone>0612345%03d</phone></contact></customer></prospect></adf>\r\n", i, i)
	}
	m["adf-everywhere"] = bytes.Clone(b.Bytes())
	return m
}

// TestBoundedWork runs Extract on mails built to cost a naive reader far more than
// their size, and checks it ends with a result that says what it skipped. How long
// each takes is BenchmarkPathological's to measure.
func TestBoundedWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds megabytes of mail")
	}
	for name, raw := range pathological() {
		t.Run(name, func(t *testing.T) {
			res, err := Extract(raw, testRules)
			checkInvariants(t, res, err)
			t.Logf("%d bytes: %d leads, %v", len(raw), len(res.Leads), err)
		})
	}
}

// BenchmarkPathological extracts each of the mails built for cost.
func BenchmarkPathological(b *testing.B) {
	for name, raw := range pathological() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				_, _ = Extract(raw, testRules)
			}
		})
	}
}
