package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
)

const (
	whsec  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"                         // 24 bytes
	whsec2 = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD2wKHi5b8L7GDMXXT0fbq1Q==" // 43 bytes
)

// webhooksBase is base with the top-level webhooks section and two endpoints for the
// first dealer; each case below changes one thing in it.
var webhooksBase = strings.Replace(strings.Replace(base, "sip:\n", `webhooks: {timeout: 15s}
sip:
`, 1), `    ring_timeout: "20s"`, `    ring_timeout: "20s"
    webhooks:
      - url: "https://crm.example.com/hooks/leadline?token=abc"
        secret: "${JANSEN_WEBHOOK_SECRET}"
        events: ["lead.connected", "lead.exhausted"]
      - url: "https://user:pw@bi.example.nl:8443/in"
        secrets: ["`+whsec+`", "`+whsec2+`"]`, 1)

func TestWebhooksConfig(t *testing.T) {
	c, err := config.Parse([]byte(webhooksBase), env("JANSEN_WEBHOOK_SECRET", whsec))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhooks.Timeout != 15*time.Second || c.Webhooks.AllowPrivateTargets {
		t.Errorf("top: %+v", c.Webhooks)
	}
	w := c.Dealers[0].Webhooks
	if len(w) != 2 || !slices.Equal(w[0].Keys, []string{whsec}) || !slices.Equal(w[1].Keys, []string{whsec, whsec2}) ||
		!slices.Equal(w[0].Events, []string{"lead.connected", "lead.exhausted"}) || w[1].Events != nil {
		t.Errorf("webhooks: %+v", w)
	}
	if len(c.Dealers[1].Webhooks) != 0 {
		t.Errorf("the second dealer has webhooks %+v", c.Dealers[1].Webhooks)
	}

	var b strings.Builder
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"webhooks        try timeout 15s; private targets refused",
		"  webhook     https://crm.example.com/hooks/leadline: lead.connected, lead.exhausted; 1 secret",
		"  webhook     https://bi.example.nl:8443/in: every event; 2 secrets (rotation)",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	for _, secret := range []string{"MfKQ9r8G", "C2FVsBQI", "token=abc", "pw@"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("the summary shows %q", secret)
		}
	}

	// Default timeout; private targets allowed print loud.
	c, err = config.Parse([]byte(strings.Replace(webhooksBase, "webhooks: {timeout: 15s}", "webhooks: {allow_private_targets: true}", 1)),
		env("JANSEN_WEBHOOK_SECRET", whsec))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhooks.Timeout != config.DefaultWebhookTimeout || !c.Webhooks.AllowPrivateTargets {
		t.Errorf("top: %+v", c.Webhooks)
	}
}

// The event names config accepts are the dialer's event types.
func TestWebhookEventsAreTheDialers(t *testing.T) {
	var want []string
	for _, e := range dialer.EventTypes {
		want = append(want, string(e))
	}
	if !slices.Equal(config.WebhookEvents, want) {
		t.Errorf("config.WebhookEvents %q, dialer.EventTypes %q", config.WebhookEvents, want)
	}
}

func TestWebhooksConfigErrors(t *testing.T) {
	const crm = `"https://crm.example.com/hooks/leadline?token=abc"`
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		{"loopback IP", []string{crm, `"http://127.0.0.1:8080/hooks"`},
			[]string{`dealers[0].webhooks[0].url: 127.0.0.1 is in loopback (127.0.0.0/8): private targets are not allowed (webhooks.allow_private_targets)`}},
		{"private IP", []string{crm, `"https://10.0.0.1/hooks"`},
			[]string{`dealers[0].webhooks[0].url: 10.0.0.1 is in private (10.0.0.0/8): private targets are not allowed (webhooks.allow_private_targets)`}},
		{"IPv6 loopback", []string{crm, `"http://[::1]:8080/"`},
			[]string{`dealers[0].webhooks[0].url: ::1 is in loopback (::1): private targets are not allowed (webhooks.allow_private_targets)`}},
		{"IPv4-mapped link-local", []string{crm, `"http://[::ffff:169.254.169.254]/latest/meta-data"`},
			[]string{`dealers[0].webhooks[0].url: ::ffff:169.254.169.254 is in IPv4-mapped (::ffff:0:0/96) of 169.254.169.254, link-local (169.254.0.0/16, cloud metadata services): private targets are not allowed (webhooks.allow_private_targets)`}},
		{"unspecified even when allowed", []string{crm, `"http://0.0.0.0:8080/"`, "webhooks: {timeout: 15s}", "webhooks: {allow_private_targets: true}"},
			[]string{`dealers[0].webhooks[0].url: 0.0.0.0 is "this network" (0.0.0.0/8): not a destination`}},
		{"not http", []string{crm, `"ftp://crm.example.com/hooks"`},
			[]string{`dealers[0].webhooks[0].url: must be an http:// or https:// URL`}},
		{"no host", []string{crm, `"https:///hooks"`},
			[]string{`dealers[0].webhooks[0].url: has no host`}},
		{"same URL twice", []string{`"https://user:pw@bi.example.nl:8443/in"`, crm},
			[]string{`dealers[0].webhooks[1].url: the same URL as webhooks[0]`}},
		{"no secret", []string{`        secret: "${JANSEN_WEBHOOK_SECRET}"` + "\n", ""},
			[]string{`dealers[0].webhooks[0].secret: is required: the receiver checks each message's signature with it (whsec_ and a random key in base64)`}},
		{"unset secret", []string{"${JANSEN_WEBHOOK_SECRET}", "${OTHER_SECRET}"},
			[]string{`dealers[0].webhooks[0].secret: is required: the receiver checks each message's signature with it (whsec_ and a random key in base64) (OTHER_SECRET not set)`}},
		{"both secret and secrets", []string{`        secret: "${JANSEN_WEBHOOK_SECRET}"`, `        secret: "${JANSEN_WEBHOOK_SECRET}"` + "\n        secrets: [\"" + whsec2 + "\"]"},
			[]string{`dealers[0].webhooks[0]: set secret or secrets (during a rotation), not both`}},
		{"not whsec", []string{`secrets: ["` + whsec + `"`, `secrets: ["hunter2-hunter2-hunter2-hunter2"`},
			[]string{`dealers[0].webhooks[1].secrets[0]: must start with whsec_ (a Standard Webhooks secret: whsec_ and a random key in base64)`}},
		{"short key", []string{`secrets: ["` + whsec + `"`, `secrets: ["whsec_c2hvcnQ="`},
			[]string{`dealers[0].webhooks[1].secrets[0]: the key after whsec_ is 5 bytes; use 24 to 64 (echo whsec_$(openssl rand -base64 32))`}},
		{"not base64", []string{`secrets: ["` + whsec + `"`, `secrets: ["whsec_not base64!"`},
			[]string{`dealers[0].webhooks[1].secrets[0]: the key after whsec_ is not base64 (make one: echo whsec_$(openssl rand -base64 32))`}},
		{"secret twice", []string{`"` + whsec2 + `"]`, `"` + whsec + `"]`},
			[]string{`dealers[0].webhooks[1].secrets[1]: the same secret as secrets[0]`}},
		{"unknown event", []string{`"lead.exhausted"]`, `"lead.exhausted", "lead.created"]`},
			[]string{`dealers[0].webhooks[0].events[2]: unknown event "lead.created": use lead.received, lead.scheduled, lead.connected, lead.completed, lead.customer_unreachable, lead.exhausted, lead.reached_owner, lead.canceled, lead.failed, lead.outcome`}},
		{"event twice", []string{`"lead.exhausted"]`, `"lead.exhausted", "lead.connected"]`},
			[]string{`dealers[0].webhooks[0].events[2]: lead.connected is listed twice`}},
		{"no events", []string{`events: ["lead.connected", "lead.exhausted"]`, `events: []`},
			[]string{`dealers[0].webhooks[0].events: is empty; leave it out to send every event`}},
		{"unknown key", []string{`        events: [`, `        event: [`},
			[]string{`dealers[0].webhooks[0].event: unknown key (did you mean "events"?)`}},
		{"long timeout", []string{"webhooks: {timeout: 15s}", "webhooks: {timeout: 5m}"},
			[]string{`webhooks.timeout: 5m is longer than a try may take (at most 1m)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := webhooksBase
			for i := 0; i+1 < len(tt.edits); i += 2 {
				if !strings.Contains(s, tt.edits[i]) {
					t.Fatalf("webhooksBase has no %q", tt.edits[i])
				}
				s = strings.Replace(s, tt.edits[i], tt.edits[i+1], 1)
			}
			_, err := config.Parse([]byte(s), env("JANSEN_WEBHOOK_SECRET", whsec))
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
				if strings.Contains(p.String(), "MfKQ9r8G") {
					t.Errorf("a message shows the secret: %s", p)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}
