package leadmail

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/leadline/leadline/dialer"
)

// Rule is a dealer's extraction rule for mails without ADF from a known sender.
//
// Fields run over the text body: the text/plain part, or the HTML converted to text
// when the mail has none, with "\n" line ends, its first 256 KiB. The converter puts an
// HTML table on one line and bold text between asterisks ("*Naam:* Eva *Telefoon:*
// 06…"), so a field in an HTML-only mail should stop at the next label rather than at
// the end of the line.
type Rule struct {
	Sender  string           // address pattern as in SenderMatches
	Subject *regexp.Regexp   // optional: the subject must match
	Fields  []*regexp.Regexp // run over the text body; named groups name, phone, email, interest, message fill the lead (first match of each group wins)
	Source  string           // the lead's source; default the sender's domain
}

// ruleGroups are the named groups a rule's Fields may have.
var ruleGroups = []string{"name", "phone", "email", "interest", "message"}

// CheckRule validates a rule as config loading needs: its Sender is a pattern
// SenderMatches knows, it has Fields and none is nil, each Fields regexp's named groups
// are name, phone, email, interest or message, at least one group is phone, and its Source fits a lead. All
// problems are returned together, each naming its field ("fields[1]: …").
func CheckRule(r Rule) error {
	var errs []error
	if _, err := parsePattern(r.Sender); err != nil {
		errs = append(errs, fmt.Errorf("sender %q %w", r.Sender, err))
	}
	if len(r.Fields) == 0 {
		errs = append(errs, errors.New("fields: none given; at least one needs a group named phone"))
	}
	phone := false
	for i, re := range r.Fields {
		if re == nil {
			errs = append(errs, fmt.Errorf("fields[%d]: no regexp", i))
			continue
		}
		for _, name := range re.SubexpNames()[1:] {
			switch {
			case name == "phone":
				phone = true
			case name == "", knownGroup(name):
			default:
				errs = append(errs, fmt.Errorf("fields[%d]: unknown group %q (known: %s)", i, name, strings.Join(ruleGroups, ", ")))
			}
		}
	}
	if len(r.Fields) > 0 && !phone {
		errs = append(errs, errors.New("fields: no group named phone: a lead needs a number to call"))
	}
	if s := cleanLine(r.Source, limitSource); s != strings.TrimSpace(r.Source) {
		errs = append(errs, fmt.Errorf("source %q: longer than %d characters or has control characters", r.Source, limitSource))
	}
	return errors.Join(errs...)
}

func knownGroup(name string) bool {
	for _, g := range ruleGroups {
		if g == name {
			return true
		}
	}
	return false
}

// matchRule returns the index of the first rule whose sender and subject match, or -1.
func matchRule(rules []Rule, m Message) int {
	for i, r := range rules {
		if SenderMatches(r.Sender, m.From) && (r.Subject == nil || r.Subject.MatchString(m.Subject)) {
			return i
		}
	}
	return -1
}

// applyRule runs r's fields over text and returns the lead they fill. For each group the
// first regexp, in order, whose first match gives it a non-blank value wins.
func applyRule(r Rule, text string, m Message) dialer.LeadInput {
	vals := map[string]string{}
	for _, re := range r.Fields {
		if re == nil {
			continue
		}
		loc := re.FindStringSubmatchIndex(text)
		if loc == nil {
			continue
		}
		for g, name := range re.SubexpNames() {
			if name == "" || vals[name] != "" || loc[2*g] < 0 {
				continue
			}
			if v := text[loc[2*g]:loc[2*g+1]]; strings.TrimSpace(v) != "" {
				vals[name] = v
			}
		}
	}
	l := dialer.LeadInput{
		Phone: vals["phone"], Name: vals["name"], Email: vals["email"],
		Interest: vals["interest"], Message: vals["message"], Source: r.Source,
	}
	if strings.TrimSpace(l.Source) == "" {
		l.Source = senderDomain(m.From)
	}
	return cleanLead(l)
}
