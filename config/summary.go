package config

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary writes what `leadline check` prints for a validated Config: the server
// settings, then each dealer with its settings, people and flow. Secrets (api keys,
// the trunk password, a store password) are never printed.
func (c *Config) Summary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }

	row("node id", or(c.NodeID, "(hostname and pid)"))
	row("takeover after", FormatDuration(c.TakeoverAfter))
	row("log", c.Log.Format+", "+c.Log.Level)
	row("http", c.HTTP.Listen)
	row("sip", c.SIP.Listen+", external host "+or(c.SIP.ExternalHost, "(listen host)")+
		", rtp ports "+c.SIP.RTPPorts+", media timeout "+FormatDuration(c.SIP.MediaTimeout))
	c.tlsSummary(row)
	c.trunkSummary(row)
	row("store", redactStore(c.Store))
	c.securitySummary(row)
	c.emailSummary(row)
	c.mailoutSummary(row)
	c.webhooksSummary(row)
	row("recordings", c.recordingsSummary())
	if c.TTS.Engine == EngineFiles {
		row("tts", c.TTS.Engine+" from "+c.TTS.Dir)
	} else {
		row("tts", c.TTS.Engine)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	for _, d := range c.Dealers {
		fmt.Fprintf(tw, "\ndealer %s: %s\n", d.ID, d.Name)
		row("  language", d.Language)
		row("  timezone", d.Timezone)
		row("  country", d.Country)
		row("  caller id", d.CallerID)
		d.identitySummary(row)
		row("  timeouts", "ring "+FormatDuration(d.RingTimeout)+" per person, accept "+FormatDuration(d.AcceptTimeout)+
			", customer ring "+FormatDuration(d.CustomerRingTimeout)+", max call "+FormatDuration(d.MaxCallLength))
		row("  api keys", strconv.Itoa(len(d.APIKeys)))
		d.securitySummary(row)
		d.emailSummary(row, c.Email.Listen != "")
		d.webhooksSummary(row)
		d.mailoutSummary(row)
		row("  hours", FormatTimetable(d.OpeningHours))
		row("  customers", "rung "+d.CustomerHours+" their local time; backlog staggered "+FormatDuration(d.Stagger))
		row("  retries", FormatRetries(d.Retries))
		row("  outcomes", d.outcomesSummary())
		row("  recording", d.recordingSummary())
		rounds := "1"
		if d.Rounds > 1 {
			rounds = strconv.Itoa(d.Rounds) + ", " + FormatDuration(d.RoundPause) + " apart"
		}
		row("  rounds", rounds)
		if d.DuplicateWindow > 0 {
			row("  duplicates", "a lead for a number with an open lead of the last "+FormatDuration(d.DuplicateWindow)+" joins it")
		} else {
			row("  duplicates", "off: every lead is called")
		}
		row("  whisper", d.Whisper)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(tw, "  people")
		for _, p := range d.People {
			if p.Hours.Set() {
				row("    "+p.ID, p.Name, p.phoneText(), "hours "+FormatTimetable(p.Hours))
			} else {
				row("    "+p.ID, p.Name, p.phoneText())
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(tw, "  flow  "+FormatFlow(d.Flow))
	}
	return tw.Flush()
}

// FormatFlow writes a flow as numbered steps:
// "1. assigned  2. piet  3. kees + anna (together)  4. kees / anna (round robin)  5. owner".
func FormatFlow(flow []Step) string {
	parts := make([]string, len(flow))
	for i, s := range flow {
		var text string
		switch {
		case s.RoundRobin:
			text = strings.Join(s.People, " / ") + " (round robin)"
		case len(s.People) > 1:
			text = strings.Join(s.People, " + ") + " (together)"
		default:
			text = strings.Join(s.People, "")
		}
		parts[i] = strconv.Itoa(i+1) + ". " + text
	}
	return strings.Join(parts, "  ")
}

// FormatDuration writes d without zero units: 2h, 1m30s, 20s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// redacted is what a secret is shown as.
const redacted = "xxxxx"

// redactStore is a store URL without its secrets: the password of its user
// (postgres://u:xxxxx@h/db) and the value of every query parameter whose name looks
// like a secret (?password=xxxxx, sslpassword, token, apikey…; see secretParam). The
// rest is shown as written.
func redactStore(s string) string {
	base, query, hasQuery := strings.Cut(s, "?")
	base = redactUserinfo(base)
	if !hasQuery {
		return base
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if ok && v != "" && secretParam(k, v) {
			params[i] = k + "=" + redacted
		}
	}
	return base + "?" + strings.Join(params, "&")
}

// redactUserinfo masks the password of scheme://user:password@host/…: everything from
// the first ':' to the last '@', whether or not the URL parses (several hosts, a bad
// port, a '/' or '@' left unescaped in the password). It may mask too much of an odd
// URL, never too little.
func redactUserinfo(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return scheme + "://" + user + ":" + redacted + rest[at:]
}

// secretWords are the query parameter names, lower case without - and _, that hold
// secrets; a name that contains one of secretParts is one too.
var (
	secretWords = map[string]bool{"pass": true, "pwd": true, "key": true, "auth": true, "apikey": true, "sslkey": true,
		"credential": true, "credentials": true, "sig": true, "signature": true}
	secretParts = []string{"password", "passwd", "secret", "token", "apikey", "accesskey", "privatekey"}
	// keyPragmas are SQLite pragmas that take an encryption key (SQLCipher and kin),
	// as in sqlite://leadline.db?_pragma=key('…').
	keyPragmas = []string{"key", "rekey", "hexkey", "hexrekey", "textkey", "textrekey"}
)

// secretParam reports whether the query parameter k=v (both as written, percent-encoded)
// holds a secret, judged by its name, case-insensitively.
func secretParam(k, v string) bool {
	if dk, err := url.QueryUnescape(k); err == nil {
		k = dk
	}
	name := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(k))
	if secretWords[name] {
		return true
	}
	for _, part := range secretParts {
		if strings.Contains(name, part) {
			return true
		}
	}
	if name == "pragma" {
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		pragma := strings.ToLower(strings.TrimSpace(v))
		for _, kp := range keyPragmas {
			if rest, ok := strings.CutPrefix(pragma, kp); ok && (rest == "" || strings.ContainsAny(rest[:1], "(= ")) {
				return true
			}
		}
	}
	return false
}
