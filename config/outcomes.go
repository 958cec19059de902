package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// A dealer's outcomes: what a salesperson is asked after a call the customer ended
// ("press 1 for an appointment, 2 to follow up later, 3 if the customer is not
// interested"), one key each, in order. Off unless listed: without them the
// salesperson's leg ends with the customer's, as every call does.
//
//	outcomes: [appointment, follow_up, not_interested]     # DefaultOutcomes, named in the dealer's language
//	outcomes: [appointment, {id: test_drive, say: "for a test drive"}]

// Outcome is one answer: ID is stored and sent to the CRM, Say names it in the prompt
// ("for an appointment"); Say defaults to DefaultOutcomeSay in the dealer's language
// for the ids of DefaultOutcomes.
type Outcome struct {
	ID  string
	Say string
}

// DefaultOutcomes are the outcomes whose spoken names come with Leadline.
var DefaultOutcomes = []string{"appointment", "follow_up", "not_interested"}

var defaultOutcomeSay = map[string]map[string]string{
	"en": {"appointment": "for an appointment", "follow_up": "to follow up later", "not_interested": "if the customer is not interested"},
	"nl": {"appointment": "voor een afspraak", "follow_up": "om later op te volgen", "not_interested": "als de klant geen interesse heeft"},
	"de": {"appointment": "für einen Termin", "follow_up": "für eine spätere Nachverfolgung", "not_interested": "wenn der Kunde kein Interesse hat"},
	"fr": {"appointment": "pour un rendez-vous", "follow_up": "pour un suivi plus tard", "not_interested": "si le client n'est pas intéressé"},
}

// DefaultOutcomeSay is how the prompt names a default outcome in language, or "".
func DefaultOutcomeSay(language, id string) string { return defaultOutcomeSay[language][id] }

// maxOutcomes is one key each, 1 to 9.
const maxOutcomes = 9

var outcomeID = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func (d *decoder) outcomeDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"outcomes": func(n *yaml.Node, p string) {
			d.list(n, p, "outcomes", func(_ int, item *yaml.Node, p string) {
				var o Outcome
				if r := d.resolve(item, p); r != nil && r.Kind == yaml.MappingNode {
					d.object(r, p, map[string]field{"id": d.str(&o.ID), "say": d.str(&o.Say)})
				} else {
					o.ID, _ = d.scalar(item, p, "an outcome id or {id, say}")
				}
				dl.Outcomes = append(dl.Outcomes, o)
			})
		},
	}
}

// validateOutcomes checks the dealer's outcomes and fills the spoken names of the
// default ones.
func (d *Dealer) validateOutcomes(v *validator, path string) {
	p := path + ".outcomes"
	if len(d.Outcomes) > maxOutcomes {
		v.add(p, "at most %d outcomes: one key each, 1 to 9", maxOutcomes)
	}
	seen := map[string]bool{}
	for i := range d.Outcomes {
		o := &d.Outcomes[i]
		ip := index(p, i)
		switch {
		case !outcomeID.MatchString(o.ID):
			v.add(ip, "%q is not an outcome id: lower-case letters, digits and _, starting with a letter (e.g. test_drive)", o.ID)
		case seen[o.ID]:
			v.add(ip, "outcome %q is listed twice", o.ID)
		}
		seen[o.ID] = true
		if o.Say == "" {
			o.Say = DefaultOutcomeSay(d.Language, o.ID)
		}
		_, known := defaultOutcomeSay[d.Language]
		switch {
		case o.Say == "" && !known: // the language is reported already
		case o.Say == "":
			v.add(ip, "outcome %q needs say: how the prompt names it, e.g. {id: %s, say: \"for a test drive\"}", o.ID, o.ID)
		case len([]rune(o.Say)) > 100 || strings.ContainsFunc(o.Say, unicode.IsControl):
			v.add(ip+".say", "at most 100 characters, no control characters")
		}
	}
}

// outcomesSummary is what check shows of a dealer's outcomes.
func (d *Dealer) outcomesSummary() string {
	if len(d.Outcomes) == 0 {
		return "not asked (outcomes: [appointment, follow_up, not_interested] asks them)"
	}
	parts := make([]string, len(d.Outcomes))
	for i, o := range d.Outcomes {
		parts[i] = fmt.Sprintf("%d %s", i+1, o.ID)
	}
	return "asked after the customer hangs up: " + strings.Join(parts, ", ")
}
