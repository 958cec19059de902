package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// meta records where values came from, so messages can point at them.
type meta struct {
	lines  map[string]int      // path → line in the file
	unset  map[string][]string // path → ${VARS} in its value that were unset
	env    map[string]string   // path → LEADLINE_* variable that replaced it
	failed map[string]bool     // paths whose value could not be decoded
}

// decoder walks the YAML node tree onto a Config. Walking nodes rather than
// unmarshalling keeps each value's path and line, and lets unknown keys be reported
// where they are.
type decoder struct {
	getenv   func(string) string
	meta     *meta
	problems []Problem
	visits   int
}

// exhausted reports whether the walk stopped at maxVisits.
func (d *decoder) exhausted() bool { return d.visits >= maxVisits }

// maxVisits bounds the walk: aliases can make a small file expand enormously.
const maxVisits = 1 << 18

func newDecoder(getenv func(string) string) *decoder {
	return &decoder{getenv: getenv, meta: &meta{
		lines:  map[string]int{},
		unset:  map[string][]string{},
		env:    map[string]string{},
		failed: map[string]bool{},
	}}
}

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.meta.failed[path] = true
	d.problems = append(d.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Line: line})
}

// resolve follows aliases and counts the visit; nil means the walk must stop.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			d.fail(path, n.Line, "alias refers to itself")
			return nil
		}
		n = n.Alias
	}
	d.visits++
	if d.visits == maxVisits {
		d.fail(path, 0, "the document expands to too many values (aliases?)")
	}
	if n == nil || d.visits >= maxVisits {
		return nil
	}
	d.meta.lines[path] = n.Line
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

type field func(n *yaml.Node, path string)

// object decodes a mapping: each key goes to its field in document order; unknown and
// repeated keys are problems. Merge keys (<<: *anchor) are followed; the mapping's own
// keys win over merged ones. A null node leaves everything as it was.
func (d *decoder) object(n *yaml.Node, path string, fields map[string]field) {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "expected a mapping (key: value), got %s", kindName(n))
		return
	}
	seen := map[string]int{} // key → line of its first occurrence
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "keys must be plain names, not %s", kindName(k))
			continue
		}
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(p, k.Line, "duplicate key (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.field(fields, k, v, path)
	}
	for _, m := range merges {
		d.merge(m, path, fields, seen, 0)
	}
}

func (d *decoder) field(fields map[string]field, k, v *yaml.Node, path string) {
	p := join(path, k.Value)
	f, ok := fields[k.Value]
	if !ok && path == "" && strings.HasPrefix(k.Value, "x-") {
		return // top-level x-… keys hold anchors for the rest of the file
	}
	if !ok {
		hint := suggest(k.Value, fields)
		d.fail(p, k.Line, "unknown key%s", hint.text())
		if hint != "" {
			// Whatever the misspelt key was meant to set is reported already.
			d.meta.failed[join(path, string(hint))] = true
		}
		return
	}
	f(v, p)
}

// merge applies the keys of a merged mapping (or list of them) not already seen.
func (d *decoder) merge(m *yaml.Node, path string, fields map[string]field, seen map[string]int, depth int) {
	m = d.resolve(m, path)
	if m == nil {
		return
	}
	switch {
	case depth > 10:
		d.fail(path, m.Line, "merge keys nested too deeply")
	case m.Kind == yaml.SequenceNode && depth == 0:
		for _, item := range m.Content {
			d.merge(item, path, fields, seen, depth+1)
		}
	case m.Kind == yaml.MappingNode:
		var nested []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				nested = append(nested, v)
				continue
			}
			if k.Kind != yaml.ScalarNode {
				d.fail(path, k.Line, "keys must be plain names, not %s", kindName(k))
				continue
			}
			if _, dup := seen[k.Value]; dup {
				continue
			}
			seen[k.Value] = k.Line
			d.field(fields, k, v, path)
		}
		for _, n := range nested {
			d.merge(n, path, fields, seen, depth+1)
		}
	default:
		d.fail(path, m.Line, "<< must merge a mapping or a list of mappings")
	}
}

// suggestion is a known key close to an unknown one, or "".
type suggestion string

func (s suggestion) text() string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", string(s))
}

// suggest returns the known key closest to key, within two edits.
func suggest(key string, fields map[string]field) suggestion {
	best, bestDist := "", 3
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	slices.Sort(known)
	for _, k := range known {
		if dist := editDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return suggestion(best)
}

// editDistance is the Levenshtein distance, capped for long inputs.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// scalar returns a scalar's text with ${VARS} expanded. ok is false for null (the
// field keeps its default) and for anything that is not a scalar (a problem).
func (d *decoder) scalar(n *yaml.Node, path, want string) (s string, ok bool) {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "expected %s, got %s", want, kindName(n))
		return "", false
	}
	return d.expand(n.Value, path, n.Line)
}

// expand replaces ${NAME} with its value from the environment and $${ with ${.
func (d *decoder) expand(s, path string, line int) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			d.fail(path, line, "unclosed ${ (write $${ for a literal ${)")
			return "", false
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			d.fail(path, line, "bad variable reference %q: use ${NAME} with letters, digits and _", s[i:i+end+1])
			return "", false
		}
		v := d.getenv(name)
		if v == "" && !slices.Contains(d.meta.unset[path], name) {
			d.meta.unset[path] = append(d.meta.unset[path], name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (d *decoder) str(dst *string) field {
	return func(n *yaml.Node, path string) {
		if s, ok := d.scalar(n, path, "a string"); ok {
			*dst = s
		}
	}
}

// duration reads a Go duration; empty keeps the default.
func (d *decoder) duration(dst *time.Duration) field {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, `a duration such as "20s"`)
		if !ok || s == "" {
			return
		}
		v, err := time.ParseDuration(s)
		switch {
		case err != nil && strings.Contains(err.Error(), "missing unit"):
			d.fail(path, n.Line, "%v (write e.g. \"%ss\")", err, s)
		case err != nil:
			d.fail(path, n.Line, "%v", err)
		case v <= 0:
			d.fail(path, n.Line, "must be positive")
		default:
			*dst = v
		}
	}
}

// list calls each for every item of a sequence; null leaves dst alone.
func (d *decoder) list(n *yaml.Node, path, want string, each func(i int, item *yaml.Node, path string)) bool {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return false
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(path, n.Line, "expected a list of %s, got %s", want, kindName(n))
		return false
	}
	for i, item := range n.Content {
		each(i, item, index(path, i))
	}
	return true
}

func (d *decoder) strings(dst *[]string) field {
	return func(n *yaml.Node, path string) {
		var out []string
		if d.list(n, path, "strings", func(_ int, item *yaml.Node, p string) {
			s, _ := d.scalar(item, p, "a string")
			out = append(out, s)
		}) {
			*dst = out
		}
	}
}

func (d *decoder) root(n *yaml.Node, c *Config) {
	d.object(n, "", withFields(map[string]field{
		"node_id":        d.str(&c.NodeID),
		"takeover_after": d.duration(&c.TakeoverAfter),
		"log": func(n *yaml.Node, p string) {
			d.object(n, p, map[string]field{
				"format": d.str(&c.Log.Format),
				"level":  d.str(&c.Log.Level),
			})
		},
		"http": func(n *yaml.Node, p string) {
			d.object(n, p, withFields(map[string]field{"listen": d.str(&c.HTTP.Listen)}, d.securityHTTPFields(c)))
		},
		"sip": func(n *yaml.Node, p string) {
			d.object(n, p, withFields(map[string]field{
				"listen":        d.str(&c.SIP.Listen),
				"external_host": d.str(&c.SIP.ExternalHost),
				"rtp_ports":     d.str(&c.SIP.RTPPorts),
				"media_timeout": d.duration(&c.SIP.MediaTimeout),
			}, d.trunkSIPFields(c), d.sipTLSFields(c)))
		},
		"store": d.str(&c.Store),
		"tts": func(n *yaml.Node, p string) {
			d.object(n, p, map[string]field{
				"engine": d.str(&c.TTS.Engine),
				"dir":    d.str(&c.TTS.Dir),
			})
		},
		"dealers": func(n *yaml.Node, p string) {
			c.Dealers = []Dealer{}
			d.list(n, p, "dealers", func(_ int, item *yaml.Node, p string) {
				c.Dealers = append(c.Dealers, d.dealer(item, p))
			})
		},
	}, d.securityRootFields(c), d.emailRootFields(c), d.webhooksRootFields(c), d.recordingRootFields(c)))
}

func (d *decoder) dealer(n *yaml.Node, path string) Dealer {
	dl := defaultDealer()
	if r := d.resolve(n, path); r != nil && isNull(r) {
		d.fail(path, r.Line, "empty dealer")
		return dl
	}
	d.object(n, path, withFields(map[string]field{
		"id":                    d.str(&dl.ID),
		"name":                  d.str(&dl.Name),
		"api_keys":              d.strings(&dl.APIKeys),
		"timezone":              d.str(&dl.Timezone),
		"language":              d.str(&dl.Language),
		"country":               d.str(&dl.Country),
		"caller_id":             d.str(&dl.CallerID),
		"ring_timeout":          d.duration(&dl.RingTimeout),
		"accept_timeout":        d.duration(&dl.AcceptTimeout),
		"customer_ring_timeout": d.duration(&dl.CustomerRingTimeout),
		"max_call_length":       d.duration(&dl.MaxCallLength),
		"whisper":               d.str(&dl.Whisper),
		"people": func(n *yaml.Node, p string) {
			dl.People = []Person{}
			d.list(n, p, "people", func(_ int, item *yaml.Node, p string) {
				var pr Person
				d.object(item, p, withFields(map[string]field{
					"id":    d.str(&pr.ID),
					"name":  d.str(&pr.Name),
					"phone": d.str(&pr.Phone),
					"hours": d.timetable(&pr.Hours),
				}, d.softphoneFields(&pr), d.personSRTPFields(&pr)))
				dl.People = append(dl.People, pr)
			})
		},
		"flow": func(n *yaml.Node, p string) {
			dl.Flow = []Step{}
			d.list(n, p, "steps", func(_ int, item *yaml.Node, p string) {
				dl.Flow = append(dl.Flow, d.step(item, p))
			})
		},
	}, d.securityDealerFields(&dl), d.scheduleDealerFields(&dl), d.emailDealerFields(&dl), d.identityDealerFields(&dl),
		d.webhooksDealerFields(&dl), d.outcomeDealerFields(&dl), d.mailoutDealerFields(&dl), d.recordingDealerFields(&dl)))
	return dl
}

// step reads a flow item: a person id (or "assigned"), a list of person ids, or a
// mapping round_robin: list of person ids.
func (d *decoder) step(n *yaml.Node, path string) Step {
	r := d.resolve(n, path)
	switch {
	case r == nil:
		return Step{}
	case isNull(r):
		d.fail(path, r.Line, "empty step: write a person id or a list of them")
		return Step{}
	case r.Kind == yaml.ScalarNode:
		s, _ := d.scalar(r, path, "a person id")
		return Step{People: []string{s}}
	case r.Kind == yaml.SequenceNode:
		return Step{People: d.people(r, path)}
	case r.Kind == yaml.MappingNode:
		st := Step{RoundRobin: true}
		d.object(r, path, map[string]field{
			"round_robin": func(n *yaml.Node, p string) {
				if n = d.resolve(n, p); n == nil {
					return
				}
				if n.Kind != yaml.SequenceNode {
					d.fail(p, n.Line, "expected a list of person ids, got %s", kindName(n))
					return
				}
				st.People = d.people(n, p)
			},
		})
		if st.People == nil {
			d.meta.failed[path] = true // reported already, or nothing to rotate
			if len(r.Content) == 0 {
				d.fail(path, r.Line, "empty step: write round_robin: [person, …]")
			}
		}
		return st
	}
	d.fail(path, r.Line, "expected a person id, a list of person ids or round_robin: […], got %s", kindName(r))
	return Step{}
}

// people reads the person ids of a ring group or round robin.
func (d *decoder) people(r *yaml.Node, path string) []string {
	s := []string{}
	for i, item := range r.Content {
		before := len(d.problems)
		id, _ := d.scalar(item, index(path, i), "a person id")
		if len(d.problems) == before {
			s = append(s, id)
		}
	}
	if len(s) == 0 && len(r.Content) > 0 {
		d.meta.failed[path] = true // every member is reported already
	}
	return s
}
