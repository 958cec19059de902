package config

import (
	"log/slog"
	"text/template"
	"time"

	"github.com/leadline/leadline/phone"
)

// Config is a whole leadline.yaml. Fields marked "derived" are filled by Validate
// from the others; set the others when building a Config in Go, then call Validate.
type Config struct {
	// NodeID names this process among several on one store. Empty means the caller
	// chooses (hostname and pid).
	NodeID string
	// TakeoverAfter is how long a node may be silent before another node resumes its
	// leads; also how soon a restarted node resumes the leads it was working on.
	TakeoverAfter time.Duration
	Log           Log
	HTTP          HTTP
	SIP           SIP
	Store         string // sqlite://FILE or postgres://…
	TTS           TTS
	Email         Email // the SMTP receiver (email.go)
	// Webhooks: which targets the dealers' webhooks may reach, a try's time (webhooks.go).
	Webhooks Webhooks
	// Recordings is where call recordings are kept: file:///DIR or s3://BUCKET/PREFIX
	// (recording.go); RecordingStore is it parsed (derived).
	Recordings     string
	RecordingStore Recordings
	Dealers        []Dealer
	// Security: rate limits, the cap on leads per number, trusted proxies (security.go).
	Security

	// StoreDriver is "sqlite" or "postgres" (derived from Store).
	StoreDriver string
	// StoreDSN is the sqlite file name (anything after "sqlite://", query included)
	// or the whole postgres URL (derived from Store).
	StoreDSN string

	// meta says where values came from, for messages. nil for a Config built in Go.
	meta *meta
}

// Log is the log section.
type Log struct {
	Format string // "text" or "json"
	Level  string // "debug", "info", "warn" or "error"
}

// SlogLevel returns Level as a slog.Level; an unknown level is slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// HTTP is the http section.
type HTTP struct {
	Listen string // host:port; host may be empty
}

// SIP is the sip section.
type SIP struct {
	Listen string // host:port, UDP and TCP
	// ExternalHost is put in Contact, Via and SDP when behind NAT; empty means the
	// listen host.
	ExternalHost string
	RTPPorts     string // "10000-20000", as written
	// MediaTimeout ends a call that received no RTP for this long.
	MediaTimeout time.Duration
	// Trunk is sip.trunk: one trunk. Trunks is sip.trunks: several, tried in order.
	// Set one of them; TrunkList returns the trunks in use (trunks.go).
	Trunk  Trunk
	Trunks []Trunk
	// TLS is sip.tls: Leadline's TLS listener and certificate, and the CA trusted for
	// peers besides the system's roots (siptls.go).
	TLS SIPTLS

	// RTPPortMin and RTPPortMax bound the RTP ports, both included (derived from
	// RTPPorts). RTPPortMin is even.
	RTPPortMin, RTPPortMax int
}

// TTS is the tts section.
type TTS struct {
	Engine string // EngineEspeak or EngineFiles
	Dir    string // prerecorded prompts; only with EngineFiles
}

// TTS engines.
const (
	EngineEspeak = "espeak-ng"
	EngineFiles  = "files"
)

// Dealer is one dealership: its keys, people and flow.
type Dealer struct {
	ID   string
	Name string // defaults to ID
	// APIKeys give full access to the dealer's leads: plain keys, or "sha256:<hex>" of a
	// key (see KeyDigest). Their digests are DealerSecurity.APIKeyDigests.
	APIKeys []string
	// Timezone is an IANA name; Location is it loaded (derived).
	Timezone string
	Location *time.Location
	Language string // nl, en, de or fr
	// Country is the ISO 3166 region national numbers are read in; empty means the
	// region of CallerID. Validate fills it in upper case.
	Country string
	// CallerID is what salespeople and customers see; Validate rewrites it to E.164.
	CallerID            string
	RingTimeout         time.Duration // per person
	AcceptTimeout       time.Duration // after the whisper's first play
	CustomerRingTimeout time.Duration
	MaxCallLength       time.Duration
	// Whisper is a text/template over the fields in WhisperFields; empty means
	// DefaultWhisper(Language). WhisperTemplate is it compiled (derived).
	Whisper         string
	WhisperTemplate *template.Template
	People          []Person
	Flow            []Step
	// DealerSecurity: form keys, allowed origins, webhook secrets, countries (security.go).
	DealerSecurity
	// Schedule: opening hours, stagger, customer calling hours (hours.go).
	Schedule
	// Outcomes are asked of a salesperson after a call the customer ended, key 1 for
	// the first (outcomes.go); none: nothing is asked.
	Outcomes []Outcome
	// Email: the dealer's intake address, allowed senders, rules, mailbox (email.go).
	Email DealerEmail
	// Portals: classifieds portals' lead webhooks (email.go).
	Portals Portals
	// Identity: the numbers the dealer owns and its privacy (trunks.go).
	Identity
	// Webhooks are where the dealer's leads' events are posted (webhooks.go).
	Webhooks []Webhook
	// CRMEmail are the addresses the dealer's CRM takes ADF leads at: each gets the lead's
	// result as ADF (mailout.go). Reports is the owner's weekly report mail.
	CRMEmail []string
	Reports  Reports
	// Recording: whether and how bridged calls are recorded (recording.go).
	Recording Recording
}

// Person is someone a flow can ring.
type Person struct {
	ID    string
	Name  string // defaults to ID
	Phone string // as written: a number, a sip:/sips: URI or "registered"
	// Target is Phone parsed, numbers in E.164 read with the dealer's Country (derived).
	Target phone.Target
	// Hours are when this person takes leads, in the dealer's time zone; not set: whenever
	// the dealer is open.
	Hours Timetable
	// Softphone: the SIP account of a person with phone: registered (softphones.go).
	Softphone
	// SRTP is off, optional or required ("": off), in lower case: media encryption
	// (SDES, RFC 4568) on calls to the person's SIP URI or registered phones (srtp.go).
	// A number is called through a trunk, whose srtp applies.
	SRTP string
}

// Step is one step of a flow: a single person id, the keyword Assigned alone, a ring
// group of several person ids rung together, or (RoundRobin, written
// `round_robin: [kees, anna]`) people rung one at a time, each lead starting with the
// next one.
type Step struct {
	People     []string
	RoundRobin bool
}

// Assigned is the flow keyword for the lead's assigned_to person.
const Assigned = "assigned"

// IsAssigned reports whether s is the Assigned step.
func (s Step) IsAssigned() bool { return len(s.People) == 1 && s.People[0] == Assigned }

// Defaults. Durations apply when a value is absent, empty or, in a Config built in Go,
// zero.
const (
	DefaultHTTPListen          = ":8080"
	DefaultSIPListen           = "0.0.0.0:5060"
	DefaultRTPPorts            = "10000-20000"
	DefaultStore               = "sqlite://leadline.db"
	DefaultEngine              = EngineEspeak
	DefaultLogFormat           = "text"
	DefaultLogLevel            = "info"
	DefaultLanguage            = "en"
	DefaultTimezone            = "UTC"
	DefaultMediaTimeout        = 30 * time.Second
	DefaultTakeoverAfter       = 10 * time.Second
	DefaultRingTimeout         = 20 * time.Second
	DefaultAcceptTimeout       = 10 * time.Second
	DefaultCustomerRingTimeout = 30 * time.Second
	DefaultMaxCallLength       = 2 * time.Hour
)

// Languages are the supported whisper and prompt languages.
var Languages = []string{"nl", "en", "de", "fr"}

// WhisperFields are the fields a whisper template may use, as {{.Name}} and so on.
// The dialer executes Dealer.WhisperTemplate with a struct that has these string
// fields.
var WhisperFields = []string{"Name", "Phone", "Source", "Interest", "Message", "Email", "Dealer", "Person"}

var defaultWhispers = map[string]string{
	"en": "New lead{{with .Source}} from {{.}}{{end}}: {{.Name}}{{with .Interest}}, {{.}}{{end}}. Press 1 to connect, 2 to pass it on.",
	"nl": "Nieuwe lead{{with .Source}} van {{.}}{{end}}: {{.Name}}{{with .Interest}}, {{.}}{{end}}. Druk op 1 om te verbinden, op 2 om door te geven.",
	"de": "Neuer Lead{{with .Source}} von {{.}}{{end}}: {{.Name}}{{with .Interest}}, {{.}}{{end}}. Drücken Sie 1 zum Verbinden, 2 zum Weitergeben.",
	"fr": "Nouveau contact{{with .Source}} via {{.}}{{end}} : {{.Name}}{{with .Interest}}, {{.}}{{end}}. Appuyez sur 1 pour être mis en relation, sur 2 pour le transmettre.",
}

// DefaultWhisper returns the whisper template used when a dealer sets none, or ""
// for an unsupported language.
func DefaultWhisper(language string) string { return defaultWhispers[language] }

// Default returns a Config with every top-level default and no dealers.
func Default() *Config {
	return &Config{
		Log:   Log{Format: DefaultLogFormat, Level: DefaultLogLevel},
		HTTP:  HTTP{Listen: DefaultHTTPListen},
		SIP:   SIP{Listen: DefaultSIPListen, RTPPorts: DefaultRTPPorts, MediaTimeout: DefaultMediaTimeout},
		Store: DefaultStore,
		TTS:   TTS{Engine: DefaultEngine},

		Webhooks: Webhooks{Timeout: DefaultWebhookTimeout},

		TakeoverAfter: DefaultTakeoverAfter,
	}
}

// defaultDealer is a dealer before its YAML is decoded onto it.
func defaultDealer() Dealer {
	return Dealer{
		Timezone:            DefaultTimezone,
		Language:            DefaultLanguage,
		RingTimeout:         DefaultRingTimeout,
		AcceptTimeout:       DefaultAcceptTimeout,
		CustomerRingTimeout: DefaultCustomerRingTimeout,
		MaxCallLength:       DefaultMaxCallLength,
		Schedule:            Schedule{DuplicateWindow: DefaultDuplicateWindow},
	}
}

// Dealer returns the dealer with the given id.
func (c *Config) Dealer(id string) (*Dealer, bool) {
	for i := range c.Dealers {
		if c.Dealers[i].ID == id {
			return &c.Dealers[i], true
		}
	}
	return nil, false
}

// Person returns the person with the given id.
func (d *Dealer) Person(id string) (*Person, bool) {
	for i := range d.People {
		if d.People[i].ID == id {
			return &d.People[i], true
		}
	}
	return nil, false
}
