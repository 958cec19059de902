package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/sip/siptest"
)

// SIP over TLS with real peers (issue 13): Kamailio as a carrier on TLS with a
// certificate from a test CA.

// RTP ranges of the TLS and SRTP tests (see harness_test.go).
const (
	rtpKamailioTLS       = "27000-27099"
	rtpKamailioUntrusted = "27100-27199"
	rtpBaresipTLS        = "27200-27299"
	baresipTLSRTP        = "27300-27399" // baresip's own
)

// testCA makes a CA for the test whose files are in a temporary folder.
func testCA(t *testing.T) *siptest.CA {
	t.Helper()
	ca, err := siptest.NewCA(t.TempDir(), "Leadline test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// sipTLS is a sip.tls block (indented for appSpec.trunks) with a TLS listener on a free
// loopback port, a certificate from ca, and ca trusted for peers when trust is set.
func sipTLS(t *testing.T, ca *siptest.CA, trust bool) string {
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
	cust := newPhone(t, "customer", siptest.Behaviour{Never: true})
	cust.Behave(customer, siptest.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: 1500 * time.Millisecond})
	ca := testCA(t)
	kam := startKamailioTLS(t, "s3cret", cust.Addr(), ca)

	piet := newPhone(t, "piet", siptest.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond, Tone: 900})
	ta := startTestApp(t, appSpec{
		rtp: rtpKamailioTLS,
		trunks: fmt.Sprintf("  trunks:\n    - {name: carrier, uri: %q, transport: tls, username: leadline, password: s3cret, register: true}\n",
			kam.TLSURI()) + sipTLS(t, ca, true),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	eventually(t, 15*time.Second, "the registration over TLS", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_trunk_registered{trunk="carrier"}`)
		return ok && v == 1
	})
	if kam.count("REGISTER ok for leadline") == 0 {
		t.Fatal("the carrier logged no registration")
	}
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	ta.waitFinal(t, id, 30*time.Second)
	var l trunkLead
	ta.leadAs(t, id, &l)
	if got, want := strings.Join(l.trunksOf(), " "), "agent:piet:accepted: customer:piet:answered:carrier"; got != want || l.Status != "completed" {
		t.Fatalf("lead: %s, attempts %s; want completed, %s", l.Status, got, want)
	}
	calls := callsTo(cust, customer)
	if len(calls) != 1 {
		t.Fatalf("the customer got %d calls through the carrier", len(calls))
	}
	waitDone(t, calls[0].Done(), 10*time.Second, "the customer's call to end")
	if !calls[0].HungUpByPhone() {
		t.Error("the customer did not hang up: the call ended otherwise")
	}
	if h := calls[0].Heard(); siptest.Level(h, 900) < 0.5 {
		t.Errorf("the customer did not hear the salesperson's 900 Hz through the TLS carrier (%d samples)", len(h))
	}
	// The customer's BYE crossed the carrier and reached Leadline's TLS listener.
	eventually(t, 5*time.Second, "the customer's BYE relayed over TLS", func() bool {
		return kam.count("carrier: in-dialog BYE over udp relayed") == 1
	})
	if v, _ := metricValue(ta.metrics(t), `leadline_sip_responses_total{code="407",method="INVITE"}`); v == 0 {
		t.Error("the carrier did not challenge the INVITE over TLS")
	}
	ta.stop()

	// Without sip.tls.ca the carrier's certificate is refused: no INVITE reaches it, and
	// the backup trunk carries the call.
	backup := newPhone(t, "backup", siptest.Behaviour{Never: true})
	backup.Behave(customer, siptest.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})
	invites := kam.count("INVITE for")
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
	if got, want := strings.Join(l.trunksOf(), " "), "agent:piet:accepted: customer:piet:answered:backup"; got != want {
		t.Errorf("attempts %s, want %s", got, want)
	}
	if n := kam.count("INVITE for"); n != invites || kam.count("INVITE refused") != 0 {
		t.Errorf("the carrier with an untrusted certificate got %d more INVITEs", n-invites)
	}
	if !strings.Contains(ta2.logs.String(), "certificate signed by unknown authority") {
		t.Error("the log does not say why the TLS trunk was left")
	}
}
