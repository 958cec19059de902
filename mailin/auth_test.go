package mailin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
)

// dns is the little of DNS the DKIM and SPF checks ask: TXT records by name.
type dns map[string][]string

func (d dns) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := d[strings.TrimSuffix(name, ".")]; ok {
		return txt, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (d dns) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (d dns) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (d dns) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// send delivers raw from envelope sender from to the test mailbox over SMTP and returns
// the server's answer to the data (nil for 250).
func send(t *testing.T, addr, from string, raw []byte) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(testMailbox.Address, nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	return w.Close()
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	if err != nil {
		return -1
	}
	return 250
}

// A dealer that requires DKIM takes a mail only with a valid signature of its From
// domain (or a parent domain of it); unsigned, forged or another domain's signature is
// refused with 550 5.7.20 and stores nothing.
func TestRequireDKIM(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	records := dns{"sel._domainkey.autohuisjansen.nl": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		"sel._domainkey.evil.example": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}}
	in := &fakeIntake{}
	s := startServer(t, in, func(c *Config) {
		c.LookupTXT = func(name string) ([]string, error) { return records.LookupTXT(context.Background(), name) }
	})
	mb := testMailbox
	mb.RequireDKIM = true
	s.SetMailboxes([]Mailbox{mb})

	raw, err := os.ReadFile("testdata/adf-lead.eml")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
	sign := func(domain string, msg []byte) []byte {
		var b bytes.Buffer
		if err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: priv}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	signed := sign("autohuisjansen.nl", raw)
	tampered := bytes.Replace(signed, []byte("06-12345678"), []byte("0900-1234567"), 1)
	for _, tc := range []struct {
		name string
		raw  []byte
		want int
	}{
		{"unsigned", raw, 550},
		{"signed by another domain", sign("evil.example", raw), 550},
		{"altered after signing", tampered, 550},
		{"signed by the From domain", signed, 250},
	} {
		if got := smtpCode(send(t, s.Addr().String(), "crm@autohuisjansen.nl", tc.raw)); got != tc.want {
			t.Errorf("%s: answered %d, want %d", tc.name, got, tc.want)
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.submitted) != 1 || in.refused != 3 {
		t.Errorf("%d leads and %d refusals, want the signed mail's lead and 3 refusals", len(in.submitted), in.refused)
	}
}

// A dealer that requires SPF takes a mail only from a host its envelope sender's domain
// allows; a domain that names other hosts is refused with 550 5.7.23.
func TestRequireSPF(t *testing.T) {
	records := dns{
		"autohuisjansen.nl": {"v=spf1 ip4:127.0.0.0/8 -all"},
		"autoscout24.com":   {"v=spf1 ip4:192.0.2.0/24 -all"},
	}
	in := &fakeIntake{}
	s := startServer(t, in, func(c *Config) { c.SPFResolver = records })
	mb := testMailbox
	mb.RequireSPF = true
	s.SetMailboxes([]Mailbox{mb})
	raw, err := os.ReadFile("testdata/adf-lead.eml")
	if err != nil {
		t.Fatal(err)
	}
	if got := smtpCode(send(t, s.Addr().String(), "bounce@autoscout24.com", raw)); got != 550 {
		t.Errorf("from a host autoscout24.com does not name: answered %d, want 550", got)
	}
	if got := smtpCode(send(t, s.Addr().String(), "crm@autohuisjansen.nl", raw)); got != 250 {
		t.Errorf("from a host autohuisjansen.nl names: answered %d, want 250", got)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.submitted) != 1 || in.refused != 1 {
		t.Errorf("%d leads and %d refusals, want 1 and 1", len(in.submitted), in.refused)
	}
}

// Past the per-sender limit a sender is told to try later (451): a flood of forged
// mail cannot make Leadline ring without end, and nothing is lost.
func TestSenderRateLimit(t *testing.T) {
	in := &fakeIntake{}
	s := startServer(t, in, func(c *Config) { c.PerSender = Rate{Count: 2, Per: 3600e9} })
	raw, err := os.ReadFile("testdata/adf-lead.eml")
	if err != nil {
		t.Fatal(err)
	}
	var codes []int
	for range 3 {
		codes = append(codes, smtpCode(send(t, s.Addr().String(), "crm@autohuisjansen.nl", raw)))
	}
	if codes[0] != 250 || codes[1] != 250 || codes[2] != 451 {
		t.Errorf("answers %v, want 250, 250, 451", codes)
	}
}

// A requirement binds the sender check to the address it proves: with require_dkim a
// forger cannot pass by naming an allowed envelope sender and signing a From of their
// own domain; with require_spf not by naming an allowed From and sending from a host
// their own envelope domain allows.
func TestRequirementsBindTheAllowedAddress(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	records := dns{
		"sel._domainkey.evil.example": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		"evil.example":                {"v=spf1 ip4:127.0.0.0/8 -all"},
	}
	in := &fakeIntake{}
	s := startServer(t, in, func(c *Config) {
		c.LookupTXT = func(name string) ([]string, error) { return records.LookupTXT(context.Background(), name) }
		c.SPFResolver = records
	})
	raw, err := os.ReadFile("testdata/adf-lead.eml")
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))

	dkimOnly := testMailbox
	dkimOnly.RequireDKIM = true
	s.SetMailboxes([]Mailbox{dkimOnly})
	forged := bytes.Replace(raw, []byte("From: CRM Autohuis Jansen <crm@autohuisjansen.nl>"), []byte("From: leads@evil.example"), 1)
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(forged), &dkim.SignOptions{Domain: "evil.example", Selector: "sel", Signer: priv}); err != nil {
		t.Fatal(err)
	}
	if got := smtpCode(send(t, s.Addr().String(), "crm@autohuisjansen.nl", signed.Bytes())); got != 550 {
		t.Errorf("require_dkim, allowed envelope, From of the forger's signed domain: answered %d, want 550", got)
	}

	spfOnly := testMailbox
	spfOnly.RequireSPF = true
	s.SetMailboxes([]Mailbox{spfOnly})
	if got := smtpCode(send(t, s.Addr().String(), "bounce@evil.example", raw)); got != 550 {
		t.Errorf("require_spf, allowed From, envelope of the forger's SPF-passing domain: answered %d, want 550", got)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.submitted) != 0 {
		t.Errorf("%d forged leads taken", len(in.submitted))
	}
}

// Mail from senders the dealer does not allow does not use up the dealer's share: a
// flood of forgeries cannot get its real leads answered 451.
func TestDealerLimitCountsAdmittedMailOnly(t *testing.T) {
	in := &fakeIntake{}
	s := startServer(t, in, func(c *Config) { c.PerDealer = Rate{Count: 1, Per: 3600e9} })
	raw, err := os.ReadFile("testdata/adf-lead.eml")
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(raw, []byte("crm@autohuisjansen.nl"), []byte("spam@evil.example"), 1)
	for range 3 {
		if got := smtpCode(send(t, s.Addr().String(), "spam@evil.example", forged)); got != 550 {
			t.Fatalf("forgery answered %d, want 550", got)
		}
	}
	if got := smtpCode(send(t, s.Addr().String(), "crm@autohuisjansen.nl", raw)); got != 250 {
		t.Errorf("the real lead after forgeries: answered %d, want 250", got)
	}
	if got := smtpCode(send(t, s.Addr().String(), "crm@autohuisjansen.nl", raw)); got != 451 {
		t.Errorf("past the dealer's share: answered %d, want 451", got)
	}
}
