package simphone

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/media"
)

// Cast is a set of simulated phones, as `leadline phones` reads it from YAML
// (deploy/phones.yaml).
type Cast struct {
	// Listen is the IPv4 address every phone listens on; --listen replaces it.
	Listen string      `yaml:"listen"`
	Phones []PhoneSpec `yaml:"phones"`
}

// PhoneSpec is one simulated phone.
type PhoneSpec struct {
	Name          string `yaml:"name"` // the SIP user part
	Port          int    `yaml:"port"` // 0: a free port
	Role          string `yaml:"role"` // printed beside the URI
	BehaviourSpec `yaml:",inline"`
	// Numbers overrides the behaviour per called user (an E.164 number when the phone
	// stands in for the carrier that customers are called through).
	Numbers map[string]BehaviourSpec `yaml:"numbers"`
}

// BehaviourSpec is Behaviour as YAML writes it.
type BehaviourSpec struct {
	Ring       Duration `yaml:"ring"`
	Never      bool     `yaml:"never"`
	Code       int      `yaml:"code"`
	Codec      string   `yaml:"codec"` // pcmu (default) or pcma
	Key        string   `yaml:"key"`   // one of 0-9 * #
	KeyAfter   Duration `yaml:"key_after"`
	KeyBy      string   `yaml:"key_by"` // rfc4733 (default), info or inband
	Tone       float64  `yaml:"tone"`
	Mute       bool     `yaml:"mute"`
	HangUp     Duration `yaml:"hang_up"`
	EarlyMedia bool     `yaml:"early_media"`
}

// Duration is a Go duration written as a string ("1500ms"); a bare number is an error,
// as in Leadline's own configuration.
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 2s or 1500ms", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// DefaultCast is the cast `leadline phones` runs without --config: the people of
// deploy/leadline.yaml and the carrier its trunk points at. deploy/phones.yaml is the
// same file (a test keeps them equal).
const DefaultCast = `
listen: 127.0.0.1
phones:
  - {name: piet,  port: 5071, role: "answers and presses 1", ring: 2s, key: "1", key_after: 3s, tone: 700}
  - {name: anna,  port: 5072, role: "lets voicemail answer (no key)", ring: 2s, tone: 300}
  - {name: sanne, port: 5073, role: "does not pick up", never: true}
  - {name: tom,   port: 5074, role: "answers and presses 1 (SIP INFO)", ring: 3s, key: "1", key_after: 2s, key_by: info, tone: 700}
  - {name: lisa,  port: 5075, role: "answers and presses 2 (passes the lead on)", ring: 1500ms, key: "2", key_after: 2s, tone: 400}
  - {name: jan,   port: 5076, role: "owner: answers and presses 1", ring: 1s, key: "1", key_after: 2s, tone: 650}
  - {name: kees,  port: 5077, role: "is busy (486)", ring: 500ms, code: 486}
  - {name: henk,  port: 5078, role: "owner: answers and presses 1 (in-band tone)", ring: 1500ms, key: "1", key_after: 2s, key_by: inband, tone: 600}
  - name: carrier
    port: 5080
    role: "the trunk: customers answer after 2 s and hang up after 30 s; +31687654321 never answers"
    ring: 2s
    tone: 500
    hang_up: 30s
    numbers:
      "+31687654321": {never: true}
`

// ParseCast reads and checks a phones file.
func ParseCast(data []byte) (*Cast, error) {
	var pf Cast
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil {
		return nil, err
	}
	var errs []error
	var err error
	if pf.Listen, err = ListenIP(cmp.Or(pf.Listen, "127.0.0.1")); err != nil {
		errs = append(errs, err)
	}
	if len(pf.Phones) == 0 {
		errs = append(errs, errors.New("phones: none defined"))
	}
	names := map[string]bool{}
	ports := map[int]bool{}
	for i, s := range pf.Phones {
		at := fmt.Sprintf("phones[%d]", i)
		switch {
		case !phoneName.MatchString(s.Name):
			errs = append(errs, fmt.Errorf("%s.name %q: letters, digits, -_. only, at most 64", at, s.Name))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("%s.name %q: used twice", at, s.Name))
		}
		names[s.Name] = true
		switch {
		case s.Port < 0 || s.Port > 65535:
			errs = append(errs, fmt.Errorf("%s.port %d: 0 (any free port) to 65535", at, s.Port))
		case s.Port != 0 && ports[s.Port]:
			errs = append(errs, fmt.Errorf("%s.port %d: used twice", at, s.Port))
		}
		ports[s.Port] = true
		if _, err := s.Behaviour(); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", at, s.Name, err))
		}
		for _, user := range slices.Sorted(maps.Keys(s.Numbers)) {
			if _, err := s.Numbers[user].Behaviour(); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s) numbers[%q]: %w", at, s.Name, user, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &pf, nil
}

var phoneName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ListenIP checks a phones listen address: a specific IPv4 address.
func ListenIP(s string) (string, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() || ip.IsUnspecified() {
		return "", fmt.Errorf("phones listen %q: need a specific IPv4 address such as 127.0.0.1", s)
	}
	return ip.String(), nil
}

// Behaviour converts and checks b.
func (b BehaviourSpec) Behaviour() (Behaviour, error) {
	out := Behaviour{
		Ring: time.Duration(b.Ring), Never: b.Never, Code: b.Code, KeyAfter: time.Duration(b.KeyAfter),
		KeyBy: b.KeyBy, Tone: b.Tone, Mute: b.Mute, HangUp: time.Duration(b.HangUp), EarlyMedia: b.EarlyMedia,
	}
	var errs []error
	switch strings.ToLower(b.Codec) {
	case "", "pcmu":
		out.Codec = media.PCMU
	case "pcma":
		out.Codec = media.PCMA
	default:
		errs = append(errs, fmt.Errorf("codec %q: pcmu or pcma", b.Codec))
	}
	switch {
	case b.Key == "":
	case len(b.Key) == 1 && strings.Contains("0123456789*#", b.Key):
		out.Key = rune(b.Key[0])
	default:
		errs = append(errs, fmt.Errorf("key %q: one of 0-9 * #", b.Key))
	}
	switch b.KeyBy {
	case "", "rfc4733", "info", "inband":
	default:
		errs = append(errs, fmt.Errorf("key_by %q: rfc4733, info or inband", b.KeyBy))
	}
	if b.Code != 0 && (b.Code < 300 || b.Code > 699) {
		errs = append(errs, fmt.Errorf("code %d: a final non-2xx SIP status, 300 to 699", b.Code))
	}
	if b.Ring < 0 || b.KeyAfter < 0 || b.HangUp < 0 {
		errs = append(errs, errors.New("ring, key_after and hang_up may not be negative"))
	}
	if b.Tone < 0 || b.Tone >= 4000 {
		errs = append(errs, fmt.Errorf("tone %g: 0 (silence) or a frequency below 4000 Hz", b.Tone))
	}
	return out, errors.Join(errs...)
}

// Describe says in words what a phone with behaviour b does, for phones without a role.
func (b BehaviourSpec) Describe() string {
	switch {
	case b.Never:
		return "never answers"
	case b.Code != 0:
		return "refuses with " + strconv.Itoa(b.Code)
	case b.Key != "":
		return fmt.Sprintf("answers after %s and presses %s", b.Ring, b.Key)
	}
	return fmt.Sprintf("answers after %s, presses nothing", b.Ring)
}

// Start starts every phone of c on its Listen address, each with its numbers'
// behaviours; the caller closes them. On an error the phones started so far are closed.
func (c *Cast) Start(log *slog.Logger) ([]*Phone, error) {
	phones := make([]*Phone, 0, len(c.Phones))
	for _, s := range c.Phones {
		b, err := s.Behaviour()
		if err != nil {
			return closeAll(phones), err
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr(c.Listen), uint16(s.Port)).String()
		p, err := NewPhoneAt(s.Name, addr, b, log)
		if err != nil {
			return closeAll(phones), err
		}
		phones = append(phones, p)
		for user, bs := range s.Numbers {
			nb, err := bs.Behaviour()
			if err != nil {
				return closeAll(phones), err
			}
			p.Behave(user, nb)
		}
	}
	return phones, nil
}

func closeAll(phones []*Phone) []*Phone {
	for _, p := range phones {
		p.Close()
	}
	return nil
}
