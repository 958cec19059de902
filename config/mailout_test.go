package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
)

// mailBase is base with an outgoing relay, a CRM address and a weekly report for the
// first dealer; each case below changes one thing in it.
var mailBase = strings.Replace(strings.Replace(base, "sip:\n", `email:
  domain: leads.example.com
  relay: "smtp://leadline:${RELAY_PASSWORD}@smtp.example.com:587"
sip:
`, 1), `    ring_timeout: "20s"`, `    ring_timeout: "20s"
    crm_email: "Leads@CRM.example.com"
    reports: { to: ["owner@autohuisjansen.nl", "sales@autohuisjansen.nl"], weekly: "Mon 08:00" }`, 1)

func TestMailConfig(t *testing.T) {
	c, err := config.Parse([]byte(mailBase), env("RELAY_PASSWORD", "hunter2%2Fx"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Email.Relay != "smtp://leadline:hunter2%2Fx@smtp.example.com:587" ||
		c.Email.FromAddress.String() != `"Leadline" <leadline@leads.example.com>` {
		t.Errorf("email %q, from %s", c.Email.Relay, c.Email.FromAddress.String())
	}
	d := c.Dealers[0]
	if !slices.Equal(d.CRMEmail, []string{"leads@crm.example.com"}) {
		t.Errorf("crm_email %q", d.CRMEmail)
	}
	if r := d.Reports; !r.Enabled() || r.Weekly != "mon 08:00" || r.Day != time.Monday || r.At != 8*time.Hour ||
		!slices.Equal(r.To, []string{"owner@autohuisjansen.nl", "sales@autohuisjansen.nl"}) {
		t.Errorf("reports %+v", r)
	}
	if len(c.Dealers[1].CRMEmail) != 0 || c.Dealers[1].Reports.Enabled() {
		t.Errorf("the second dealer: %q %+v", c.Dealers[1].CRMEmail, c.Dealers[1].Reports)
	}

	var b strings.Builder
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`mail out        smtp://smtp.example.com:587 (STARTTLS required, AUTH as leadline), from "Leadline" <leadline@leads.example.com>`,
		"  crm e-mail  leads@crm.example.com: ADF at each final status, and an update with the outcome",
		"  reports     weekly, mon 08:00 Europe/Amsterdam, to owner@autohuisjansen.nl, sales@autohuisjansen.nl",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "hunter2") {
		t.Errorf("the summary shows the relay's password:\n%s", b.String())
	}

	// A list of CRM addresses, an explicit From, smtps and a relay on loopback.
	s := strings.NewReplacer(`crm_email: "Leads@CRM.example.com"`, `crm_email: [leads@crm.example.com, adf@dms.example.nl]`,
		"  domain: leads.example.com\n", "  from: \"Autohuis Jansen <leads@autohuisjansen.nl>\"\n").Replace(mailBase)
	c, err = config.Parse([]byte(s), env("RELAY_PASSWORD", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Dealers[0].CRMEmail, []string{"leads@crm.example.com", "adf@dms.example.nl"}) ||
		c.Email.FromAddress.Address != "leads@autohuisjansen.nl" || c.Email.FromAddress.Name != "Autohuis Jansen" {
		t.Errorf("crm_email %q, from %+v", c.Dealers[0].CRMEmail, c.Email.FromAddress)
	}
	for relay, shown := range map[string]string{
		"smtps://u:pw@mail.example.com": "smtps://mail.example.com:465 (TLS, AUTH as u)",
		"smtp://127.0.0.1:25":           "smtp://127.0.0.1:25 (plain: the relay is on this machine, no AUTH)",
	} {
		c, err := config.Parse([]byte(strings.Replace(mailBase, "smtp://leadline:${RELAY_PASSWORD}@smtp.example.com:587", relay, 1)), nil)
		if err != nil {
			t.Fatal(err)
		}
		b.Reset()
		_ = c.Summary(&b)
		if !strings.Contains(b.String(), "mail out        "+shown) {
			t.Errorf("%s shown as:\n%s", relay, b.String())
		}
	}
}

func TestMailConfigErrors(t *testing.T) {
	const relay = `"smtp://leadline:${RELAY_PASSWORD}@smtp.example.com:587"`
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		{"not smtp", []string{relay, `"https://leadline:${RELAY_PASSWORD}@smtp.example.com"`},
			[]string{`email.relay: https://leadline:xxxxx@smtp.example.com: use smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 (TLS)`}},
		{"unescaped slash in the password", []string{relay, `"smtp://leadline:pa/ss@smtp.example.com"`},
			[]string{`email.relay: smtp://leadline:xxxxx@smtp.example.com is not a URL (in the password, write @ as %40, / as %2F, : as %3A, # as %23)`}},
		{"user without password", []string{relay, `"smtp://leadline@smtp.example.com"`},
			[]string{`email.relay: smtp://leadline@smtp.example.com: give both user and password (smtp://user:password@host), or neither`}},
		{"bad port", []string{relay, `"smtp://leadline:${RELAY_PASSWORD}@smtp.example.com:0"`},
			[]string{`email.relay: smtp://leadline:xxxxx@smtp.example.com:0 has a bad port "0"`}},
		{"query", []string{relay, `"smtp://leadline:${RELAY_PASSWORD}@smtp.example.com?tls=off"`},
			[]string{`email.relay: smtp://leadline:xxxxx@smtp.example.com?tls=off: a path, query or fragment means nothing here (in the password, write / as %2F, ? as %3F, # as %23)`}},
		{"no from", []string{"  domain: leads.example.com\n", ""},
			[]string{`email.from: is required with email.relay when email.domain is not set (the default is leadline@<email.domain>)`}},
		{"bad from", []string{"  domain: leads.example.com\n", "  domain: leads.example.com\n  from: \"leadline at example\"\n"},
			[]string{`email.from: "leadline at example" is not an e-mail address (write leadline@dealer.nl or "Leadline <leadline@dealer.nl>")`}},
		{"no relay", []string{"  relay: " + relay + "\n", ""},
			[]string{`dealers[0].crm_email: needs email.relay, the mail server Leadline's mail leaves through`,
				`dealers[0].reports: needs email.relay, the mail server Leadline's mail leaves through`}},
		{"bad crm address", []string{`"Leads@CRM.example.com"`, `[leads@crm.example.com, "CRM <adf@crm.example.com>", LEADS@crm.example.com]`},
			[]string{`dealers[0].crm_email[1]: "CRM <adf@crm.example.com>" is not an e-mail address (write it as user@domain)`,
				`dealers[0].crm_email[2]: leads@crm.example.com is listed twice`}},
		{"bad weekly", []string{`"Mon 08:00"`, `"monday 8"`},
			[]string{`dealers[0].reports.weekly: "monday 8" is not a day and a time such as "mon 08:00" (mon, tue, wed, thu, fri, sat or sun; 00:00 to 23:59)`}},
		{"bad day", []string{`"Mon 08:00"`, `"maandag 08:00"`},
			[]string{`dealers[0].reports.weekly: "maandag 08:00" is not a day and a time such as "mon 08:00" (mon, tue, wed, thu, fri, sat or sun; 00:00 to 23:59)`}},
		{"no recipients", []string{`to: ["owner@autohuisjansen.nl", "sales@autohuisjansen.nl"]`, `to: []`},
			[]string{`dealers[0].reports.to: is empty: list who gets the weekly report, or leave reports out`}},
		{"unknown key", []string{`weekly: "Mon 08:00"`, `daily: "08:00"`},
			[]string{`dealers[0].reports.daily: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mailBase
			for i := 0; i+1 < len(tt.edits); i += 2 {
				if !strings.Contains(s, tt.edits[i]) {
					t.Fatalf("mailBase has no %q", tt.edits[i])
				}
				s = strings.Replace(s, tt.edits[i], tt.edits[i+1], 1)
			}
			_, err := config.Parse([]byte(s), env("RELAY_PASSWORD", "hunter2"))
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
				if strings.Contains(p.String(), "hunter2") || strings.Contains(p.String(), "pa/ss") {
					t.Errorf("a message shows the password: %s", p)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// The weekly time takes a day's three letters or its whole name, any case, and a time on
// the 24-hour clock; the default is Monday 08:00.
func TestReportsWeekly(t *testing.T) {
	for in, want := range map[string]struct {
		day time.Weekday
		at  time.Duration
	}{
		`"sun 23:59"`:       {time.Sunday, 23*time.Hour + 59*time.Minute},
		`"Wednesday 07:30"`: {time.Wednesday, 7*time.Hour + 30*time.Minute},
		`"  fri   00:00 "`:  {time.Friday, 0},
		`""`:                {time.Monday, 8 * time.Hour},
	} {
		c, err := config.Parse([]byte(strings.Replace(mailBase, `"Mon 08:00"`, in, 1)), nil)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r := c.Dealers[0].Reports; r.Day != want.day || r.At != want.at {
			t.Errorf("%s: %v %v, want %v %v", in, r.Day, r.At, want.day, want.at)
		}
	}
}
