package leadmail

import (
	"regexp"
	"strings"
	"testing"
)

func TestCheckRule(t *testing.T) {
	re := regexp.MustCompile
	good := Rule{Sender: "*@autoportal.example", Fields: []*regexp.Regexp{re(`Naam: (?P<name>.+)`), re(`Tel: (?P<phone>.+)`)}}
	if err := CheckRule(good); err != nil {
		t.Fatalf("good rule: %v", err)
	}
	tests := []struct {
		name string
		r    Rule
		want []string // substrings of the error
	}{
		{"bad sender", Rule{Sender: "*.autoscout24.com", Fields: good.Fields}, []string{`sender "*.autoscout24.com"`}},
		{"wildcard inside", Rule{Sender: "leads*@x.nl", Fields: good.Fields}, []string{`has a "*" where none may be`}},
		{"no fields", Rule{Sender: "a@b.nl"}, []string{"fields: none given"}},
		{"nil field", Rule{Sender: "a@b.nl", Fields: []*regexp.Regexp{nil, re(`(?P<phone>\d+)`)}}, []string{"fields[0]: no regexp"}},
		{"unknown group", Rule{Sender: "a@b.nl", Fields: []*regexp.Regexp{re(`(?P<phone>\d+)`), re(`(?P<tel>\d+)`)}}, []string{`fields[1]: unknown group "tel"`}},
		{"no phone", Rule{Sender: "a@b.nl", Fields: []*regexp.Regexp{re(`(?P<name>.+)`)}}, []string{"no group named phone"}},
		{"long source", Rule{Sender: "a@b.nl", Fields: good.Fields, Source: strings.Repeat("x", 101)}, []string{"source"}},
		{"control in source", Rule{Sender: "a@b.nl", Fields: good.Fields, Source: "Auto\x00Portal"}, []string{"source"}},
		{"all at once", Rule{Sender: "", Fields: []*regexp.Regexp{re(`(?P<naam>.+)`)}}, []string{"sender", `unknown group "naam"`, "no group named phone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRule(tt.r)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not hold %q", err, w)
				}
			}
		})
	}
}

func TestApplyRuleFirstMatchWins(t *testing.T) {
	re := regexp.MustCompile
	r := Rule{
		Sender: "a@b.nl",
		Fields: []*regexp.Regexp{
			re(`Mobiel: (?P<phone>[0-9-]+)`),                        // first: wins when present
			re(`Telefoon: (?P<phone>[0-9-]+)`),                      // second: only when the first finds none
			re(`Naam: (?P<name>.*)`),                                // an empty value does not count
			re(`Naam \(volledig\): (?P<name>.+)`),                   // so this one fills it
			re(`(?P<message>Opmerking: .+)|(?P<interest>Auto: .+)`), // an unmatched group is no value
		},
	}
	text := "Telefoon: 020-1234567\nMobiel: 06-12345678\nNaam: \nNaam (volledig): Eva Jansen\nAuto: Volvo\n"
	l := applyRule(r, text, Message{From: "a@b.nl"})
	if l.Phone != "06-12345678" || l.Name != "Eva Jansen" || l.Interest != "Auto: Volvo" || l.Message != "" || l.Source != "b.nl" {
		t.Errorf("got %+v", l)
	}
	if i := matchRule([]Rule{{Sender: "x@y.nl"}, r, {Sender: "*@b.nl"}}, Message{From: "a@b.nl"}); i != 1 {
		t.Errorf("matchRule = %d, want the first match, 1", i)
	}
	withSubject := Rule{Sender: "a@b.nl", Subject: re(`^Lead`)}
	if i := matchRule([]Rule{withSubject}, Message{From: "a@b.nl", Subject: "Re: Lead"}); i != -1 {
		t.Errorf("subject did not match, yet rule %d", i)
	}
}
