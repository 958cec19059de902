package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"

	"github.com/leadline/leadline/weborigin"
)

// Scope is what a key may do.
type Scope int

// Scopes.
const (
	// ScopeAPI is a dealer's API key: every endpoint, for the dealer's leads.
	ScopeAPI Scope = iota + 1
	// ScopeForm is a dealer's public form key: POST /v1/leads only, from the dealer's
	// allowed origins, behind the honeypot and the form rate limits.
	ScopeForm

	// scopePortal is a portal's signature on its webhook, for the request log; it is
	// no key and opens nothing else.
	scopePortal Scope = 100
)

func (s Scope) String() string {
	switch s {
	case ScopeAPI:
		return "api_key"
	case ScopeForm:
		return "form_key"
	case scopePortal:
		return "portal_signature"
	}
	return "none"
}

// DealerAccess is one dealer's credentials and the rules that go with them. Keys are
// given as their SHA-256 digests: the configuration may hold only hashes, and the
// plain key never needs to be kept.
type DealerAccess struct {
	Dealer   string
	APIKeys  [][32]byte // SHA-256 of each API key
	FormKeys [][32]byte // SHA-256 of each public form key
	// AllowedOrigins are the web origins form keys are accepted from, such as
	// "https://www.example.nl" (compared case-insensitively, default port ignored).
	AllowedOrigins []string
	// WebhookSecrets are the HMAC-SHA256 secrets of signed posts; any one of them
	// verifies a signature (several during a rotation).
	WebhookSecrets [][]byte
	// RequireSignature refuses API-key posts of leads without a valid signature.
	RequireSignature bool
	// Country reads national numbers for the per-phone rate limit ("NL").
	Country string
	// MarktplaatsSecret is the secret the Marktplaats group's portals sign the
	// dealer's lead webhook with (X-Ecg-Signature); empty: the dealer has no such
	// webhook, POST /v1/hooks/marktplaats/{dealer} answers 404.
	MarktplaatsSecret []byte
}

// Access is who may do what: every dealer's keys and rules. It is immutable; build a
// new one with NewAccess on a configuration reload.
type Access struct {
	creds   []credential
	dealers map[string]*DealerAccess
	origins map[string]bool // every dealer's allowed origins, canonical
}

// credential is one key's digest, its dealer and its scope.
type credential struct {
	digest [32]byte
	dealer *DealerAccess
	scope  Scope
}

// NewAccess builds an Access from the dealers' credentials. Dealers with an empty id
// and keys listed for more than one dealer are ignored (config refuses both).
func NewAccess(dealers []DealerAccess) *Access {
	a := &Access{dealers: map[string]*DealerAccess{}, origins: map[string]bool{}}
	owners := map[[32]byte]int{}
	for i := range dealers {
		d := dealers[i]
		if d.Dealer == "" {
			continue
		}
		d.AllowedOrigins = slices.Clone(d.AllowedOrigins)
		for j, o := range d.AllowedOrigins {
			if c, ok := canonicalOrigin(o); ok {
				d.AllowedOrigins[j] = c
				a.origins[c] = true
			}
		}
		a.dealers[d.Dealer] = &d
		for _, k := range d.APIKeys {
			owners[k]++
			a.creds = append(a.creds, credential{digest: k, dealer: &d, scope: ScopeAPI})
		}
		for _, k := range d.FormKeys {
			owners[k]++
			a.creds = append(a.creds, credential{digest: k, dealer: &d, scope: ScopeForm})
		}
	}
	a.creds = slices.DeleteFunc(a.creds, func(c credential) bool { return owners[c.digest] > 1 })
	return a
}

// lookup finds the credential of a presented key. It hashes the key once and compares
// the digest with every configured digest in constant time, so neither the answer's
// timing nor its absence tells which keys exist or how much of one matched.
func (a *Access) lookup(key string) (credential, bool) {
	if a == nil || key == "" {
		return credential{}, false
	}
	digest := sha256.Sum256([]byte(key))
	var found credential
	match := 0
	for _, c := range a.creds {
		eq := subtle.ConstantTimeCompare(c.digest[:], digest[:])
		if eq == 1 {
			found = c
		}
		match |= eq
	}
	return found, match == 1
}

// dealer returns the dealer with id; nil when there is none.
func (a *Access) dealer(id string) *DealerAccess {
	if a == nil || id == "" {
		return nil
	}
	return a.dealers[id]
}

// Authenticate returns the dealer and scope of a key; ok is false for an unknown key.
// The comparison takes the same time whichever key, if any, matches.
func (a *Access) Authenticate(key string) (dealer string, scope Scope, ok bool) {
	c, ok := a.lookup(key)
	if !ok {
		return "", 0, false
	}
	return c.dealer.Dealer, c.scope, true
}

// allowsOrigin reports whether some dealer accepts form posts from origin; CORS
// preflights are answered for those.
func (a *Access) allowsOrigin(origin string) bool {
	c, ok := canonicalOrigin(origin)
	return ok && a != nil && a.origins[c]
}

// allowsOrigin reports whether the dealer accepts form posts from origin.
func (d *DealerAccess) allowsOrigin(origin string) bool {
	c, ok := canonicalOrigin(origin)
	return ok && slices.Contains(d.AllowedOrigins, c)
}

// canonicalOrigin is the origin of an Origin or Referer header value, as
// weborigin.Canonical writes it; ok is false for anything that is not an http or https
// page or origin ("null" included).
func canonicalOrigin(s string) (string, bool) {
	c, err := weborigin.Canonical(s, true)
	return c, err == nil
}
