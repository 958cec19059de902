package dialer

import (
	"bytes"
	"fmt"
	"text/template"
	"time"
)

// Assigned is the flow keyword for the lead's assigned_to person.
const Assigned = "assigned"

// Dealer is one dealer's process as management configured it. cmd builds it from the
// configuration; the dialer never reads configuration files.
type Dealer struct {
	ID       string
	Name     string
	Language string // nl, en, de, fr
	Country  string // ISO region for national numbers, e.g. "NL"
	CallerID string // E.164, shown to salespeople and customers
	// Privacy is asked of the carrier on customer legs: "" (nothing), "id" (withhold the
	// caller id) or "none"; see DialOpts.Privacy.
	Privacy string
	// Location is the dealer's time zone, for the days of its reports; nil: UTC.
	Location *time.Location

	RingTimeout         time.Duration // per salesperson
	AcceptTimeout       time.Duration // after the whisper's first play
	CustomerRingTimeout time.Duration
	MaxCallLength       time.Duration

	Whisper *template.Template // executed with WhisperData
	People  map[string]Person
	Flow    []Step // the last step is the owner

	// Hours are the dealer's opening hours: a lead outside them waits, scheduled, for the
	// next opening. Nil: always open.
	Hours *Hours
	// Stagger spaces out leads scheduled for the same opening.
	Stagger time.Duration
	// CustomerHours is when customers may be rung in their own local time (zero:
	// DefaultCustomerHours).
	CustomerHours Span

	// DuplicateWindow: a lead for a number with an unfinished lead of this dealer created
	// at most this long before joins that lead instead of starting a call. Zero: off.
	DuplicateWindow time.Duration
	// Retries are the waits before a customer who was not reached is rung again, first
	// through the salesperson who accepted, then the flow. Empty: no retry.
	Retries []Retry
	// Rounds is how often the flow is walked before a lead is exhausted (0 counts as 1);
	// RoundPause is the wait between walks.
	Rounds     int
	RoundPause time.Duration
	// Outcomes are what a salesperson is asked after a call the customer ended, key 1
	// for the first; empty: nothing is asked.
	Outcomes []OutcomeChoice
	// Recording is whether and how bridged calls are recorded (recording.go).
	Recording RecordingPolicy
}

// Retry is one wait before a customer is rung again: After, or until the dealer's next
// opening.
type Retry struct {
	After       time.Duration
	NextOpening bool
}

// Person is a salesperson (or the owner).
type Person struct {
	ID    string
	Name  string
	Phone string // a SIP URI or an E.164 number
	// Hours are when this person takes leads; outside them the flow skips them. Nil:
	// whenever the dealer is open.
	Hours *Hours
	// Registered: the person's softphones register to Leadline. Phone is unused; every
	// device registered when their step comes is rung as a leg of its own (devices.go).
	Registered bool
	// SRTP is the media encryption of calls to the person's SIP URI or registered
	// phones: "" or "off", "optional", "required" (DialOpts.SRTP).
	SRTP string

	device *Device // the one device this entry of a step rings (flow.expand)
}

// Step is one step of a flow: person ids rung together (a ring group, or one person),
// the single keyword Assigned, or with RoundRobin person ids rung one at a time, each
// lead starting with the next one in turn.
type Step struct {
	People     []string
	RoundRobin bool
}

// WhisperData is what a whisper template can use.
type WhisperData struct {
	Name, Phone, Email, Source, Interest, Message string
	Dealer                                        string // the dealer's name
	Person                                        string // the salesperson being called
}

// Prompt is something the dialer says: Name identifies it for prerecorded prompts
// ("whisper", "connecting", "customer_unreachable"), Text is what a speech engine says.
type Prompt struct {
	Name string
	Text string
}

// Prompt names.
const (
	PromptWhisper             = "whisper"
	PromptConnecting          = "connecting"
	PromptCustomerUnreachable = "customer_unreachable"
	PromptOutcome             = "outcome" // what came of the call? (its choices vary per dealer)
	PromptThanks              = "thanks"
)

func (d *Dealer) whisperText(l *Lead, p Person) string {
	data := WhisperData{
		Name: l.Name, Phone: l.Phone, Email: l.Email, Source: l.Source,
		Interest: l.Interest, Message: l.Message, Dealer: d.Name, Person: p.Name,
	}
	ph := phrasesFor(d.Language)
	if data.Source == "" {
		data.Source = ph.website
	}
	if data.Name == "" {
		data.Name = ph.unknownName
	}
	if d.Whisper == nil {
		return fmt.Sprintf(ph.defaultWhisper, data.Source, data.Name, data.Interest)
	}
	var b bytes.Buffer
	if err := d.Whisper.Execute(&b, data); err != nil {
		return fmt.Sprintf(ph.defaultWhisper, data.Source, data.Name, data.Interest)
	}
	return b.String()
}

// phrases are the fixed prompts in one language.
type phrases struct {
	website, unknownName string
	defaultWhisper       string // Source, Name, Interest
	connecting           string
	customerUnreachable  string
	again                string // before the whisper of a lead's later round
	// The outcome prompt: outcomeAsk, then outcomeKey (key, the choice's Say) for each
	// choice; thanks once a choice was made.
	outcomeAsk string
	outcomeKey string
	thanks     string
}

var allPhrases = map[string]phrases{
	"en": {
		website: "the website", unknownName: "unknown name",
		defaultWhisper:      "New lead from %s: %s, %s. Press 1 to connect, 2 to pass it on.",
		connecting:          "Connecting you now.",
		customerUnreachable: "The customer could not be reached. The lead stays with you.",
		again:               "Another try. ",
		outcomeAsk:          "The customer hung up. What came of the call?",
		outcomeKey:          "press %d %s",
		thanks:              "Thank you.",
	},
	"nl": {
		website: "de website", unknownName: "onbekende naam",
		defaultWhisper:      "Nieuwe lead van %s: %s, %s. Druk op 1 om te verbinden, op 2 om door te geven.",
		connecting:          "U wordt nu verbonden.",
		customerUnreachable: "De klant was niet bereikbaar. De lead blijft bij u.",
		again:               "Nieuwe poging. ",
		outcomeAsk:          "De klant heeft opgehangen. Wat is er uit het gesprek gekomen?",
		outcomeKey:          "druk %d %s",
		thanks:              "Dank u.",
	},
	"de": {
		website: "der Webseite", unknownName: "unbekannter Name",
		defaultWhisper:      "Neuer Lead von %s: %s, %s. Drücken Sie 1 zum Verbinden, 2 zum Weitergeben.",
		connecting:          "Sie werden jetzt verbunden.",
		customerUnreachable: "Der Kunde war nicht erreichbar. Der Lead bleibt bei Ihnen.",
		again:               "Neuer Versuch. ",
		outcomeAsk:          "Der Kunde hat aufgelegt. Was hat das Gespräch ergeben?",
		outcomeKey:          "drücken Sie %d %s",
		thanks:              "Danke.",
	},
	"fr": {
		website: "le site web", unknownName: "nom inconnu",
		defaultWhisper:      "Nouveau contact de %s : %s, %s. Appuyez sur 1 pour être mis en relation, sur 2 pour le passer.",
		connecting:          "Mise en relation en cours.",
		customerUnreachable: "Le client n'a pas pu être joint. Le contact reste chez vous.",
		again:               "Nouvel essai. ",
		outcomeAsk:          "Le client a raccroché. Qu'a donné l'appel ?",
		outcomeKey:          "appuyez sur %d %s",
		thanks:              "Merci.",
	},
}

func phrasesFor(lang string) phrases {
	if p, ok := allPhrases[lang]; ok {
		return p
	}
	return allPhrases["en"]
}
