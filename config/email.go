package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"
)

// This file holds e-mail intake: the SMTP receiver (email), each dealer's address,
// allowed senders, extraction rules and IMAP mailbox (dealers[].email), and portal
// webhooks (dealers[].portals).

// Email is the top-level email section: Leadline's own SMTP receiver.
type Email struct {
	// Listen is the SMTP address (":2525"); empty: no SMTP receiver.
	Listen string
	// Domain gives each dealer the default address <dealer id>@<domain>, and names
	// the server in its greeting.
	Domain string
	// TLS offers STARTTLS with this certificate and key when both are set.
	TLS TLSFiles
	// MaxSize is the largest message taken ("10MB"); MaxBytes is it parsed (derived).
	MaxSize  string
	MaxBytes int64
	// RateLimitPerSender and RateLimitPerDealer bound the messages taken ("60/1h");
	// PerSender and PerDealer are them parsed (derived).
	RateLimitPerSender string
	RateLimitPerDealer string
	PerSender          Rate
	PerDealer          Rate
	// Relay is the outgoing mail server for CRM mail and reports: smtp://user:pass@host:587
	// (STARTTLS) or smtps://…:465 (mailout.go); empty: Leadline sends no mail.
	Relay string
	// From is the sender of Leadline's mail; default "Leadline <leadline@<domain>>".
	// FromAddress is it parsed (derived).
	From        string
	FromAddress mail.Address
}

// TLSFiles are a PEM certificate (chain) and its key.
type TLSFiles struct {
	Cert, Key string
}

// Set reports whether both files are given.
func (t TLSFiles) Set() bool { return t.Cert != "" && t.Key != "" }

// Email intake defaults.
const (
	DefaultEmailMaxSize           = "10MB"
	DefaultRateLimitPerSender     = "120/1h"
	DefaultRateLimitPerMailDealer = "1200/1h"
	// maxEmailBytes bounds max_size: the receiver holds a message in memory.
	maxEmailBytes = 50 << 20
)

// DealerEmail is a dealer's email section: where its leads are mailed, who may send
// them and how to read mails without ADF.
type DealerEmail struct {
	// Address is the dealer's intake address (lower case); default <id>@<email.domain>
	// when the SMTP receiver runs and the dealer lists senders.
	Address string
	// Senders are the From addresses allowed to send leads: "crm@dealer.nl",
	// "*@autoscout24.com" (any address at that domain) or "*@*.autoscout24.com" (its
	// subdomains too).
	Senders []string
	// RequireDKIM takes a mail only with a valid DKIM signature of its From domain;
	// RequireSPF only from a host the envelope sender's domain allows.
	RequireDKIM, RequireSPF bool
	// Rules read leads out of mails without ADF from senders that match.
	Rules []EmailRule
	// IMAP is a mailbox Leadline reads leads from; off when URL is empty.
	IMAP IMAP
}

// EmailRule reads a lead out of a mail from Sender whose Subject matches (when set):
// each of Fields is a regular expression over the mail's text whose named groups name,
// phone, email, interest and message fill the lead.
type EmailRule struct {
	Sender  string
	Subject string
	Fields  []string
	Source  string // the lead's source; default the sender's domain

	// SubjectRe and FieldRes are Subject and Fields compiled (derived).
	SubjectRe *regexp.Regexp
	FieldRes  []*regexp.Regexp
}

// RuleGroups are the named groups an EmailRule's Fields may capture.
var RuleGroups = []string{"name", "phone", "email", "interest", "message"}

// IMAP is a dealer's mailbox that Leadline reads leads from.
type IMAP struct {
	// URL is imaps://host[:993] (TLS) or imap://host[:143] (STARTTLS when offered; plain
	// only on loopback).
	URL      string
	Username string
	Password string
	Folder   string // default INBOX
	// MoveTo is a folder a mail is moved to once its lead is stored; empty: the mail is
	// flagged \Seen and $Leadline in place.
	MoveTo string
}

// Enabled reports whether the mailbox is read.
func (m IMAP) Enabled() bool { return m.URL != "" }

// Portals are a dealer's lead webhooks from classifieds portals.
type Portals struct {
	// Marktplaats is the Marktplaats / 2dehands / 2ememain lead delivery webhook; its
	// secret signs each delivery (X-Ecg-Signature). Off when empty.
	Marktplaats PortalHook
}

// PortalHook is one portal's webhook settings.
type PortalHook struct {
	Secret string
}

// ---- decode ----

func (d *decoder) emailRootFields(c *Config) map[string]field {
	return map[string]field{
		"email": func(n *yaml.Node, p string) {
			e := &c.Email
			d.object(n, p, withFields(map[string]field{
				"listen": d.str(&e.Listen),
				"domain": d.str(&e.Domain),
				"tls": func(n *yaml.Node, p string) {
					d.object(n, p, map[string]field{"cert": d.str(&e.TLS.Cert), "key": d.str(&e.TLS.Key)})
				},
				"max_size":              d.str(&e.MaxSize),
				"rate_limit_per_sender": d.str(&e.RateLimitPerSender),
				"rate_limit_per_dealer": d.str(&e.RateLimitPerDealer),
			}, d.mailoutEmailFields(e)))
		},
	}
}

func (d *decoder) emailDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"email": func(n *yaml.Node, p string) {
			e := &dl.Email
			d.object(n, p, map[string]field{
				"address":      d.str(&e.Address),
				"senders":      d.strings(&e.Senders),
				"require_dkim": d.boolean(&e.RequireDKIM),
				"require_spf":  d.boolean(&e.RequireSPF),
				"rules": func(n *yaml.Node, p string) {
					d.list(n, p, "rules", func(_ int, item *yaml.Node, p string) {
						var r EmailRule
						d.object(item, p, map[string]field{
							"sender":  d.str(&r.Sender),
							"subject": d.str(&r.Subject),
							"fields":  d.strings(&r.Fields),
							"source":  d.str(&r.Source),
						})
						e.Rules = append(e.Rules, r)
					})
				},
				"imap": func(n *yaml.Node, p string) {
					m := &e.IMAP
					d.object(n, p, map[string]field{
						"url":      d.str(&m.URL),
						"username": d.str(&m.Username),
						"password": d.str(&m.Password),
						"folder":   d.str(&m.Folder),
						"move_to":  d.str(&m.MoveTo),
					})
				},
			})
		},
		"portals": func(n *yaml.Node, p string) {
			d.object(n, p, map[string]field{
				"marktplaats": func(n *yaml.Node, p string) {
					d.object(n, p, map[string]field{"secret": d.str(&dl.Portals.Marktplaats.Secret)})
				},
			})
		},
	}
}

// ---- validate ----

// validateEmail checks the SMTP receiver's settings.
func (c *Config) validateEmail(v *validator) {
	e := &c.Email
	if e.Listen != "" {
		if _, _, err := net.SplitHostPort(e.Listen); err != nil {
			v.add("email.listen", "%q is not host:port (e.g. \":2525\")", e.Listen)
		}
	}
	if e.Domain != "" && !validHost(e.Domain) {
		v.add("email.domain", "%q is not a domain name", e.Domain)
	}
	e.Domain = strings.ToLower(e.Domain)
	switch {
	case e.TLS.Cert == "" && e.TLS.Key == "":
	case e.TLS.Cert == "" || e.TLS.Key == "":
		v.add("email.tls", "set both cert and key, or neither")
	default:
		if _, err := tls.LoadX509KeyPair(e.TLS.Cert, e.TLS.Key); err != nil {
			v.add("email.tls", "cannot load the certificate and key: %v", err)
		}
	}
	e.MaxSize = or(e.MaxSize, DefaultEmailMaxSize)
	if n, err := humanize.ParseBytes(e.MaxSize); err != nil || n < 1000 || n > maxEmailBytes {
		v.add("email.max_size", "%q is not a size between 1KB and 50MiB (e.g. \"10MB\")", e.MaxSize)
	} else {
		e.MaxBytes = int64(n)
	}
	e.RateLimitPerSender = or(e.RateLimitPerSender, DefaultRateLimitPerSender)
	e.RateLimitPerDealer = or(e.RateLimitPerDealer, DefaultRateLimitPerMailDealer)
	var msg string
	if e.PerSender, msg = parseRate(e.RateLimitPerSender); msg != "" {
		v.add("email.rate_limit_per_sender", "%s", msg)
	}
	if e.PerDealer, msg = parseRate(e.RateLimitPerDealer); msg != "" {
		v.add("email.rate_limit_per_dealer", "%s", msg)
	}
}

// validHost reports whether s is a plausible DNS name.
func validHost(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// validateEmail checks a dealer's email section: its address (defaulting it), who may
// send, the rules and the mailbox. addresses maps each address, and each mailbox (see
// mailboxKey), seen so far to its dealer's path.
func (d *Dealer) validateEmail(v *validator, path string, top *Email, addresses map[string]string) {
	e := &d.Email
	p := path + ".email"
	if e.Address == "" && len(e.Senders) > 0 && top.Listen != "" && top.Domain != "" && d.ID != "" {
		e.Address = d.ID + "@" + top.Domain
	}
	if e.Address != "" {
		a, err := mail.ParseAddress(e.Address)
		if err != nil || a.Address != e.Address || a.Name != "" {
			v.add(p+".address", "%q is not an e-mail address (write it as user@domain)", e.Address)
		} else {
			e.Address = strings.ToLower(a.Address)
			if other, dup := addresses[e.Address]; dup {
				v.add(p+".address", "%s is also %s's address", e.Address, other)
			}
			addresses[e.Address] = path
		}
	}
	intake := (e.Address != "" && top.Listen != "") || e.IMAP.Enabled()
	if intake && len(e.Senders) == 0 {
		v.add(p+".senders", "list who may send leads, e.g. [\"*@autoscout24.com\", \"crm@%s\"]: mail from anyone else is refused", or(top.Domain, "dealer.example"))
	}
	for i, s := range e.Senders {
		if msg := senderProblem(s); msg != "" {
			v.add(index(p+".senders", i), "%s", msg)
		}
	}
	for i := range e.Rules {
		validateRule(v, index(p+".rules", i), &e.Rules[i], e.Senders)
	}
	if e.IMAP.Enabled() {
		validateIMAP(v, p+".imap", &e.IMAP)
		// Two readers of one folder would each take every message for their dealer, and
		// each mark it done for the other.
		if key := mailboxKey(e.IMAP); key != "" {
			if other, dup := addresses[key]; dup {
				v.add(p+".imap", "the same mailbox and folder as %s's: a folder's mail goes to one dealer", other)
			}
			addresses[key] = path
		}
	}
}

// mailboxKey names the folder an IMAP setting reads ("" when the URL is bad), in the
// same map as the dealers' addresses, which hold no spaces.
func mailboxKey(m IMAP) string {
	u, err := url.Parse(m.URL)
	if err != nil || u.Host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"imap": "143", "imaps": "993"}[u.Scheme]
	}
	folder := m.Folder
	if strings.EqualFold(folder, "INBOX") {
		folder = "INBOX"
	}
	return "imap " + strings.ToLower(u.Hostname()) + ":" + port + " " + m.Username + " " + folder
}

// senderProblem says what is wrong with a sender pattern, or "".
func senderProblem(s string) string {
	local, domain, ok := strings.Cut(strings.ToLower(s), "@")
	domain = strings.TrimPrefix(domain, "*.")
	switch {
	case !ok || local == "" || domain == "":
		return fmt.Sprintf("%q is not an address or pattern: write crm@dealer.nl, *@autoscout24.com or *@*.autoscout24.com", s)
	case local != "*" && strings.Contains(local, "*"), strings.Contains(domain, "*"):
		return fmt.Sprintf("%q: * may only stand for the whole local part (*@domain) or a subdomain (*@*.domain)", s)
	case !validHost(domain):
		return fmt.Sprintf("%q: %q is not a domain name", s, domain)
	}
	return ""
}

// validateRule compiles a rule's expressions and checks their groups, and that its
// sender is one of the dealer's senders (otherwise its mail is refused before any rule
// runs).
func validateRule(v *validator, path string, r *EmailRule, senders []string) {
	if msg := senderProblem(r.Sender); msg != "" {
		v.add(path+".sender", "%s", msg)
	} else if !coveredBy(r.Sender, senders) {
		v.add(path+".sender", "%s is not among the dealer's senders, so its mail is refused before this rule could read it; add it to senders", r.Sender)
	}
	r.SubjectRe, r.FieldRes = nil, nil
	if r.Subject != "" {
		re, err := regexp.Compile(r.Subject)
		if err != nil {
			v.add(path+".subject", "not a regular expression: %v", err)
		}
		r.SubjectRe = re
	}
	if len(r.Fields) == 0 {
		v.add(path+".fields", "at least one expression with a (?P<phone>…) group is needed")
	}
	phone := false
	for i, f := range r.Fields {
		re, err := regexp.Compile(f)
		if err != nil {
			v.add(index(path+".fields", i), "not a regular expression: %v", err)
			continue
		}
		named := false
		for _, g := range re.SubexpNames() {
			switch {
			case g == "":
				continue
			case !slices.Contains(RuleGroups, g):
				v.add(index(path+".fields", i), "unknown group %q: use %s", g, strings.Join(RuleGroups, ", "))
			}
			named = true
			phone = phone || g == "phone"
		}
		if !named {
			v.add(index(path+".fields", i), "has no named group such as (?P<phone>…)")
		}
		r.FieldRes = append(r.FieldRes, re)
	}
	if len(r.FieldRes) == len(r.Fields) && len(r.Fields) > 0 && !phone {
		v.add(path+".fields", "no expression captures (?P<phone>…): a lead without a number cannot be called")
	}
}

// validateIMAP checks a mailbox's URL and credentials, and fills the default folder.
func validateIMAP(v *validator, path string, m *IMAP) {
	u, err := url.Parse(m.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "imap" && u.Scheme != "imaps"):
		v.add(path+".url", "%q is not an IMAP URL: write imaps://imap.example.com or imap://host:143", redactURL(m.URL))
	case u.User != nil:
		v.add(path+".url", "put the user name and password in username and password, not in the URL")
	case u.Port() != "":
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			v.add(path+".url", "bad port %q", u.Port())
		}
	}
	if m.Username == "" {
		v.add(path+".username", "is required")
	}
	if m.Password == "" {
		v.add(path+".password", "is required (use ${VAR} to keep it out of the file)")
	}
	m.Folder = or(m.Folder, "INBOX")
	if m.MoveTo != "" && (m.MoveTo == m.Folder || strings.EqualFold(m.MoveTo, "INBOX") && strings.EqualFold(m.Folder, "INBOX")) {
		v.add(path+".move_to", "is the folder read (%s): name another folder for the mail read, or leave it out to flag mail in place", m.Folder)
	}
}

// redactURL drops a URL's user information for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// ---- summary ----

func (c *Config) emailSummary(row func(...string)) {
	e := c.Email
	if e.Listen == "" {
		row("email", "no SMTP receiver (email.listen is empty)")
		return
	}
	tls := "no STARTTLS"
	if e.TLS.Set() {
		tls = "STARTTLS"
	}
	row("email", "SMTP "+e.Listen+", domain "+or(e.Domain, "(none)")+", "+tls+", max "+e.MaxSize+
		", at most "+e.PerSender.String()+" per sender and "+e.PerDealer.String()+" per dealer")
}

func (d *Dealer) emailSummary(row func(...string), smtp bool) {
	e := d.Email
	switch {
	case e.Address != "" && smtp:
		row("  e-mail", e.Address)
	case e.Address != "":
		row("  e-mail", e.Address+" (the SMTP receiver is off)")
	}
	if len(e.Senders) > 0 {
		row("  senders", strings.Join(e.Senders, ", "))
	}
	var checks []string
	if e.RequireDKIM {
		checks = append(checks, "DKIM")
	}
	if e.RequireSPF {
		checks = append(checks, "SPF")
	}
	if len(checks) > 0 {
		row("  mail must pass", strings.Join(checks, " and "))
	}
	for _, r := range e.Rules {
		row("  rule", "mail from "+r.Sender+" without ADF: "+strconv.Itoa(len(r.Fields))+" expressions")
	}
	if e.IMAP.Enabled() {
		after := "flagged"
		if e.IMAP.MoveTo != "" {
			after = "moved to " + e.IMAP.MoveTo
		}
		row("  imap", redactURL(e.IMAP.URL)+" folder "+e.IMAP.Folder+" as "+strconv.Quote(e.IMAP.Username)+"; read mail is "+after)
		if e.RequireSPF {
			row("  imap", "require_spf is not checked for mailbox mail (no SMTP client address); senders and require_dkim are")
		}
	}
	if d.Portals.Marktplaats.Secret != "" {
		row("  portals", "marktplaats webhook at /v1/hooks/marktplaats/"+d.ID)
	}
}

// coveredBy reports whether every address the sender pattern p matches is matched by
// one of senders: the same pattern, an exact address under a *@domain pattern, or a
// domain under a *@domain pattern (which covers subdomains).
func coveredBy(p string, senders []string) bool {
	p = strings.ToLower(p)
	pl, pd, _ := strings.Cut(p, "@")
	sub := strings.HasPrefix(pd, "*.")
	pd = strings.TrimPrefix(pd, "*.")
	for _, s := range senders {
		s = strings.ToLower(s)
		sl, sd, _ := strings.Cut(s, "@")
		switch {
		case s == p:
			return true
		case sl == "*" && !strings.HasPrefix(sd, "*.") && (pd == sd || strings.HasSuffix(pd, "."+sd)):
			return true // *@domain covers the domain and its subdomains
		case sl == "*" && strings.HasPrefix(sd, "*.") && strings.HasSuffix(pd, "."+strings.TrimPrefix(sd, "*.")):
			return true
		case sl == "*" && strings.HasPrefix(sd, "*.") && sub && pd == strings.TrimPrefix(sd, "*."):
			return true
		case pl != "*" && !sub && sl == pl && sd == pd:
			return true
		}
	}
	return false
}
