package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
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

	"github.com/emersion/go-smtp"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/simphone"
)

// The demo's cast: every phone is a simphone.Phone on loopback.
var demoPeople = []struct {
	dealer, id, name, role string
	b                      simphone.Behaviour
}{
	{"jansen", "piet", "Piet de Vries", "answers and presses 1", simphone.Behaviour{Ring: 1200 * time.Millisecond, Key: '1', KeyAfter: 2500 * time.Millisecond, Tone: 700}},
	{"jansen", "anna", "Anna Smit", "lets it go to voicemail", simphone.Behaviour{Ring: 1500 * time.Millisecond, Tone: 300}},
	{"jansen", "sanne", "Sanne Mulder", "does not pick up", simphone.Behaviour{Never: true}},
	{"jansen", "tom", "Tom Peters", "answers and presses 1 (SIP INFO)", simphone.Behaviour{Ring: 2 * time.Second, Key: '1', KeyAfter: 2 * time.Second, KeyBy: "info", Tone: 700}},
	{"jansen", "jan", "Jan Jansen (owner)", "answers and presses 1", simphone.Behaviour{Ring: time.Second, Key: '1', KeyAfter: 2 * time.Second}},
	{"bakker", "kees", "Kees Bakker", "is busy", simphone.Behaviour{Ring: 400 * time.Millisecond, Code: 486}},
	{"bakker", "henk", "Henk Bakker (owner)", "answers and presses 1 (in-band tone)", simphone.Behaviour{Ring: 1500 * time.Millisecond, Key: '1', KeyAfter: 2 * time.Second, KeyBy: "inband", Tone: 600}},
}

type demoLead struct {
	dealer, key string
	form        url.Values
	customer    simphone.Behaviour
	// mailFrom, when set, sends the lead as an ADF e-mail from this address to the
	// dealer's address over SMTP, as a CRM or portal does, instead of posting it.
	mailFrom string
}

var demoLeads = []demoLead{
	{"jansen", "demo-key-jansen-000001", url.Values{"name": {"Eva Jansen"}, "phone": {"06-12345678"}, "interest": {"Volvo XC60"}, "source": {"the website"}, "assigned_to": {"piet"}},
		simphone.Behaviour{Ring: 1500 * time.Millisecond, Tone: 500, HangUp: 4 * time.Second}, ""},
	{"bakker", "demo-key-bakker-000001", url.Values{"name": {"Lars de Boer"}, "phone": {"06-23456789"}, "interest": {"Kia Niro"}, "source": {"AutoScout24"}, "assigned_to": {"kees"}},
		simphone.Behaviour{Ring: time.Second, Tone: 500, HangUp: 3 * time.Second}, ""},
	{"jansen", "demo-key-jansen-000001", url.Values{"name": {"Sophie Visser"}, "phone": {"06-34567890"}, "interest": {"Volvo EX30"}, "source": {"the website"}, "assigned_to": {"anna"}},
		simphone.Behaviour{Ring: time.Second, Tone: 500, HangUp: 3 * time.Second}, ""},
	{"jansen", "demo-key-jansen-000001", url.Values{"name": {"Noah Bakker"}, "phone": {"06-45678901"}, "interest": {"Polestar 2"}, "source": {"Facebook"}},
		simphone.Behaviour{Never: true}, demoCRM},
}

// demoCRM is the jansen dealer's CRM, which mails its leads to Leadline as ADF; the
// dealer lists it in email.senders.
const demoCRM = "crm@autohuisjansen.nl"

const demoConfig = `
http: {listen: "127.0.0.1:0"}
sip:
  listen: "127.0.0.1:0"
  rtp_ports: "41000-41999"
  trunk: {uri: "sip:%s"}
store: "sqlite://%s"
log: {level: warn}
email: {listen: "127.0.0.1:0", domain: leads.example.com}
dealers:
  - id: jansen
    name: Autohuis Jansen
    api_keys: ["demo-key-jansen-000001"]
    language: en
    caller_id: "+31201234567"
    ring_timeout: 6s
    accept_timeout: 3s
    customer_ring_timeout: 8s
    email: {senders: ["crm@autohuisjansen.nl"]}
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

func demoCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	carrier, err := simphone.NewPhone("carrier", simphone.Behaviour{Never: true}, quiet)
	if err != nil {
		return err
	}
	defer carrier.Close()
	people := map[string][]string{}
	names := map[string]string{}
	for _, p := range demoPeople {
		ph, err := simphone.NewPhone(p.id, p.b, quiet)
		if err != nil {
			return err
		}
		defer ph.Close()
		people[p.dealer] = append(people[p.dealer], fmt.Sprintf("{id: %s, name: %q, phone: %q}", p.id, p.name, ph.URI()))
		names[p.id] = p.name
	}
	cfg, err := config.Parse(fmt.Appendf(nil, demoConfig, carrier.Addr(), filepath.Join(dir, "demo.db"),
		strings.Join(people["jansen"], ", "), strings.Join(people["bakker"], ", ")), getenv)
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
	mailed := 0
	for _, l := range demoLeads {
		if l.mailFrom != "" {
			mailed++
		}
	}
	fmt.Fprintf(stdout, "Leadline demo: %d leads (%d posted, %d e-mailed), %d simulated phones and an SMTP receiver on 127.0.0.1, whispers: %s\n",
		len(demoLeads), len(demoLeads)-mailed, mailed, len(demoPeople)+1, speech)
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
		if l.mailFrom != "" {
			to := l.dealer + "@" + cfg.Email.Domain
			msgID := fmt.Sprintf("demo-lead-%d@%s", i+1, domainOf(l.mailFrom))
			if err := mailLead(a.mail.Addr().String(), l.mailFrom, to, demoADFMail(l.mailFrom, to, msgID, l.form)); err != nil {
				return fmt.Errorf("mail lead %d: %w", i+1, err)
			}
			if ids[i], err = findLead(ctx, base, l.key, msgID); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "mailed lead %d: %s, %s (ADF e-mail from %s to %s over SMTP; 250 once stored)\n", i+1, l.form.Get("name"), l.form.Get("interest"), l.mailFrom, to)
			continue
		}
		id, err := postForm(ctx, base, l.key, l.form)
		if err != nil {
			return err
		}
		ids[i] = id
		fmt.Fprintf(stdout, "posted lead %d: %s, %s (HTML form post to %s)\n", i+1, l.form.Get("name"), l.form.Get("interest"), l.dealer)
	}
	fmt.Fprintln(stdout, "\nwaiting for the calls…")

	leads := make([]leadview.Lead, len(ids))
	for i, id := range ids {
		for {
			if leads[i], err = getLead(ctx, base, demoLeads[i].key, id); err != nil {
				return err
			}
			if leads[i].Status.Final() {
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
	fmt.Fprintln(stdout, demoSummary(leads))
	return nil
}

// demoSummary is the demo's last line: how many leads reached a salesperson and how
// fast.
func demoSummary(leads []leadview.Lead) string {
	connected, fastest, slowest := 0, 0.0, 0.0
	for _, l := range leads {
		if l.SpeedToLeadSeconds == nil {
			continue
		}
		s := *l.SpeedToLeadSeconds
		if connected == 0 || s < fastest {
			fastest = s
		}
		slowest = max(slowest, s)
		connected++
	}
	if connected == 0 {
		return fmt.Sprintf("demo done: %d leads, none bridged to a salesperson.", len(leads))
	}
	return fmt.Sprintf("demo done: %d leads, %d bridged to a salesperson, speed to lead %.1f-%.1f s.",
		len(leads), connected, fastest, slowest)
}

// demoADFMail is the e-mail a dealer's CRM sends for a lead: an ADF 1.0 document in the
// text body. Leadline reads name, phone, vehicle, comments and provider out of it; the
// <id> and its source become the lead's external id.
func demoADFMail(from, to, messageID string, f url.Values) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	make_, model, _ := strings.Cut(f.Get("interest"), " ")
	now := time.Now()
	return fmt.Appendf(nil, `From: CRM Autohuis Jansen <%s>
To: %s
Subject: Nieuwe lead: %s
Date: %s
Message-ID: <%s>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf>
 <prospect>
  <id sequence="1" source="%s">CRM-2045</id>
  <requestdate>%s</requestdate>
  <vehicle interest="buy" status="new"><make>%s</make><model>%s</model></vehicle>
  <customer>
   <contact>
    <name part="full">%s</name>
    <phone type="voice">%s</phone>
   </contact>
   <comments>Wil graag een proefrit maken.</comments>
  </customer>
  <vendor><vendorname>Autohuis Jansen</vendorname></vendor>
  <provider><name>%s</name></provider>
 </prospect>
</adf>
`, from, to, f.Get("interest"), now.Format(time.RFC1123Z), messageID,
		domainOf(from), now.Format(time.RFC3339), esc(make_), esc(model),
		esc(f.Get("name")), esc(f.Get("phone")), esc(f.Get("source")))
}

// mailLead delivers msg over SMTP as a sending mail server does. It returns once the
// server has answered the end of DATA: Leadline says 250 only once the lead is stored.
func mailLead(addr, from, to string, msg []byte) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(domainOf(from)); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil { // the client sends "\n" as CRLF
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// findLead returns the id of the dealer's lead that arrived in the mail with this
// Message-ID, as a CRM would look it up: through the API's list of leads.
func findLead(ctx context.Context, base, key, messageID string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/leads?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("list leads: %s: %s", res.Status, body)
	}
	var page struct{ Leads []leadview.Lead }
	if err := json.Unmarshal(body, &page); err != nil {
		return "", err
	}
	for _, l := range page.Leads {
		if l.MessageID == messageID {
			return l.ID, nil
		}
	}
	return "", fmt.Errorf("no lead with Message-ID %s after the server said 250", messageID)
}

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
	var l leadview.Lead
	if err := json.Unmarshal(body, &l); err != nil {
		return "", err
	}
	return l.ID, nil
}

func getLead(ctx context.Context, base, key, id string) (leadview.Lead, error) {
	var l leadview.Lead
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
func printTimeline(w io.Writer, n int, l leadview.Lead, names map[string]string) {
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
	arrived := "lead arrived from " + l.Source
	if l.Channel == "email" {
		arrived = fmt.Sprintf("lead arrived by e-mail (ADF) from %s, source %s", l.Sender, l.Source)
	}
	ev := []event{{time.Time(l.CreatedAt), arrived}}
	for _, a := range l.Attempts {
		p := who(a.Person)
		if a.Leg == "customer" {
			ev = append(ev, event{time.Time(a.StartedAt), fmt.Sprintf("calling the customer %s for %s", l.Phone, p)})
			if !a.AnsweredAt.IsZero() {
				ev = append(ev, event{time.Time(a.AnsweredAt), fmt.Sprintf("customer answered: talking to %s", p)})
			}
			if !a.EndedAt.IsZero() {
				text := "call ended"
				if a.Result != "answered" {
					text = "customer not reached: " + strings.ReplaceAll(string(a.Result), "_", " ")
				}
				ev = append(ev, event{time.Time(a.EndedAt), text})
			}
			continue
		}
		ev = append(ev, event{time.Time(a.StartedAt), "ringing " + p})
		if !a.AnsweredAt.IsZero() {
			ev = append(ev, event{time.Time(a.AnsweredAt), p + " answered and hears the whisper"})
		}
		if !a.AcceptedAt.IsZero() {
			ev = append(ev, event{time.Time(a.AcceptedAt), p + " pressed 1"})
		}
		if !a.EndedAt.IsZero() && a.Result != "accepted" {
			ev = append(ev, event{time.Time(a.EndedAt), p + " " + agentOutcome[a.Result] + code(a.SIPCode)})
		}
	}
	slices.SortStableFunc(ev, func(a, b event) int { return a.at.Compare(b.at) })
	fmt.Fprintf(w, "Lead %d  %s, %s  (%s)  →  %s\n", n, l.Name, l.Interest, l.Dealer, l.Status)
	for _, e := range ev {
		fmt.Fprintf(w, "  %+7.1fs  %s\n", e.at.Sub(time.Time(l.CreatedAt)).Seconds(), e.text)
	}
	if l.SpeedToLeadSeconds != nil {
		fmt.Fprintf(w, "  speed to lead: %.1f s (lead in → customer talking to a salesperson)\n\n", *l.SpeedToLeadSeconds)
	} else {
		fmt.Fprintf(w, "  no connection: %s\n\n", l.Reason)
	}
}

var agentOutcome = map[dialer.Result]string{
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
