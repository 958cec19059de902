package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
)

// tlsFiles writes a self-signed certificate, its key and a CA file (the same
// certificate) into a new folder and returns their paths.
func tlsFiles(t *testing.T) (cert, key, ca string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leadline.test"}, DNSNames: []string{"leadline.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key, ca = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, ca: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, ca
}

func problems(t *testing.T, yaml string) []string {
	t.Helper()
	_, err := config.Parse([]byte(yaml), nil)
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	var out []string
	for _, p := range ve.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestSIPTLS(t *testing.T) {
	cert, key, ca := tlsFiles(t)
	yaml := edit(t, `    uri: "sip:sip.carrier.example"`, `    uri: "sips:sip.carrier.example"
  tls: { listen: ":5061", cert: "`+cert+`", key: "`+key+`", ca: "`+ca+`" }`)
	c, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (config.SIPTLS{Listen: ":5061", Cert: cert, Key: key, CA: ca}); c.SIP.TLS != want {
		t.Errorf("sip.tls = %+v, want %+v", c.SIP.TLS, want)
	}
	if c.SIP.Trunk.Transport != config.TransportTLS {
		t.Errorf("a sips: trunk's transport is %q", c.SIP.Trunk.Transport)
	}
	var b strings.Builder
	if err := c.Summary(&b); err != nil {
		t.Fatal(err)
	}
	if want := "sip tls         listens on :5061, certificate " + cert + ", TLS peers verified against the system's CA roots and " + ca; !strings.Contains(b.String(), want) {
		t.Errorf("summary has no %q:\n%s", want, b.String())
	}
	if pem, _ := os.ReadFile(key); strings.Contains(b.String(), string(pem)) {
		t.Error("the summary shows the key")
	}

	// A CA alone: trusted for peers, no listener.
	c, err = config.Parse([]byte(edit(t, `    uri: "sip:sip.carrier.example"`, `    uri: "sip:sip.carrier.example"
  tls: { ca: "`+ca+`" }`)), nil)
	if err != nil || c.SIP.TLS.Listen != "" || c.SIP.TLS.CA != ca {
		t.Errorf("ca alone: %+v, %v", c.SIP.TLS, err)
	}

	// sip.tls takes effect at a restart.
	running, _ := config.Parse([]byte(base), nil)
	next, _ := config.Parse([]byte(yaml), nil)
	if got := config.RestartNeeded(running, next); !slices.Contains(got, "sip.tls") {
		t.Errorf("RestartNeeded = %q, want sip.tls among them", got)
	}
}

func TestSIPTLSErrors(t *testing.T) {
	cert, key, ca := tlsFiles(t)
	with := func(tls string) string {
		return edit(t, `    uri: "sip:sip.carrier.example"`, `    uri: "sip:sip.carrier.example"
  tls: `+tls)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"listen without a certificate", with(`{ listen: ":5061" }`),
			[]string{"sip.tls.listen: needs sip.tls.cert and sip.tls.key: the certificate Leadline shows to phones and carriers"}},
		{"bad listen", with(`{ listen: "5061", cert: "` + cert + `", key: "` + key + `" }`),
			[]string{`sip.tls.listen: "5061" is not host:port (e.g. ":8080" or "0.0.0.0:5060")`}},
		{"the tcp port", with(`{ listen: "0.0.0.0:5060", cert: "` + cert + `", key: "` + key + `" }`),
			[]string{"sip.tls.listen: port 5060 is sip.listen's, where SIP over TCP listens: use another (5061 by convention)"}},
		{"cert without key", with(`{ cert: "` + cert + `" }`),
			[]string{"sip.tls: set both cert and key, or neither"}},
		{"key is no key", with(`{ listen: ":5061", cert: "` + cert + `", key: "` + ca + `" }`),
			[]string{"sip.tls.cert: cannot load the certificate and key: tls: found a certificate rather than a key in the PEM for the private key"}},
		{"no ca file", with(`{ ca: "` + missing + `" }`),
			[]string{"sip.tls.ca: open " + missing + ": no such file or directory"}},
		{"ca without certificates", with(`{ ca: "` + key + `" }`),
			[]string{"sip.tls.ca: " + key + ": no PEM certificate in it"}},
		{"unknown key", with(`{ certificate: "x" }`),
			[]string{`sip.tls.certificate: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := problems(t, tt.yaml); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}
