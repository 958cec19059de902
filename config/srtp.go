package config

import (
	"strings"

	"github.com/leadline/leadline/phone"
)

// This file holds SRTP for people's SIP phones (a person's srtp) and the warnings about
// SRTP keys in signalling that is not TLS. A trunk's srtp is in trunks.go.

func (d *decoder) personSRTPFields(p *Person) map[string]field {
	return map[string]field{"srtp": d.str(&p.SRTP)}
}

// validateSRTP checks a person's srtp: off, optional or required ("" is off), for a
// SIP URI or registered softphones only: a number goes through a trunk, whose srtp
// applies.
func (p *Person) validateSRTP(v *validator, path string) {
	if p.SRTP == "" {
		return // off
	}
	p.SRTP = strings.ToLower(p.SRTP)
	switch p.SRTP {
	case SRTPOff, SRTPOptional, SRTPRequired:
	default:
		v.add(path+".srtp", "unknown value %q (use off, optional or required)", p.SRTP)
		return
	}
	if p.SRTP != SRTPOff && p.Target.Kind == phone.KindNumber {
		v.add(path+".srtp", "only for a sip: URI or a registered phone: a number is called through a trunk, whose srtp applies")
	}
}

// srtpWarnings: SDES (RFC 4568 section 8.1) sends the SRTP keys inside the SDP, so SRTP
// over signalling that is not TLS protects against nobody who can read the SIP.
func (c *Config) srtpWarnings(add func(path, format string, args ...any)) {
	for _, r := range c.SIP.trunkRefs() {
		if r.t.SRTP != SRTPOff && r.t.SRTP != "" && r.t.Transport != TransportTLS {
			add(r.path+".srtp", "%s over %s: the SRTP keys travel in the SDP, readable by anyone who sees the SIP; use transport: tls",
				r.t.SRTP, r.t.Transport)
		}
	}
	for i, d := range c.Dealers {
		for j, p := range d.People {
			if p.SRTP == SRTPOff || p.SRTP == "" {
				continue
			}
			path := index(index("dealers", i)+".people", j) + ".srtp"
			switch {
			case p.Registered() && c.SIP.TLS.Listen == "":
				add(path, "%s for a registered phone, but sip.tls.listen is not set: the phone registers over UDP or TCP and the SRTP keys travel in readable SIP", p.SRTP)
			case p.Target.IsSIP() && p.Target.Scheme != "sips" && param(p.Target.Params, "transport") != TransportTLS:
				add(path, "%s, but %s is not reached over TLS: the SRTP keys travel in readable SIP; use a sips: URI or ;transport=tls", p.SRTP, p.Target.URI)
			}
		}
	}
}
