package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

const rtpMail = "24800-24899"

// mailSpec is a Leadline with an SMTP receiver on a free port (with STARTTLS when tls
// is set) and the test dealer reachable at jansen@leads.example.com.
func mailSpec(t *testing.T, piet *simphone.Phone, carrier *simphone.Phone, tls bool) appSpec {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	extra := fmt.Sprintf("email: {listen: %q, domain: leads.example.com", addr)
	if tls {
		cert, key := selfSigned(t)
		extra += fmt.Sprintf(", tls: {cert: %q, key: %q}", cert, key)
	}
	extra += "}"
	return appSpec{
		rtp: rtpMail, trunk: carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}}, flow: "[piet]",
		extra:       extra,
		dealerExtra: `    email: {senders: ["crm@autohuisjansen.nl", "*@autoscout24.com"]}`,
	}
}

// swaks delivers testdata's mail file to the app's SMTP receiver with the real swaks
// client and returns its exit code and transcript.
func swaks(t *testing.T, ta *testApp, file string, args ...string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Skip("swaks is not installed (scripts/deps.sh installs it)")
	}
	cmd := exec.Command("swaks", append([]string{"--server", ta.mail.Addr().String(),
		"--from", "crm@autohuisjansen.nl", "--to", "jansen@leads.example.com",
		"--data", "@" + filepath.Join("testdata", file), "--timeout", "20"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestMailLeadRings: an ADF mail delivered by a real SMTP client becomes a lead that
// rings the salesperson as an API post does; the same mail again is the same lead;
// the intake is counted and its time to the first INVITE measured; a mail without a
// lead is kept with its reason.
func TestMailLeadRings(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond, Tone: 700})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	carrier.Behave("+31612345678", simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})
	ta := startTestApp(t, mailSpec(t, piet, carrier, false))

	code, out := swaks(t, ta, "adf-mail.eml")
	if code != 0 || !strings.Contains(out, "<-  250 ") {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	wait.For(t, 10*time.Second, "piet's phone to ring", func() bool { return len(piet.Calls()) == 1 })
	id := piet.Calls()[0].Header("X-Leadline-Lead")
	ctx := context.Background()
	l, err := ta.svc.Get(ctx, testDealer, id)
	if err != nil {
		t.Fatal(err)
	}
	if l.Channel != dialer.ChannelEmail || l.Sender != "crm@autohuisjansen.nl" || l.MessageID != "adf-mail-0001@crm.autohuisjansen.nl" ||
		l.Name != "Eva Jansen" || l.Phone != "+31612345678" || l.Interest == "" || l.ExternalID != "crm.autohuisjansen.nl:CRM-1001" {
		t.Errorf("lead from the mail: %+v", l)
	}
	if o, err := ta.svc.Original(ctx, testDealer, id); err != nil || !strings.Contains(string(o.Body), "<prospect>") {
		t.Errorf("original of the mail: %v", err)
	}
	if final := ta.waitFinal(t, id, 30*time.Second); final.Status != "completed" {
		t.Errorf("lead from the mail ended %s (%s)", final.Status, final.Reason)
	}

	// The sending server retries (it never saw our 250): one lead, nobody rung again.
	if code, out := swaks(t, ta, "adf-mail.eml"); code != 0 {
		t.Fatalf("second delivery: swaks exit %d:\n%s", code, out)
	}
	if n := len(piet.Calls()); n != 1 {
		t.Errorf("the same mail twice rang piet %d times, want once", n)
	}
	leads, _, err := ta.svc.List(ctx, dialer.ListQuery{Dealer: testDealer})
	if err != nil || len(leads) != 1 {
		t.Errorf("%d leads after the same mail twice, want 1 (%v)", len(leads), err)
	}

	// A mail from an allowed sender that holds no lead is kept, with its reason.
	if code, out := swaks(t, ta, "no-lead-mail.eml"); code != 0 {
		t.Fatalf("mail without a lead: swaks exit %d:\n%s", code, out)
	}
	rs, _, err := ta.svc.Rejections(ctx, testDealer, 10, "")
	if err != nil || len(rs) != 1 || rs[0].Reason == "" || rs[0].Channel != dialer.ChannelEmail {
		t.Errorf("rejections %+v, %v; want the mail without a lead, with its reason", rs, err)
	}

	page := ta.metrics(t)
	for series, want := range map[string]float64{
		`leadline_intake_total{channel="email",dealer="jansen",result="created"}`:  1,
		`leadline_intake_total{channel="email",dealer="jansen",result="repeat"}`:   1,
		`leadline_intake_total{channel="email",dealer="jansen",result="rejected"}`: 1,
		`leadline_intake_to_invite_seconds_count{channel="email"}`:                 1,
	} {
		if got, ok := metricValue(page, series); !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", series, got, ok, want)
		}
	}
}

// TestMailRefusals: an address that is no dealer's is refused at RCPT and a sender the
// dealer does not list after DATA, both with a 5xx the sending server reports, and
// nothing is stored; mail over STARTTLS is taken.
func TestMailRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	ta := startTestApp(t, mailSpec(t, piet, carrier, true))

	if code, out := swaks(t, ta, "adf-mail.eml", "--to", "nobody@leads.example.com"); code == 0 || !strings.Contains(out, "<** 550") {
		t.Errorf("unknown recipient: swaks exit %d:\n%s", code, out)
	}
	if code, out := swaks(t, ta, "adf-mail.eml", "--from", "leads@evil.example", "--header", "From: leads@evil.example"); code == 0 || !strings.Contains(out, "<** 550 5.7.1") {
		t.Errorf("sender not allowed: swaks exit %d:\n%s", code, out)
	}
	if n := len(piet.Calls()); n != 0 {
		t.Fatalf("refused mail rang piet %d times", n)
	}
	code, out := swaks(t, ta, "adf-mail.eml", "--tls")
	if code != 0 || !strings.Contains(out, "STARTTLS") {
		t.Fatalf("over STARTTLS: swaks exit %d:\n%s", code, out)
	}
	wait.For(t, 10*time.Second, "piet's phone to ring", func() bool { return len(piet.Calls()) == 1 })
	if got, _ := metricValue(ta.metrics(t), `leadline_intake_total{channel="email",dealer="jansen",result="refused"}`); got != 1 {
		t.Errorf("refused mails counted %v, want 1 (the unknown recipient has no dealer to count for)", got)
	}
}

// selfSigned writes a throwaway certificate and key for 127.0.0.1 and returns their
// paths.
func selfSigned(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leads.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"leads.example.com"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
