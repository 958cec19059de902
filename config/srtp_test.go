package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/leadline/leadline/config"
)

func TestPersonSRTP(t *testing.T) {
	const piet = `{ id: piet,  name: "Piet de Vries", phone: "sip:piet@192.0.2.10:5060" }`
	const kees = `{ id: kees,  name: "Kees Bakker",   phone: "+31612345678" }`
	c, err := config.Parse([]byte(edit(t,
		piet, `{ id: piet,  name: "Piet de Vries", phone: "sips:piet@phones.example", srtp: Required }`,
		kees, `{ id: kees, phone: registered, sip_password: "kees-pw-0123456789", srtp: optional }`)), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Dealers[0]
	for id, want := range map[string]string{"piet": config.SRTPRequired, "kees": config.SRTPOptional, "anna": ""} {
		if p, _ := d.Person(id); p.SRTP != want {
			t.Errorf("%s: srtp %q, want %q", id, p.SRTP, want)
		}
	}
	var b strings.Builder
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sips:piet@phones.example, srtp required", "registered (sip user kees), srtp optional"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary has no %q", want)
		}
	}
	// No TLS listener: kees's phone registers over UDP or TCP, and the keys are readable.
	var warned []string
	for _, w := range c.Warnings() {
		if strings.HasSuffix(w.Path, ".srtp") {
			warned = append(warned, w.String())
		}
	}
	want := []string{"dealers[0].people[1].srtp: optional for a registered phone, but sip.tls.listen is not set: " +
		"the phone registers over UDP or TCP and the SRTP keys travel in readable SIP"}
	if !slices.Equal(warned, want) {
		t.Errorf("warnings %q, want %q", warned, want)
	}

	for _, tt := range []struct{ name, from, to, want string }{
		{"a number", kees, `{ id: kees, phone: "+31612345678", srtp: required }`,
			"dealers[0].people[1].srtp: only for a sip: URI or a registered phone: a number is called through a trunk, whose srtp applies"},
		{"unknown", piet, `{ id: piet, phone: "sip:piet@192.0.2.10", srtp: sdes }`,
			`dealers[0].people[0].srtp: unknown value "sdes" (use off, optional or required)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := problems(t, edit(t, tt.from, tt.to)); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("problems %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSRTPWarnings(t *testing.T) {
	cfg := func(y string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(y), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srtpWarnings := func(c *config.Config) []string {
		var out []string
		for _, w := range c.Warnings() {
			if strings.HasSuffix(w.Path, ".srtp") {
				out = append(out, w.String())
			}
		}
		return out
	}
	// SRTP over a trunk reached over TCP: the keys in the SDP are readable.
	got := srtpWarnings(cfg(editTrunks(t, "transport: tcp", "transport: tcp\n      srtp: required")))
	if want := []string{"sip.trunks[0].srtp: required over tcp: the SRTP keys travel in the SDP, readable by anyone who sees the SIP; use transport: tls"}; !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	// A phone's SIP URI over UDP.
	got = srtpWarnings(cfg(edit(t, `phone: "sip:piet@192.0.2.10:5060" }`, `phone: "sip:piet@192.0.2.10:5060", srtp: required }`)))
	if want := []string{"dealers[0].people[0].srtp: required, but sip:piet@192.0.2.10:5060 is not reached over TLS: the SRTP keys travel in readable SIP; use a sips: URI or ;transport=tls"}; !slices.Equal(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	// Over TLS: nothing to say.
	if got := srtpWarnings(cfg(edit(t, `phone: "sip:piet@192.0.2.10:5060" }`, `phone: "sip:piet@192.0.2.10:5061;transport=tls", srtp: required }`))); len(got) != 0 {
		t.Errorf("warnings %q", got)
	}
}
