package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/sip/media"
	"github.com/leadline/leadline/sip/siptest"
)

// phonesFile is the phones command's configuration (deploy/phones.yaml).
type phonesFile struct {
	// Listen is the IPv4 address every phone listens on; --listen replaces it.
	Listen string      `yaml:"listen"`
	Phones []phoneSpec `yaml:"phones"`
}

// phoneSpec is one simulated phone.
type phoneSpec struct {
	Name          string `yaml:"name"` // the SIP user part
	Port          int    `yaml:"port"` // 0: a free port
	Role          string `yaml:"role"` // printed beside the URI
	behaviourSpec `yaml:",inline"`
	// Numbers overrides the behaviour per called user (an E.164 number when the phone
	// stands in for the carrier that customers are called through).
	Numbers map[string]behaviourSpec `yaml:"numbers"`
}

// behaviourSpec is siptest.Behaviour as YAML writes it.
type behaviourSpec struct {
	Ring       duration `yaml:"ring"`
	Never      bool     `yaml:"never"`
	Code       int      `yaml:"code"`
	Codec      string   `yaml:"codec"` // pcmu (default) or pcma
	Key        string   `yaml:"key"`   // one of 0-9 * #
	KeyAfter   duration `yaml:"key_after"`
	KeyBy      string   `yaml:"key_by"` // rfc4733 (default), info or inband
	Tone       float64  `yaml:"tone"`
	Mute       bool     `yaml:"mute"`
	HangUp     duration `yaml:"hang_up"`
	EarlyMedia bool     `yaml:"early_media"`
}

// duration is a Go duration written as a string ("1500ms"); a bare number is an error,
// as in Leadline's own configuration.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 2s or 1500ms", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

func (d duration) String() string { return time.Duration(d).String() }

// defaultPhones is the cast `leadline phones` runs without --config: the people of
// deploy/leadline.yaml and the carrier its trunk points at. deploy/phones.yaml is the
// same file (a test keeps them equal).
const defaultPhones = `
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

func phonesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("phones", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: leadline phones [--listen IP] [--config phones.yaml] [-v]\n\n"+
			"Runs simulated SIP phones until interrupted (SIGINT or SIGTERM), printing their URIs.\n"+
			"Without --config it runs the cast of deploy/phones.yaml.\n\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "", "IPv4 `address` the phones listen on (default: the file's listen, else 127.0.0.1)")
	path := fs.String("config", "", "phones `file` (YAML); default: the built-in cast")
	verbose := fs.Bool("v", false, "also log the phones' own warnings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("phones: unexpected argument %q", fs.Arg(0))
	}
	data := []byte(defaultPhones)
	if *path != "" {
		var err error
		if data, err = os.ReadFile(*path); err != nil {
			return err
		}
	}
	pf, err := parsePhones(data)
	if err != nil {
		return fmt.Errorf("phones %s: %w", cmp.Or(*path, "(built in)"), err)
	}
	if *listen != "" {
		if pf.Listen, err = phoneIP(*listen); err != nil {
			return err
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	phoneLog := slog.New(slog.DiscardHandler)
	if *verbose {
		phoneLog = log
	}
	phones := make([]*siptest.Phone, 0, len(pf.Phones))
	defer func() {
		for _, p := range phones {
			p.Close()
		}
	}()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "leadline phones: %d simulated phones on %s; stop with Ctrl-C or SIGTERM\n", len(pf.Phones), pf.Listen)
	for _, s := range pf.Phones {
		b, _ := s.behaviourSpec.behaviour()
		addr := netip.AddrPortFrom(netip.MustParseAddr(pf.Listen), uint16(s.Port)).String()
		p, err := siptest.NewPhoneAt(s.Name, addr, b, phoneLog)
		if err != nil {
			return err
		}
		phones = append(phones, p)
		for user, bs := range s.Numbers {
			nb, _ := bs.behaviour()
			p.Behave(user, nb)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, p.URI(), cmp.Or(s.Role, describe(s.behaviourSpec)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	watchCalls(ctx, log, phones)
	return ctx.Err()
}

// watchCalls logs each call the phones receive and how it ended, until ctx ends.
func watchCalls(ctx context.Context, log *slog.Logger, phones []*siptest.Phone) {
	type key struct{ phone, call int }
	seen := map[key]bool{}
	ended := map[key]bool{}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, p := range phones {
			for j, c := range p.Calls() {
				k := key{i, j}
				l := log.With("phone", p.Name, "to", c.Invite.Recipient.User,
					"lead_id", c.Header("X-Leadline-Lead"), "call_id", c.Header("Call-ID"))
				if !seen[k] {
					seen[k] = true
					l.Info("ringing", "from", c.Header("From"))
				}
				if ended[k] {
					continue
				}
				select {
				case <-c.Done():
					ended[k] = true
					by := "leadline"
					if c.HungUpByPhone() {
						by = "phone"
					}
					l.Info("call ended", "answered", c.Answered(), "hung_up_by", by, "rtp_packets_heard", c.Packets())
				default:
				}
			}
		}
	}
}

// parsePhones reads and checks a phones file.
func parsePhones(data []byte) (*phonesFile, error) {
	var pf phonesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pf); err != nil {
		return nil, err
	}
	var errs []error
	var err error
	if pf.Listen, err = phoneIP(cmp.Or(pf.Listen, "127.0.0.1")); err != nil {
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
		if _, err := s.behaviour(); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", at, s.Name, err))
		}
		for _, user := range slices.Sorted(maps.Keys(s.Numbers)) {
			if _, err := s.Numbers[user].behaviour(); err != nil {
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

func phoneIP(s string) (string, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is4() || ip.IsUnspecified() {
		return "", fmt.Errorf("phones listen %q: need a specific IPv4 address such as 127.0.0.1", s)
	}
	return ip.String(), nil
}

// behaviour converts and checks b.
func (b behaviourSpec) behaviour() (siptest.Behaviour, error) {
	out := siptest.Behaviour{
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

// describe says in words what a phone with behaviour b does, for phones without a role.
func describe(b behaviourSpec) string {
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
