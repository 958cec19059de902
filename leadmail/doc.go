// Package leadmail turns one e-mail into leads. The SMTP receiver and the IMAP poller
// hand it a raw message (RFC 5322 bytes, size-capped by them); Extract finds the leads
// in it, or says precisely why there are none, in a *NoLeadError the caller keeps with
// the message.
//
// It owns the reading of a mail: MIME (through enmime: transfer encodings, charsets,
// HTML converted to text when there is no text part), the search for ADF documents in
// parts and bodies (parsed by package adf), AutoScout24 call notifications, dealers'
// extraction rules (Rule, CheckRule) and sender patterns (SenderMatches), and the
// cleaning of every lead it returns: valid UTF-8, no control characters ("\n" only, in
// Message), within the dialer's field limits, a phone trimmed of obvious junk but not
// normalised (the dialer normalises).
//
// Of the project it imports dialer (for LeadInput) and adf, and must import nothing
// else: not store, api, sip, metrics or config (config compiles the rules' regexps and
// calls CheckRule; cmd wires the rest). TestImports keeps it so. It does no network and
// no I/O, keeps no state between calls and stores nothing: where a lead goes, whether a
// sender is allowed for a dealer, and de-duplication across mails (Message-ID, external
// id) are its callers' and the dialer's.
//
// # Order
//
// ADF first: parts whose type (text/xml, application/xml, application/x-adf+xml) or file
// name (.xml, .adf) say so, then the text body, then the raw HTML body. All prospects of
// all documents found are leads, identical ones once; a prospect without a phone is
// not; a prospect without a source gets the sender's domain. More than 25 leads in one
// mail is a bulk export, not a lead mail, and gives none. Else an AutoScout24 call
// notification, when the sender is at autoscout24.com or a subdomain. Else the first
// rule whose Sender and Subject match.
//
// # Bounded work
//
// Whatever a mail holds, Extract does about one pass over its bytes per multipart level
// it follows, plus bounded work. The MIME parser is given the mail only up to its 512th
// line holding "--" (every part starts at such a line, so it builds 512 parts at most)
// and follows 8 multipart containers at most (a container after those is one opaque
// part, so the nesting is 8 levels at most). At most 100 parts are searched for ADF; adf
// gets at most 1 MiB of one part and 4 MiB in all; rules read the first 256 KiB of the
// text body; the AutoScout24 XML block is looked for in 50 comments of at most 64 KiB,
// 2,000 tokens and 16 levels each. A limit that was reached is named in the
// NoLeadError's reason.
//
// # AutoScout24
//
// AutoScout24 sends dealers a mail for each call to a listing's tracked number, from
// no-reply@rtm.autoscout24.com. Its documentation for lead management systems
// (https://www.autoscout24.de/haendlerportal/lms-tech-page/, "Accepted and Missed Call
// Lead E-mail") gives the subjects per country, for example NL "Klantnr: [sell_ID].
// Gemiste oproep voor [make] [model] ([MIA]/[NFM])", BE-NL "Klantnr.: [sell_ID]. Miste
// op [time] een oproep over deze [make] [model], uit ([MIA]) tier", BE-FR "N° client :
// [sell_ID]. Appel manqué à [time], [make] [model] ([MIA])", and says the HTML body holds
// the call and listing data as an XML snippet inside an HTML comment. No real
// notification was available while this was written, and the snippet's element names
// are not known here: the XML shape in testdata (a <lead> with <callId>, <callType>,
// <sellId>, <caller><phone>, <callTime> and a <listing> with <id>, <dealerReference>,
// <make>, <model>) is reconstructed, and so are the bodies. The parser is lenient where
// the guess may be wrong: it reads any comment holding XML into names, and looks each
// field up under several names (xmlNames in autoscout24.go); without a usable block it
// reads the subject (subjectShapes) and a labelled number in the visible text
// (textPhone). With a real mail in hand, add its element names at the front of
// xmlNames, check the subject patterns, and replace the testdata fixtures 07-11.
//
// A missed call is a lead: the customer rang and nobody answered, so they are to be
// called back. An answered call is not (a *NoLeadError says so): the customer has just
// spoken to the dealer, and ringing them back seconds later would call someone already
// served. A call notification whose kind is not said is taken as a lead, since a missed
// call-back costs more than a needless one. A recognised call notification ends the
// search: no rule runs on it. Other AutoScout24 mails (contact forms, reports) go on to
// the rules.
package leadmail
