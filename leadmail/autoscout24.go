package leadmail

// AutoScout24 call notifications. The shapes here are reconstructed, not copied from a
// real mail: see the package documentation, and adjust the tables below (subject
// patterns, XML element names, text labels) when a real notification disagrees.

import (
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/net/html"

	"github.com/leadline/leadline/dialer"
)

// SourceAutoScout24 is the source of leads from AutoScout24 call notifications.
const SourceAutoScout24 = "AutoScout24"

// autoScout24Sender is the pattern of AutoScout24's senders; its call notifications come
// from no-reply@rtm.autoscout24.com.
const autoScout24Sender = "*@autoscout24.com"

func isAutoScout24(from string) bool { return SenderMatches(autoScout24Sender, from) }

// Bounds of the XML block search.
const (
	maxHTMLTokens   = 100_000 // tokens of the HTML body looked at for comments
	maxComments     = 50      // comments tried as XML
	maxCommentBytes = 64 << 10
	maxXMLTokens    = 2_000
	maxXMLDepth     = 16
	maxXMLValue     = 1 << 10
)

type callKind int

const (
	callUnknown callKind = iota
	callMissed
	callAnswered
)

// call is what an AutoScout24 notification says about one call.
type call struct {
	kind                        callKind
	phone, time, callID, sellID string
	listingID, ref, vehicle     string
	xmlTime                     bool // time is the XML block's (a full date), not the subject's
}

// xmlNames are the element names (lower case; "parent/child" for a nested one,
// "element/@attribute" for an attribute) read from the XML block, per field, in order
// of preference. The block's real names are not known here: these cover the
// reconstructed fixtures and the obvious variants; add a real name at the front.
var xmlNames = map[string][]string{
	"phone": {"caller/phone", "caller/number", "callerphonenumber", "callerphone", "callernumber",
		"caller_number", "caller_phone", "customerphone", "phonenumber", "phone", "ani", "cli"},
	"kind":    {"calltype", "callstatus", "call/type", "call/status", "type", "status", "result"},
	"time":    {"calltime", "callstarttime", "call/time", "call/start", "starttime", "calldate", "time", "timestamp", "date"},
	"callid":  {"callid", "call_id", "call/id", "call/@id"},
	"sellid":  {"sellid", "sell_id", "customernumber", "customerid", "dealerid"},
	"listing": {"listing/id", "listingid", "listing_id", "classifiedid", "adid", "mia", "listing/@id"},
	"ref":     {"listing/dealerreference", "dealerreference", "listing/reference", "nfm", "offerreference", "stocknumber"},
	"make":    {"listing/make", "make", "brand"},
	"model":   {"listing/model", "model"},
}

// Subject patterns per country, after AutoScout24's description for lead management
// systems ("Klantnr: [sell_ID]. Gemiste oproep voor [make] [model] ([MIA]/[NFM])"):
// which kind of call each names, and where its time, vehicle and ids are.
var (
	subjectMissed   = regexp.MustCompile(`(?i)gemiste oproep|miste op|appel manqu[ée]|verpasster anruf|senza risposta`)
	subjectAnswered = regexp.MustCompile(`(?i)aangenomen oproep|beantwoordde op|appel re[çc]u|angenommener anruf|accettata`)
	subjectSellID   = regexp.MustCompile(`(?i)(?:klantnr|n°\s*client|knd\.?-?nr|sellid)\.?\s*:?\s*(\d{3,})`)
	subjectShapes   = []*regexp.Regexp{
		// NL: Klantnr: 123456. Gemiste oproep voor VOLVO XC60 (MIA/NFM)
		regexp.MustCompile(`(?i)oproep voor\s+(?P<vehicle>.+?)\s*(?:\((?P<ids>[^()]*)\))?\s*$`),
		// BE-NL: Klantnr.: 123456. Miste op 14:05 een oproep over deze VOLVO XC60, uit (MIA) tier
		regexp.MustCompile(`(?i)op\s+(?P<time>\d{1,2}[:.u]\d{2})\s+een oproep over deze\s+(?P<vehicle>.+?)\s*,?\s*(?:uit\s*)?(?:\((?P<ids>[^()]*)\))?\s*(?:tier)?\s*$`),
		// BE-FR, FR: N° client : 123456. Appel manqué à 14:05, VOLVO XC60 (MIA)
		regexp.MustCompile(`(?i)appel (?:manqu[ée]|re[çc]u) à\s*(?P<time>\d{1,2}[:.hH]\d{2})\s*,\s*(?P<vehicle>.+?)\s*(?:\((?P<ids>[^()]*)\))?\s*$`),
		// DE, AT: Knd.-Nr: 123456. Verpasster Anruf um 14:05, VOLVO XC60 (MIA/NFM)
		regexp.MustCompile(`(?i)anruf um\s*(?P<time>\d{1,2}[:.]\d{2})(?:\s*uhr)?\s*,\s*(?P<vehicle>.+?)\s*(?:\((?P<ids>[^()]*)\))?\s*$`),
		// IT: SellID 123456 - Richiesta telefonica senza risposta alle 14:05, VOLVO XC60 (MIA)
		regexp.MustCompile(`(?i)alle\s*(?P<time>\d{1,2}[:.]\d{2})\s*,\s*(?P<vehicle>.+?)\s*(?:\((?P<ids>[^()]*)\))?\s*$`),
	}
	// textPhone finds the caller's number after a label in the visible text.
	textPhone = regexp.MustCompile(`(?i)\b(?:telefoonnummer|telefoon|nummer van de beller|beller|gebeld door|` +
		`num[ée]ro de t[ée]l[ée]phone|num[ée]ro de l'appelant|appelant|t[ée]l[ée]phone|` +
		`telefonnummer|rufnummer|anrufer|numero di telefono|chiamante|caller(?: number)?|phone(?: number)?|tel)` +
		`\b[^:\n]{0,20}:\s*(\+?\(?\d[\d \-./()]{4,}\d)`)
)

// readAutoScout24 reads an AutoScout24 mail: the XML block in an HTML comment first,
// then the subject and the visible text for what it lacks. ok is false when the mail is
// not a call notification (neither the block nor the subject says it is one).
func readAutoScout24(htmlBody, subject, text string) (c call, ok bool) {
	vals := xmlBlock(htmlBody)
	get := func(field string) string {
		for _, n := range xmlNames[field] {
			if v := vals[n]; v != "" {
				return v
			}
		}
		return ""
	}
	c.phone, c.time, c.callID, c.sellID = get("phone"), get("time"), get("callid"), get("sellid")
	c.xmlTime = c.time != ""
	c.listingID, c.ref = get("listing"), get("ref")
	c.vehicle = strings.TrimSpace(get("make") + " " + get("model"))
	for _, n := range xmlNames["kind"] {
		if k := kindOf(vals[n]); k != callUnknown {
			c.kind = k
			break
		}
	}
	fromXML := c.phone != "" || c.kind != callUnknown || c.callID != ""

	switch {
	case c.kind != callUnknown:
	case subjectMissed.MatchString(subject):
		c.kind = callMissed
	case subjectAnswered.MatchString(subject):
		c.kind = callAnswered
	}
	if !fromXML && c.kind == callUnknown {
		return call{}, false
	}
	if m := subjectSellID.FindStringSubmatch(subject); m != nil && c.sellID == "" {
		c.sellID = m[1]
	}
	for _, re := range subjectShapes {
		m := re.FindStringSubmatch(subject)
		if m == nil {
			continue
		}
		for i, name := range re.SubexpNames() {
			v := strings.TrimSpace(m[i])
			switch {
			case v == "":
			case name == "time" && c.time == "":
				c.time = v
			case name == "vehicle" && c.vehicle == "":
				c.vehicle = v
			case name == "ids":
				listing, ref, _ := strings.Cut(v, "/")
				if c.listingID == "" {
					c.listingID = strings.TrimSpace(listing)
				}
				if c.ref == "" {
					c.ref = strings.TrimSpace(ref)
				}
			}
		}
		break
	}
	if c.phone == "" {
		if m := textPhone.FindStringSubmatch(text); m != nil {
			c.phone = m[1]
		}
	}
	return c, true
}

// kindOf reads a call type value of the XML block.
func kindOf(v string) callKind {
	v = strings.ToLower(v)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(v, s) {
				return true
			}
		}
		return false
	}
	switch {
	case v == "":
		return callUnknown
	case has("miss", "unanswer", "not_answer", "notanswer", "no_answer", "noanswer", "gemist", "manqu", "verpasst"):
		return callMissed
	case has("accept", "answer", "aangenomen", "beantwoord", "reçu", "recu", "angenommen"):
		return callAnswered
	}
	return callUnknown
}

// autoScout24 turns a recognised call notification into the Result or the refusal.
// A missed call is a lead: the customer rang the dealer's tracked number and nobody
// took it. An answered call is not: the caller has just spoken to the dealer, and a
// call-back seconds later would ring someone already served.
func (x *extraction) autoScout24(c call) (Result, error) {
	switch {
	case c.kind == callAnswered:
		return x.noLead("an AutoScout24 answered-call notification: the caller already spoke to the dealer, so it is not a lead to call back")
	case cleanPhone(c.phone) == "":
		return x.noLead("an AutoScout24 call notification without the caller's number (withheld, or not in the XML block nor after a label in the text)")
	}
	kind := "Missed call"
	if c.kind == callUnknown {
		kind = "Call (missed or answered: not said)"
	}
	details := kind + " via AutoScout24"
	if c.time != "" {
		details += ", " + c.time
	}
	var ids []string
	if c.listingID != "" {
		ids = append(ids, "listing "+c.listingID)
	}
	if c.ref != "" {
		ids = append(ids, "dealer ref "+c.ref)
	}
	if c.sellID != "" {
		ids = append(ids, "customer no. "+c.sellID)
	}
	if len(ids) > 0 {
		details += "; " + strings.Join(ids, ", ")
	}
	l := cleanLead(dialer.LeadInput{
		Phone:    c.phone,
		Source:   SourceAutoScout24,
		Interest: c.vehicle,
		Message:  joinNonEmpty("\n", x.msg.Subject, details),
	})
	// A call id names the call; else the dealer and the call's time from the XML block
	// do. A time from the subject alone (no date) does not.
	switch {
	case c.callID != "":
		l.ExternalID = cleanLine("autoscout24:"+c.callID, limitExternalID)
	case c.sellID != "" && c.xmlTime:
		l.ExternalID = cleanLine(fmt.Sprintf("autoscout24:%s:%s", c.sellID, c.time), limitExternalID)
	}
	return Result{Message: x.msg, Kind: KindAutoScout24, Leads: []dialer.LeadInput{l}}, nil
}

// xmlBlock finds the first HTML comment of body holding XML with call fields and
// returns its values by xmlNames' keys.
func xmlBlock(body string) map[string]string {
	if !strings.Contains(body, "<!--") {
		return nil
	}
	z := html.NewTokenizer(strings.NewReader(body))
	comments := 0
	for range maxHTMLTokens {
		switch z.Next() {
		case html.ErrorToken:
			return nil
		case html.CommentToken:
			c := z.Text()
			if len(c) > maxCommentBytes || !strings.Contains(string(c), "<") {
				continue
			}
			comments++
			vals := xmlValues(string(c))
			for _, f := range []string{"phone", "kind", "callid"} {
				for _, n := range xmlNames[f] {
					if vals[n] != "" {
						return vals
					}
				}
			}
			if comments == maxComments {
				return nil
			}
		}
	}
	return nil
}

// xmlValues reads an XML fragment into a flat map: each element's text under its lower-
// case local name and under "parent/name", each attribute under "name/@attr"; the first
// value wins. encoding/xml reads no DTD and expands no entity but the five predefined,
// and the walk stops after maxXMLTokens tokens or maxXMLDepth levels.
func xmlValues(s string) map[string]string {
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = false
	// The HTML body is UTF-8 already, whatever a declaration in the block says.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	vals := map[string]string{}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" && vals[k] == "" {
			vals[k] = cleanLine(v, maxXMLValue)
		}
	}
	var stack []string
	var text strings.Builder
	for range maxXMLTokens {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == maxXMLDepth {
				return vals
			}
			name := strings.ToLower(t.Name.Local)
			stack = append(stack, name)
			text.Reset()
			for _, a := range t.Attr {
				set(name+"/@"+strings.ToLower(a.Name.Local), a.Value)
			}
		case xml.CharData:
			if text.Len() < maxXMLValue {
				text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				continue
			}
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			v := text.String()
			text.Reset()
			set(name, v)
			if len(stack) > 0 {
				set(stack[len(stack)-1]+"/"+name, v)
			}
		}
	}
	return vals
}
