package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
)

// TestBridgeAudio follows the audio of one lead through Leadline with simulated phones:
// the salesperson (PCMU) hears the whisper, presses 1 (RFC 4733) and talks at 1000 Hz;
// the customer, behind the trunk, answers in PCMA (so the bridge transcodes), talks at
// 1500 Hz and hangs up after 3 s. It also checks what the phones saw in the INVITEs,
// with a lead name made to break a From header.
func TestBridgeAudio(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	sales := newPhone(t, "piet", simphone.Behaviour{
		Ring: time.Second, Tone: 1000, Key: '1', KeyAfter: 2 * time.Second,
	})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{
		Ring: 300 * time.Millisecond, Codec: media.PCMA, Tone: 1500, HangUp: 3 * time.Second,
	})
	ta := startTestApp(t, appSpec{
		rtp:    rtpBridge,
		trunk:  carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", sales.URI()}},
		flow:   "[piet]",
		ring:   5 * time.Second,
		accept: 5 * time.Second,
	})

	// CR and LF could start a new header if they reached the INVITE: the API refuses
	// them (and sip would turn them into spaces; sip/signalling_test.go).
	if status, _, body := ta.post(t, testKey, "application/json",
		`{"name":"Eva\r\nX-Evil: 1","phone":"06-12345678"}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("a name with CR LF: %d %s; want 422", status, body)
	}
	// A quote, a backslash and angle brackets: each could end the display name or the
	// header if it reached the INVITE unescaped.
	name := "Eva \"The Boss\" \\Jansen X-Evil: 1 <sip:evil@example.com>"
	id := ta.postLead(t, map[string]string{"name": name, "phone": "06-12345678", "interest": "Volvo XC60"})
	l := ta.waitFinal(t, id, 30*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s), want completed; attempts %v", l.Status, l.Reason, summarize(l))
	}

	sc := sales.Calls()
	cc := callsTo(carrier, customer)
	if len(sc) != 1 || len(cc) != 1 {
		t.Fatalf("salesperson got %d calls, customer %d; want 1 each", len(sc), len(cc))
	}
	agent, cust := sc[0], cc[0]

	// The customer hung up; Leadline ended the salesperson's call (how soon is logged:
	// a bound here would measure the machine's load).
	wait.Closed(t, cust.Done(), 5*time.Second, "the customer's call to end")
	if !cust.HungUpByPhone() {
		t.Error("the customer's call was not ended by the customer")
	}
	hungUp := time.Now()
	wait.Closed(t, agent.Done(), 10*time.Second, "Leadline to hang up the salesperson after the customer's BYE")
	if agent.HungUpByPhone() {
		t.Error("the salesperson's phone hung up; Leadline should have")
	}
	t.Logf("salesperson hung up %v after the customer's call ended", time.Since(hungUp).Round(time.Millisecond))

	// What the salesperson heard (packets received since the answer, decoded): the
	// whisper first (answered at 0 s, 1 pressed at 2 s), the customer's 1500 Hz last.
	// Its first and last seconds are what counts; how much lies between depends on how
	// busy the machine is.
	heard := agent.Heard()
	if len(heard) < 2*8000 {
		t.Fatalf("salesperson heard %.1f s of audio, want at least 2 s", float64(len(heard))/8000)
	}
	head := heard[:8000]
	if r := rms(head); r < 300 || simphone.Level(head, 1500) > 0.1 {
		t.Errorf("first second after answer: RMS %.0f, 1500 Hz level %.2f; want the whisper (RMS > 300), not silence or the customer",
			r, simphone.Level(head, 1500))
	} else {
		t.Logf("whisper: RMS %.0f in the first second", r)
	}
	tail := heard[len(heard)-8000:]
	if lv := simphone.Level(tail, 1500); lv < 0.5 {
		t.Errorf("salesperson's last second: 1500 Hz level %.2f (RMS %.0f); want the customer (> 0.5)", lv, rms(tail))
	} else {
		t.Logf("salesperson heard the customer: 1500 Hz level %.2f", lv)
	}
	ch := cust.Heard()
	if len(ch) < 2*8000 {
		t.Fatalf("customer heard %.1f s of audio, want at least 2 s", float64(len(ch))/8000)
	}
	ctail := ch[len(ch)-8000:]
	if lv := simphone.Level(ctail, 1000); lv < 0.5 {
		t.Errorf("customer's last second: 1000 Hz level %.2f (RMS %.0f); want the salesperson (> 0.5)", lv, rms(ctail))
	} else {
		t.Logf("customer heard the salesperson: 1000 Hz level %.2f", lv)
	}

	// INVITEs: the lead id on both legs; the customer sees the dealer's caller id.
	for leg, c := range map[string]*simphone.Call{"salesperson": agent, "customer": cust} {
		if got := c.Header("X-Leadline-Lead"); got != id {
			t.Errorf("%s's INVITE: X-Leadline-Lead %q, want %q", leg, got, id)
		}
		from := c.Invite.From()
		if from == nil || from.Address.User != testCallerID {
			t.Errorf("%s's INVITE: From %v, want the caller id %s", leg, from, testCallerID)
		}
		if tag, _ := from.Params.Get("tag"); tag == "" {
			t.Errorf("%s's INVITE: From %v has no tag", leg, from)
		}
		if n := len(c.Invite.GetHeaders("From")); n != 1 {
			t.Errorf("%s's INVITE has %d From headers", leg, n)
		}
		if h := c.Invite.GetHeader("X-Evil"); h != nil {
			t.Errorf("%s's INVITE carries an injected header: %s", leg, h)
		}
		for _, line := range strings.Split(c.Invite.String(), "\r\n") {
			if strings.HasPrefix(line, "X-Evil") {
				t.Errorf("%s's INVITE has an injected line %q", leg, line)
			}
		}
	}
	if dn := cust.Invite.From().DisplayName; dn != "" {
		t.Errorf("customer's From display name %q, want none (the dealer's caller id alone)", dn)
	}
	// The salesperson's From display name is "Lead <name>" as one quoted-string:
	// quotes and backslashes escaped.
	raw := agent.Invite.GetHeader("From").Value()
	wantRaw := `"Lead Eva \"The Boss\" \\Jansen X-Evil: 1 <sip:evil@example.com>" <sip:` + testCallerID + "@127.0.0.1>"
	if !strings.HasPrefix(raw, wantRaw+";tag=") {
		t.Errorf("salesperson's From:\n got %s\nwant %s;tag=…", raw, wantRaw)
	}
	if got, want := unquote(agent.Invite.From().DisplayName), `Lead Eva "The Boss" \Jansen X-Evil: 1 <sip:evil@example.com>`; got != want {
		t.Errorf("salesperson's display name reads %q, want %q", got, want)
	}
}

// unquote undoes quoted-pair escapes (RFC 3261 section 25.1) of a quoted-string's inside.
func unquote(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		if !esc && r == '\\' {
			esc = true
			continue
		}
		esc = false
		b.WriteRune(r)
	}
	return b.String()
}
