package leadmail

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"

	"github.com/leadline/leadline/adf"
	"github.com/leadline/leadline/dialer"
)

// Kinds of Result: where the leads were found.
const (
	KindADF         = "adf"
	KindAutoScout24 = "autoscout24"
	KindRule        = "rule"
)

// Message is what the mail says about itself, kept with its leads.
type Message struct {
	MessageID string    `json:"message_id"` // without angle brackets; "" when absent
	From      string    `json:"from"`       // the header From address, lower-cased ("" when unparseable)
	Subject   string    `json:"subject"`
	Date      time.Time `json:"date,omitzero"` // zero when absent or unparseable
}

// Result is a message and the leads found in it.
type Result struct {
	Message Message            `json:"message"`
	Kind    string             `json:"kind"` // "adf", "autoscout24" or "rule"
	Leads   []dialer.LeadInput `json:"leads"`
}

// NoLeadError is a message in which Extract found no lead, and why. Reason is one line
// of text that names what was looked for and what stood in the way; Message is what
// could be read of the mail's headers (zero when it could not be parsed at all).
type NoLeadError struct {
	Reason  string
	Message Message
}

func (e *NoLeadError) Error() string { return "no lead in mail: " + e.Reason }

// Work limits. Every mail costs at most about a pass over its bytes per followed
// multipart level, plus the bounded work below, whatever it holds.
const (
	// maxInput is a ceiling for a caller that forgot its own (email.max_size).
	maxInput = 64 << 20
	// maxDelimiterLines is how many lines holding "--" the MIME parser is given; the
	// mail is cut before the next one. Every part it makes starts at such a line, so
	// this bounds the parts it builds, however small they are.
	maxDelimiterLines = 512
	// maxMultiparts is how many multipart containers (distinct boundaries) the MIME
	// parser follows; a container after those is kept as one opaque part. It bounds the
	// nesting depth, since every level is a container, and each level costs the parser
	// a pass over the bytes inside it. Real mails nest three or four deep.
	maxMultiparts = 8
	// maxParts bounds the parts walked looking for ADF.
	maxParts = 100
	// maxADFBytes of one part or body, and maxADFTotal over the mail, go to adf.
	maxADFBytes = 1 << 20
	maxADFTotal = 4 << 20
	// maxText is the part of the text body that rules and the AutoScout24 fallback read.
	maxText = 256 << 10
	// maxLeads: a mail with more distinct leads is a bulk export, not a lead; calling
	// them all at once would flood the dealer's phones, so it gives none.
	maxLeads = 25
	// maxReason bounds NoLeadError.Reason, in characters.
	maxReason = 1500
)

// Extract reads one message (RFC 5322 bytes; callers cap the size) and returns its leads:
// ADF documents in attachments or inline parts (text/xml, application/xml,
// application/x-adf+xml, or a file name ending .xml/.adf) or in the text body; else an
// AutoScout24 notification; else the first rule whose Sender (and Subject) match. A
// message with no lead is a *NoLeadError saying why (kept by the caller with that
// reason); a message that cannot be parsed at all is a *NoLeadError too.
//
// Every lead has its Source set, is valid UTF-8 without control characters ("\n" only,
// in Message) and is within the dialer's field limits; its phone is trimmed, not
// normalised. Identical leads are given once. When err is non-nil the Result is zero.
func Extract(raw []byte, rules []Rule) (Result, error) {
	switch {
	case len(raw) == 0:
		return Result{}, &NoLeadError{Reason: "the message is empty"}
	case len(raw) > maxInput:
		return Result{}, &NoLeadError{Reason: fmt.Sprintf("the message has %d bytes, more than the %d leadmail reads", len(raw), maxInput)}
	}
	in, cut := cutDelimiterLines(raw, maxDelimiterLines)
	bc := &boundaryCap{allowed: map[string]bool{}}
	p := enmime.NewParser(
		enmime.SkipMalformedParts(true),
		enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.DisableCharacterDetection(true), // the declared charset, not a guess
		enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
		enmime.MaxStoredPartErrors(10),
		enmime.SetCustomParseMediaType(bc.parse),
	)
	env, err := p.ReadEnvelope(bytes.NewReader(in))
	if err != nil {
		return Result{}, &NoLeadError{Reason: cleanLine("the message cannot be parsed as MIME: "+err.Error(), maxReason)}
	}
	x := &extraction{env: env, rules: rules, msg: readMessage(env), budget: maxADFTotal}
	if cut {
		x.limits = append(x.limits, fmt.Sprintf("the MIME parser read up to the %dth line holding \"--\" only", maxDelimiterLines))
	}
	if bc.capped {
		x.limits = append(x.limits, fmt.Sprintf("multipart containers after the first %d were not opened", maxMultiparts))
	}
	return x.run()
}

// extraction is the state of one Extract call.
type extraction struct {
	env   *enmime.Envelope
	rules []Rule
	msg   Message

	leads  []dialer.LeadInput
	seen   map[dialer.LeadInput]bool
	budget int // bytes adf may still be given

	xmlParts int      // parts that looked like ADF by type or name
	found    bool     // an ADF document was found, lead or not
	problems []string // what stood in the way, for the reason
	limits   []string // limits hit, for the reason
}

func (x *extraction) run() (Result, error) {
	// 1. ADF: parts first, then the text body, then the HTML (ADF pasted in raw).
	x.walkParts()
	text := x.env.Text
	x.tryADF([]byte(text), "the text body")
	if len(x.leads) == 0 && x.env.HTML != "" {
		x.tryADF([]byte(x.env.HTML), "the HTML body")
	}
	if len(x.leads) > maxLeads {
		return x.noLead(fmt.Sprintf("ADF with %d leads, more than %d: a bulk export, not a lead mail", len(x.leads), maxLeads))
	}
	if len(x.leads) > 0 {
		return Result{Message: x.msg, Kind: KindADF, Leads: x.leads}, nil
	}
	var looked []string
	switch {
	case x.found:
		looked = append(looked, "ADF found but it gave no lead")
	case x.xmlParts == 0:
		looked = append(looked, "no ADF document in the text body and no XML or ADF part")
	default:
		looked = append(looked, fmt.Sprintf("no ADF document in the text body or in the %d XML or ADF part(s)", x.xmlParts))
	}

	// 2. AutoScout24 call notifications: terminal once recognised.
	body := normalizeText(text)
	if isAutoScout24(x.msg.From) {
		c, ok := readAutoScout24(x.env.HTML, x.msg.Subject, body)
		if ok {
			return x.autoScout24(c)
		}
		looked = append(looked, "from AutoScout24 but not a call notification")
	} else {
		looked = append(looked, "not an AutoScout24 notification")
	}

	// 3. The first rule whose sender and subject match.
	switch i := matchRule(x.rules, x.msg); {
	case x.msg.From == "":
		looked = append(looked, "no rule can match: the From header is missing or not an address")
	case i < 0:
		looked = append(looked, fmt.Sprintf("none of %d rule(s) matches sender %q and subject %q", len(x.rules), x.msg.From, x.msg.Subject))
	default:
		l := applyRule(x.rules[i], body, x.msg)
		if l.Phone != "" {
			return Result{Message: x.msg, Kind: KindRule, Leads: []dialer.LeadInput{x.withSource(l)}}, nil
		}
		looked = append(looked, fmt.Sprintf("rule %d (sender %q) matches but its fields found no phone number in the text body", i, x.rules[i].Sender))
	}
	return x.noLead(strings.Join(looked, "; "))
}

// noLead is the NoLeadError for reason, with the problems and limits met on the way.
func (x *extraction) noLead(reason string) (Result, error) {
	if x.env.Root != nil && strings.HasPrefix(x.env.Root.ContentType, "multipart/") && x.env.Root.FirstChild == nil {
		x.problems = append(x.problems, "the multipart body has no parts: its boundary never occurs")
	}
	var mimeErrs []string
	for _, e := range x.env.Errors {
		if e.Severe && len(mimeErrs) < 3 {
			mimeErrs = append(mimeErrs, e.Name+": "+e.Detail)
		}
	}
	if len(mimeErrs) > 0 {
		x.problems = append(x.problems, "MIME errors: "+strings.Join(mimeErrs, ", "))
	}
	if len(x.problems) > 0 {
		reason += "; " + strings.Join(x.problems, "; ")
	}
	if len(x.limits) > 0 {
		reason += "; limits: " + strings.Join(x.limits, "; ")
	}
	return Result{}, &NoLeadError{Reason: cleanLine(reason, maxReason), Message: x.msg}
}

// walkParts looks at up to maxParts parts, in tree order, and tries each leaf whose type
// or file name says XML or ADF. The tree is at most maxMultiparts deep (the parser
// follows no more containers), and the walk keeps its own stack.
func (x *extraction) walkParts() {
	stack := []*enmime.Part{x.env.Root}
	visited := 0
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p == nil {
			continue
		}
		if visited == maxParts {
			x.limits = append(x.limits, fmt.Sprintf("only the first %d MIME parts were read", maxParts))
			break
		}
		visited++
		if p.NextSibling != nil {
			stack = append(stack, p.NextSibling)
		}
		if p.FirstChild != nil {
			stack = append(stack, p.FirstChild)
			continue
		}
		if isADFPart(p) {
			x.xmlParts++
			x.tryADF(p.Content, describePart(p))
		}
	}
}

// isADFPart reports whether a part's type or file name says it may be ADF.
func isADFPart(p *enmime.Part) bool {
	switch strings.ToLower(p.ContentType) {
	case "text/xml", "application/xml", "application/x-adf+xml", "application/adf+xml":
		return true
	}
	ext := strings.ToLower(path.Ext(p.FileName))
	return ext == ".xml" || ext == ".adf"
}

func describePart(p *enmime.Part) string {
	d := "part " + p.PartID
	if p.FileName != "" {
		d += fmt.Sprintf(" (%q, %s)", cleanLine(p.FileName, 80), p.ContentType)
	} else {
		d += " (" + p.ContentType + ")"
	}
	for _, e := range p.Errors {
		if e.Severe {
			return d + " [" + e.Name + ": " + cleanLine(e.Detail, 120) + "]"
		}
	}
	return d
}

// tryADF gives data (bounded) to adf and keeps the leads of its prospects.
func (x *extraction) tryADF(data []byte, where string) {
	if len(data) == 0 {
		if where != "the text body" {
			x.problems = append(x.problems, where+": empty after decoding")
		}
		return
	}
	if len(data) > maxADFBytes {
		data = data[:maxADFBytes]
	}
	if x.budget <= 0 {
		x.limits = append(x.limits, fmt.Sprintf("%s was not searched: %d bytes of ADF candidates were searched already", where, maxADFTotal))
		return
	}
	data = data[:min(len(data), x.budget)]
	x.budget -= len(data)
	if !adf.Find(data) {
		return
	}
	x.found = true
	prospects, err := adf.Parse(data)
	switch {
	case err != nil:
		x.problems = append(x.problems, fmt.Sprintf("%s: ADF not readable: %s", where, cleanLine(err.Error(), 200)))
		return
	case len(prospects) == 0:
		x.problems = append(x.problems, where+": ADF without a prospect")
		return
	}
	for i, p := range prospects {
		l := x.withSource(cleanLead(p.Lead()))
		if l.Phone == "" {
			x.problems = append(x.problems, fmt.Sprintf("%s: prospect %d has no phone number", where, i+1))
			continue
		}
		if x.seen == nil {
			x.seen = map[dialer.LeadInput]bool{}
		}
		if !x.seen[l] {
			x.seen[l] = true
			x.leads = append(x.leads, l)
		}
	}
}

// withSource gives a lead without a source the sender's domain, or "e-mail".
func (x *extraction) withSource(l dialer.LeadInput) dialer.LeadInput {
	if l.Source == "" {
		l.Source = cleanLine(senderDomain(x.msg.From), limitSource)
	}
	if l.Source == "" {
		l.Source = "e-mail"
	}
	return l
}

// readMessage reads the headers Message keeps, each cleaned like a lead's fields.
func readMessage(env *enmime.Envelope) Message {
	var m Message
	id := env.GetHeader("Message-ID")
	if i := strings.IndexByte(id, '<'); i >= 0 {
		id = id[i+1:]
		if j := strings.IndexByte(id, '>'); j >= 0 {
			id = id[:j]
		}
	}
	m.MessageID = strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == ' ' {
			return -1
		}
		return r
	}, cleanLine(id, limitMessageID))
	if list, err := env.AddressList("From"); err == nil && len(list) > 0 {
		a := strings.ToLower(list[0].Address)
		if a == cleanLine(a, limitEmail) && !strings.Contains(a, " ") {
			if _, _, ok := splitAddress(a); ok {
				m.From = a
			}
		}
	}
	m.Subject = cleanLine(env.GetHeader("Subject"), limitSubject)
	if d, err := env.Date(); err == nil {
		m.Date = d
	}
	return m
}

// normalizeText is the text body as rules read it: "\n" line ends, its first maxText
// bytes.
func normalizeText(s string) string {
	if len(s) > maxText {
		s = s[:maxText]
	}
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
}

// cutDelimiterLines returns raw up to the line before the (max+1)th line holding "--",
// and whether it cut. Every part the MIME parser makes starts at a line holding "--"
// (its delimiter), so the parser builds at most max parts, however small.
func cutDelimiterLines(raw []byte, max int) ([]byte, bool) {
	n := 0
	for off := 0; off < len(raw); {
		end := len(raw)
		if i := bytes.IndexByte(raw[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		if bytes.Contains(raw[off:end], []byte("--")) {
			n++
			if n > max {
				return raw[:off], true
			}
		}
		off = end
	}
	return raw, false
}

// boundaryCap is the MIME parser's media type parser: it follows the first
// maxMultiparts multipart boundaries and, for any other, drops the boundary so that the
// container is kept as one part. The same boundary always gets the same answer, since
// the parser reads a header's type more than once.
type boundaryCap struct {
	allowed map[string]bool
	n       int
	capped  bool
}

func (c *boundaryCap) parse(ctype string) (string, map[string]string, []string, error) {
	mtype, params, invalid, err := mediatype.Parse(ctype)
	if err != nil || !strings.HasPrefix(mtype, "multipart/") || params["boundary"] == "" {
		return mtype, params, invalid, err
	}
	b := params["boundary"]
	ok, known := c.allowed[b]
	if !known {
		ok = c.n < maxMultiparts
		if ok {
			c.n++
		}
		c.allowed[b] = ok
	}
	if !ok {
		c.capped = true
		delete(params, "boundary")
	}
	return mtype, params, invalid, err
}
