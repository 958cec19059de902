package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/leadline/leadline/config"
)

// emailBase is base with an SMTP receiver and the first dealer's mail settings; each
// case below changes one thing in it.
var emailBase = strings.Replace(strings.Replace(base, "sip:\n", `email:
  listen: ":2525"
  domain: "leads.example.com"
sip:
`, 1), `    ring_timeout: "20s"`, `    ring_timeout: "20s"
    email:
      senders: ["*@autoscout24.com", "*@*.autoscout24.com", "crm@autohuisjansen.nl", "leads@autotrader.nl"]
      rules:
        - sender: "leads@autotrader.nl"
          subject: "^Nieuwe lead"
          fields: ['Naam:\s*(?P<name>[^\n]+)', 'Telefoon:\s*(?P<phone>[-+0-9 ()]{6,})']
      imap: {url: "imaps://imap.example.com", username: "leads", password: "pw"}
    portals: {marktplaats: {secret: "mp-secret"}}`, 1)

func TestEmailConfig(t *testing.T) {
	c, err := config.Parse([]byte(emailBase), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, j, d := c.Email, c.Dealers[0].Email, c.Dealers[1].Email
	if e.MaxBytes != 10_000_000 || e.PerSender.Count != 120 || e.PerDealer.Count != 1200 {
		t.Errorf("defaults: %+v", e)
	}
	if j.Address != "jansen@leads.example.com" || d.Address != "" {
		t.Errorf("addresses %q, %q; want the default for the dealer with senders only", j.Address, d.Address)
	}
	if r := j.Rules[0]; r.SubjectRe == nil || len(r.FieldRes) != 2 || j.IMAP.Folder != "INBOX" {
		t.Errorf("rule or mailbox not compiled: %+v %+v", r, j.IMAP)
	}
	if c.Dealers[0].Portals.Marktplaats.Secret != "mp-secret" {
		t.Errorf("portals: %+v", c.Dealers[0].Portals)
	}

	var b strings.Builder
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"email           SMTP :2525, domain leads.example.com, no STARTTLS, max 10MB, at most 120/1h per sender and 1200/1h per dealer",
		"  e-mail      jansen@leads.example.com",
		"  senders     *@autoscout24.com, *@*.autoscout24.com, crm@autohuisjansen.nl, leads@autotrader.nl",
		"  rule        mail from leads@autotrader.nl without ADF: 2 expressions",
		`  imap        imaps://imap.example.com folder INBOX as "leads"; read mail is flagged`,
		"  portals     marktplaats webhook at /v1/hooks/marktplaats/jansen",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "mp-secret") || strings.Contains(b.String(), "pw") {
		t.Error("the summary shows a secret")
	}
}

func TestEmailConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		{"bad size", []string{`domain: "leads.example.com"`, "domain: leads.example.com\n  max_size: lots"},
			[]string{`email.max_size: "lots" is not a size between 1KB and 50MiB (e.g. "10MB")`}},
		{"size too big", []string{`domain: "leads.example.com"`, "domain: leads.example.com\n  max_size: 1GB"},
			[]string{`email.max_size: "1GB" is not a size between 1KB and 50MiB (e.g. "10MB")`}},
		{"half a certificate", []string{`domain: "leads.example.com"`, "domain: leads.example.com\n  tls: {cert: a.pem}"},
			[]string{`email.tls: set both cert and key, or neither`}},
		{"missing certificate files", []string{`domain: "leads.example.com"`, "domain: leads.example.com\n  tls: {cert: /nonexistent/a.pem, key: /nonexistent/a.key}"},
			[]string{`email.tls: cannot load the certificate and key: open /nonexistent/a.pem: no such file or directory`}},
		{"no senders", []string{`      senders: ["*@autoscout24.com", "*@*.autoscout24.com", "crm@autohuisjansen.nl", "leads@autotrader.nl"]`, `      senders: []`},
			[]string{`dealers[0].email.senders: list who may send leads, e.g. ["*@autoscout24.com", "crm@leads.example.com"]: mail from anyone else is refused`,
				`dealers[0].email.rules[0].sender: leads@autotrader.nl is not among the dealer's senders, so its mail is refused before this rule could read it; add it to senders`}},
		{"rule sender not allowed", []string{`, "leads@autotrader.nl"]`, `]`},
			[]string{`dealers[0].email.rules[0].sender: leads@autotrader.nl is not among the dealer's senders, so its mail is refused before this rule could read it; add it to senders`}},
		{"bad sender pattern", []string{`"leads@autotrader.nl"]`, `"leads@autotrader.nl", "crm*@autohuisjansen.nl", "everyone"]`},
			[]string{`dealers[0].email.senders[4]: "crm*@autohuisjansen.nl": * may only stand for the whole local part (*@domain) or a subdomain (*@*.domain)`,
				`dealers[0].email.senders[5]: "everyone" is not an address or pattern: write crm@dealer.nl, *@autoscout24.com or *@*.autoscout24.com`}},
		{"address taken twice", []string{"    flow: [boss]", "    flow: [boss]\n    email: {address: jansen@leads.example.com, senders: [a@b.nl]}"},
			[]string{`dealers[1].email.address: jansen@leads.example.com is also dealers[0]'s address`}},
		{"rule without phone", []string{`, 'Telefoon:\s*(?P<phone>[-+0-9 ()]{6,})'`, ``},
			[]string{`dealers[0].email.rules[0].fields: no expression captures (?P<phone>…): a lead without a number cannot be called`}},
		{"rule with an unknown group", []string{`(?P<name>[^\n]+)`, `(?P<naam>[^\n]+)`},
			[]string{`dealers[0].email.rules[0].fields[0]: unknown group "naam": use name, phone, email, interest, message`}},
		{"rule not a regexp", []string{`subject: "^Nieuwe lead"`, `subject: "(Nieuwe"`},
			[]string{"dealers[0].email.rules[0].subject: not a regular expression: error parsing regexp: missing closing ): `(Nieuwe`"}},
		{"imap with password in the url", []string{`url: "imaps://imap.example.com"`, `url: "imaps://leads:pw@imap.example.com"`},
			[]string{`dealers[0].email.imap.url: put the user name and password in username and password, not in the URL`}},
		{"imap not imap", []string{`url: "imaps://imap.example.com"`, `url: "https://imap.example.com"`},
			[]string{`dealers[0].email.imap.url: "https://imap.example.com" is not an IMAP URL: write imaps://imap.example.com or imap://host:143`}},
		{"imap move_to the folder read", []string{`password: "pw"`, `password: "pw", move_to: inbox`},
			[]string{`dealers[0].email.imap.move_to: is the folder read (INBOX): name another folder for the mail read, or leave it out to flag mail in place`}},
		{"imap mailbox of two dealers", []string{"    flow: [boss]", "    flow: [boss]\n    email: {senders: [a@b.nl], imap: {url: \"imaps://IMAP.example.com:993\", username: leads, password: x, folder: inbox}}"},
			[]string{`dealers[1].email.imap: the same mailbox and folder as dealers[0]'s: a folder's mail goes to one dealer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := emailBase
			for i := 0; i+1 < len(tt.edits); i += 2 {
				if !strings.Contains(s, tt.edits[i]) {
					t.Fatalf("emailBase has no %q", tt.edits[i])
				}
				s = strings.Replace(s, tt.edits[i], tt.edits[i+1], 1)
			}
			_, err := config.Parse([]byte(s), nil)
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestCoveredBy(t *testing.T) {
	senders := []string{"crm@dealer.nl", "*@autoscout24.com", "*@*.portal.example"}
	for p, want := range map[string]bool{
		"crm@dealer.nl":                true,
		"CRM@Dealer.nl":                true,
		"other@dealer.nl":              false,
		"*@dealer.nl":                  false,
		"no-reply@autoscout24.com":     true,
		"no-reply@rtm.autoscout24.com": true,
		"*@*.autoscout24.com":          true,
		"*@autoscout24.com":            true,
		"leads@portal.example":         false,
		"leads@eu.portal.example":      true,
		"*@*.portal.example":           true,
		"*@portal.example":             false,
	} {
		if got := config.CoveredBy(p, senders); got != want {
			t.Errorf("CoveredBy(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestOutcomes(t *testing.T) {
	parse := func(extra string) (*config.Config, error) {
		return config.Parse([]byte(strings.Replace(base, `    ring_timeout: "20s"`, "    ring_timeout: \"20s\"\n"+extra, 1)), nil)
	}
	c, err := parse("")
	if err != nil || len(c.Dealers[0].Outcomes) != 0 {
		t.Fatalf("no outcomes listed: %v, %v; want none asked", c.Dealers[0].Outcomes, err)
	}
	c, err = parse(`    outcomes: [appointment, follow_up, not_interested]`)
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Outcome{{"appointment", "voor een afspraak"}, {"follow_up", "om later op te volgen"}, {"not_interested", "als de klant geen interesse heeft"}}
	if !slices.Equal(c.Dealers[0].Outcomes, want) {
		t.Errorf("default outcomes (nl) %v", c.Dealers[0].Outcomes)
	}
	c, err = parse(`    outcomes: [appointment, {id: test_drive, say: "voor een proefrit"}]`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []config.Outcome{{"appointment", "voor een afspraak"}, {"test_drive", "voor een proefrit"}}; !slices.Equal(c.Dealers[0].Outcomes, want) {
		t.Errorf("own outcomes %v", c.Dealers[0].Outcomes)
	}
	for extra, want := range map[string]string{
		`    outcomes: [test_drive]`:                   `dealers[0].outcomes[0]: outcome "test_drive" needs say`,
		`    outcomes: [Appointment]`:                  `dealers[0].outcomes[0]: "Appointment" is not an outcome id`,
		`    outcomes: [appointment, appointment]`:     `dealers[0].outcomes[1]: outcome "appointment" is listed twice`,
		`    outcomes: [a, b, c, d, e, f, g, h, i, j]`: `dealers[0].outcomes: at most 9 outcomes`,
	} {
		if _, err := parse(extra); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", extra, err, want)
		}
	}
}
