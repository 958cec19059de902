package config

import (
	"encoding/base64"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/ssrf"
)

// This file holds the outbound webhooks: the top-level webhooks section (which targets
// may be reached, how long a try may take) and each dealer's endpoints
// (dealers[].webhooks), where a lead's events are posted, signed as Standard Webhooks.

// Webhooks is the top-level webhooks section.
type Webhooks struct {
	// AllowPrivateTargets lets webhooks go to loopback, private, link-local and other
	// special addresses: only for tests and CRMs on a private network.
	AllowPrivateTargets bool
	// Timeout bounds one try, from connecting to the answer's headers.
	Timeout time.Duration
}

// Webhook is one of a dealer's endpoints.
type Webhook struct {
	// URL is where the events are posted: http:// or https://.
	URL string
	// Secret signs every message: a Standard Webhooks secret, "whsec_" and the key in
	// base64 (24 to 64 bytes). Secrets are several, during a rotation: each signs every
	// message, so a receiver with either verifies it. Set one of the two.
	Secret  string
	Secrets []string
	// Events are the event types posted; empty: all of them (WebhookEvents).
	Events []string

	// Keys are Secret or Secrets, whichever is set (derived).
	Keys []string
}

// WebhookEvents are the event types a webhook can take, in the order the documentation
// lists them (dialer.EventTypes; a test keeps the two in step).
var WebhookEvents = []string{
	"lead.received", "lead.scheduled", "lead.connected", "lead.completed", "lead.customer_unreachable",
	"lead.exhausted", "lead.reached_owner", "lead.canceled", "lead.failed", "lead.outcome",
}

// Webhook defaults and limits.
const (
	DefaultWebhookTimeout = 10 * time.Second
	maxWebhookTimeout     = time.Minute
	maxWebhooksPerDealer  = 10
	// Standard Webhooks: a symmetric key of at least 24 bytes; 64 is ample.
	minWebhookKey, maxWebhookKey = 24, 64
	webhookSecretPrefix          = "whsec_"
)

// ---- decode ----

func (d *decoder) webhooksRootFields(c *Config) map[string]field {
	return map[string]field{
		"webhooks": func(n *yaml.Node, p string) {
			d.object(n, p, map[string]field{
				"allow_private_targets": d.boolean(&c.Webhooks.AllowPrivateTargets),
				"timeout":               d.duration(&c.Webhooks.Timeout),
			})
		},
	}
}

func (d *decoder) webhooksDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"webhooks": func(n *yaml.Node, p string) {
			dl.Webhooks = []Webhook{}
			d.list(n, p, "webhooks", func(_ int, item *yaml.Node, p string) {
				var w Webhook
				d.object(item, p, map[string]field{
					"url":     d.str(&w.URL),
					"secret":  d.str(&w.Secret),
					"secrets": d.strings(&w.Secrets),
					"events": func(n *yaml.Node, p string) {
						// Unlike d.strings, [] stays an empty list: a mistake, not "all".
						w.Events = nil
						if d.list(n, p, "event names", func(_ int, item *yaml.Node, p string) {
							s, _ := d.scalar(item, p, "an event name")
							w.Events = append(w.Events, s)
						}) && w.Events == nil {
							w.Events = []string{}
						}
					},
				})
				dl.Webhooks = append(dl.Webhooks, w)
			})
		},
	}
}

// ---- validate ----

func (c *Config) validateWebhooks(v *validator) {
	w := &c.Webhooks
	w.Timeout = positive(v, "webhooks.timeout", w.Timeout, DefaultWebhookTimeout)
	if w.Timeout > maxWebhookTimeout {
		v.add("webhooks.timeout", "%s is longer than a try may take (at most %s)", FormatDuration(w.Timeout), FormatDuration(maxWebhookTimeout))
	}
}

// validateWebhooks checks a dealer's webhooks: their URLs (a literal IP address must be
// public unless top allows private targets), secrets and events.
func (d *Dealer) validateWebhooks(v *validator, path string, top *Webhooks) {
	if len(d.Webhooks) > maxWebhooksPerDealer {
		v.add(path+".webhooks", "%d webhooks; at most %d", len(d.Webhooks), maxWebhooksPerDealer)
	}
	urls := map[string]int{}
	for i := range d.Webhooks {
		w := &d.Webhooks[i]
		p := index(path+".webhooks", i)
		if msg := webhookURLProblem(w.URL, top.AllowPrivateTargets); msg != "" {
			v.add(p+".url", "%s", msg)
		} else if j, dup := urls[w.URL]; dup {
			v.add(p+".url", "the same URL as webhooks[%d]", j)
		} else {
			urls[w.URL] = i
		}

		w.Keys = nil
		switch {
		case w.Secret != "" && len(w.Secrets) > 0:
			v.add(p, "set secret or secrets (during a rotation), not both")
		case w.Secret != "":
			w.Keys = []string{w.Secret}
			if msg := webhookSecretProblem(w.Secret); msg != "" {
				v.add(p+".secret", "%s", msg)
			}
		case len(w.Secrets) > 0:
			w.Keys = w.Secrets
			for j, s := range w.Secrets {
				if msg := webhookSecretProblem(s); msg != "" {
					v.add(index(p+".secrets", j), "%s", msg)
				} else if k := slices.Index(w.Secrets, s); k < j {
					v.add(index(p+".secrets", j), "the same secret as secrets[%d]", k)
				}
			}
		default:
			v.add(p+".secret", "is required: the receiver checks each message's signature with it (whsec_ and a random key in base64)")
		}

		if w.Events != nil && len(w.Events) == 0 {
			v.add(p+".events", "is empty; leave it out to send every event")
		}
		for j, e := range w.Events {
			switch k := slices.Index(w.Events, e); {
			case !slices.Contains(WebhookEvents, e):
				v.add(index(p+".events", j), "unknown event %q: use %s", e, strings.Join(WebhookEvents, ", "))
			case k < j:
				v.add(index(p+".events", j), "%s is listed twice", e)
			}
		}
	}
}

// webhookURLProblem says what is wrong with a webhook URL, or "". Its host, when it is
// an IP address, must be one package ssrf allows; a name is checked on each connection,
// after DNS.
func webhookURLProblem(raw string, allowPrivate bool) string {
	if raw == "" {
		return "is required"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http:// or https:// URL"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.Fragment != "":
		return "has a #fragment, which is never sent"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has a bad port " + strconv.Quote(p)
		}
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := ssrf.Check(ip, allowPrivate); err != nil {
			return err.Error()
		}
		return ""
	}
	if !validHost(host) {
		return strconv.Quote(host) + " is not a host name or IP address"
	}
	return ""
}

// webhookSecretProblem says what is wrong with a Standard Webhooks secret, or "". The
// secret itself never appears in a message.
func webhookSecretProblem(s string) string {
	key, ok := strings.CutPrefix(s, webhookSecretPrefix)
	if !ok {
		return "must start with whsec_ (a Standard Webhooks secret: whsec_ and a random key in base64)"
	}
	b, err := base64.StdEncoding.DecodeString(key)
	switch {
	case err != nil:
		return "the key after whsec_ is not base64 (make one: echo whsec_$(openssl rand -base64 32))"
	case len(b) < minWebhookKey || len(b) > maxWebhookKey:
		return "the key after whsec_ is " + strconv.Itoa(len(b)) + " bytes; use " +
			strconv.Itoa(minWebhookKey) + " to " + strconv.Itoa(maxWebhookKey) + " (echo whsec_$(openssl rand -base64 32))"
	}
	return ""
}

// ---- summary ----

func (c *Config) webhooksSummary(row func(...string)) {
	text := "try timeout " + FormatDuration(c.Webhooks.Timeout) + "; private targets "
	if c.Webhooks.AllowPrivateTargets {
		text += "ALLOWED (tests and private networks only)"
	} else {
		text += "refused"
	}
	row("webhooks", text)
}

func (d *Dealer) webhooksSummary(row func(...string)) {
	for _, w := range d.Webhooks {
		events := "every event"
		if len(w.Events) > 0 {
			events = strings.Join(w.Events, ", ")
		}
		secrets := "1 secret"
		if len(w.Keys) > 1 {
			secrets = strconv.Itoa(len(w.Keys)) + " secrets (rotation)"
		}
		row("  webhook", shownURL(w.URL)+": "+events+"; "+secrets)
	}
}

// shownURL is a URL without its user information and query, which may hold secrets.
func shownURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unreadable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}
