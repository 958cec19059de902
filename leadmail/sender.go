package leadmail

import (
	"errors"
	"strings"
)

// SenderMatches reports whether address matches pattern. Both are compared without
// regard to case, and address is a bare addr-spec as Message.From holds it:
//
//   - "crm@dealer.nl" matches that address and nothing else;
//   - "*@autoscout24.com" matches any local part at autoscout24.com and at any of its
//     subdomains, such as no-reply@rtm.autoscout24.com, the address AutoScout24's call
//     notifications really come from. A domain's subdomains are its owner's (DMARC's
//     relaxed alignment treats them so), and a dealer who writes "*@autoscout24.com"
//     means AutoScout24: matching the bare domain only would drop its leads unseen.
//     The match is on whole labels: "*@autoscout24.com" does not match
//     x@notautoscout24.com;
//   - "*@*.autoscout24.com" matches any local part at the subdomains only, not at
//     autoscout24.com itself.
//
// There are no other wildcards: a "*" anywhere else, a pattern without "@" (also
// "*.autoscout24.com"), or an empty local part or domain matches nothing, and CheckRule
// reports it.
func SenderMatches(pattern, address string) bool {
	p, err := parsePattern(pattern)
	if err != nil {
		return false
	}
	local, domain, ok := splitAddress(address)
	if !ok {
		return false
	}
	switch p.kind {
	case patternExact:
		return strings.EqualFold(local, p.local) && domain == p.domain
	case patternDomain:
		return domain == p.domain || strings.HasSuffix(domain, "."+p.domain)
	default: // patternSubdomains
		return strings.HasSuffix(domain, "."+p.domain)
	}
}

type patternKind int

const (
	patternExact      patternKind = iota // crm@dealer.nl
	patternDomain                        // *@dealer.nl: the domain and its subdomains
	patternSubdomains                    // *@*.dealer.nl: the subdomains only
)

type senderPattern struct {
	kind   patternKind
	local  string // patternExact only
	domain string // lower case, without "*."
}

var errPatternForm = errors.New(`is not an address ("crm@dealer.nl"), "*@domain" or "*@*.domain"`)

// parsePattern reads a sender pattern; the error says what is wrong with it.
func parsePattern(pattern string) (senderPattern, error) {
	pattern = strings.TrimSpace(pattern)
	i := strings.LastIndexByte(pattern, '@')
	if i <= 0 || i == len(pattern)-1 {
		return senderPattern{}, errPatternForm
	}
	local, domain := pattern[:i], strings.ToLower(pattern[i+1:])
	p := senderPattern{kind: patternExact, local: local, domain: domain}
	if local == "*" {
		p.kind, p.local = patternDomain, ""
		if rest, ok := strings.CutPrefix(domain, "*."); ok {
			p.kind, p.domain = patternSubdomains, rest
		}
	}
	switch {
	case strings.Contains(p.local, "*") || strings.Contains(p.domain, "*"):
		return senderPattern{}, errors.New(`has a "*" where none may be: only "*@domain" and "*@*.domain" are patterns`)
	case p.domain == "" || strings.HasPrefix(p.domain, ".") || strings.HasSuffix(p.domain, ".") ||
		strings.Contains(p.domain, "..") || strings.ContainsAny(p.domain, "@ \t<>,;"):
		return senderPattern{}, errors.New("has no valid domain")
	case strings.ContainsAny(p.local, " \t<>,;"):
		return senderPattern{}, errPatternForm
	}
	if cleanLine(pattern, len(pattern)) != pattern {
		return senderPattern{}, errors.New("has control or invalid characters")
	}
	return p, nil
}

// splitAddress splits a bare address at its last "@"; the domain is lower-cased.
func splitAddress(address string) (local, domain string, ok bool) {
	address = strings.TrimSpace(address)
	i := strings.LastIndexByte(address, '@')
	if i <= 0 || i == len(address)-1 {
		return "", "", false
	}
	return address[:i], strings.ToLower(address[i+1:]), true
}

// senderDomain is the domain of a bare address, or "".
func senderDomain(address string) string {
	_, d, _ := splitAddress(address)
	return d
}
