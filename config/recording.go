package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Call recording (issue 16): off unless a dealer turns it on.
//
//	recordings: "file:///var/lib/leadline/recordings"   # top level; or s3://bucket/prefix?endpoint=host:port
//	dealers:
//	  - recording: {enabled: true, consent: announce, notice: "…", retention: "90d"}

// Recording is a dealer's recording section.
type Recording struct {
	Enabled bool
	Consent string // ConsentAnnounce or ConsentAsk
	// Notice is what the customer hears before the bridge; "" is the default of the
	// dealer's language (purpose and retention).
	Notice string
	// Retention is how long a recording is kept, as written ("90d"); RetentionDuration
	// is it parsed (derived).
	Retention         string
	RetentionDuration time.Duration
}

// Consent modes.
const (
	ConsentAnnounce = "announce"
	ConsentAsk      = "ask"
)

// Recordings defaults.
const (
	DefaultRecordings = "file://recordings"
	DefaultRetention  = "90d"
)

// Recordings is where recordings are kept (derived from Config.Recordings).
type Recordings struct {
	// Kind is "file" or "s3".
	Kind string
	// Dir is the directory of a file store.
	Dir string
	// Bucket and Prefix of an S3 store; Endpoint its host:port (default
	// s3.amazonaws.com), Region, Insecure (plain HTTP); Spool the local directory
	// recordings are written to before their upload.
	Bucket, Prefix, Endpoint, Region string
	Insecure                         bool
	Spool                            string
}

func (d *decoder) recordingRootFields(c *Config) map[string]field {
	return map[string]field{"recordings": d.str(&c.Recordings)}
}

func (d *decoder) recordingDealerFields(dl *Dealer) map[string]field {
	return map[string]field{
		"recording": func(n *yaml.Node, p string) {
			r := &dl.Recording
			d.object(n, p, map[string]field{
				"enabled":   d.boolean(&r.Enabled),
				"consent":   d.str(&r.Consent),
				"notice":    d.str(&r.Notice),
				"retention": d.str(&r.Retention),
			})
		},
	}
}

// ParseRetention reads a retention: a number of days ("90d") or a Go duration
// ("2160h").
func ParseRetention(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*365 {
			return 0, fmt.Errorf("%q: use a number of days from 1 to 36500, e.g. 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: use a number of days (90d) or a duration (2160h)", s)
	}
	return d, nil
}

// validateRecordings checks the top-level recordings and fills RecordingStore.
func (c *Config) validateRecordings(v *validator) {
	c.Recordings = or(c.Recordings, DefaultRecordings)
	rs, msg := parseRecordings(c.Recordings)
	if msg != "" {
		v.add("recordings", "%s", msg)
		return
	}
	c.RecordingStore = rs
}

func parseRecordings(s string) (Recordings, string) {
	u, err := url.Parse(s)
	if err != nil {
		return Recordings{}, "not a URL: use file:///DIR or s3://BUCKET/PREFIX"
	}
	switch u.Scheme {
	case "file":
		dir := u.Host + u.Path // file://recordings is relative, file:///var/… absolute
		if dir == "" {
			return Recordings{}, "file:// needs a directory, e.g. file:///var/lib/leadline/recordings"
		}
		return Recordings{Kind: "file", Dir: dir}, ""
	case "s3":
		q := u.Query()
		r := Recordings{Kind: "s3", Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"),
			Endpoint: or(q.Get("endpoint"), "s3.amazonaws.com"), Region: q.Get("region"),
			Insecure: q.Get("insecure") == "true", Spool: or(q.Get("spool"), "recordings-spool")}
		for k := range q {
			switch k {
			case "endpoint", "region", "insecure", "spool":
			default:
				return Recordings{}, fmt.Sprintf("unknown parameter %q (endpoint, region, insecure, spool)", k)
			}
		}
		if r.Bucket == "" {
			return Recordings{}, "s3:// needs a bucket, e.g. s3://leadline-recordings/prefix"
		}
		return r, ""
	}
	return Recordings{}, fmt.Sprintf("unknown scheme %q: use file:///DIR or s3://BUCKET/PREFIX", u.Scheme)
}

// validateRecording checks a dealer's recording section and fills its defaults.
func (d *Dealer) validateRecording(v *validator, path string) {
	p := path + ".recording"
	r := &d.Recording
	r.Consent = or(r.Consent, ConsentAnnounce)
	if r.Consent != ConsentAnnounce && r.Consent != ConsentAsk {
		v.add(p+".consent", "unknown consent %q (use announce or ask)", r.Consent)
	}
	r.Retention = or(r.Retention, DefaultRetention)
	if dur, err := ParseRetention(r.Retention); err != nil {
		v.add(p+".retention", "%v", err)
	} else {
		r.RetentionDuration = dur
	}
	if len([]rune(r.Notice)) > 500 || strings.ContainsFunc(r.Notice, unicode.IsControl) {
		v.add(p+".notice", "at most 500 characters, no control characters")
	}
}

// recordingSummary is what check shows of a dealer's recording.
func (d *Dealer) recordingSummary() string {
	r := d.Recording
	if !r.Enabled {
		return "off"
	}
	s := "bridged calls, " + r.Consent + " (the customer "
	if r.Consent == ConsentAsk {
		s += "is asked to press 1; no key: not recorded"
	} else {
		s += "hears the notice before the bridge"
	}
	s += "), kept " + r.Retention
	if r.Notice != "" {
		s += ", notice: " + r.Notice
	}
	return s
}

// recordingsSummary is what check shows of where recordings are kept.
func (c *Config) recordingsSummary() string {
	rs := c.RecordingStore
	if rs.Kind == "s3" {
		return fmt.Sprintf("s3 bucket %s, prefix %q at %s (spooled in %s)", rs.Bucket, rs.Prefix, rs.Endpoint, rs.Spool)
	}
	return "directory " + rs.Dir
}
