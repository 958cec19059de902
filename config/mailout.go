package config

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds the mail Leadline sends: the outgoing relay (email.relay,
// email.from), the dealers' CRM mail (dealers[].crm_email: the lead's result as ADF) and
// the owner's weekly report (dealers[].reports).

// Reports is a dealer's weekly report mail: the previous week's owner's report, sent to
// To at Weekly in the dealer's time zone.
type Reports struct {
	To []string
	// Weekly is when: "mon 08:00" (a day, and a time on the 24-hour clock);
	// default DefaultReportsWeekly. Day and At are it parsed (derived).
	Weekly string
	Day    time.Weekday
	At     time.Duration // since midnight
}

// Enabled reports whether the dealer's weekly report is mailed.
func (r Reports) Enabled() bool { return len(r.To) > 0 }

// Outgoing mail defaults and limits.
const (
	DefaultReportsWeekly = "mon 08:00"
	// DefaultFromUser is the local part of the default From: leadline@<email.domain>.
	DefaultFromUser    = "leadline"
	maxCRMEmails       = 5
	maxReportRecipient = 10
)

// ---- decode ----

// mailoutEmailFields are the email section's keys for outgoing mail.
func (d *decoder) mailoutEmailFields(e *Email) map[string]field {
	return map[string]field{
		"relay": d.str(&e.Relay),
		"from":  d.str(&e.From),
	}
}

func (d *decoder) mailoutDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"crm_email": d.addresses(&dl.CRMEmail),
		"reports": func(n *yaml.Node, p string) {
			d.object(n, p, map[string]field{
				"to":     d.addresses(&dl.Reports.To),
				"weekly": d.str(&dl.Reports.Weekly),
			})
		},
	}
}

// addresses reads one address or a list of them.
func (d *decoder) addresses(dst *[]string) field {
	return func(n *yaml.Node, path string) {
		r := d.resolve(n, path)
		switch {
		case r == nil || isNull(r):
		case r.Kind == yaml.ScalarNode:
			if s, ok := d.scalar(r, path, "an e-mail address"); ok {
				*dst = []string{s}
			}
		default:
			out := []string{} // [] stays an empty list: a mistake, not "none"
			if d.list(r, path, "e-mail addresses", func(_ int, item *yaml.Node, p string) {
				s, _ := d.scalar(item, p, "an e-mail address")
				out = append(out, s)
			}) {
				*dst = out
			}
		}
	}
}

// ---- validate ----

// validateMailout checks the relay and the From address, and fills FromAddress.
func (c *Config) validateMailout(v *validator) {
	e := &c.Email
	if e.Relay != "" {
		if msg := relayProblem(e.Relay); msg != "" {
			v.add("email.relay", "%s", msg)
		}
	}
	e.FromAddress = mail.Address{}
	switch {
	case e.From != "":
		a, err := mail.ParseAddress(e.From)
		if err != nil {
			v.add("email.from", "%q is not an e-mail address (write leadline@dealer.nl or \"Leadline <leadline@dealer.nl>\")", e.From)
		} else {
			e.FromAddress = *a
		}
	case e.Domain != "" && validHost(e.Domain):
		e.FromAddress = mail.Address{Name: "Leadline", Address: DefaultFromUser + "@" + strings.ToLower(e.Domain)}
	case e.Relay != "":
		v.add("email.from", "is required with email.relay when email.domain is not set (the default is leadline@<email.domain>)")
	}
}

// relayProblem says what is wrong with a relay URL, or "". The URL's password is never
// part of the message.
func relayProblem(raw string) string {
	shown := redactUserinfo(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%s is not a URL (in the password, write @ as %%40, / as %%2F, : as %%3A, # as %%23)", shown)
	}
	switch {
	case u.Scheme != "smtp" && u.Scheme != "smtps":
		return fmt.Sprintf("%s: use smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 (TLS)", shown)
	case u.Hostname() == "":
		return fmt.Sprintf("%s has no host", shown)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return fmt.Sprintf("%s: a path, query or fragment means nothing here (in the password, write / as %%2F, ? as %%3F, # as %%23)", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%s has a bad port %q", shown, p)
		}
	}
	if h := u.Hostname(); !validHost(h) {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Sprintf("%s: %q is not a host name or IP address", shown, h)
		}
	}
	if u.User != nil {
		if _, has := u.User.Password(); u.User.Username() == "" || !has {
			return fmt.Sprintf("%s: give both user and password (smtp://user:password@host), or neither", shown)
		}
	}
	return ""
}

// validateMailout checks a dealer's CRM addresses and report settings; they need
// top's relay.
func (d *Dealer) validateMailout(v *validator, path string, top *Email) {
	if d.CRMEmail != nil && len(d.CRMEmail) == 0 {
		v.add(path+".crm_email", "is empty: give the CRM's ADF address, or leave crm_email out")
	}
	if len(d.CRMEmail) > maxCRMEmails {
		v.add(path+".crm_email", "%d addresses; at most %d", len(d.CRMEmail), maxCRMEmails)
	}
	checkAddresses(v, path+".crm_email", d.CRMEmail)
	if len(d.CRMEmail) > 0 && top.Relay == "" {
		v.add(path+".crm_email", "needs email.relay, the mail server Leadline's mail leaves through")
	}

	r := &d.Reports
	p := path + ".reports"
	r.Weekly = strings.ToLower(strings.Join(strings.Fields(r.Weekly), " "))
	if r.Weekly == "" {
		r.Weekly = DefaultReportsWeekly
	}
	if day, at, ok := parseWeekly(r.Weekly); ok {
		r.Day, r.At = day, at
	} else {
		v.add(p+".weekly", "%q is not a day and a time such as \"mon 08:00\" (mon, tue, wed, thu, fri, sat or sun; 00:00 to 23:59)", r.Weekly)
	}
	if len(r.To) > maxReportRecipient {
		v.add(p+".to", "%d addresses; at most %d", len(r.To), maxReportRecipient)
	}
	checkAddresses(v, p+".to", r.To)
	if r.To != nil && len(r.To) == 0 {
		v.add(p+".to", "is empty: list who gets the weekly report, or leave reports out")
	}
	if len(r.To) > 0 && top.Relay == "" {
		v.add(p, "needs email.relay, the mail server Leadline's mail leaves through")
	}
}

// checkAddresses checks and lower-cases a list of plain addresses (user@domain).
func checkAddresses(v *validator, path string, list []string) {
	for i, s := range list {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != strings.TrimSpace(s) || a.Name != "" {
			v.add(index(path, i), "%q is not an e-mail address (write it as user@domain)", s)
			continue
		}
		list[i] = strings.ToLower(a.Address)
		if j := slices.Index(list, list[i]); j < i {
			v.add(index(path, i), "%s is listed twice", list[i])
		}
	}
}

// parseWeekly reads "mon 08:00": a day of the week (its first three letters, or its
// whole English name) and a time on the 24-hour clock.
func parseWeekly(s string) (time.Weekday, time.Duration, bool) {
	day, at, ok := strings.Cut(s, " ")
	if !ok || len(day) < 3 || strings.Contains(at, "24:00") {
		return 0, 0, false
	}
	for _, wd := range weekdays {
		if wd.name != day[:3] || !strings.HasPrefix(strings.ToLower(wd.day.String()), day) {
			continue
		}
		m, err := clock(at)
		if err != nil {
			return 0, 0, false
		}
		return wd.day, time.Duration(m) * time.Minute, true
	}
	return 0, 0, false
}

// ---- summary ----

func (c *Config) mailoutSummary(row func(...string)) {
	e := c.Email
	if e.Relay == "" {
		return // no mail is sent; crm_email and reports need a relay
	}
	row("mail out", shownRelay(e.Relay)+", from "+e.FromAddress.String())
}

// shownRelay is a relay URL as check shows it: with its user and how it is reached,
// never its password.
func shownRelay(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable URL)"
	}
	tls := "STARTTLS required"
	port := u.Port()
	switch {
	case u.Scheme == "smtps":
		tls, port = "TLS", cmpOr(port, "465")
	case isLoopbackHost(u.Hostname()):
		tls, port = "plain: the relay is on this machine", cmpOr(port, "587")
	default:
		port = cmpOr(port, "587")
	}
	auth := "no AUTH"
	if u.User != nil {
		auth = "AUTH as " + u.User.Username()
	}
	return u.Scheme + "://" + u.Hostname() + ":" + port + " (" + tls + ", " + auth + ")"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isLoopbackHost mirrors mailout.Loopback: the relay rules' "this machine".
func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

func (d *Dealer) mailoutSummary(row func(...string)) {
	if len(d.CRMEmail) > 0 {
		row("  crm e-mail", strings.Join(d.CRMEmail, ", ")+": ADF at each final status, and an update with the outcome")
	}
	if d.Reports.Enabled() {
		row("  reports", "weekly, "+d.Reports.Weekly+" "+d.Timezone+", to "+strings.Join(d.Reports.To, ", "))
	}
}
