package config

// This file holds who may post leads and the limits on abuse: API keys (plain or as
// SHA-256 hashes), public form keys and the origins they work from, webhook signing
// secrets, the countries customers' numbers may be in, and the rate limits. They are
// decoded, defaulted and validated here, apart from the other settings.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/phone"
	"github.com/leadline/leadline/weborigin"
)

// Security holds the server-wide trust and abuse settings; it is embedded in Config.
type Security struct {
	// MaxLeadsPerNumberPerDay caps the leads stored for one customer number in 24 hours,
	// over all dealers (max_leads_per_number_per_day).
	MaxLeadsPerNumberPerDay int
	// Forms limits public web forms (forms).
	Forms Forms
	// TrustedProxies are the CIDR prefixes (http.trusted_proxies) of reverse proxies and
	// load balancers whose X-Forwarded-For is believed for the client's address. Empty:
	// the TCP peer is the client.
	TrustedProxies []string
	// TrustedProxyPrefixes is TrustedProxies parsed (derived).
	TrustedProxyPrefixes []netip.Prefix
}

// Forms is the forms section: how often public forms may post.
type Forms struct {
	// RateLimitPerIP and RateLimitPerPhone are "COUNT/DURATION", e.g. "20/1h".
	RateLimitPerIP    string
	RateLimitPerPhone string
	// PerIP and PerPhone are the two limits parsed (derived).
	PerIP, PerPhone Rate
}

// Rate is at most Count requests per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

func (r Rate) String() string { return strconv.Itoa(r.Count) + "/" + FormatDuration(r.Per) }

// DealerSecurity is a dealer's trust settings; it is embedded in Dealer. The dealer's
// full-access keys are Dealer.APIKeys.
type DealerSecurity struct {
	// FormKeys are public keys for the dealer's web forms: they only create leads, and
	// only from AllowedOrigins. Plain or "sha256:<hex>", like api keys.
	FormKeys []string
	// AllowedOrigins are the web origins ("https://www.example.nl") whose pages may post
	// with a form key. Validate rewrites them canonically: lower case, no default port,
	// no trailing slash.
	AllowedOrigins []string
	// WebhookSecrets are the HMAC-SHA256 secrets a CRM signs its posts with; more than one
	// during a rotation.
	WebhookSecrets []string
	// RequireSignature refuses API-key posts of leads that are not signed.
	RequireSignature bool
	// Countries are the ISO 3166 regions customers' numbers may belong to. Validate fills
	// in [Country] when empty, and writes them in upper case.
	Countries []string

	// APIKeyDigests and FormKeyDigests are the SHA-256 digests of APIKeys and FormKeys,
	// in order (derived). Keys are compared by their digests.
	APIKeyDigests, FormKeyDigests [][32]byte
}

// Defaults of the security settings.
const (
	DefaultMaxLeadsPerNumberPerDay = 3
	DefaultRateLimitPerIP          = "20/1h"
	DefaultRateLimitPerPhone       = "3/1h"
)

// Bounds of keys and secrets.
const (
	minKeyLen    = 16
	minSecretLen = 32
	keyHashLabel = "sha256:"
)

// KeyDigest returns the SHA-256 digest of an api or form key as written in the
// configuration: a plain key (at least 16 characters, no spaces or control
// characters), or "sha256:" followed by the 64 hex digits of the key's SHA-256, as
// `printf %s KEY | sha256sum` prints it. hashed reports which. The error never
// contains the key.
func KeyDigest(s string) (digest [32]byte, hashed bool, err error) {
	if rest, ok := strings.CutPrefix(s, keyHashLabel); ok {
		b, err := hex.DecodeString(rest)
		if err != nil || len(b) != sha256.Size {
			return digest, true, fmt.Errorf("%s must be followed by the 64 hex digits of the key's SHA-256 (printf %%s KEY | sha256sum)", keyHashLabel)
		}
		copy(digest[:], b)
		return digest, true, nil
	}
	switch {
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return digest, false, fmt.Errorf("contains a space or control character")
	case len(s) < minKeyLen:
		return digest, false, fmt.Errorf("is too short: use at least %d characters", minKeyLen)
	}
	return sha256.Sum256([]byte(s)), false, nil
}

// ---- decode ----

// securityRootFields are the top-level keys of this file.
func (d *decoder) securityRootFields(c *Config) map[string]field {
	return map[string]field{
		"max_leads_per_number_per_day": d.positiveInt(&c.MaxLeadsPerNumberPerDay),
		"forms": func(n *yaml.Node, p string) {
			d.object(n, p, map[string]field{
				"rate_limit_per_ip":    d.str(&c.Forms.RateLimitPerIP),
				"rate_limit_per_phone": d.str(&c.Forms.RateLimitPerPhone),
			})
		},
	}
}

// securityHTTPFields are this file's keys of the http section.
func (d *decoder) securityHTTPFields(c *Config) map[string]field {
	return map[string]field{"trusted_proxies": d.strings(&c.TrustedProxies)}
}

// securityDealerFields are this file's keys of a dealer.
func (d *decoder) securityDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"form_keys":         d.strings(&dl.FormKeys),
		"allowed_origins":   d.strings(&dl.AllowedOrigins),
		"webhook_secrets":   d.strings(&dl.WebhookSecrets),
		"require_signature": d.boolean(&dl.RequireSignature),
		"countries":         d.strings(&dl.Countries),
	}
}

// withFields returns fields with extra added.
func withFields(fields map[string]field, extra ...map[string]field) map[string]field {
	for _, e := range extra {
		maps.Copy(fields, e)
	}
	return fields
}

// positiveInt reads a whole number of at least 1; empty keeps the default.
func (d *decoder) positiveInt(dst *int) field {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "a whole number")
		if !ok || s == "" {
			return
		}
		v, err := strconv.Atoi(s)
		switch {
		case err != nil:
			d.fail(path, n.Line, "%q is not a whole number", s)
		case v < 1:
			d.fail(path, n.Line, "must be at least 1")
		default:
			*dst = v
		}
	}
}

// boolean reads true or false; empty keeps the default.
func (d *decoder) boolean(dst *bool) field {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "true or false")
		if !ok || s == "" {
			return
		}
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			*dst = true
		case "false", "no", "off":
			*dst = false
		default:
			d.fail(path, n.Line, "%q is not true or false", s)
		}
	}
}

// ---- validate ----

// validateSecurity checks the top-level security settings.
func (c *Config) validateSecurity(v *validator) {
	if c.MaxLeadsPerNumberPerDay == 0 {
		c.MaxLeadsPerNumberPerDay = DefaultMaxLeadsPerNumberPerDay
	} else if c.MaxLeadsPerNumberPerDay < 0 {
		v.add("max_leads_per_number_per_day", "must be at least 1")
	}
	f := &c.Forms
	f.RateLimitPerIP = or(f.RateLimitPerIP, DefaultRateLimitPerIP)
	f.RateLimitPerPhone = or(f.RateLimitPerPhone, DefaultRateLimitPerPhone)
	var msg string
	if f.PerIP, msg = parseRate(f.RateLimitPerIP); msg != "" {
		v.add("forms.rate_limit_per_ip", "%s", msg)
	}
	if f.PerPhone, msg = parseRate(f.RateLimitPerPhone); msg != "" {
		v.add("forms.rate_limit_per_phone", "%s", msg)
	}
	c.TrustedProxyPrefixes = nil
	for i, s := range c.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			v.add(index("http.trusted_proxies", i), "%q is not an IP address or CIDR prefix (e.g. 10.0.0.0/8)", s)
			continue
		}
		c.TrustedProxyPrefixes = append(c.TrustedProxyPrefixes, p)
	}
}

// parsePrefix reads a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// parseRate reads "COUNT/DURATION", e.g. "20/1h".
func parseRate(s string) (Rate, string) {
	count, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if !ok || err != nil || n < 1 {
		return Rate{}, fmt.Sprintf("%q is not a rate like %q (a count of at least 1, a slash, a duration)", s, DefaultRateLimitPerIP)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d < time.Second {
		return Rate{}, fmt.Sprintf("%q: the duration after / must be at least 1s, e.g. %q", s, DefaultRateLimitPerIP)
	}
	return Rate{Count: n, Per: d}, ""
}

// validateSecurity checks a dealer's keys, origins, secrets and countries. keyOwners
// maps the digest of every key seen so far, in earlier dealers, to its dealer and kind.
func (d *Dealer) validateSecurity(v *validator, path string, keyOwners map[[32]byte]keyOwner) {
	if len(d.APIKeys) == 0 {
		v.add(path+".api_keys", "at least one api key is required")
	}
	d.APIKeyDigests = d.checkKeys(v, path, "api_keys", "api key", d.APIKeys, keyOwners)
	d.FormKeyDigests = d.checkKeys(v, path, "form_keys", "form key", d.FormKeys, keyOwners)

	origins := make([]string, 0, len(d.AllowedOrigins))
	seen := map[string]bool{}
	for i, o := range d.AllowedOrigins {
		p := index(path+".allowed_origins", i)
		norm, err := weborigin.Canonical(o, false)
		switch {
		case err != nil:
			v.add(p, "%q is not a web origin (%v); write it as https://www.example.nl", o, err)
		case seen[norm]:
			v.add(p, "%s is listed twice", norm)
		default:
			seen[norm] = true
			origins = append(origins, norm)
		}
	}
	if len(d.AllowedOrigins) > 0 {
		d.AllowedOrigins = origins
	}
	if len(d.FormKeys) > 0 && len(d.AllowedOrigins) == 0 {
		v.add(path+".allowed_origins", "required with form_keys: list the origins of the dealer's web pages, e.g. https://www.example.nl")
	}

	secrets := map[string]int{}
	for i, s := range d.WebhookSecrets {
		p := index(path+".webhook_secrets", i)
		switch {
		case s == "":
			v.add(p, "empty webhook secret")
		case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			v.add(p, "webhook secret contains a space or control character")
		case len(s) < minSecretLen:
			v.add(p, "webhook secret is too short: use at least %d characters (openssl rand -hex 32)", minSecretLen)
		default:
			if j, dup := secrets[s]; dup {
				v.add(p, "duplicate webhook secret (same as webhook_secrets[%d])", j)
			} else {
				secrets[s] = i
			}
			digest := sha256.Sum256([]byte(s))
			for _, k := range d.APIKeyDigests {
				if k == digest {
					v.add(p, "webhook secret is one of the dealer's api keys; use a separate secret")
				}
			}
		}
	}
	if d.RequireSignature && len(d.WebhookSecrets) == 0 {
		v.add(path+".require_signature", "needs webhook_secrets to check signatures with")
	}

	countries := make([]string, 0, len(d.Countries))
	for i, c := range d.Countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		switch {
		case !phone.KnownRegion(c):
			v.add(index(path+".countries", i), "unknown country %q (use an ISO code such as NL)", c)
		case !slices.Contains(countries, c):
			countries = append(countries, c)
		}
	}
	switch {
	case len(d.Countries) > 0:
		d.Countries = countries
	case d.Country != "":
		d.Countries = []string{d.Country}
	}
}

// keyOwner is who a key digest belongs to, for messages.
type keyOwner struct {
	dealer, kind string
}

// checkKeys validates one list of keys and returns their digests. A key may appear
// once in the whole configuration: no two dealers, and no api key that is also a
// form key (a form key is public).
func (d *Dealer) checkKeys(v *validator, path, key, kind string, keys []string, owners map[[32]byte]keyOwner) [][32]byte {
	digests := make([][32]byte, 0, len(keys))
	first := map[[32]byte]int{}
	for i, k := range keys {
		p := index(path+"."+key, i)
		if k == "" {
			v.add(p, "empty %s", kind)
			continue
		}
		digest, _, err := KeyDigest(k)
		if err != nil {
			v.add(p, "%s %v", kind, err)
			continue
		}
		if j, dup := first[digest]; dup {
			v.add(p, "duplicate %s (same as %s[%d])", kind, key, j)
			continue
		}
		first[digest] = i
		if o, used := owners[digest]; used {
			switch {
			case o.dealer != d.ID:
				v.add(p, "%s already used by dealer %q", kind, o.dealer)
			default:
				v.add(p, "%s is also one of this dealer's %ss; a key is either one or the other", kind, o.kind)
			}
			continue
		}
		owners[digest] = keyOwner{dealer: d.ID, kind: kind}
		digests = append(digests, digest)
	}
	return digests
}

// ---- summary ----

// securitySummary adds the server-wide limits to `leadline check`'s output.
func (c *Config) securitySummary(row func(cells ...string)) {
	row("limits", strconv.Itoa(c.MaxLeadsPerNumberPerDay)+" leads per customer number a day; forms "+
		c.Forms.PerIP.String()+" per IP address, "+c.Forms.PerPhone.String()+" per phone number")
	if len(c.TrustedProxies) > 0 {
		row("trusted proxies", strings.Join(c.TrustedProxies, ", "))
	}
}

// securitySummary adds a dealer's form keys, webhook signing and countries; it counts
// keys and secrets and never prints them.
func (d *Dealer) securitySummary(row func(cells ...string)) {
	if len(d.FormKeys) > 0 {
		row("  form keys", strconv.Itoa(len(d.FormKeys))+", from "+strings.Join(d.AllowedOrigins, ", "))
	}
	if len(d.WebhookSecrets) > 0 {
		signing := "optional"
		if d.RequireSignature {
			signing = "required"
		}
		row("  signatures", signing+", "+strconv.Itoa(len(d.WebhookSecrets))+" webhook secret(s)")
	}
	if len(d.Countries) != 1 || d.Countries[0] != d.Country {
		row("  countries", strings.Join(d.Countries, ", "))
	}
}
