package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/phone"
)

// This file holds the carriers numbers are called through: sip.trunk (one trunk, as
// before) or sip.trunks (several, tried in order), each with its registration,
// transport and caller-ID settings; and the dealer's own numbers (caller_ids) and
// privacy. Warnings lists what is allowed but likely wrong (a Belgian number presented
// through a trunk abroad).

// Trunk is a carrier that numbers (not SIP URIs) are sent to.
type Trunk struct {
	// Name labels the trunk in metrics, attempts and logs; default the URI's host.
	Name     string
	URI      string // sip:host[:port][;transport=…] or sips:…
	Username string
	Password string
	// Register makes Leadline REGISTER the account (Username at the URI's host) and
	// keep it registered; while it is not, the trunk is skipped.
	Register bool
	// RegisterExpires is the registration lifetime asked for (default 1h); the
	// registrar's grant is what counts.
	RegisterExpires time.Duration
	// Transport is udp, tcp or tls; default the URI's transport parameter, else udp
	// (tls for a sips: URI). Validate fills it in.
	Transport string
	// SRTP is off, optional or required (default off): media encryption with SDES keys
	// (RFC 4568). required offers RTP/SAVP with a=crypto and refuses an answer without
	// one; optional offers RTP/AVP with a=crypto and uses SRTP when the answer has a key
	// (opportunistic SRTP, RFC 8643), plain RTP otherwise.
	SRTP string
	// CallerIDHeader is where the caller id is asserted besides From: from (nowhere
	// else), pai (P-Asserted-Identity) or ppi (P-Preferred-Identity), RFC 3325. Default
	// from.
	CallerIDHeader string
	// OutboundProxy is a SIP URI every request to the trunk is sent through (as a
	// loose route, RFC 3261 section 8.1.2); empty: straight to the URI's host.
	OutboundProxy string
	// Country is the ISO 3166 code of the country the carrier hands calls over in
	// (upper case after Validate); empty: unknown. Only `leadline check` reads it.
	Country string

	// Target is URI parsed; ProxyTarget is OutboundProxy parsed (derived).
	Target      phone.Target
	ProxyTarget phone.Target
}

// Enabled reports whether a trunk is configured.
func (t Trunk) Enabled() bool { return t.URI != "" }

// Trunk transports, SRTP modes, caller-ID headers and dealer privacy values.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"

	SRTPOff      = "off"
	SRTPOptional = "optional"
	SRTPRequired = "required"

	CallerIDFrom = "from"
	CallerIDPAI  = "pai"
	CallerIDPPI  = "ppi"

	PrivacyID   = "id"   // Privacy: id: the callee is not shown the caller id (RFC 3325 section 9.3)
	PrivacyNone = "none" // Privacy: none: the callee may be shown it (RFC 3323 section 4.2)
)

// DefaultRegisterExpires is the registration lifetime asked for when none is set.
const DefaultRegisterExpires = time.Hour

// minRegisterExpires: registrars refuse shorter registrations (423, RFC 3261 section
// 10.3 step 7).
const minRegisterExpires = time.Minute

// Identity is a dealer's numbers and how they are presented.
type Identity struct {
	// CallerIDs are the numbers the dealer owns; E.164 after Validate. When set,
	// CallerID must be one of them.
	CallerIDs []string
	// Privacy is "" (no Privacy header), PrivacyID or PrivacyNone: what customer legs
	// ask of the carrier about showing the caller id.
	Privacy string
}

// TrunkList returns the trunks numbers are tried on, in order: sip.trunks, or
// sip.trunk alone.
func (s SIP) TrunkList() []Trunk {
	if len(s.Trunks) > 0 {
		return slices.Clone(s.Trunks)
	}
	if s.Trunk.Enabled() {
		return []Trunk{s.Trunk}
	}
	return nil
}

// trunkRef is a configured trunk with its path.
type trunkRef struct {
	path string
	t    *Trunk
}

// trunkRefs lists the trunks in use, as TrunkList does, with their paths.
func (s *SIP) trunkRefs() []trunkRef {
	if len(s.Trunks) > 0 {
		refs := make([]trunkRef, len(s.Trunks))
		for i := range s.Trunks {
			refs[i] = trunkRef{index("sip.trunks", i), &s.Trunks[i]}
		}
		return refs
	}
	if s.Trunk.Enabled() {
		return []trunkRef{{"sip.trunk", &s.Trunk}}
	}
	return nil
}

// ---- decode ----

func (d *decoder) trunkSIPFields(c *Config) map[string]field {
	return map[string]field{
		"trunk": func(n *yaml.Node, p string) { d.trunk(n, p, &c.SIP.Trunk) },
		"trunks": func(n *yaml.Node, p string) {
			c.SIP.Trunks = []Trunk{}
			d.list(n, p, "trunks", func(_ int, item *yaml.Node, p string) {
				var t Trunk
				if r := d.resolve(item, p); r != nil && isNull(r) {
					d.fail(p, r.Line, "empty trunk")
				}
				d.trunk(item, p, &t)
				c.SIP.Trunks = append(c.SIP.Trunks, t)
			})
		},
	}
}

func (d *decoder) trunk(n *yaml.Node, path string, t *Trunk) {
	d.object(n, path, map[string]field{
		"name":             d.str(&t.Name),
		"uri":              d.str(&t.URI),
		"username":         d.str(&t.Username),
		"password":         d.str(&t.Password),
		"register":         d.boolean(&t.Register),
		"register_expires": d.duration(&t.RegisterExpires),
		"transport":        d.str(&t.Transport),
		"srtp":             d.str(&t.SRTP),
		"caller_id_header": d.str(&t.CallerIDHeader),
		"outbound_proxy":   d.str(&t.OutboundProxy),
		"country":          d.str(&t.Country),
	})
}

func (d *decoder) identityDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"caller_ids": d.strings(&dl.CallerIDs),
		"privacy":    d.str(&dl.Privacy),
	}
}

// ---- validate ----

// validateTrunks checks sip.trunk or sip.trunks and fills their derived fields.
func (c *Config) validateTrunks(v *validator) {
	s := &c.SIP
	if len(s.Trunks) > 0 && (s.Trunk.Enabled() || s.Trunk.Username != "" || s.Trunk.Password != "") {
		v.add("sip.trunks", "use either sip.trunk (one trunk) or sip.trunks (a list), not both")
	}
	if len(s.Trunks) == 0 {
		t := &s.Trunk
		t.Target, t.ProxyTarget = phone.Target{}, phone.Target{}
		if !t.Enabled() {
			switch {
			case t.Username != "" || t.Password != "":
				v.add("sip.trunk.uri", "required when a username or password is set")
			case t.Register || t.OutboundProxy != "":
				v.add("sip.trunk.uri", "required when other trunk settings are set")
			}
			return
		}
	}
	names := map[string]string{} // name → path of the trunk that has it
	for _, r := range s.trunkRefs() {
		r.t.validate(v, r.path)
		if r.t.Name == "" {
			continue
		}
		if first, dup := names[r.t.Name]; dup {
			v.add(r.path+".name", "duplicate trunk name %q (also %s): set name to tell them apart", r.t.Name, first)
		} else {
			names[r.t.Name] = r.path
		}
	}
}

func (t *Trunk) validate(v *validator, path string) {
	t.Target, t.ProxyTarget = phone.Target{}, phone.Target{}
	uriParam := ""
	switch target, err := phone.ParseTarget(t.URI, ""); {
	case t.URI == "":
		v.add(path+".uri", "required")
	case err == nil && target.IsSIP():
		t.Target = target
		uriParam = param(target.Params, "transport")
	case err != nil && errors.Is(err, phone.ErrInvalidURI):
		v.add(path+".uri", "%v", err)
	default:
		v.add(path+".uri", "%q is not a sip: or sips: URI", t.URI)
	}

	if t.Name == "" && t.Target.Host != "" {
		t.Name = strings.NewReplacer("[", "", "]", "", ":", "-").Replace(t.Target.Host)
	}
	if t.Name != "" && !validID(t.Name, 64, "") {
		v.add(path+".name", "%q: use at most 64 letters, digits, '-', '_' or '.'", t.Name)
	}

	if t.Register && t.Username == "" {
		v.add(path+".username", "required to register: the account's user name")
	}
	switch {
	case t.RegisterExpires == 0:
		t.RegisterExpires = DefaultRegisterExpires
	case t.RegisterExpires < minRegisterExpires:
		v.add(path+".register_expires", "at least %s: registrars refuse shorter registrations", FormatDuration(minRegisterExpires))
	}

	t.Transport = strings.ToLower(t.Transport)
	switch t.Transport {
	case "":
		t.Transport = or(uriParam, TransportUDP)
		if t.Target.Scheme == "sips" {
			t.Transport = TransportTLS
		}
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		v.add(path+".transport", "unknown transport %q (use udp, tcp or tls)", t.Transport)
	}
	switch {
	case uriParam != "" && uriParam != t.Transport:
		v.add(path+".transport", "%s, but the uri says transport=%s: set one of them", t.Transport, uriParam)
	case t.Target.Scheme == "sips" && t.Transport != TransportTLS:
		v.add(path+".transport", "%s, but a sips: uri needs tls", t.Transport)
	}

	t.SRTP = strings.ToLower(or(t.SRTP, SRTPOff))
	switch t.SRTP {
	case SRTPOff, SRTPOptional, SRTPRequired:
	default:
		v.add(path+".srtp", "unknown value %q (use off, optional or required)", t.SRTP)
	}

	t.CallerIDHeader = strings.ToLower(or(t.CallerIDHeader, CallerIDFrom))
	if !slices.Contains([]string{CallerIDFrom, CallerIDPAI, CallerIDPPI}, t.CallerIDHeader) {
		v.add(path+".caller_id_header", "unknown value %q (use from, pai or ppi)", t.CallerIDHeader)
	}

	if t.OutboundProxy != "" {
		switch target, err := phone.ParseTarget(t.OutboundProxy, ""); {
		case err == nil && target.IsSIP() && target.User == "":
			t.ProxyTarget = target
		case err == nil && target.IsSIP():
			v.add(path+".outbound_proxy", "%q: a proxy's URI has no user part", t.OutboundProxy)
		case err != nil && errors.Is(err, phone.ErrInvalidURI):
			v.add(path+".outbound_proxy", "%v", err)
		default:
			v.add(path+".outbound_proxy", "%q is not a sip: or sips: URI", t.OutboundProxy)
		}
	}

	if t.Country != "" {
		t.Country = strings.ToUpper(t.Country)
		if !phone.KnownRegion(t.Country) {
			v.add(path+".country", "unknown country %q (use an ISO code such as NL)", t.Country)
		}
	}
}

// param returns the value of name in a URI's parameters ("transport=tcp;lr"), lower
// case, or "".
func param(params, name string) string {
	for p := range strings.SplitSeq(params, ";") {
		if k, val, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, name) {
			return strings.ToLower(val)
		}
	}
	return ""
}

// validateIdentity checks the dealer's caller_ids and privacy; it runs after validate,
// which has normalised CallerID and Country.
func (d *Dealer) validateIdentity(v *validator, path string) {
	seen := map[string]int{}
	allRead := true // every entry is a number: the caller id can be looked for among them
	for i, raw := range d.CallerIDs {
		p := index(path+".caller_ids", i)
		if raw == "" {
			v.add(p, "empty number")
			allRead = false
			continue
		}
		n, err := phone.Normalize(raw, d.Country)
		if err != nil {
			v.add(p, "%v", err)
			allRead = false
			continue
		}
		d.CallerIDs[i] = n
		if first, dup := seen[n]; dup {
			v.add(p, "%s is listed twice (also caller_ids[%d])", n, first)
			continue
		}
		seen[n] = i
	}
	if len(d.CallerIDs) > 0 && allRead && strings.HasPrefix(d.CallerID, "+") {
		if _, ok := seen[d.CallerID]; !ok {
			v.add(path+".caller_id", "%s is not one of caller_ids (%s): present only a number the dealer owns",
				d.CallerID, strings.Join(d.CallerIDs, ", "))
		}
	}
	d.Privacy = strings.ToLower(d.Privacy)
	switch d.Privacy {
	case "", PrivacyID, PrivacyNone:
	default:
		v.add(path+".privacy", "unknown value %q (use id to withhold the caller id from customers, or none)", d.Privacy)
	}
}

// Warnings lists what a validated configuration allows but is likely wrong, each with
// its path: SRTP keys sent over signalling that is not TLS (srtp.go), a dealer that
// does not list the numbers it owns, and a Belgian caller id presented through a trunk
// that is not in Belgium (Belgium has blocked calls from abroad that present a Belgian
// number since 2024) or whose country is not set.
// `leadline check` prints them; serve logs them.
func (c *Config) Warnings() []Problem {
	var out []Problem
	lines := &validator{meta: c.meta}
	add := func(path, format string, args ...any) {
		p := Problem{Path: path, Message: fmt.Sprintf(format, args...)}
		if c.meta != nil {
			p.Line = lines.line(path)
		}
		out = append(out, p)
	}
	c.srtpWarnings(add)
	trunks := c.SIP.trunkRefs()
	for i, d := range c.Dealers {
		path := index("dealers", i)
		if len(d.CallerIDs) == 0 {
			add(path+".caller_ids", "not set: list the numbers the dealer owns, so that caller_id (%s) is checked against them", d.CallerID)
		}
		if !strings.HasPrefix(d.CallerID, "+32") {
			continue
		}
		for _, r := range trunks {
			switch r.t.Country {
			case "BE":
			case "":
				add(path+".caller_id", "Belgian number %s is presented through trunk %q, whose country is unknown: "+
					"Belgium blocks calls from abroad that present a Belgian number (since 2024); set %s.country",
					d.CallerID, r.t.Name, r.path)
			default:
				add(path+".caller_id", "Belgian number %s is presented through trunk %q in %s: "+
					"Belgium blocks calls from abroad that present a Belgian number (since 2024); "+
					"call through a Belgian trunk or present a number of %s", d.CallerID, r.t.Name, r.t.Country, r.t.Country)
			}
		}
	}
	return out
}

// trunkSummary writes the trunk rows of Summary.
func (c *Config) trunkSummary(row func(...string)) {
	trunks := c.SIP.TrunkList()
	if len(trunks) == 0 {
		row("trunk", "none: phone numbers cannot be dialled, only sip: URIs")
		return
	}
	for i, t := range trunks {
		label := "trunk"
		if len(c.SIP.Trunks) > 0 {
			label = "trunk " + strconv.Itoa(i+1)
		}
		text := t.Name + ": " + t.URI
		if t.Username != "" {
			text += " as " + strconv.Quote(t.Username)
		}
		parts := []string{t.Transport}
		if t.Register {
			parts = append(parts, "registers (asks for "+FormatDuration(t.RegisterExpires)+")")
		}
		switch t.CallerIDHeader {
		case CallerIDPAI:
			parts = append(parts, "caller id also in P-Asserted-Identity")
		case CallerIDPPI:
			parts = append(parts, "caller id also in P-Preferred-Identity")
		}
		switch t.SRTP {
		case SRTPOptional:
			parts = append(parts, "srtp optional (RTP/AVP with a key offered; SRTP when the answer has one)")
		case SRTPRequired:
			parts = append(parts, "srtp required (RTP/SAVP; an answer without a key ends the call)")
		}
		if t.OutboundProxy != "" {
			parts = append(parts, "via "+t.OutboundProxy)
		}
		parts = append(parts, "country "+or(t.Country, "not set"))
		row(label, text+", "+strings.Join(parts, ", "))
	}
}

// identitySummary writes the dealer's caller-id rows of Summary.
func (d *Dealer) identitySummary(row func(...string)) {
	switch {
	case len(d.CallerIDs) > 0:
		row("  caller ids", strings.Join(d.CallerIDs, ", "))
	default:
		row("  caller ids", "not listed")
	}
	switch d.Privacy {
	case PrivacyID:
		row("  privacy", "id: customers are not shown the caller id")
	case PrivacyNone:
		row("  privacy", "none: customers may be shown the caller id")
	}
}

// sameTrunks reports whether two trunk lists are the same settings.
func sameTrunks(a, b []Trunk) bool { return slices.Equal(a, b) }
