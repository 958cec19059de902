// Package mailout sends the mail Leadline writes: the ADF a dealer's CRM gets and the
// owner's weekly report. It owns the outgoing relay (email.relay, relay.go): its URL,
// TLS (STARTTLS on smtp://, TLS from the first byte on smtps://, plain only to a relay on
// loopback), certificate verification, AUTH PLAIN or LOGIN (go-sasl) and one message per
// connection within a time limit (go-smtp's client); and the message (message.go): its
// header fields (RFC 2047 words, no line breaks from data), a text part or a
// multipart/alternative of text and HTML, and transfer encodings, built so that the same
// Message gives the same bytes (Message-ID, Date and MIME boundary are the caller's or
// derived from them), which makes a mail tried again the same mail.
//
// What a mail says and when it is sent are its callers' (crmmail, reportmail, the
// store's delivery and report jobs, wired in cmd). mailout imports no Leadline package
// and must not: it is the mail transport, nothing more.
package mailout
