package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/leadline/leadline/config"
)

// base is a valid configuration; each case below changes one thing in it.
const base = `sip:
  trunk:
    uri: "sip:sip.carrier.example"
dealers:
  - id: jansen
    name: "Autohuis Jansen"
    api_keys: ["jansen-key-0123456789"]
    timezone: "Europe/Amsterdam"
    language: "nl"
    caller_id: "+31201234567"
    ring_timeout: "20s"
    people:
      - { id: piet,  name: "Piet de Vries", phone: "sip:piet@192.0.2.10:5060" }
      - { id: kees,  name: "Kees Bakker",   phone: "+31612345678" }
      - { id: anna,  name: "Anna Smit",     phone: "06-87654321" }
      - { id: owner, name: "Jan Jansen",    phone: "+31611111111" }
    flow: [assigned, piet, [kees, anna], owner]
  - id: devries
    api_keys: ["devries-key-0123456789"]
    caller_id: "+493012345678"
    people:
      - { id: boss, phone: "+491701234567" }
    flow: [boss]
`

func TestBaseIsValid(t *testing.T) {
	if _, err := config.Parse([]byte(base), nil); err != nil {
		t.Fatal(err)
	}
}

// edit replaces old with new in base, once; old must occur.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("base has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		// Unknown keys, at every level.
		{"unknown top-level key", []string{"sip:\n", "sipp:\n"},
			[]string{`sipp: unknown key (did you mean "sip"?)`}},
		{"unknown key far from any", []string{"sip:\n", "color: red\nsip:\n"},
			[]string{`color: unknown key`}},
		{"unknown trunk key", []string{`    uri: "sip:sip.carrier.example"`, `    url: "sip:sip.carrier.example"`},
			[]string{`sip.trunk.url: unknown key (did you mean "uri"?)`}},
		{"unknown dealer key", []string{`    language: "nl"`, `    langauge: "nl"`},
			[]string{`dealers[0].langauge: unknown key (did you mean "language"?)`}},
		{"misspelt people", []string{"    people:\n      - { id: piet", "    peeple:\n      - { id: piet"},
			[]string{`dealers[0].peeple: unknown key (did you mean "people"?)`}},
		{"unknown person key", []string{`{ id: kees,  name: "Kees Bakker",   phone:`, `{ id: kees,  name: "Kees Bakker",   phnoe:`},
			[]string{`dealers[0].people[1].phnoe: unknown key (did you mean "phone"?)`}},
		{"upper-case key", []string{"  - id: devries", "  - ID: devries"},
			[]string{`dealers[1].ID: unknown key (did you mean "id"?)`}},
		{"duplicate key", []string{`    language: "nl"`, "    language: \"nl\"\n    language: \"de\""},
			[]string{`dealers[0].language: duplicate key (first on line 9)`}},

		// Wrong shapes.
		{"people not a list", []string{"      - { id: boss, phone: \"+491701234567\" }", "        boss: \"+491701234567\""},
			[]string{`dealers[1].people: expected a list of people, got a mapping`}},
		{"name a list", []string{`name: "Autohuis Jansen"`, `name: [Autohuis, Jansen]`},
			[]string{`dealers[0].name: expected a string, got a list`}},
		{"sip a string", []string{"sip:\n  trunk:\n    uri: \"sip:sip.carrier.example\"\n", "sip: yes\n"},
			[]string{`sip: expected a mapping (key: value), got a single value`}},
		{"dealers a mapping", []string{"dealers:\n  - id: jansen", "dealers:\n  jansen:\n  - id: jansen"},
			[]string{`dealers: expected a list of dealers, got a mapping`}},

		// Durations.
		{"duration without unit", []string{`ring_timeout: "20s"`, `ring_timeout: 20`},
			[]string{`dealers[0].ring_timeout: time: missing unit in duration "20" (write e.g. "20s")`}},
		{"bad duration", []string{`ring_timeout: "20s"`, `ring_timeout: soon`},
			[]string{`dealers[0].ring_timeout: time: invalid duration "soon"`}},
		{"zero duration", []string{`ring_timeout: "20s"`, `ring_timeout: 0s`},
			[]string{`dealers[0].ring_timeout: must be positive`}},
		{"negative duration", []string{`ring_timeout: "20s"`, "ring_timeout: 20s\n    max_call_length: -1h"},
			[]string{`dealers[0].max_call_length: must be positive`}},
		{"media timeout", []string{"  trunk:", "  media_timeout: 30\n  trunk:"},
			[]string{`sip.media_timeout: time: missing unit in duration "30" (write e.g. "30s")`}},

		// Top-level scalars.
		{"bad store scheme", []string{"sip:\n", "store: mysql://db/leadline\nsip:\n"},
			[]string{`store: unsupported scheme "mysql" (use sqlite:// or postgres://)`}},
		{"store without scheme", []string{"sip:\n", "store: leadline.db\nsip:\n"},
			[]string{`store: not a URL: use sqlite://FILE or postgres://…`}},
		{"sqlite without file", []string{"sip:\n", "store: sqlite://\nsip:\n"},
			[]string{`store: sqlite:// needs a file name, e.g. sqlite://leadline.db`}},
		{"bad postgres url hides password", []string{"sip:\n", "store: \"postgres://u:p w@host:port/db\"\nsip:\n"},
			[]string{`store: not a valid postgres:// URL`}},
		{"rtp not a range", []string{"  trunk:", "  rtp_ports: \"10000\"\n  trunk:"},
			[]string{`sip.rtp_ports: "10000" is not a range like "10000-20000"`}},
		{"rtp odd start", []string{"  trunk:", "  rtp_ports: 10001-20000\n  trunk:"},
			[]string{`sip.rtp_ports: "10001-20000": start must be even (RTP uses even ports), e.g. 10000-20000`}},
		{"rtp one port", []string{"  trunk:", "  rtp_ports: 10000-10000\n  trunk:"},
			[]string{`sip.rtp_ports: "10000-10000": the range must hold at least 2 ports (RTP and RTCP)`}},
		{"rtp privileged", []string{"  trunk:", "  rtp_ports: 1000-2000\n  trunk:"},
			[]string{`sip.rtp_ports: "1000-2000": ports must be between 1024 and 65535`}},
		{"rtp too high", []string{"  trunk:", "  rtp_ports: 60000-70000\n  trunk:"},
			[]string{`sip.rtp_ports: "60000-70000": ports must be between 1024 and 65535`}},
		{"rtp reversed", []string{"  trunk:", "  rtp_ports: 20000-10000\n  trunk:"},
			[]string{`sip.rtp_ports: "20000-10000": start is above end`}},
		{"sip listen without port", []string{"  trunk:", "  listen: 0.0.0.0\n  trunk:"},
			[]string{`sip.listen: "0.0.0.0" is not host:port (e.g. ":8080" or "0.0.0.0:5060")`}},
		{"http listen bad port", []string{"sip:\n", "http:\n  listen: \":http\"\nsip:\n"},
			[]string{`http.listen: bad port "http": use 0-65535`}},
		{"http listen bad host", []string{"sip:\n", "http:\n  listen: \"local_host:80\"\nsip:\n"},
			[]string{`http.listen: bad host "local_host"`}},
		{"external host with port", []string{"  trunk:", "  external_host: 203.0.113.7:5060\n  trunk:"},
			[]string{`sip.external_host: "203.0.113.7:5060" is not a host name or IP address (no port)`}},
		{"trunk not sip", []string{`uri: "sip:sip.carrier.example"`, `uri: "carrier.example"`},
			[]string{`sip.trunk.uri: "carrier.example" is not a sip: or sips: URI`}},
		{"trunk bad uri", []string{`uri: "sip:sip.carrier.example"`, `uri: "sip:carrier.example:99999"`},
			[]string{`sip.trunk.uri: sip URI has a bad port "99999": use 1-65535`}},
		{"trunk credentials without uri", []string{`uri: "sip:sip.carrier.example"`, `username: acct1`},
			[]string{`sip.trunk.uri: required when a username or password is set`}},
		{"tts unknown engine", []string{"sip:\n", "tts:\n  engine: festival\nsip:\n"},
			[]string{`tts.engine: unknown engine "festival" (use espeak-ng or files)`}},
		{"tts files without dir", []string{"sip:\n", "tts:\n  engine: files\nsip:\n"},
			[]string{`tts.dir: required when tts.engine is "files"`}},
		{"tts dir with espeak", []string{"sip:\n", "tts:\n  dir: /prompts\nsip:\n"},
			[]string{`tts.dir: only used when tts.engine is "files"`}},
		{"log format", []string{"sip:\n", "log: {format: xml, level: verbose}\nsip:\n"},
			[]string{`log.format: unknown format "xml" (use text or json)`, `log.level: unknown level "verbose" (use debug, info, warn or error)`}},
		{"node id", []string{"sip:\n", "node_id: \"node 1\"\nsip:\n"},
			[]string{`node_id: "node 1": use at most 64 letters, digits, '-', '_', '.' or ':'`}},

		// Dealers.
		{"no dealers", []string{base[strings.Index(base, "dealers:"):], "dealers: []\n"},
			[]string{`dealers: no dealers defined`}},
		{"duplicate dealer id", []string{"  - id: devries", "  - id: jansen"},
			[]string{`dealers[1].id: duplicate dealer id "jansen"`}},
		{"missing dealer id", []string{"  - id: devries\n", "  - name: De Vries\n"},
			[]string{`dealers[1].id: required`}},
		{"bad dealer id", []string{"  - id: devries", "  - id: de vries"},
			[]string{`dealers[1].id: "de vries": use at most 64 letters, digits, '-', '_' or '.'`}},
		{"dealer name with newline", []string{`name: "Autohuis Jansen"`, `name: "Autohuis\nJansen"`},
			[]string{`dealers[0].name: contains a control character`}},
		{"no api keys", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: []`},
			[]string{`dealers[1].api_keys: at least one api key is required`}},
		{"missing api keys", []string{"    api_keys: [\"devries-key-0123456789\"]\n", ""},
			[]string{`dealers[1].api_keys: at least one api key is required`}},
		{"empty api key", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: [""]`},
			[]string{`dealers[1].api_keys[0]: empty api key`}},
		{"unset api key variable", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["${DEVRIES_KEY}"]`},
			[]string{`dealers[1].api_keys[0]: empty api key (DEVRIES_KEY not set)`}},
		{"short api key", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["secret"]`},
			[]string{`dealers[1].api_keys[0]: api key is too short: use at least 16 characters`}},
		{"api key with space", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries key 0123456789"]`},
			[]string{`dealers[1].api_keys[0]: api key contains a space or control character`}},
		{"api key twice in a dealer", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["devries-key-0123456789", "devries-key-0123456789"]`},
			[]string{`dealers[1].api_keys[1]: duplicate api key (same as api_keys[0])`}},
		{"api key shared by dealers", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["other-key-0123456789", "jansen-key-0123456789"]`},
			[]string{`dealers[1].api_keys[1]: api key already used by dealer "jansen"`}},
		{"bad variable reference", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["${DEVRIES KEY}"]`},
			[]string{`dealers[1].api_keys[0]: bad variable reference "${DEVRIES KEY}": use ${NAME} with letters, digits and _`}},
		{"unclosed variable", []string{`api_keys: ["devries-key-0123456789"]`, `api_keys: ["${DEVRIES_KEY"]`},
			[]string{`dealers[1].api_keys[0]: unclosed ${ (write $${ for a literal ${)`}},
		{"bad time zone", []string{`timezone: "Europe/Amsterdam"`, `timezone: "Europe/Amsterdan"`},
			[]string{`dealers[0].timezone: unknown time zone "Europe/Amsterdan"`}},
		{"local time zone", []string{`timezone: "Europe/Amsterdam"`, `timezone: Local`},
			[]string{`dealers[0].timezone: unknown time zone "Local"`}},
		{"language", []string{`language: "nl"`, `language: es`},
			[]string{`dealers[0].language: unsupported language "es" (use nl, en, de or fr)`}},
		{"missing caller id", []string{`    caller_id: "+493012345678"` + "\n", ""},
			[]string{`dealers[1].caller_id: required`}},
		{"bad caller id", []string{`caller_id: "+31201234567"`, `caller_id: "+31 20 123"`},
			[]string{`dealers[0].caller_id: not a valid phone number for NL`}},
		{"sip caller id", []string{`caller_id: "+31201234567"`, `caller_id: "sip:jansen@pbx.example"`},
			[]string{`dealers[0].caller_id: contains characters that are not part of a phone number`}},
		{"national caller id needs country", []string{`caller_id: "+31201234567"`, `caller_id: "020 1234567"`},
			[]string{`dealers[0].caller_id: not in international format (+…) and no country to read it in`}},
		{"national caller id with country", []string{`caller_id: "+31201234567"`, "caller_id: \"020 1234567\"\n    country: nl"},
			nil},
		{"unknown country", []string{`caller_id: "+31201234567"`, "caller_id: \"+31201234567\"\n    country: XX"},
			[]string{`dealers[0].country: unknown country "XX" (use an ISO code such as NL)`}},
		{"non-geographic caller id", []string{`caller_id: "+31201234567"`, `caller_id: "+80012345678"`},
			[]string{`dealers[0].country: required: caller id +80012345678 belongs to no single country`}},

		// Whisper.
		{"whisper unknown field", []string{`language: "nl"`, "language: nl\n    whisper: \"Lead {{.Naam}}\""},
			[]string{`dealers[0].whisper: unknown field .Naam (use .Name, .Phone, .Source, .Interest, .Message, .Email, .Dealer, .Person)`}},
		{"whisper unknown root field", []string{`language: "nl"`, "language: nl\n    whisper: \"{{with .Name}}{{$.Foo}}{{end}}\""},
			[]string{`dealers[0].whisper: unknown field .Foo (use .Name, .Phone, .Source, .Interest, .Message, .Email, .Dealer, .Person)`}},
		{"whisper syntax", []string{`language: "nl"`, "language: nl\n    whisper: \"Lead {{.Name\""},
			[]string{`dealers[0].whisper: template: whisper:1: unclosed action`}},
		{"whisper printf", []string{`language: "nl"`, "language: nl\n    whisper: '{{printf \"%099999999d\" 1}}'"},
			[]string{`dealers[0].whisper: function "printf" is not allowed (use and, or, not, eq, ne, len, print)`}},
		{"whisper range", []string{`language: "nl"`, "language: nl\n    whisper: \"{{range 1000000000}}x{{end}}\""},
			[]string{`dealers[0].whisper: range is not allowed`}},
		{"whisper define", []string{`language: "nl"`, "language: nl\n    whisper: '{{define \"x\"}}y{{end}}z'"},
			[]string{`dealers[0].whisper: define and block are not allowed`}},
		{"whisper field of a field", []string{`language: "nl"`, "language: nl\n    whisper: \"{{.Name.First}}\""},
			[]string{`dealers[0].whisper: .Name has no fields`}},
		{"whisper field of dot", []string{`language: "nl"`, "language: nl\n    whisper: \"{{with .Name}}{{.Name}}{{end}}\""},
			[]string{`dealers[0].whisper: template: whisper:1:16: executing "whisper" at <.Name>: can't evaluate field Name in type string`}},
		{"whisper too long", []string{`language: "nl"`, "language: nl\n    whisper: \"" + strings.Repeat("{{.Message}}", 40) + "\""},
			[]string{`dealers[0].whisper: renders longer than 1000 characters`}},
		{"whisper with condition", []string{`language: "nl"`, "language: nl\n    whisper: \"{{if and .Name (ne .Source \\\"\\\")}}{{.Name}} via {{.Source}}{{else}}{{len .Phone}}{{end}}\""},
			nil},

		// People.
		{"no people", []string{"    people:\n      - { id: boss, phone: \"+491701234567\" }\n", ""},
			[]string{`dealers[1].people: at least one person is required`, `dealers[1].flow[0]: unknown person "boss"`}},
		{"duplicate person id", []string{"{ id: anna,", "{ id: kees,"},
			[]string{`dealers[0].people[2].id: duplicate person id "kees"`, `dealers[0].flow[2]: unknown person "anna"`}},
		{"missing person id", []string{"{ id: anna,  name:", "{ name:"},
			[]string{`dealers[0].people[2].id: required`, `dealers[0].flow[2]: unknown person "anna"`}},
		{"reserved person id", []string{"{ id: anna,", "{ id: assigned,"},
			[]string{`dealers[0].people[2].id: "assigned" is a flow keyword; choose another id`, `dealers[0].flow[2]: unknown person "anna"`}},
		{"missing phone", []string{`{ id: boss, phone: "+491701234567" }`, `{ id: boss }`},
			[]string{`dealers[1].people[0].phone: required`}},
		{"premium phone", []string{`phone: "+31611111111"`, `phone: "0900 1234567"`},
			[]string{`dealers[0].people[3].phone: premium-rate numbers are not called`}},
		{"bad phone", []string{`phone: "+31611111111"`, `phone: "06-1234"`},
			[]string{`dealers[0].people[3].phone: not a valid phone number for NL`}},
		{"short phone", []string{`phone: "+31611111111"`, `phone: "0612"`},
			[]string{`dealers[0].people[3].phone: too short`}},
		{"phone read in dealer country", []string{`phone: "+491701234567"`, `phone: "0170 1234567"`},
			nil},
		{"sip uri with space", []string{`phone: "sip:piet@192.0.2.10:5060"`, `phone: "sip:piet@192.0.2.10 :5060"`},
			[]string{`dealers[0].people[0].phone: sip URI contains a space`}},
		{"sip uri with crlf", []string{`phone: "sip:piet@192.0.2.10:5060"`, `phone: "sip:piet@192.0.2.10\r\nVia: x"`},
			[]string{`dealers[0].people[0].phone: sip URI contains a control character`}},
		{"sip uri bad host", []string{`phone: "sip:piet@192.0.2.10:5060"`, `phone: "sip:piet@192.0.2.300"`},
			[]string{`dealers[0].people[0].phone: sip URI has a bad host "192.0.2.300"`}},
		{"bare sip address", []string{`phone: "sip:piet@192.0.2.10:5060"`, `phone: "piet@192.0.2.10"`},
			[]string{`dealers[0].people[0].phone: looks like a SIP address: write it as sip:piet@192.0.2.10`}},
		{"no country hides national numbers", []string{`caller_id: "+31201234567"`, `caller_id: "+31 20"`},
			[]string{`dealers[0].caller_id: too short`}},

		// Flows.
		{"unknown person in group", []string{"[kees, anna]", "[kess, anna]"},
			[]string{`dealers[0].flow[2]: unknown person "kess"`}},
		{"unknown person", []string{"flow: [boss]", "flow: [bos]"},
			[]string{`dealers[1].flow[0]: unknown person "bos"`}},
		{"empty flow", []string{"flow: [boss]", "flow: []"},
			[]string{`dealers[1].flow: empty: list at least one person`}},
		{"missing flow", []string{"    flow: [boss]\n", ""},
			[]string{`dealers[1].flow: empty: list at least one person`}},
		{"empty ring group", []string{"[kees, anna]", "[]"},
			[]string{`dealers[0].flow[2]: empty ring group`}},
		{"assigned in group", []string{"[kees, anna]", "[kees, assigned]"},
			[]string{`dealers[0].flow[2]: "assigned" must be a step of its own, not part of a ring group`}},
		{"only assigned", []string{"flow: [boss]", "flow: [assigned]"},
			[]string{`dealers[1].flow: needs at least one person besides "assigned", or leads without one reach nobody`}},
		{"twice in group", []string{"[kees, anna]", "[kees, kees]"},
			[]string{`dealers[0].flow[2]: "kees" is twice in this ring group`}},
		{"null step", []string{"flow: [boss]", "flow: [boss, ~]"},
			[]string{`dealers[1].flow[1]: empty step: write a person id or a list of them`}},
		{"nested group", []string{"[kees, anna]", "[kees, [anna]]"},
			[]string{`dealers[0].flow[2][1]: expected a person id, got a list`}},
		{"mapping step", []string{"flow: [boss]", "flow: [{boss: 1}]"},
			[]string{`dealers[1].flow[0].boss: unknown key`}},
		{"round robin not a list", []string{"flow: [boss]", "flow: [{round_robin: boss}]"},
			[]string{`dealers[1].flow[0].round_robin: expected a list of person ids, got a single value`}},
		{"round robin unknown person", []string{"flow: [boss]", "flow: [{round_robin: [boss, bos]}]"},
			[]string{`dealers[1].flow[0]: unknown person "bos"`}},
		{"customer retry", []string{"flow: [boss]", "flow: [boss]\n    customer_retries: [5m, tomorrow, 10s]"},
			[]string{`dealers[1].customer_retries[1]: "tomorrow": want a duration such as "30m", or "next_opening"`,
				`dealers[1].customer_retries[2]: "10s": wait at least a minute before ringing a customer again`}},
		{"rounds", []string{"flow: [boss]", "flow: [boss]\n    rounds: 0"},
			[]string{`dealers[1].rounds: must be at least 1`}},
		{"duplicate window", []string{"flow: [boss]", "flow: [boss]\n    duplicate_window: soon"},
			[]string{`dealers[1].duplicate_window: time: invalid duration "soon" (write e.g. "1h", or "off")`}},
		{"flow a string", []string{"flow: [boss]", "flow: boss"},
			[]string{`dealers[1].flow: expected a list of steps, got a single value`}},
		{"misspelt people hides flow", []string{"    people:\n      - { id: boss", "    poeple:\n      - { id: boss"},
			[]string{`dealers[1].poeple: unknown key (did you mean "people"?)`}},

		// Several problems at once, in document order.
		{"all problems", []string{
			"sip:\n", "store: mysql://x\nsip:\n",
			`timezone: "Europe/Amsterdam"`, `timezone: "Europe/Amsterdan"`,
			"[kees, anna]", "[kess, anna]",
			"  - id: devries", "  - id: jansen",
			`ring_timeout: "20s"`, `ring_timeout: 20`,
		}, []string{
			`dealers[0].ring_timeout: time: missing unit in duration "20" (write e.g. "20s")`,
			`store: unsupported scheme "mysql" (use sqlite:// or postgres://)`,
			`dealers[0].timezone: unknown time zone "Europe/Amsterdan"`,
			`dealers[0].flow[2]: unknown person "kess"`,
			`dealers[1].id: duplicate dealer id "jansen"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(edit(t, tt.edits...)), nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			got := make([]string, len(ve.Problems))
			for i, p := range ve.Problems {
				got[i] = p.String()
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if err.Error() != strings.Join(tt.want, "\n") {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestProblemLines(t *testing.T) {
	yaml := edit(t, "[kees, anna]", "[kess, anna]", `language: "nl"`, `langauge: "nl"`)
	_, err := config.Parse([]byte(yaml), nil)
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []config.Problem{
		{Path: "dealers[0].langauge", Message: `unknown key (did you mean "language"?)`, Line: 9},
		{Path: "dealers[0].flow[2]", Message: `unknown person "kess"`, Line: 17},
	}
	if !slices.Equal(ve.Problems, want) {
		t.Fatalf("problems %+v, want %+v", ve.Problems, want)
	}
}

func TestDocumentErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       config.Problem
	}{
		{"empty file", "", config.Problem{Path: "dealers", Message: "no dealers defined"}},
		{"comments only", "# nothing\n", config.Problem{Path: "dealers", Message: "no dealers defined"}},
		{"syntax", "dealers:\n  - id: [x\n", config.Problem{Message: "line 1: did not find expected ',' or ']'", Line: 1}},
		{"tab indent", "dealers:\n\t- id: x\n", config.Problem{Message: "line 2: found character that cannot start any token", Line: 2}},
		{"two documents", base + "---\nstore: x\n", config.Problem{Message: "more than one YAML document (---); put everything in one", Line: 24}},
		{"top-level list", "- a\n- b\n", config.Problem{Message: "expected a mapping (key: value), got a list", Line: 1}},
		{"key a list", "[a]: 1\n", config.Problem{Message: "keys must be plain names, not a list", Line: 1}},
		{"alias loop", "dealers: &a [*a]\n", config.Problem{Path: "dealers[0]", Message: "expected a mapping (key: value), got a list", Line: 1}},
		{"flow alias loop", edit(t, "flow: [boss]", "flow: &f [boss, *f]"), config.Problem{Path: "dealers[1].flow[1][1]", Message: "expected a person id, got a list", Line: 23}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.yaml), nil)
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if len(ve.Problems) == 0 || ve.Problems[0] != tt.want {
				t.Fatalf("problems %#v, want first %#v", ve.Problems, tt.want)
			}
		})
	}
}

func TestAliasBomb(t *testing.T) {
	// 1,500 aliases to a dealer with 1,500 aliased people: over two million values
	// from a 20 kB file. The walk stops, and nothing is validated.
	n := 1500
	yaml := "x-p: &p {id: a, phone: \"sip:a@h.example\"}\n" +
		"x-ps: &ps [" + strings.Repeat("*p, ", n-1) + "*p]\n" +
		"x-d: &d {id: d, api_keys: [k0123456789abcdef], caller_id: \"+31201234567\", people: *ps, flow: [a]}\n" +
		"dealers: [" + strings.Repeat("*d, ", n-1) + "*d]\n"
	_, err := config.Parse([]byte(yaml), nil)
	var ve *config.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Message != "the document expands to too many values (aliases?)" {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(minimal))
	f.Add([]byte("dealers:\n  - &d {id: a, flow: [[a, b], assigned]}\n  - <<: *d\n"))
	f.Add([]byte("sip: {rtp_ports: 10000-10001, trunk: {uri: 'sip:x'}}\nstore: postgres://u@h/d\n"))
	f.Add([]byte("dealers: [{whisper: '{{if .Name}}{{.Name}}{{end}}', api_keys: ['${K}']}]"))
	f.Add([]byte(strings.Replace(base, "[kees, anna]", "{round_robin: [kees, anna]}", 1) +
		"    customer_retries: [5m, next_opening]\n    rounds: 2\n    round_pause: 1m\n    duplicate_window: \"off\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, env("K", "k0123456789abcdefgh"))
		if err != nil {
			var ve *config.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("err = %v (%T), want a non-empty *ValidationError", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		if err := c.Summary(&strings.Builder{}); err != nil {
			t.Fatal(err)
		}
	})
}
