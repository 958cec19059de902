package sip

import "crypto/x509"

// SetTLSRoots makes the user agent verify TLS peers with roots instead of the system's.
func SetTLSRoots(c *Config, roots *x509.CertPool) { c.tlsRoots = roots }
