package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	_ "time/tzdata"
	"unicode/utf8" // time zones must load on hosts without /usr/share/zoneinfo

	"github.com/leadline/leadline/phone"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	Path    string // dealers[0].flow[2]; "" for the file as a whole
	Message string // unknown person "kess"
	Line    int    // line in the file, or 0 when unknown
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Problems []Problem
	// File is the configuration file's name when it was read from one (Load).
	File string
}

// Error lists the problems one per line, as "path: message", or with the file they
// were read from "file:line: path: message" (editors jump to file:line).
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		switch {
		case e.File != "" && p.Line > 0:
			lines[i] = fmt.Sprintf("%s:%d: %s", e.File, p.Line, p)
		case e.File != "":
			lines[i] = e.File + ": " + p.String()
		default:
			lines[i] = p.String()
		}
	}
	return strings.Join(lines, "\n")
}

// validator collects problems.
type validator struct {
	meta     *meta
	problems []Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// err drops problems about values that could not be decoded (already reported), adds
// where the others came from, and returns nil when nothing is left.
func (v *validator) err() error {
	var out []Problem
	for _, p := range v.problems {
		if v.meta != nil {
			if v.decodeFailed(p.Path) {
				continue
			}
			if names := v.meta.unset[p.Path]; len(names) > 0 {
				p.Message += fmt.Sprintf(" (%s not set)", strings.Join(names, ", "))
			} else if env := v.meta.env[p.Path]; env != "" {
				p.Message += " (from " + env + ")"
			}
			if v.meta.env[p.Path] == "" {
				p.Line = v.line(p.Path)
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil
	}
	return &ValidationError{Problems: out}
}

// failed reports whether the value at path could not be decoded.
func (v *validator) failed(path string) bool {
	return v.meta != nil && v.meta.failed[path]
}

func (v *validator) decodeFailed(path string) bool {
	for p := path; ; {
		if v.meta.failed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			return false
		}
		p = p[:i]
	}
}

func (v *validator) line(path string) int {
	for p := path; ; {
		if l, ok := v.meta.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			return 0
		}
		p = p[:i]
	}
}

// Validate checks c and collects every problem into a *ValidationError, each with its
// path. It also fills what the rest of the program uses: empty fields get their
// defaults (Name from ID, Whisper from Language, Country from CallerID…), CallerID
// becomes E.164, and the derived fields (Location, Target, RTPPortMin/Max,
// StoreDriver/DSN, WhisperTemplate) are set. It is idempotent; Load and Parse call it.
func (c *Config) Validate() error {
	v := &validator{meta: c.meta}
	c.validateTop(v)
	if len(c.Dealers) == 0 {
		v.add("dealers", "no dealers defined")
	}
	c.validateSecurity(v)
	c.validateEmail(v)
	c.validateMailout(v)
	c.validateWebhooks(v)
	c.validateRecordings(v)
	addresses := map[string]string{}
	dealerIDs := map[string]int{}
	keyOwners := map[[32]byte]keyOwner{}
	for i := range c.Dealers {
		path := index("dealers", i)
		d := &c.Dealers[i]
		d.validate(v, path)
		d.validateIdentity(v, path)
		if d.ID != "" {
			if _, dup := dealerIDs[d.ID]; dup {
				v.add(path+".id", "duplicate dealer id %q", d.ID)
			} else {
				dealerIDs[d.ID] = i
			}
		}
		d.validateSecurity(v, path, keyOwners)
		d.validateSchedule(v, path)
		d.validateEmail(v, path, &c.Email, addresses)
		d.validateOutcomes(v, path)
		d.validateWebhooks(v, path, &c.Webhooks)
		d.validateMailout(v, path, &c.Email)
		d.validateRecording(v, path)
	}
	c.validateSoftphones(v)
	return v.err()
}

func (c *Config) validateTop(v *validator) {
	if c.NodeID != "" && !validID(c.NodeID, 64, ":") {
		v.add("node_id", "%q: use at most 64 letters, digits, '-', '_', '.' or ':'", c.NodeID)
	}

	c.Log.Format = strings.ToLower(or(c.Log.Format, DefaultLogFormat))
	if c.Log.Format != "text" && c.Log.Format != "json" {
		v.add("log.format", "unknown format %q (use text or json)", c.Log.Format)
	}
	c.Log.Level = strings.ToLower(or(c.Log.Level, DefaultLogLevel))
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		v.add("log.level", "unknown level %q (use debug, info, warn or error)", c.Log.Level)
	}

	c.HTTP.Listen = or(c.HTTP.Listen, DefaultHTTPListen)
	if msg := checkListen(c.HTTP.Listen); msg != "" {
		v.add("http.listen", "%s", msg)
	}
	c.SIP.Listen = or(c.SIP.Listen, DefaultSIPListen)
	if msg := checkListen(c.SIP.Listen); msg != "" {
		v.add("sip.listen", "%s", msg)
	}
	if h := c.SIP.ExternalHost; h != "" && !phone.ValidHost(h) {
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err != nil || !a.Is6() || a.Zone() != "" {
			v.add("sip.external_host", "%q is not a host name or IP address (no port)", h)
		}
	}
	c.SIP.RTPPorts = or(c.SIP.RTPPorts, DefaultRTPPorts)
	c.SIP.RTPPortMin, c.SIP.RTPPortMax = 0, 0
	if lo, hi, msg := parsePorts(c.SIP.RTPPorts); msg != "" {
		v.add("sip.rtp_ports", "%s", msg)
	} else {
		c.SIP.RTPPortMin, c.SIP.RTPPortMax = lo, hi
	}
	c.SIP.MediaTimeout = positive(v, "sip.media_timeout", c.SIP.MediaTimeout, DefaultMediaTimeout)
	c.TakeoverAfter = positive(v, "takeover_after", c.TakeoverAfter, DefaultTakeoverAfter)

	c.validateTrunks(v)
	c.validateSIPTLS(v)

	c.Store = or(c.Store, DefaultStore)
	c.StoreDriver, c.StoreDSN = "", ""
	if driver, dsn, msg := parseStore(c.Store); msg != "" {
		v.add("store", "%s", msg)
	} else {
		c.StoreDriver, c.StoreDSN = driver, dsn
	}

	c.TTS.Engine = or(c.TTS.Engine, DefaultEngine)
	switch c.TTS.Engine {
	case EngineEspeak:
		if c.TTS.Dir != "" {
			v.add("tts.dir", "only used when tts.engine is %q", EngineFiles)
		}
	case EngineFiles:
		if c.TTS.Dir == "" {
			v.add("tts.dir", "required when tts.engine is %q", EngineFiles)
		}
	default:
		v.add("tts.engine", "unknown engine %q (use %s or %s)", c.TTS.Engine, EngineEspeak, EngineFiles)
	}
}

func (d *Dealer) validate(v *validator, path string) {
	switch {
	case d.ID == "":
		v.add(path+".id", "required")
	case !validID(d.ID, 64, ""):
		v.add(path+".id", "%q: use at most 64 letters, digits, '-', '_' or '.'", d.ID)
	}
	d.Name = or(d.Name, d.ID)
	checkName(v, path+".name", d.Name)

	d.Language = strings.ToLower(or(d.Language, DefaultLanguage))
	if !slices.Contains(Languages, d.Language) {
		v.add(path+".language", "unsupported language %q (use nl, en, de or fr)", d.Language)
	}

	d.Timezone = or(d.Timezone, DefaultTimezone)
	d.Location = nil
	if loc, err := time.LoadLocation(d.Timezone); err != nil || d.Timezone == "Local" {
		v.add(path+".timezone", "unknown time zone %q", d.Timezone)
	} else {
		d.Location = loc
	}

	// Country first when given, so a national caller id can be read in it.
	countryOK := true
	if d.Country != "" {
		d.Country = strings.ToUpper(d.Country)
		if !phone.KnownRegion(d.Country) {
			v.add(path+".country", "unknown country %q (use an ISO code such as NL)", d.Country)
			countryOK = false
		}
	}
	if d.CallerID == "" {
		v.add(path+".caller_id", "required")
		countryOK = countryOK && d.Country != ""
	} else if n, err := phone.Normalize(d.CallerID, d.Country); err != nil {
		v.add(path+".caller_id", "%v", err)
		countryOK = countryOK && d.Country != ""
	} else {
		d.CallerID = n
		if d.Country == "" {
			d.Country = phone.Region(n)
			if d.Country == "" {
				v.add(path+".country", "required: caller id %s belongs to no single country", n)
				countryOK = false
			}
		}
	}

	d.RingTimeout = positive(v, path+".ring_timeout", d.RingTimeout, DefaultRingTimeout)
	d.AcceptTimeout = positive(v, path+".accept_timeout", d.AcceptTimeout, DefaultAcceptTimeout)
	d.CustomerRingTimeout = positive(v, path+".customer_ring_timeout", d.CustomerRingTimeout, DefaultCustomerRingTimeout)
	d.MaxCallLength = positive(v, path+".max_call_length", d.MaxCallLength, DefaultMaxCallLength)

	d.WhisperTemplate = nil
	if d.Whisper == "" {
		d.Whisper = DefaultWhisper(d.Language)
	}
	if d.Whisper != "" {
		t, msg := compileWhisper(d.Whisper)
		if msg != "" {
			v.add(path+".whisper", "%s", msg)
		}
		d.WhisperTemplate = t
	}

	people := map[string]int{}
	if len(d.People) == 0 {
		v.add(path+".people", "at least one person is required")
	}
	for i := range d.People {
		p := &d.People[i]
		pp := index(path+".people", i)
		switch {
		case p.ID == "":
			v.add(pp+".id", "required")
		case p.ID == Assigned:
			v.add(pp+".id", "%q is a flow keyword; choose another id", Assigned)
		case !validID(p.ID, 64, ""):
			v.add(pp+".id", "%q: use at most 64 letters, digits, '-', '_' or '.'", p.ID)
		default:
			if _, dup := people[p.ID]; dup {
				v.add(pp+".id", "duplicate person id %q", p.ID)
			} else {
				people[p.ID] = i
			}
		}
		p.Name = or(p.Name, p.ID)
		checkName(v, pp+".name", p.Name)
		p.Target = phone.Target{}
		if p.Phone == "" {
			v.add(pp+".phone", "required")
			continue
		}
		region := d.Country
		if !countryOK {
			region = ""
		}
		t, err := phone.ParseTarget(p.Phone, region)
		switch {
		case err == nil:
			p.Target = t
		case errors.Is(err, phone.ErrNoRegion) && !countryOK:
			// The caller id or country problem above already says why.
		default:
			v.add(pp+".phone", "%v", err)
		}
	}

	d.validateFlow(v, path)
}

func (d *Dealer) validateFlow(v *validator, path string) {
	fp := path + ".flow"
	if len(d.Flow) == 0 {
		v.add(fp, "empty: list at least one person")
		return
	}
	onlyAssigned := true
	for i, step := range d.Flow {
		sp := index(fp, i)
		switch {
		case v.failed(sp):
			onlyAssigned = false
			continue
		case len(step.People) == 0 && step.RoundRobin:
			v.add(sp, "empty round robin")
			continue
		case len(step.People) == 0:
			v.add(sp, "empty ring group")
			continue
		case step.IsAssigned():
			continue
		}
		onlyAssigned = false
		seen := map[string]bool{}
		group := "ring group"
		if step.RoundRobin {
			group = "round robin"
		}
		for _, id := range step.People {
			switch {
			case id == "":
				v.add(sp, "empty person id")
			case id == Assigned:
				v.add(sp, "%q must be a step of its own, not part of a %s", Assigned, group)
			case seen[id]:
				v.add(sp, "%q is twice in this %s", id, group)
			case v.failed(path + ".people"):
				// people could not be read; that problem is reported already.
			default:
				if !d.personDefined(id) {
					v.add(sp, "unknown person %q", id)
				}
			}
			seen[id] = true
		}
	}
	if onlyAssigned {
		v.add(fp, "needs at least one person besides %q, or leads without one reach nobody", Assigned)
	}
}

// personDefined reports whether id names a person, even one with another problem
// (such as a duplicate id), which is reported once, at the person.
func (d *Dealer) personDefined(id string) bool {
	return slices.ContainsFunc(d.People, func(p Person) bool { return p.ID == id })
}

// checkName reports a display name that could garble a line or a prompt.
func checkName(v *validator, path, name string) {
	switch {
	case strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		v.add(path, "contains a control character")
	case utf8.RuneCountInString(name) > 100:
		v.add(path, "longer than 100 characters")
	}
}

// positive returns def for zero and reports a negative duration.
func positive(v *validator, path string, got, def time.Duration) time.Duration {
	switch {
	case got == 0:
		return def
	case got < 0:
		v.add(path, "must be positive")
	}
	return got
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// validID reports whether s is 1..maxLen letters, digits, '-', '_', '.' or extra.
func validID(s string, maxLen int, extra string) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// checkListen returns what is wrong with a listen address, or "".
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. \":8080\" or \"0.0.0.0:5060\")", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return fmt.Sprintf("bad port %q: use 0-65535", port)
	}
	if host == "" || phone.ValidHost(host) {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		return ""
	}
	return fmt.Sprintf("bad host %q", host)
}

// parsePorts reads "10000-20000".
func parsePorts(s string) (lo, hi int, msg string) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return 0, 0, fmt.Sprintf("%q is not a range like %q", s, DefaultRTPPorts)
	case lo < 1024 || hi > 65535:
		return 0, 0, fmt.Sprintf("%q: ports must be between 1024 and 65535", s)
	case lo > hi:
		return 0, 0, fmt.Sprintf("%q: start is above end", s)
	case hi-lo+1 < 2:
		return 0, 0, fmt.Sprintf("%q: the range must hold at least 2 ports (RTP and RTCP)", s)
	case lo%2 != 0:
		return 0, 0, fmt.Sprintf("%q: start must be even (RTP uses even ports), e.g. %d-%d", s, lo-1, hi)
	}
	return lo, hi, ""
}

// parseStore returns the driver and DSN of a store URL. Messages never repeat a
// postgres URL, which may hold a password.
func parseStore(s string) (driver, dsn, msg string) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", "", "not a URL: use sqlite://FILE or postgres://…"
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		if rest == "" {
			return "", "", "sqlite:// needs a file name, e.g. sqlite://leadline.db"
		}
		return "sqlite", rest, ""
	case "postgres", "postgresql":
		u, err := url.Parse(s)
		if err != nil || u.Opaque != "" {
			return "", "", "not a valid postgres:// URL"
		}
		return "postgres", s, ""
	}
	return "", "", fmt.Sprintf("unsupported scheme %q (use sqlite:// or postgres://)", scheme)
}

// whisperFuncs are the template functions a whisper may call; printf and friends
// could make a whisper expensive to render.
var whisperFuncs = []string{"and", "or", "not", "eq", "ne", "len", "print"}

// maxWhisper bounds a rendered whisper, in bytes.
const maxWhisper = 1000

type whisperSample struct {
	Name, Phone, Source, Interest, Message, Email, Dealer, Person string
}

// compileWhisper parses a whisper template and proves it renders: only the known
// fields and functions, no range or define, and a bounded output, both for a lead
// with every field set and for one with none.
func compileWhisper(text string) (*template.Template, string) {
	t, err := template.New("whisper").Parse(text)
	if err != nil {
		return nil, err.Error()
	}
	if len(t.Templates()) != 1 {
		return nil, "define and block are not allowed"
	}
	if msg := checkNodes(t.Root); msg != "" {
		return nil, msg
	}
	full := whisperSample{
		Name: "Eva Jansen", Phone: "+31612345678", Source: "website", Interest: "Volvo XC60",
		Message: "Can I come by on Saturday?", Email: "eva@example.com", Dealer: "Autohuis Jansen", Person: "Piet",
	}
	for _, data := range []whisperSample{full, {}} {
		w := &limitWriter{max: maxWhisper}
		if err := t.Execute(w, data); err != nil {
			if w.over {
				return nil, fmt.Sprintf("renders longer than %d characters", maxWhisper)
			}
			return nil, err.Error()
		}
	}
	return t, ""
}

func checkNodes(n parse.Node) string {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if msg := checkNodes(c); msg != "" {
				return msg
			}
		}
	case *parse.ActionNode:
		return checkNodes(n.Pipe)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	case *parse.RangeNode:
		return "range is not allowed"
	case *parse.TemplateNode:
		return "template is not allowed"
	case *parse.PipeNode:
		if n == nil {
			return ""
		}
		for _, cmd := range n.Cmds {
			for _, arg := range cmd.Args {
				if msg := checkNodes(arg); msg != "" {
					return msg
				}
			}
		}
	case *parse.FieldNode:
		if !slices.Contains(WhisperFields, n.Ident[0]) {
			return fmt.Sprintf("unknown field .%s (use .%s)", n.Ident[0], strings.Join(WhisperFields, ", ."))
		}
		if len(n.Ident) > 1 {
			return fmt.Sprintf(".%s has no fields", n.Ident[0])
		}
	case *parse.ChainNode:
		return "field chains are not allowed"
	case *parse.IdentifierNode:
		if !slices.Contains(whisperFuncs, n.Ident) {
			return fmt.Sprintf("function %q is not allowed (use %s)", n.Ident, strings.Join(whisperFuncs, ", "))
		}
	case *parse.VariableNode:
		switch {
		case len(n.Ident) == 1:
		case n.Ident[0] == "$" && len(n.Ident) == 2 && slices.Contains(WhisperFields, n.Ident[1]):
		case n.Ident[0] == "$" && len(n.Ident) == 2:
			return fmt.Sprintf("unknown field .%s (use .%s)", n.Ident[1], strings.Join(WhisperFields, ", ."))
		default:
			return fmt.Sprintf("%s has no fields", strings.Join(n.Ident[:len(n.Ident)-1], "."))
		}
	}
	return ""
}

func checkBranch(b *parse.BranchNode) string {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if msg := checkNodes(n); msg != "" {
			return msg
		}
	}
	return ""
}

// limitWriter fails once more than max bytes are written.
type limitWriter struct {
	n, max int
	over   bool
}

var errTooLong = errors.New("too long")

func (w *limitWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.max {
		w.over = true
		return 0, errTooLong
	}
	return len(p), nil
}
