package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/sip/siptest"
)

// The demo's cast: every phone is a siptest.Phone on loopback.
var demoPeople = []struct {
	dealer, id, name, role string
	b                      siptest.Behaviour
}{
	{"jansen", "piet", "Piet de Vries", "answers and presses 1", siptest.Behaviour{Ring: 1200 * time.Millisecond, Key: '1', KeyAfter: 2500 * time.Millisecond, Tone: 700}},
	{"jansen", "anna", "Anna Smit", "lets it go to voicemail", siptest.Behaviour{Ring: 1500 * time.Millisecond, Tone: 300}},
	{"jansen", "sanne", "Sanne Mulder", "does not pick up", siptest.Behaviour{Never: true}},
	{"jansen", "tom", "Tom Peters", "answers and presses 1 (SIP INFO)", siptest.Behaviour{Ring: 2 * time.Second, Key: '1', KeyAfter: 2 * time.Second, KeyBy: "info", Tone: 700}},
	{"jansen", "jan", "Jan Jansen (owner)", "answers and presses 1", siptest.Behaviour{Ring: time.Second, Key: '1', KeyAfter: 2 * time.Second}},
	{"bakker", "kees", "Kees Bakker", "is busy", siptest.Behaviour{Ring: 400 * time.Millisecond, Code: 486}},
	{"bakker", "henk", "Henk Bakker (owner)", "answers and presses 1 (in-band tone)", siptest.Behaviour{Ring: 1500 * time.Millisecond, Key: '1', KeyAfter: 2 * time.Second, KeyBy: "inband", Tone: 600}},
}

type demoLead struct {
	dealer, key string
	form        url.Values
	customer    siptest.Behaviour
}

var demoLeads = []demoLead{
	{"jansen", "demo-key-jansen-000001", url.Values{"name": {"Eva Jansen"}, "phone": {"06-12345678"}, "interest": {"Volvo XC60"}, "source": {"the website"}, "assigned_to": {"piet"}},
		siptest.Behaviour{Ring: 1500 * time.Millisecond, Tone: 500, HangUp: 4 * time.Second}},
	{"bakker", "demo-key-bakker-000001", url.Values{"name": {"Lars de Boer"}, "phone": {"06-23456789"}, "interest": {"Kia Niro"}, "source": {"AutoScout24"}, "assigned_to": {"kees"}},
		siptest.Behaviour{Ring: time.Second, Tone: 500, HangUp: 3 * time.Second}},
	{"jansen", "demo-key-jansen-000001", url.Values{"name": {"Sophie Visser"}, "phone": {"06-34567890"}, "interest": {"Volvo EX30"}, "source": {"the website"}, "assigned_to": {"anna"}},
		siptest.Behaviour{Ring: time.Second, Tone: 500, HangUp: 3 * time.Second}},
	{"jansen", "demo-key-jansen-000001", url.Values{"name": {"Noah Bakker"}, "phone": {"06-45678901"}, "interest": {"Polestar 2"}, "source": {"Facebook"}},
		siptest.Behaviour{Never: true}},
}

const demoConfig = `
http: {listen: "127.0.0.1:0"}
sip:
  listen: "127.0.0.1:0"
  rtp_ports: "41000-41999"
  trunk: {uri: "sip:%s"}
store: "sqlite://%s"
log: {level: warn}
dealers:
  - id: jansen
    name: Autohuis Jansen
    api_keys: ["demo-key-jansen-000001"]
    language: en
    caller_id: "+31201234567"
    ring_timeout: 6s
    accept_timeout: 3s
    customer_ring_timeout: 8s
    people: [%s]
    flow: [assigned, [sanne, tom], jan]
  - id: bakker
    name: Garage Bakker
    api_keys: ["demo-key-bakker-000001"]
    language: nl
    caller_id: "+31301234567"
    ring_timeout: 6s
    accept_timeout: 3s
    customer_ring_timeout: 8s
    people: [%s]
    flow: [assigned, henk]
`

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "log what the server does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "leadline-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	quiet := slog.New(slog.DiscardHandler)
	carrier, err := siptest.NewPhone("carrier", siptest.Behaviour{Never: true}, quiet)
	if err != nil {
		return err
	}
	defer carrier.Close()
	people := map[string][]string{}
	names := map[string]string{}
	for _, p := range demoPeople {
		ph, err := siptest.NewPhone(p.id, p.b, quiet)
		if err != nil {
			return err
		}
		defer ph.Close()
		people[p.dealer] = append(people[p.dealer], fmt.Sprintf("{id: %s, name: %q, phone: %q}", p.id, p.name, ph.URI()))
		names[p.id] = p.name
	}
	cfg, err := config.Parse(fmt.Appendf(nil, demoConfig, carrier.Addr(), filepath.Join(dir, "demo.db"),
		strings.Join(people["jansen"], ", "), strings.Join(people["bakker"], ", ")), os.Getenv)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	if *verbose {
		cfg.Log.Level = "info"
	}
	// Customers are only rung 08:00-21:00 in their own time; the demo's clock says it is
	// midday in Amsterdam, whenever it runs.
	a, err := startApp(ctx, cfg, newLogger(cfg.Log, stderr), withClock(middayClock()))
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.run(runCtx, 5*time.Second) }()
	defer func() { stop(); <-served }()

	speech := "espeak-ng"
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		speech = "tones (install espeak-ng for spoken whispers)"
	}
	fmt.Fprintf(stdout, "Leadline demo: %d leads, %d simulated phones on 127.0.0.1, whispers: %s\n", len(demoLeads), len(demoPeople)+1, speech)
	fmt.Fprintf(stdout, "(customers are only called 08:00-21:00 their time: the demo's clock says it is midday in Amsterdam)\n\n")
	for _, p := range demoPeople {
		fmt.Fprintf(stdout, "  %-20s %s\n", p.name, p.role)
	}
	fmt.Fprintln(stdout)

	base := "http://" + a.ln.Addr().String()
	ids := make([]string, len(demoLeads))
	for i, l := range demoLeads {
		e164 := "+31" + strings.TrimPrefix(strings.ReplaceAll(l.form.Get("phone"), "-", ""), "0")
		carrier.Behave(e164, l.customer)
		id, err := postForm(ctx, base, l.key, l.form)
		if err != nil {
			return err
		}
		ids[i] = id
		fmt.Fprintf(stdout, "posted lead %d: %s, %s (HTML form post to %s)\n", i+1, l.form.Get("name"), l.form.Get("interest"), l.dealer)
	}
	fmt.Fprintln(stdout, "\nwaiting for the calls…")

	leads := make([]leadView, len(ids))
	for i, id := range ids {
		for {
			if leads[i], err = getLead(ctx, base, demoLeads[i].key, id); err != nil {
				return err
			}
			if final[leads[i].Status] {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("lead %d did not finish in time (status %s)", i+1, leads[i].Status)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	fmt.Fprintln(stdout)
	for i, l := range leads {
		printTimeline(stdout, i+1, l, names)
	}
	return nil
}

var final = map[string]bool{"completed": true, "exhausted": true, "customer_unreachable": true, "canceled": true, "failed": true}

func postForm(ctx context.Context, base, key string, form url.Values) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/leads", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("post lead: %s: %s", res.Status, body)
	}
	var l leadView
	if err := json.Unmarshal(body, &l); err != nil {
		return "", err
	}
	return l.ID, nil
}

// leadView is the API's lead JSON, as a client reads it.
type leadView struct {
	ID          string     `json:"id"`
	Dealer      string     `json:"dealer"`
	Status      string     `json:"status"`
	Name        string     `json:"name"`
	Phone       string     `json:"phone"`
	Source      string     `json:"source"`
	Interest    string     `json:"interest"`
	Reason      string     `json:"reason"`
	CreatedAt   time.Time  `json:"created_at"`
	ConnectedAt *time.Time `json:"connected_at"`
	EndedAt     *time.Time `json:"ended_at"`
	Speed       *float64   `json:"speed_to_lead_seconds"`
	Attempts    []struct {
		Leg        string     `json:"leg"`
		Person     string     `json:"person"`
		Result     string     `json:"result"`
		SIPCode    int        `json:"sip_code"`
		StartedAt  time.Time  `json:"started_at"`
		AnsweredAt *time.Time `json:"answered_at"`
		AcceptedAt *time.Time `json:"accepted_at"`
		EndedAt    *time.Time `json:"ended_at"`
	} `json:"attempts"`
}

func getLead(ctx context.Context, base, key, id string) (leadView, error) {
	var l leadView
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/leads/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return l, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return l, fmt.Errorf("get lead: %s: %s", res.Status, body)
	}
	return l, json.NewDecoder(bytes.NewReader(body)).Decode(&l)
}

// printTimeline tells a lead's story the way a dealer would read it.
func printTimeline(w io.Writer, n int, l leadView, names map[string]string) {
	type event struct {
		at   time.Time
		text string
	}
	who := func(id string) string {
		if s, ok := names[id]; ok {
			return s
		}
		return id
	}
	ev := []event{{l.CreatedAt, fmt.Sprintf("lead arrived from %s", l.Source)}}
	for _, a := range l.Attempts {
		p := who(a.Person)
		if a.Leg == "customer" {
			ev = append(ev, event{a.StartedAt, fmt.Sprintf("calling the customer %s for %s", l.Phone, p)})
			if a.AnsweredAt != nil {
				ev = append(ev, event{*a.AnsweredAt, fmt.Sprintf("customer answered: talking to %s", p)})
			}
			if a.EndedAt != nil {
				text := "call ended"
				if a.Result != "answered" {
					text = "customer not reached: " + strings.ReplaceAll(a.Result, "_", " ")
				}
				ev = append(ev, event{*a.EndedAt, text})
			}
			continue
		}
		ev = append(ev, event{a.StartedAt, "ringing " + p})
		if a.AnsweredAt != nil {
			ev = append(ev, event{*a.AnsweredAt, p + " answered and hears the whisper"})
		}
		if a.AcceptedAt != nil {
			ev = append(ev, event{*a.AcceptedAt, p + " pressed 1"})
		}
		if a.EndedAt != nil && a.Result != "accepted" {
			ev = append(ev, event{*a.EndedAt, p + " " + agentOutcome[a.Result] + code(a.SIPCode)})
		}
	}
	slices.SortStableFunc(ev, func(a, b event) int { return a.at.Compare(b.at) })
	fmt.Fprintf(w, "Lead %d  %s, %s  (%s)  →  %s\n", n, l.Name, l.Interest, l.Dealer, l.Status)
	for _, e := range ev {
		fmt.Fprintf(w, "  %+7.1fs  %s\n", e.at.Sub(l.CreatedAt).Seconds(), e.text)
	}
	if l.Speed != nil {
		fmt.Fprintf(w, "  speed to lead: %.1f s (lead in → customer talking to a salesperson)\n\n", *l.Speed)
	} else {
		fmt.Fprintf(w, "  no connection: %s\n\n", l.Reason)
	}
}

var agentOutcome = map[string]string{
	"declined":  "passed it on (pressed another key)",
	"no_accept": "did not press a key (voicemail): next person",
	"no_answer": "did not answer: next person",
	"busy":      "was busy: next person",
	"rejected":  "rejected the call: next person",
	"failed":    "could not be reached: next person",
	"canceled":  "stopped ringing: a colleague took the lead",
}

func code(c int) string {
	if c == 0 {
		return ""
	}
	return fmt.Sprintf(" (SIP %d)", c)
}
