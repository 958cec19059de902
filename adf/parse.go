package adf

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// role is what an open element is to the reader: a part of a prospect it descends
// into, a field whose text it keeps, or other (ignored, with all it holds).
type role uint8

const (
	rOther role = iota
	rProspect
	rVehicle
	rCustomer
	rVendor
	rProvider
	rCustomerContact
	rVendorContact

	// Fields: leaves whose text is kept. At most one is open at a time.
	fID
	fRequestDate
	fYear
	fMake
	fModel
	fTrim
	fStock
	fVIN
	fCustomerName
	fEmail
	fPhone
	fComments
	fVendorName
	fVendorContactName
	fProviderName
)

func (r role) isField() bool { return r >= fID }

// frame is one open element.
type frame struct {
	name string // local name, lower case
	role role
	part string // name: the part attribute
	src  string // id: the source attribute
	tel  Phone  // phone: the attributes
}

// names collects the <name> elements of one party.
type names struct{ full, first, middle, last, suffix string }

func (n *names) add(part, text string) {
	var p *string
	switch strings.ToLower(strings.TrimSpace(part)) {
	case "", "full":
		p = &n.full
	case "first":
		p = &n.first
	case "middle":
		p = &n.middle
	case "last", "surname":
		p = &n.last
	case "suffix":
		p = &n.suffix
	default:
		return
	}
	if *p == "" {
		*p = text
	}
}

func (n *names) String() string {
	if n.full != "" {
		return n.full
	}
	return cleanLine(strings.Join([]string{n.first, n.middle, n.last, n.suffix}, " "))
}

// walker reads the tokens of one document into prospects. Recovery rules, for the
// sloppy markup senders produce:
//   - names match case-insensitively and namespace prefixes are ignored;
//   - an end tag closes the innermost open element of its name and every element
//     opened inside it; an end tag with no open element of its name is ignored;
//   - a field holds only text: a start tag inside one closes it, except inside
//     <comments>, where tags other than ADF's are dropped (line-breaking ones leave a
//     line break);
//   - a <prospect> closes an open prospect, a <vehicle>, <customer>, <vendor> or
//     <provider> closes an open one of those, a <contact> an open contact;
//   - the end of the input closes everything, but the text of a field still open there
//     may be cut off and is dropped; a tag, text or comment longer than 256 KiB ends the
//     input; a field keeps the first 64 KiB of its text.
type walker struct {
	stack []frame
	field int    // index in stack of the open field, or -1
	text  []byte // text of the open field so far

	prospect  int // index in stack of the open prospect, or -1
	cur       Prospect
	customer  names
	vendor    names
	provider  names
	vendorTag string // <vendorname>
	comments  []string

	attrs [][2]string // of the current tag, reused

	out []Prospect
}

// walk reads the prospects of doc, which starts at its <adf> element or prolog. Its
// only errors are the limits; it returns no prospects with them.
func walk(doc []byte) ([]Prospect, error) {
	w := &walker{field: -1, prospect: -1}
	z := html.NewTokenizer(bytes.NewReader(doc))
	z.AllowCDATA(true)
	// A tag with 100,000 attributes costs the tokenizer 30 times its size in memory. A
	// token larger than this ends the input (html.ErrBufferExceeded), as if cut off
	// there: a plain-text mail may end in one long text after the ADF block.
	z.SetMaxBuf(maxToken)
	for tokens := 1; ; tokens++ {
		tt := z.Next()
		if tt == html.ErrorToken { // io.EOF or html.ErrBufferExceeded
			w.popTo(0, true)
			return w.out, nil
		}
		if tokens > maxTokens {
			return nil, fmt.Errorf("parse adf: %w: more than %d tokens", ErrTooComplex, maxTokens)
		}
		switch tt {
		case html.TextToken:
			if w.field >= 0 {
				w.appendText(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			// No element of ADF holds raw text: read <title> or <script> like any other.
			z.NextIsNotRawText()
			name, hasAttr := z.TagName()
			if err := w.start(z, localName(name), hasAttr, tt == html.SelfClosingTagToken); err != nil {
				return nil, err
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			w.end(localName(name))
		}
	}
}

// appendText adds t to the open field's text, keeping at most maxField bytes and
// cutting on a character boundary.
func (w *walker) appendText(t []byte) {
	if room := maxField - len(w.text); len(t) > room {
		for room > 0 && !utf8.RuneStart(t[room]) {
			room--
		}
		t = t[:room]
	}
	w.text = append(w.text, t...)
}

// localName returns name without a namespace prefix.
func localName(name []byte) []byte {
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// start handles a start tag; z is positioned on it, for its attributes.
func (w *walker) start(z *html.Tokenizer, name []byte, hasAttr, selfClosing bool) error {
	if w.field >= 0 {
		if w.stack[w.field].role == fComments && !adfElements[string(name)] {
			if breaks[string(name)] {
				w.appendText([]byte{'\n'})
			}
			return nil
		}
		w.popTo(w.field, false)
	}
	if voids[string(name)] {
		return nil
	}
	n := intern(name)
	switch n {
	case "prospect":
		if w.prospect >= 0 {
			w.popTo(w.prospect, false)
		}
	case "vehicle", "customer", "vendor", "provider":
		if w.prospect >= 0 {
			for i := w.prospect + 1; i < len(w.stack); i++ {
				if r := w.stack[i].role; r >= rVehicle && r <= rProvider {
					w.popTo(i, false)
					break
				}
			}
		}
	case "contact":
		for i := len(w.stack) - 1; i >= 0; i-- {
			if r := w.stack[i].role; r == rCustomerContact || r == rVendorContact {
				w.popTo(i, false)
				break
			}
		}
	}
	if len(w.stack) >= maxDepth {
		return fmt.Errorf("parse adf: %w: elements nested deeper than %d", ErrTooComplex, maxDepth)
	}
	f := frame{name: n, role: w.roleOf(n)}
	var attrs [][2]string
	switch f.role {
	case rVehicle, fID, fCustomerName, fVendorContactName, fProviderName, fPhone:
		attrs = w.readAttrs(z, hasAttr)
	}
	switch f.role {
	case rProspect:
		w.prospect = len(w.stack)
		w.cur, w.customer, w.vendor, w.provider, w.vendorTag, w.comments = Prospect{}, names{}, names{}, names{}, "", nil
	case rVehicle:
		w.cur.Vehicles = append(w.cur.Vehicles, Vehicle{
			Interest: strings.ToLower(cleanLine(attr(attrs, "interest"))),
			Status:   strings.ToLower(cleanLine(attr(attrs, "status"))),
		})
	case fID:
		f.src = attr(attrs, "source")
	case fCustomerName, fVendorContactName, fProviderName:
		f.part = attr(attrs, "part")
	case fPhone:
		f.tel = Phone{
			Type:      strings.ToLower(cleanLine(attr(attrs, "type"))),
			Time:      strings.ToLower(cleanLine(attr(attrs, "time"))),
			Preferred: isYes(attr(attrs, "preferredcontact")),
		}
	}
	if f.role.isField() {
		w.field = len(w.stack)
		w.text = w.text[:0]
	}
	w.stack = append(w.stack, f)
	if selfClosing {
		w.popTo(len(w.stack)-1, false)
	}
	return nil
}

// readAttrs returns the attributes of the tag z is on that ADF defines for the elements
// whose attributes the reader keeps, with lower-case names.
func (w *walker) readAttrs(z *html.Tokenizer, more bool) [][2]string {
	w.attrs = w.attrs[:0]
	for more {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch key := string(localName(k)); key {
		case "interest", "status", "source", "part", "type", "time", "preferredcontact":
			w.attrs = append(w.attrs, [2]string{key, string(v)})
		}
	}
	return w.attrs
}

// intern returns name as a string, without allocating for the names of ADF.
func intern(name []byte) string {
	if s, ok := adfNames[string(name)]; ok {
		return s
	}
	return string(name)
}

// roleOf is the role of an element named name opened inside the top of the stack.
func (w *walker) roleOf(name string) role {
	if name == "prospect" {
		return rProspect
	}
	parent := rOther
	if len(w.stack) > 0 {
		parent = w.stack[len(w.stack)-1].role
	}
	switch parent {
	case rProspect:
		switch name {
		case "vehicle":
			return rVehicle
		case "customer":
			return rCustomer
		case "vendor":
			return rVendor
		case "provider":
			return rProvider
		case "id":
			if w.cur.ID == "" {
				return fID
			}
		case "requestdate":
			return fRequestDate
		case "comments": // not ADF's place for them, but the customer's words all the same
			return fComments
		}
	case rVehicle:
		switch name {
		case "year":
			return fYear
		case "make":
			return fMake
		case "model":
			return fModel
		case "trim":
			return fTrim
		case "stock":
			return fStock
		case "vin":
			return fVIN
		}
	case rCustomer, rCustomerContact: // some senders leave out <contact>
		switch name {
		case "contact":
			if parent == rCustomer {
				return rCustomerContact
			}
		case "name":
			return fCustomerName
		case "email":
			return fEmail
		case "phone":
			return fPhone
		case "comments":
			return fComments
		}
	case rVendor:
		switch name {
		case "vendorname":
			return fVendorName
		case "contact":
			return rVendorContact
		case "name":
			return fVendorContactName
		}
	case rVendorContact:
		if name == "name" {
			return fVendorContactName
		}
	case rProvider:
		if name == "name" {
			return fProviderName
		}
	}
	return rOther
}

// end handles an end tag.
func (w *walker) end(name []byte) {
	for i := len(w.stack) - 1; i >= 0; i-- {
		if w.stack[i].name == string(name) {
			w.popTo(i, false)
			return
		}
	}
}

// popTo closes the elements from the top of the stack down to and including index i;
// eof says the input ended, so that an open field's text may be cut off.
func (w *walker) popTo(i int, eof bool) {
	for j := len(w.stack) - 1; j >= i; j-- {
		f := &w.stack[j]
		switch {
		case j == w.field:
			if !eof {
				w.setField(f, string(w.text))
			}
			w.field = -1
		case f.role == rProspect:
			w.finishProspect()
			w.prospect = -1
		}
	}
	w.stack = w.stack[:i]
}

// setField stores the text of the field f.
func (w *walker) setField(f *frame, text string) {
	p := &w.cur
	if f.role == fComments {
		if t := cleanText(text); t != "" {
			w.comments = append(w.comments, t)
		}
		return
	}
	text = cleanLine(text)
	if text == "" {
		return
	}
	v := &Vehicle{} // a vehicle field is only ever opened inside a vehicle
	if len(p.Vehicles) > 0 {
		v = &p.Vehicles[len(p.Vehicles)-1]
	}
	switch f.role {
	case fID:
		p.ID, p.IDSource = text, cleanLine(f.src)
	case fRequestDate:
		setOnce(&p.RequestDate, text)
	case fYear:
		setOnce(&v.Year, text)
	case fMake:
		setOnce(&v.Make, text)
	case fModel:
		setOnce(&v.Model, text)
	case fTrim:
		setOnce(&v.Trim, text)
	case fStock:
		setOnce(&v.Stock, text)
	case fVIN:
		setOnce(&v.VIN, text)
	case fCustomerName:
		w.customer.add(f.part, text)
	case fEmail:
		if p.Email == "" {
			p.Email = validEmail(text)
		}
	case fPhone:
		ph := f.tel
		ph.Number = text
		p.Phones = append(p.Phones, ph)
	case fVendorName:
		setOnce(&w.vendorTag, text)
	case fVendorContactName:
		w.vendor.add(f.part, text)
	case fProviderName:
		w.provider.add(f.part, text)
	}
}

func setOnce(p *string, s string) {
	if *p == "" {
		*p = s
	}
}

// finishProspect completes the open prospect and keeps it unless it holds nothing.
func (w *walker) finishProspect() {
	p := w.cur
	p.Name = w.customer.String()
	p.Vendor = w.vendorTag
	if p.Vendor == "" {
		p.Vendor = w.vendor.String()
	}
	p.Provider = w.provider.String()
	p.Comments = strings.Join(w.comments, "\n")
	if p.ID != "" || p.RequestDate != "" || p.Name != "" || len(p.Phones) > 0 || p.Email != "" ||
		len(p.Vehicles) > 0 || p.Comments != "" || p.Vendor != "" || p.Provider != "" {
		w.out = append(w.out, p)
	}
	w.cur = Prospect{}
}

// attr returns the value of the attribute key (lower case) in attrs.
func attr(attrs [][2]string, key string) string {
	for _, a := range attrs {
		if a[0] == key {
			return a[1]
		}
	}
	return ""
}

func isYes(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// validEmail returns the address in s when s is one address (optionally with a display
// name) as the dialer accepts it, and "" otherwise.
func validEmail(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "mailto:")
	a, err := mail.ParseAddress(s)
	if err != nil || len(a.Address) > maxEmail {
		return ""
	}
	// The dialer checks that the address parses to itself.
	if b, err := mail.ParseAddress(a.Address); err != nil || b.Address != a.Address {
		return ""
	}
	return a.Address
}

// adfElements are the element names of ADF 1.0; one of them ends a <comments> field
// that was left open.
var adfElements = setOf("adf", "prospect", "id", "requestdate", "vehicle", "year", "make", "model",
	"vin", "stock", "trim", "doors", "bodystyle", "transmission", "odometer", "condition",
	"colorcombination", "interiorcolor", "exteriorcolor", "preference", "imagetag", "price",
	"pricecomments", "option", "optionname", "manufacturercode", "weighting", "finance",
	"method", "amount", "balance", "comments", "customer", "contact", "name", "email", "phone",
	"address", "street", "apartment", "city", "regioncode", "postalcode", "country",
	"timeframe", "description", "earliestdate", "latestdate", "vendor", "vendorname", "url",
	"provider", "service")

// voids are HTML elements that have no end tag; they are never pushed.
var voids = setOf("br", "hr", "img", "meta", "link", "input", "wbr", "area", "base", "col",
	"embed", "param", "source", "track")

// breaks are HTML elements that break a line of <comments>.
var breaks = setOf("br", "p", "div", "li", "tr")

// adfNames maps each name of ADF to itself, for intern.
var adfNames = func() map[string]string {
	m := make(map[string]string, len(adfElements))
	for n := range adfElements {
		m[n] = n
	}
	return m
}()

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
