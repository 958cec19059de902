package leadmail

import "testing"

func TestSenderMatches(t *testing.T) {
	tests := []struct {
		pattern, address string
		want             bool
	}{
		// An exact address matches itself only, in any case.
		{"crm@dealer.nl", "crm@dealer.nl", true},
		{"crm@dealer.nl", "CRM@Dealer.NL", true},
		{"CRM@DEALER.NL", "crm@dealer.nl", true},
		{"crm@dealer.nl", "crm2@dealer.nl", false},
		{"crm@dealer.nl", "crm@mail.dealer.nl", false},
		{"crm@dealer.nl", "crm@dealer.nl.evil.example", false},

		// "*@domain": any local part at the domain and its subdomains.
		{"*@autoscout24.com", "no-reply@autoscout24.com", true},
		{"*@autoscout24.com", "no-reply@rtm.autoscout24.com", true},
		{"*@autoscout24.com", "No-Reply@RTM.AutoScout24.com", true},
		{"*@autoscout24.com", "x@a.b.autoscout24.com", true},
		{"*@autoscout24.com", "x@notautoscout24.com", false},
		{"*@autoscout24.com", "x@autoscout24.com.evil.example", false},
		{"*@autoscout24.com", "x@autoscout24.de", false},
		{"*@autoscout24.com", "autoscout24.com", false},

		// "*@*.domain": the subdomains only.
		{"*@*.autoscout24.com", "no-reply@rtm.autoscout24.com", true},
		{"*@*.autoscout24.com", "no-reply@autoscout24.com", false},
		{"*@*.autoscout24.com", "x@evilautoscout24.com", false},

		// Nothing else is a pattern, so nothing else matches.
		{"*.autoscout24.com", "no-reply@rtm.autoscout24.com", false},
		{"@autoscout24.com", "no-reply@autoscout24.com", false},
		{"autoscout24.com", "no-reply@autoscout24.com", false},
		{"no-reply@*.autoscout24.com", "no-reply@rtm.autoscout24.com", false},
		{"*reply@autoscout24.com", "no-reply@autoscout24.com", false},
		{"*", "a@b.nl", false},
		{"*@*", "a@b.nl", false},
		{"*@", "a@b.nl", false},
		{"", "", false},
		{"crm@dealer.nl", "", false},
		{"*@dealer.nl", "@dealer.nl", false},
		{"*@dealer..nl", "a@dealer..nl", false},
		{"*@dealer.nl.", "a@dealer.nl.", false},
	}
	for _, tt := range tests {
		if got := SenderMatches(tt.pattern, tt.address); got != tt.want {
			t.Errorf("SenderMatches(%q, %q) = %v, want %v", tt.pattern, tt.address, got, tt.want)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, p := range []string{"", "*", "*.autoscout24.com", "autoscout24.com", "@x.nl", "a@", "a*@x.nl",
		"a@*.x.nl", "*@x*.nl", "*@*.*.nl", "*@.x.nl", "*@x.nl.", "a b@x.nl", "a@x nl", "a@x.nl\x00", "<a@x.nl>"} {
		if _, err := parsePattern(p); err == nil {
			t.Errorf("parsePattern(%q) is valid", p)
		}
	}
	for _, p := range []string{"crm@dealer.nl", " crm@dealer.nl ", "*@autoscout24.com", "*@*.autoscout24.com", "\"a@b\"@x.nl"} {
		if _, err := parsePattern(p); err != nil {
			t.Errorf("parsePattern(%q): %v", p, err)
		}
	}
}
