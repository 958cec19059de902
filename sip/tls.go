package sip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// SIP over TLS (RFC 3261 section 26.2). Leadline takes requests over TLS on a listener
// of its own beside UDP and TCP (Config.TLS.Listen): a phone registering over TLS, a
// carrier sending its BYE or re-INVITE to our Contact. Inbound TLS connections pass the
// limits of inbound.go like TCP ones (one count for both), with the handshake below the
// idle watch so that it sees SIP, not TLS records. Requests over TLS name the TLS port
// in Contact and Via (RFC 3261 sections 8.1.1.8 and 18.1.1), so that the far end can
// come back over TLS when the connection we opened is gone.
//
// Connections Leadline opens over TLS (to a trunk, to a sips: phone) verify the peer's
// certificate against the system's CA roots and Config.TLS.CA, and its host name
// against the host connected to (the URI's, the outbound proxy's or the route's; an IP
// address must be among the certificate's IP addresses). When Leadline has a
// certificate it shows it to a peer that asks for a client certificate (mutual TLS).
// A phone registered over TLS is reached over the connection it registered on (nat.go).

// TLSConfig is SIP over TLS; cmd fills it from sip.tls.
type TLSConfig struct {
	// Listen is host:port for SIP over TLS; empty: no listener. Port 0 picks a free
	// port (tests). It needs Cert and Key.
	Listen string
	// Cert and Key are PEM files: Leadline's certificate (its chain after it) and
	// private key, served on Listen and shown to peers that ask for a client
	// certificate.
	Cert, Key string
	// CA is a PEM file of CA certificates trusted besides the system's roots to verify
	// the peers Leadline connects to: a carrier's private CA.
	CA string
}

// configs builds the TLS configurations: the listener's (nil without Listen) and the
// one for connections we open.
func (c TLSConfig) configs() (server, client *tls.Config, err error) {
	client = &tls.Config{MinVersion: tls.VersionTLS12}
	var certs []tls.Certificate
	switch {
	case c.Cert != "" && c.Key != "":
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: tls certificate: %w", err)
		}
		certs = []tls.Certificate{cert}
		client.Certificates = certs
	case c.Listen != "":
		return nil, nil, errors.New("sip: a tls listener needs a certificate and its key")
	}
	if c.CA != "" {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, nil, fmt.Errorf("sip: tls ca: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("sip: tls ca %s: no PEM certificate in it", c.CA)
		}
		client.RootCAs = roots
	} // nil RootCAs: the system's roots
	if c.Listen != "" {
		server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	}
	return server, client, nil
}

// sentByPort is the port our Via and Contact name for a request over transport: the
// TLS listener's for TLS when there is one, else the UDP and TCP port.
func (u *UA) sentByPort(transport string) int {
	if strings.EqualFold(transport, "TLS") && u.tls != nil {
		return int(u.tlsAt.Port())
	}
	return int(u.addr.Port())
}

// tlsVia makes the top Via of a request over TLS name the TLS listener's port (sipgo
// writes the client's, the UDP and TCP port).
func (u *UA) tlsVia(req *sip.Request) {
	if via := req.Via(); via != nil && strings.EqualFold(via.Transport, "TLS") {
		via.Port = u.sentByPort("TLS")
	}
}
