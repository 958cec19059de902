package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
)

// trunksBase has two trunks in sip.trunks and one dealer that lists its numbers.
const trunksBase = `sip:
  trunks:
    - name: kpn
      uri: "sip:sip.kpn.example"
      username: "31201234567"
      password: "s3cret"
      register: true
      transport: tcp
      caller_id_header: pai
      outbound_proxy: "sip:proxy.kpn.example:5070"
      country: nl
    - uri: "sips:trunk.telnyx.example"
      username: leadline
      password: "p4ss"
      srtp: optional
      caller_id_header: ppi
dealers:
  - id: jansen
    api_keys: ["jansen-key-0123456789"]
    caller_id: "+31201234567"
    caller_ids: ["020-1234567", "+31201234568"]
    privacy: id
    people:
      - { id: kees, phone: "+31612345678" }
    flow: [kees]
`

func editTrunks(t *testing.T, pairs ...string) string {
	t.Helper()
	s := trunksBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("trunksBase has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestTrunksParsed(t *testing.T) {
	c, err := config.Parse([]byte(trunksBase), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.SIP.TrunkList()
	if len(got) != 2 {
		t.Fatalf("%d trunks, want 2", len(got))
	}
	kpn, telnyx := got[0], got[1]
	if kpn.Name != "kpn" || !kpn.Register || kpn.Transport != "tcp" || kpn.CallerIDHeader != "pai" ||
		kpn.Country != "NL" || kpn.RegisterExpires != time.Hour || kpn.SRTP != "off" ||
		kpn.ProxyTarget.Host != "proxy.kpn.example" || kpn.ProxyTarget.Port != 5070 || kpn.Target.Host != "sip.kpn.example" {
		t.Errorf("first trunk: %+v", kpn)
	}
	// Defaults: the name from the host, tls from sips:.
	if telnyx.Name != "trunk.telnyx.example" || telnyx.Transport != "tls" || telnyx.SRTP != "optional" ||
		telnyx.CallerIDHeader != "ppi" || telnyx.Register || telnyx.Country != "" {
		t.Errorf("second trunk: %+v", telnyx)
	}
	d := c.Dealers[0]
	if !slices.Equal(d.CallerIDs, []string{"+31201234567", "+31201234568"}) || d.Privacy != "id" {
		t.Errorf("dealer identity: %+v", d.Identity)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	// Validate is idempotent.
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if again := c.SIP.TrunkList(); !slices.Equal(again, got) {
		t.Errorf("second Validate changed the trunks:\n%+v\n%+v", again, got)
	}
}

// sip.trunk keeps working and takes the same keys: it is a list of one.
func TestSingleTrunkIsAListOfOne(t *testing.T) {
	c, err := config.Parse([]byte(edit(t, `    uri: "sip:sip.carrier.example"`,
		"    uri: \"sip:sip.carrier.example;transport=tcp\"\n    username: acct\n    register: true\n    caller_id_header: ppi")), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.SIP.TrunkList()
	if len(got) != 1 || got[0].Name != "sip.carrier.example" || got[0].Transport != "tcp" || !got[0].Register ||
		got[0].CallerIDHeader != "ppi" || got[0].URI != "sip:sip.carrier.example;transport=tcp" {
		t.Errorf("trunks: %+v", got)
	}
	c, err = config.Parse([]byte(strings.Replace(base, "sip:\n  trunk:\n    uri: \"sip:sip.carrier.example\"\n", "", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SIP.TrunkList(); got != nil {
		t.Errorf("no trunk configured, TrunkList %+v", got)
	}
}

func TestTrunkValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"both trunk and trunks", editTrunks(t, "sip:\n", "sip:\n  trunk: {uri: \"sip:old.example\"}\n"),
			[]string{"sip.trunks: use either sip.trunk (one trunk) or sip.trunks (a list), not both"}},
		{"unknown trunk key", editTrunks(t, "      caller_id_header: ppi", "      caller_id_headr: ppi"),
			[]string{`sip.trunks[1].caller_id_headr: unknown key (did you mean "caller_id_header"?)`}},
		{"no uri", editTrunks(t, `    - uri: "sips:trunk.telnyx.example"`, `    - name: telnyx`),
			[]string{"sip.trunks[1].uri: required"}},
		{"not a sip uri", editTrunks(t, `"sips:trunk.telnyx.example"`, `"+31201234567"`),
			[]string{`sip.trunks[1].uri: "+31201234567" is not a sip: or sips: URI`}},
		{"empty item", editTrunks(t, "    - uri: \"sips:trunk.telnyx.example\"\n", "    -\n    - uri: \"sips:trunk.telnyx.example\"\n"),
			[]string{"sip.trunks[1]: empty trunk"}},
		{"bad transport", editTrunks(t, "transport: tcp", "transport: sctp"),
			[]string{`sip.trunks[0].transport: unknown transport "sctp" (use udp, tcp or tls)`}},
		{"transport against the uri", editTrunks(t, `"sip:sip.kpn.example"`, `"sip:sip.kpn.example;transport=udp"`),
			[]string{"sip.trunks[0].transport: tcp, but the uri says transport=udp: set one of them"}},
		{"sips over tcp", editTrunks(t, "      srtp: optional", "      srtp: optional\n      transport: tcp"),
			[]string{"sip.trunks[1].transport: tcp, but a sips: uri needs tls"}},
		{"srtp unknown", editTrunks(t, "srtp: optional", "srtp: sdes"),
			[]string{`sip.trunks[1].srtp: unknown value "sdes" (use off, optional or required)`}},
		{"caller id header", editTrunks(t, "caller_id_header: pai", "caller_id_header: rpid"),
			[]string{`sip.trunks[0].caller_id_header: unknown value "rpid" (use from, pai or ppi)`}},
		{"register without username", editTrunks(t, `      username: "31201234567"`, ""),
			[]string{"sip.trunks[0].username: required to register: the account's user name"}},
		{"register too short", editTrunks(t, "      register: true", "      register: true\n      register_expires: 30s"),
			[]string{"sip.trunks[0].register_expires: at least 1m: registrars refuse shorter registrations"}},
		{"register not a bool", editTrunks(t, "register: true", "register: always"),
			[]string{`sip.trunks[0].register: "always" is not true or false`}},
		{"proxy with a user", editTrunks(t, `"sip:proxy.kpn.example:5070"`, `"sip:me@proxy.kpn.example"`),
			[]string{`sip.trunks[0].outbound_proxy: "sip:me@proxy.kpn.example": a proxy's URI has no user part`}},
		{"proxy not sip", editTrunks(t, `"sip:proxy.kpn.example:5070"`, `"proxy.kpn.example"`),
			[]string{`sip.trunks[0].outbound_proxy: "proxy.kpn.example" is not a sip: or sips: URI`}},
		{"country", editTrunks(t, "country: nl", "country: holland"),
			[]string{`sip.trunks[0].country: unknown country "HOLLAND" (use an ISO code such as NL)`}},
		{"duplicate names", editTrunks(t, "    - uri: \"sips:trunk.telnyx.example\"", "    - name: kpn\n      uri: \"sips:trunk.telnyx.example\""),
			[]string{`sip.trunks[1].name: duplicate trunk name "kpn" (also sip.trunks[0]): set name to tell them apart`}},
		{"bad name", editTrunks(t, "name: kpn", "name: kpn trunk"),
			[]string{`sip.trunks[0].name: "kpn trunk": use at most 64 letters, digits, '-', '_' or '.'`}},
		{"old trunk, new keys, no uri", edit(t, `    uri: "sip:sip.carrier.example"`, "    register: true"),
			[]string{"sip.trunk.uri: required when other trunk settings are set"}},

		// The dealer's numbers.
		{"caller id not owned", editTrunks(t, `caller_ids: ["020-1234567", `, `caller_ids: [`),
			[]string{"dealers[0].caller_id: +31201234567 is not one of caller_ids (+31201234568): present only a number the dealer owns"}},
		{"bad caller ids entry", editTrunks(t, `"+31201234568"`, `"12"`),
			[]string{`dealers[0].caller_ids[1]: ` + normalizeError(t, "12")}},
		{"caller ids twice", editTrunks(t, `"+31201234568"`, `"+31 20 123 4567"`),
			[]string{"dealers[0].caller_ids[1]: +31201234567 is listed twice (also caller_ids[0])"}},
		{"privacy", editTrunks(t, "privacy: id", "privacy: hidden"),
			[]string{`dealers[0].privacy: unknown value "hidden" (use id to withhold the caller id from customers, or none)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.yaml), nil)
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
		})
	}
}

// normalizeError is what a caller_ids entry that is not a number says: the same as the
// caller id would.
func normalizeError(t *testing.T, number string) string {
	t.Helper()
	_, err := config.Parse([]byte(editTrunks(t, `caller_id: "+31201234567"`, `caller_id: "`+number+`"`,
		`caller_ids: ["020-1234567", "+31201234568"]`, `country: NL`)), nil)
	var ve *config.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "dealers[0].caller_id" {
		t.Fatalf("caller id %q: %v", number, err)
	}
	return ve.Problems[0].Message
}

func TestTrunkWarnings(t *testing.T) {
	belgian := func(t *testing.T, edits ...string) []string {
		t.Helper()
		yaml := editTrunks(t, append([]string{
			`caller_id: "+31201234567"`, `caller_id: "+3225551234"`,
			`caller_ids: ["020-1234567", "+31201234568"]`, `caller_ids: ["+3225551234"]`,
		}, edits...)...)
		c, err := config.Parse([]byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range c.Warnings() {
			out = append(out, w.String())
		}
		return out
	}
	const blocked = "Belgium blocks calls from abroad that present a Belgian number (since 2024)"
	got := belgian(t)
	want := []string{
		`dealers[0].caller_id: Belgian number +3225551234 is presented through trunk "kpn" in NL: ` + blocked +
			"; call through a Belgian trunk or present a number of NL",
		`dealers[0].caller_id: Belgian number +3225551234 is presented through trunk "trunk.telnyx.example", whose country is unknown: ` +
			blocked + "; set sip.trunks[1].country",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if got := belgian(t, "country: nl", "country: be", "      srtp: optional", "      srtp: optional\n      country: BE"); len(got) != 0 {
		t.Errorf("Belgian trunks, warnings: %v", got)
	}

	// No caller_ids: today's behaviour, with a warning.
	c, err := config.Parse([]byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ws []string
	for _, w := range c.Warnings() {
		ws = append(ws, w.String())
		if w.Line == 0 {
			t.Errorf("warning %s has no line", w)
		}
	}
	want = []string{
		"dealers[0].caller_ids: not set: list the numbers the dealer owns, so that caller_id (+31201234567) is checked against them",
		"dealers[1].caller_ids: not set: list the numbers the dealer owns, so that caller_id (+493012345678) is checked against them",
	}
	if !slices.Equal(ws, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(ws, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestTrunksNeedRestart(t *testing.T) {
	a, err := config.Parse([]byte(trunksBase), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Parse([]byte(editTrunks(t, "transport: tcp", "transport: udp")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := config.RestartNeeded(a, b); !slices.Equal(got, []string{"sip.trunks"}) {
		t.Errorf("RestartNeeded = %v", got)
	}
	c, err := config.Parse([]byte(editTrunks(t, "privacy: id", "privacy: none")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := config.RestartNeeded(a, c); len(got) != 0 {
		t.Errorf("a dealer's privacy is reloaded; RestartNeeded = %v", got)
	}
}
