// Package adf reads ADF 1.0 (Auto-lead Data Format), the XML in which car portals and
// CRMs send leads, very often inside an e-mail, and turns each <prospect> into a
// dialer.LeadInput.
//
// It owns the leniency this takes. Real senders are sloppy (the specification's own
// example is not well-formed XML), so the reader is not an XML parser: it runs the
// HTML5 tokenizer of golang.org/x/net/html over the document, which never gives up on
// malformed markup, lower-cases tag and attribute names and knows the HTML entities,
// and keeps its own element stack with recovery rules for unclosed and stray tags
// (parse.go). It finds an ADF block inside surrounding text, in an HTML body that shows
// it escaped (&lt;adf&gt;), and in UTF-8, UTF-16 or a legacy 8-bit encoding (charset.go).
//
// It also owns the safety of reading what anyone may send: no DTD is read and no entity
// defined by the document is ever expanded (the tokenizer has no notion of either), no
// file or URL is opened, input above MaxSize is refused, and element depth and token
// count are bounded, so a hostile document costs bounded time and memory. Lead (lead.go)
// keeps every field within the dialer's limits and free of control characters.
//
// It also writes ADF (write.go): Write turns a Document into ADF 1.0 with encoding/xml,
// which escapes every text and attribute, in the order and with the elements the ADF 1.0
// DTD requires, and with attribute values only from the DTD's lists; what Leadline sends a
// CRM by e-mail. The tests validate Write's output against the DTD
// (testdata/adf-1.0.dtd, with the fixes its header lists) with xmllint, and read it
// back with Parse.
//
// adf imports dialer, for LeadInput, and no other leadline package; it must not import
// store, sip, api, metrics or config. Mail intake calls Find to pick the MIME part and
// Parse to read it, and submits each prospect's Lead to the dialer, which validates and
// normalises it (the phone number above all) as it does any other lead.
package adf
