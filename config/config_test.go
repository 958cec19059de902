package config_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/phone"
)

// env returns a getenv over a map, so tests never read the real environment.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadExample(t *testing.T) {
	c, err := config.Load("testdata/leadline.yaml", env("JANSEN_API_KEY", "jansen-0123456789abcdef", "TRUNK_PASSWORD", "s3cret#x"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != ":8080" || c.SIP.Listen != "0.0.0.0:5060" || c.SIP.ExternalHost != "" {
		t.Errorf("listen addresses: %+v %+v", c.HTTP, c.SIP)
	}
	if c.SIP.RTPPortMin != 10000 || c.SIP.RTPPortMax != 20000 || c.SIP.MediaTimeout != 30*time.Second {
		t.Errorf("rtp %d-%d, media timeout %v", c.SIP.RTPPortMin, c.SIP.RTPPortMax, c.SIP.MediaTimeout)
	}
	if tr := c.SIP.Trunk; !tr.Enabled() || tr.Password != "s3cret#x" || tr.Target.Host != "sip.carrier.example" || !tr.Target.IsSIP() {
		t.Errorf("trunk: %+v", tr)
	}
	if c.StoreDriver != "sqlite" || c.StoreDSN != "leadline.db" || c.TTS.Engine != config.EngineEspeak {
		t.Errorf("store %q %q, tts %+v", c.StoreDriver, c.StoreDSN, c.TTS)
	}
	if c.Log.Format != "text" || c.Log.Level != "info" || c.NodeID != "" {
		t.Errorf("log %+v, node id %q", c.Log, c.NodeID)
	}
	if len(c.Dealers) != 1 {
		t.Fatalf("%d dealers", len(c.Dealers))
	}
	d := c.Dealers[0]
	if d.ID != "jansen" || d.Name != "Autohuis Jansen" || d.Language != "nl" || d.Country != "NL" || d.CallerID != "+31201234567" {
		t.Errorf("dealer: %+v", d)
	}
	if !slices.Equal(d.APIKeys, []string{"jansen-0123456789abcdef"}) {
		t.Errorf("api keys %q", d.APIKeys)
	}
	if d.Location == nil || d.Location.String() != "Europe/Amsterdam" {
		t.Errorf("location %v", d.Location)
	}
	if d.RingTimeout != 20*time.Second || d.AcceptTimeout != 10*time.Second ||
		d.CustomerRingTimeout != 30*time.Second || d.MaxCallLength != 2*time.Hour {
		t.Errorf("timeouts %v %v %v %v", d.RingTimeout, d.AcceptTimeout, d.CustomerRingTimeout, d.MaxCallLength)
	}
	if d.WhisperTemplate == nil || !strings.HasPrefix(d.Whisper, "Nieuwe lead van {{.Source}}") {
		t.Errorf("whisper %q", d.Whisper)
	}
	// The e-mail intake of SPEC's additions: an SMTP receiver and the dealer's address
	// defaulted from its domain (docs/intake.md).
	if e := c.Email; e.Listen != ":2525" || e.Domain != "leads.example.com" || e.MaxBytes != 10_000_000 || e.TLS.Set() ||
		e.PerSender != (config.Rate{Count: 120, Per: time.Hour}) || e.PerDealer != (config.Rate{Count: 1200, Per: time.Hour}) {
		t.Errorf("email %+v", e)
	}
	if e := d.Email; e.Address != "jansen@leads.example.com" || !slices.Equal(e.Senders, []string{"*@autoscout24.com", "crm@autohuisjansen.nl"}) ||
		e.RequireDKIM || e.RequireSPF || len(e.Rules) != 0 || e.IMAP.Enabled() {
		t.Errorf("dealer email %+v", e)
	}
	want := []config.Person{
		{ID: "piet", Name: "Piet de Vries", Phone: "sip:piet@192.0.2.10:5060", Target: phone.Target{
			Kind: phone.KindSIP, URI: "sip:piet@192.0.2.10:5060", Scheme: "sip", User: "piet", Host: "192.0.2.10", Port: 5060}},
		{ID: "kees", Name: "Kees Bakker", Phone: "+31612345678", Target: phone.Target{Kind: phone.KindNumber, Number: "+31612345678"}},
		{ID: "anna", Name: "Anna Smit", Phone: "+31687654321", Target: phone.Target{Kind: phone.KindNumber, Number: "+31687654321"}},
		{ID: "owner", Name: "Jan Jansen", Phone: "+31611111111", Target: phone.Target{Kind: phone.KindNumber, Number: "+31611111111"}},
	}
	if !reflect.DeepEqual(d.People, want) {
		t.Errorf("people\n got %+v\nwant %+v", d.People, want)
	}
	wantFlow := []config.Step{{People: []string{"assigned"}}, {People: []string{"piet"}}, {People: []string{"kees", "anna"}}, {People: []string{"owner"}}}
	if !reflect.DeepEqual(d.Flow, wantFlow) || !d.Flow[0].IsAssigned() || d.Flow[1].IsAssigned() {
		t.Errorf("flow %+v", d.Flow)
	}
	if p, ok := d.Person("kees"); !ok || p.Name != "Kees Bakker" {
		t.Errorf("Person(kees) = %v, %v", p, ok)
	}
	if got, ok := c.Dealer("jansen"); !ok || got.ID != "jansen" {
		t.Errorf("Dealer(jansen) = %v, %v", got, ok)
	}
	if _, ok := c.Dealer("nobody"); ok {
		t.Error("Dealer(nobody) found")
	}
	// Validate is idempotent.
	if err := c.Validate(); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/nope.yaml", nil)
	var ve *config.ValidationError
	if err == nil || errors.As(err, &ve) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadUnsetVariable(t *testing.T) {
	_, err := config.Load("testdata/leadline.yaml", nil)
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	want := []config.Problem{{Path: "dealers[0].api_keys[0]", Message: "empty api key (JANSEN_API_KEY not set)", Line: 22}}
	if !slices.Equal(ve.Problems, want) {
		t.Fatalf("problems %+v, want %+v", ve.Problems, want)
	}
	if err.Error() != "testdata/leadline.yaml:22: dealers[0].api_keys[0]: empty api key (JANSEN_API_KEY not set)" {
		t.Fatalf("Error() = %q", err.Error())
	}
}

const minimal = `
dealers:
  - id: jansen
    api_keys: ["jansen-key-0123456789"]
    caller_id: "+31201234567"
    people: [{id: owner, phone: "06-11111111"}]
    flow: [owner]
`

func TestDefaults(t *testing.T) {
	c, err := config.Parse([]byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	if c.HTTP != want.HTTP || c.Log != want.Log || c.Store != "sqlite://leadline.db" || c.TTS != want.TTS ||
		c.SIP.Listen != "0.0.0.0:5060" || c.SIP.RTPPorts != "10000-20000" || c.SIP.MediaTimeout != 30*time.Second {
		t.Errorf("top-level defaults: %+v", c)
	}
	if c.SIP.Trunk.Enabled() {
		t.Error("trunk enabled without a uri")
	}
	d := c.Dealers[0]
	if d.Name != "jansen" || d.Language != "en" || d.Timezone != "UTC" || d.Location != time.UTC || d.Country != "NL" {
		t.Errorf("dealer defaults: %+v", d)
	}
	if d.RingTimeout != 20*time.Second || d.AcceptTimeout != 10*time.Second ||
		d.CustomerRingTimeout != 30*time.Second || d.MaxCallLength != 2*time.Hour {
		t.Errorf("timeouts %v %v %v %v", d.RingTimeout, d.AcceptTimeout, d.CustomerRingTimeout, d.MaxCallLength)
	}
	if d.Whisper != config.DefaultWhisper("en") || d.People[0].Name != "owner" || d.People[0].Target.Number != "+31611111111" {
		t.Errorf("whisper %q, people %+v", d.Whisper, d.People)
	}
}

// whisperLead has the fields a dialer renders a whisper with.
type whisperLead struct {
	Name, Phone, Source, Interest, Message, Email, Dealer, Person string
}

func TestDefaultWhispers(t *testing.T) {
	full := whisperLead{Name: "Eva Jansen", Source: "website", Interest: "Volvo XC60"}
	want := map[string][2]string{
		"en": {"New lead from website: Eva Jansen, Volvo XC60. Press 1 to connect, 2 to pass it on.",
			"New lead: Eva Jansen. Press 1 to connect, 2 to pass it on."},
		"nl": {"Nieuwe lead van website: Eva Jansen, Volvo XC60. Druk op 1 om te verbinden, op 2 om door te geven.",
			"Nieuwe lead: Eva Jansen. Druk op 1 om te verbinden, op 2 om door te geven."},
		"de": {"Neuer Lead von website: Eva Jansen, Volvo XC60. Drücken Sie 1 zum Verbinden, 2 zum Weitergeben.",
			"Neuer Lead: Eva Jansen. Drücken Sie 1 zum Verbinden, 2 zum Weitergeben."},
		"fr": {"Nouveau contact via website : Eva Jansen, Volvo XC60. Appuyez sur 1 pour être mis en relation, sur 2 pour le transmettre.",
			"Nouveau contact : Eva Jansen. Appuyez sur 1 pour être mis en relation, sur 2 pour le transmettre."},
	}
	for _, lang := range config.Languages {
		yaml := strings.Replace(minimal, "    flow:", "    language: "+lang+"\n    flow:", 1)
		c, err := config.Parse([]byte(yaml), nil)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		for i, lead := range []whisperLead{full, {Name: "Eva Jansen"}} {
			var b strings.Builder
			if err := c.Dealers[0].WhisperTemplate.Execute(&b, lead); err != nil {
				t.Fatalf("%s: %v", lang, err)
			}
			if b.String() != want[lang][i] {
				t.Errorf("%s whisper = %q, want %q", lang, b.String(), want[lang][i])
			}
		}
	}
	if config.DefaultWhisper("es") != "" {
		t.Error("whisper for an unsupported language")
	}
}

func TestEnvOverrides(t *testing.T) {
	c, err := config.Parse([]byte(minimal), env(
		"LEADLINE_STORE", "postgres://leadline:pw@db.internal/leadline?sslmode=disable",
		"LEADLINE_HTTP_LISTEN", "127.0.0.1:9090",
		"LEADLINE_SIP_LISTEN", "0.0.0.0:5080",
		"LEADLINE_SIP_EXTERNAL_HOST", "203.0.113.7",
		"LEADLINE_NODE_ID", "node-1",
		"LEADLINE_LOG_FORMAT", "json",
		"LEADLINE_LOG_LEVEL", "debug",
	))
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreDriver != "postgres" || c.StoreDSN != "postgres://leadline:pw@db.internal/leadline?sslmode=disable" ||
		c.HTTP.Listen != "127.0.0.1:9090" || c.SIP.Listen != "0.0.0.0:5080" || c.SIP.ExternalHost != "203.0.113.7" ||
		c.NodeID != "node-1" || c.Log.Format != "json" || c.Log.Level != "debug" || c.Log.SlogLevel().String() != "DEBUG" {
		t.Errorf("overrides not applied: %+v", c)
	}

	_, err = config.Parse([]byte("store: sqlite://a.db\n"+minimal), env("LEADLINE_STORE", "mysql://x"))
	if err == nil || err.Error() != `store: unsupported scheme "mysql" (use sqlite:// or postgres://) (from LEADLINE_STORE)` {
		t.Errorf("err = %v", err)
	}
}

func TestExpand(t *testing.T) {
	yaml := strings.Replace(minimal, `api_keys: ["jansen-key-0123456789"]`,
		`api_keys: ["${KEY}", "pre-${KEY}-$${LITERAL}"]`, 1)
	yaml = "sip:\n  trunk:\n    uri: sip:carrier.example\n    password: ${PW}\n" + yaml
	// A value with YAML syntax in it stays one value: expansion happens after parsing.
	pw := "a#b: \"c\"\n- d"
	c, err := config.Parse([]byte(yaml), env("KEY", "k0123456789abcdef", "PW", pw))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k0123456789abcdef", "pre-k0123456789abcdef-${LITERAL}"}; !slices.Equal(c.Dealers[0].APIKeys, want) {
		t.Errorf("api keys %q, want %q", c.Dealers[0].APIKeys, want)
	}
	if c.SIP.Trunk.Password != pw {
		t.Errorf("password %q, want %q", c.SIP.Trunk.Password, pw)
	}
}

func TestMergeAndAliases(t *testing.T) {
	yaml := `
x-defaults: &defaults
  language: nl
  timezone: Europe/Amsterdam
  caller_id: "+31201234567"
  people: &people
    - {id: owner, phone: "06-11111111"}
  flow: [owner]
dealers:
  - <<: *defaults
    id: jansen
    api_keys: ["jansen-key-0123456789"]
    language: de
  - <<: *defaults
    id: devries
    api_keys: ["devries-key-0123456789"]
    people: *people
`
	c, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := c.Dealers[0], c.Dealers[1]; a.Language != "de" || b.Language != "nl" || b.Location.String() != "Europe/Amsterdam" ||
		len(b.People) != 1 || b.People[0].Target.Number != "+31611111111" {
		t.Errorf("merged dealers: %+v", c.Dealers)
	}

	// An anchor on a dealer, merged into the next one.
	yaml = `
dealers:
  - &jansen
    id: jansen
    api_keys: ["jansen-key-0123456789"]
    language: nl
    timezone: Europe/Amsterdam
    caller_id: "+31201234567"
    people: [{id: owner, phone: "06-11111111"}]
    flow: [owner]
  - <<: *jansen
    id: devries
    api_keys: ["devries-key-0123456789"]
    language: de
`
	c, err = config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Dealers[0], c.Dealers[1]
	if a.Language != "nl" || b.ID != "devries" || b.Language != "de" || b.Timezone != "Europe/Amsterdam" ||
		len(b.People) != 1 || b.People[0].Target.Number != "+31611111111" {
		t.Errorf("merged dealer: %+v", b)
	}
}

func TestValidateBuiltInGo(t *testing.T) {
	c := config.Default()
	c.Dealers = []config.Dealer{{
		ID:       "jansen",
		APIKeys:  []string{"jansen-key-0123456789"},
		CallerID: "020 1234567",
		Country:  "nl",
		People:   []config.Person{{ID: "owner", Phone: "sip:owner@pbx.example"}},
		Flow:     []config.Step{{People: []string{"owner"}}},
	}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := c.Dealers[0]
	if d.CallerID != "+31201234567" || d.Country != "NL" || d.RingTimeout != config.DefaultRingTimeout ||
		d.Location != time.UTC || d.WhisperTemplate == nil || c.StoreDriver != "sqlite" || c.SIP.RTPPortMin != 10000 {
		t.Errorf("Validate did not fill defaults: %+v", d)
	}

	c.Dealers[0].RingTimeout = -time.Second
	c.Dealers[0].Flow = nil
	err := c.Validate()
	want := "dealers[0].ring_timeout: must be positive\ndealers[0].flow: empty: list at least one person"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestSummary(t *testing.T) {
	c, err := config.Load("testdata/leadline.yaml", env("JANSEN_API_KEY", "jansen-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	c.Store = "postgres://leadline:secret@db.internal/leadline"
	c.SIP.Trunk.Username = "acct1"
	var b strings.Builder
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	want := `node id         (hostname and pid)
takeover after  10s
log             text, info
http            :8080
sip             0.0.0.0:5060, external host (listen host), rtp ports 10000-20000, media timeout 30s
trunk           sip.carrier.example: sip:sip.carrier.example as "acct1", udp, country not set
store           postgres://leadline:xxxxx@db.internal/leadline
limits          3 leads per customer number a day; forms 20/1h per IP address, 3/1h per phone number
email           SMTP :2525, domain leads.example.com, no STARTTLS, max 10MB, at most 120/1h per sender and 1200/1h per dealer
webhooks        try timeout 10s; private targets refused
recordings      directory recordings
tts             espeak-ng

dealer jansen: Autohuis Jansen
  language    nl
  timezone    Europe/Amsterdam
  country     NL
  caller id   +31201234567
  caller ids  not listed
  timeouts    ring 20s per person, accept 10s, customer ring 30s, max call 2h
  api keys    1
  form keys   1, from https://www.autohuis-jansen.nl
  e-mail      jansen@leads.example.com
  senders     *@autoscout24.com, crm@autohuisjansen.nl
  hours       always
  customers   rung 08:00-21:00 their local time; backlog staggered 30s
  retries     none: a customer not reached ends the lead
  outcomes    not asked (outcomes: [appointment, follow_up, not_interested] asks them)
  recording   off
  rounds      1
  duplicates  a lead for a number with an open lead of the last 1h joins it
  whisper     Nieuwe lead van {{.Source}}: {{.Name}}, {{.Interest}}. Druk op 1 om te verbinden, op 2 om door te geven.
  people
    piet   Piet de Vries  sip:piet@192.0.2.10:5060
    kees   Kees Bakker    +31612345678
    anna   Anna Smit      +31687654321
    owner  Jan Jansen     +31611111111
  flow  1. assigned  2. piet  3. kees + anna (together)  4. owner
`
	if b.String() != want {
		t.Errorf("Summary:\n%s\nwant:\n%s", b.String(), want)
	}
	if strings.Contains(b.String(), "secret") || strings.Contains(b.String(), "jansen-0123456789abcdef") {
		t.Error("Summary printed a secret")
	}
}

// TestSummaryHidesStoreSecrets: leadline check prints the store URL without its
// password, wherever the URL carries one.
func TestSummaryHidesStoreSecrets(t *testing.T) {
	c, err := config.Load("testdata/leadline.yaml", env("JANSEN_API_KEY", "jansen-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	for store, want := range map[string]string{
		"postgres://u@h/db?password=s3cr3t":                                    "postgres://u@h/db?password=xxxxx",
		"postgres://u@h/db?sslmode=require&sslpassword=s3cr3t":                 "postgres://u@h/db?sslmode=require&sslpassword=xxxxx",
		"postgres://u@h/db?PassWord=s3cr3t&application_name=leadline":          "postgres://u@h/db?PassWord=xxxxx&application_name=leadline",
		"postgres://u@h/db?pass%77ord=s3cr3t":                                  "postgres://u@h/db?pass%77ord=xxxxx",
		"postgres://u:s3cr3t@h/db?pwd=s3cr3t&pass=s3cr3t":                      "postgres://u:xxxxx@h/db?pwd=xxxxx&pass=xxxxx",
		"postgresql://u@h/db?secret=s3cr3t&token=s3cr3t&auth_token=s3":         "postgresql://u@h/db?secret=xxxxx&token=xxxxx&auth_token=xxxxx",
		"postgres://u@h/db?key=s3cr3t&API-Key=s3cr3t&apikey=s3cr3t":            "postgres://u@h/db?key=xxxxx&API-Key=xxxxx&apikey=xxxxx",
		"postgres://u@h/db?client_secret=s3cr3t&db_password=s3cr3t":            "postgres://u@h/db?client_secret=xxxxx&db_password=xxxxx",
		"postgres://u:s3/cr@3t@h1:5432,h2:5432/db":                             "postgres://u:xxxxx@h1:5432,h2:5432/db",
		"postgres://u@h/db?sslmode=verify-full&connect_timeout=5":              "postgres://u@h/db?sslmode=verify-full&connect_timeout=5",
		"sqlite://leadline.db?_pragma=key('s3cr3t')&_pragma=journal_mode(WAL)": "sqlite://leadline.db?_pragma=xxxxx&_pragma=journal_mode(WAL)",
		"sqlite://leadline.db?_pragma=key%3D%27s3cr3t%27":                      "sqlite://leadline.db?_pragma=xxxxx",
		"sqlite:///var/lib/leadline/leadline.db?_synchronous=NORMAL":           "sqlite:///var/lib/leadline/leadline.db?_synchronous=NORMAL",
	} {
		c.Store = store
		var b strings.Builder
		if err := c.Summary(&b); err != nil {
			t.Fatal(err)
		}
		var got string
		for line := range strings.Lines(b.String()) {
			if rest, ok := strings.CutPrefix(line, "store "); ok {
				got = strings.TrimSpace(rest)
			}
		}
		if got != want {
			t.Errorf("store %s\n shown %s\n  want %s", store, got, want)
		}
		if strings.Contains(b.String(), "s3") {
			t.Errorf("leadline check shows a secret of %s:\n%s", store, b.String())
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Second: "20s", 2 * time.Hour: "2h", 90 * time.Second: "1m30s", time.Minute: "1m",
		90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := config.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
