package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs `leadline demo` in-process and reads its output as a newcomer would:
// the four leads end as the README says, and the e-mailed one arrived over SMTP as ADF
// from the dealer's CRM and rang the ring group like a posted lead.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	var out, errs syncBuffer
	if err := demoCmd(t.Context(), nil, func(string) string { return "" }, &out, &errs); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errs.String())
	}
	got := out.String()
	t.Logf("demo output:\n%s", got)

	for _, want := range []string{
		"Leadline demo: 4 leads (3 posted, 1 e-mailed), 8 simulated phones and an SMTP receiver on 127.0.0.1",
		"posted lead 1: Eva Jansen, Volvo XC60 (HTML form post to jansen)\n",
		"mailed lead 4: Noah Bakker, Polestar 2 (ADF e-mail from crm@autohuisjansen.nl to jansen@leads.example.com over SMTP; 250 once stored)\n",
		"Lead 1  Eva Jansen, Volvo XC60  (jansen)  →  completed\n",
		"Lead 2  Lars de Boer, Kia Niro  (bakker)  →  completed\n",
		"Lead 3  Sophie Visser, Volvo EX30  (jansen)  →  completed\n",
		"Lead 4  Noah Bakker, Polestar 2  (jansen)  →  customer_unreachable\n",
		"\ndemo done: 4 leads, 3 bridged to a salesperson, speed to lead ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}

	// Lead 4's story, in order, without its times.
	_, lead4, ok := strings.Cut(got, "Lead 4  ")
	if !ok {
		t.Fatal("no timeline for lead 4")
	}
	var events []string
	for _, line := range strings.Split(lead4, "\n")[1:] {
		if m := timelineLine.FindStringSubmatch(line); m != nil {
			events = append(events, m[1])
		}
	}
	for i, want := range []string{
		"lead arrived by e-mail (ADF) from crm@autohuisjansen.nl, source Facebook",
		"ringing ",
		"ringing ",
		"Tom Peters answered and hears the whisper",
	} {
		if i >= len(events) || !strings.HasPrefix(events[i], want) {
			t.Fatalf("lead 4's timeline %q: event %d is not %q", events, i, want)
		}
	}
	for _, want := range []string{"Tom Peters pressed 1", "calling the customer +31645678901 for Tom Peters", "customer not reached: no answer"} {
		if !strings.Contains(strings.Join(events, "\n"), want) {
			t.Errorf("lead 4's timeline %q lacks %q", events, want)
		}
	}
}

// timelineLine is one event of a printed timeline: "  +12.3s  text".
var timelineLine = regexp.MustCompile(`^\s+[+-]\d+\.\ds  (.+)$`)
