package config

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file holds SIP over TLS (sip.tls): Leadline's own TLS listener, its certificate
// and the extra CA for peers' certificates.

// SIPTLS is sip.tls.
type SIPTLS struct {
	// Listen is host:port for SIP over TLS (RFC 3261 section 26.2; 5061 by
	// convention); empty: no TLS listener. It needs Cert and Key.
	Listen string
	// Cert and Key are Leadline's certificate (PEM, the chain after the leaf) and its
	// private key: served on Listen, and shown to a TLS peer that asks for a client
	// certificate.
	Cert, Key string
	// CA is a PEM file of CA certificates trusted, besides the system's roots, to
	// verify the peers Leadline connects to over TLS (trunks, sips: phones): a
	// carrier's private CA.
	CA string
}

// Set reports whether any of sip.tls is configured.
func (t SIPTLS) Set() bool { return t != SIPTLS{} }

func (d *decoder) sipTLSFields(c *Config) map[string]field {
	return map[string]field{
		"tls": func(n *yaml.Node, p string) {
			t := &c.SIP.TLS
			d.object(n, p, map[string]field{
				"listen": d.str(&t.Listen),
				"cert":   d.str(&t.Cert),
				"key":    d.str(&t.Key),
				"ca":     d.str(&t.CA),
			})
		},
	}
}

// validateSIPTLS checks sip.tls: a listen address with a certificate and key that
// load, on another port than sip.listen's TCP, and a CA file with certificates.
func (c *Config) validateSIPTLS(v *validator) {
	t := &c.SIP.TLS
	switch {
	case t.Listen == "":
	case checkListen(t.Listen) != "":
		v.add("sip.tls.listen", "%s", checkListen(t.Listen))
	case t.Cert == "" || t.Key == "":
		v.add("sip.tls.listen", "needs sip.tls.cert and sip.tls.key: the certificate Leadline shows to phones and carriers")
	default:
		_, tp, _ := net.SplitHostPort(t.Listen)
		if _, sp, err := net.SplitHostPort(c.SIP.Listen); err == nil && sp == tp && tp != "0" {
			v.add("sip.tls.listen", "port %s is sip.listen's, where SIP over TCP listens: use another (5061 by convention)", tp)
		}
	}
	switch {
	case t.Cert == "" && t.Key == "":
	case t.Cert == "" || t.Key == "":
		v.add("sip.tls", "set both cert and key, or neither")
	default:
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			v.add("sip.tls.cert", "cannot load the certificate and key: %v", err)
		}
	}
	if t.CA != "" {
		if _, err := LoadCA(t.CA); err != nil {
			v.add("sip.tls.ca", "%v", err)
		}
	}
}

// LoadCA reads a PEM file of CA certificates into a pool of its own (not the system's).
func LoadCA(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, &caError{file}
	}
	return pool, nil
}

type caError struct{ file string }

func (e *caError) Error() string { return e.file + ": no PEM certificate in it" }

// tlsSummary writes the sip.tls row of Summary, when sip.tls is set: file names, never
// a key.
func (c *Config) tlsSummary(row func(...string)) {
	t := c.SIP.TLS
	if !t.Set() {
		return
	}
	var parts []string
	if t.Listen != "" {
		parts = append(parts, "listens on "+t.Listen)
	} else {
		parts = append(parts, "no TLS listener")
	}
	if t.Cert != "" {
		parts = append(parts, "certificate "+t.Cert)
	}
	roots := "TLS peers verified against the system's CA roots"
	if t.CA != "" {
		roots += " and " + t.CA
	}
	row("sip tls", strings.Join(append(parts, roots), ", "))
}
