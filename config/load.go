package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFile bounds what Load reads; a config with hundreds of dealers is far smaller.
const maxFile = 4 << 20

// Load reads the YAML file at path and returns it parsed and validated; see Parse.
func Load(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("read config %s: larger than %d MiB", path, maxFile>>20)
	}
	c, err := Parse(data, getenv)
	if ve, ok := errors.AsType[*ValidationError](err); ok {
		ve.File = path // its lines now say file:line: path: message
	}
	return c, err
}

// Parse reads a YAML configuration, applies defaults and the environment, and calls
// Validate.
//
// getenv looks up environment variables (pass os.Getenv; nil means an empty
// environment). ${NAME} in any value is replaced by getenv("NAME") before the value is
// read; an unset variable gives "", and $${ gives a literal ${. Then the non-empty
// LEADLINE_* overrides replace top-level scalars: LEADLINE_NODE_ID, LEADLINE_LOG_FORMAT,
// LEADLINE_LOG_LEVEL, LEADLINE_HTTP_LISTEN, LEADLINE_SIP_LISTEN,
// LEADLINE_SIP_EXTERNAL_HOST, LEADLINE_STORE and LEADLINE_EMAIL_LISTEN (EnvOverrides).
//
// Every problem (unknown keys and wrong types as well as Validate's rules) is returned
// in one *ValidationError; the Config is returned only when there are none.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	d := newDecoder(getenv)
	c := Default()
	c.meta = d.meta

	var root yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	switch err := decode(dec, &root); {
	case errors.Is(err, io.EOF):
		// An empty file: all defaults, and Validate says that dealers are missing.
	case err != nil:
		return nil, &ValidationError{Problems: []Problem{{Message: yamlError(err), Line: yamlLine(err)}}}
	default:
		var extra yaml.Node
		if err := decode(dec, &extra); !errors.Is(err, io.EOF) {
			line := 0
			if err == nil {
				line = extra.Line
			}
			return nil, &ValidationError{Problems: []Problem{{Message: "more than one YAML document (---); put everything in one", Line: line}}}
		}
		doc := &root
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			doc = doc.Content[0]
		}
		d.root(doc, c)
	}
	if d.exhausted() {
		return nil, &ValidationError{Problems: d.problems}
	}
	applyEnv(c, getenv, d.meta)

	problems := d.problems
	if err := c.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		problems = append(problems, ve.Problems...)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return c, nil
}

// decode runs the YAML parser, turning a panic inside it into an error: a
// configuration file must never crash `leadline check`.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse this file: %v", r)
		}
	}()
	return dec.Decode(n)
}

// EnvOverrides lists the LEADLINE_* variables and the settings they replace, as
// "LEADLINE_X  path" lines, for help texts.
func EnvOverrides() []string {
	out := make([]string, len(envOverrides))
	for i, o := range envOverrides {
		out[i] = fmt.Sprintf("%-27s %s", o.name, o.path)
	}
	return out
}

// envOverrides are the LEADLINE_* variables and the paths they replace.
var envOverrides = []struct {
	name, path string
	field      func(*Config) *string
}{
	{"LEADLINE_NODE_ID", "node_id", func(c *Config) *string { return &c.NodeID }},
	{"LEADLINE_LOG_FORMAT", "log.format", func(c *Config) *string { return &c.Log.Format }},
	{"LEADLINE_LOG_LEVEL", "log.level", func(c *Config) *string { return &c.Log.Level }},
	{"LEADLINE_HTTP_LISTEN", "http.listen", func(c *Config) *string { return &c.HTTP.Listen }},
	{"LEADLINE_SIP_LISTEN", "sip.listen", func(c *Config) *string { return &c.SIP.Listen }},
	{"LEADLINE_SIP_EXTERNAL_HOST", "sip.external_host", func(c *Config) *string { return &c.SIP.ExternalHost }},
	{"LEADLINE_STORE", "store", func(c *Config) *string { return &c.Store }},
	{"LEADLINE_EMAIL_LISTEN", "email.listen", func(c *Config) *string { return &c.Email.Listen }},
}

func applyEnv(c *Config, getenv func(string) string, m *meta) {
	for _, o := range envOverrides {
		if v := getenv(o.name); v != "" {
			*o.field(c) = v
			m.env[o.path] = o.name
			delete(m.failed, o.path)
			delete(m.unset, o.path)
		}
	}
}

// yamlError makes a syntax error from the YAML library read as ours.
func yamlError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// yamlLine digs the line number out of a YAML syntax error, or returns 0.
func yamlLine(err error) int {
	var line int
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr != nil {
		return 0
	}
	return line
}
