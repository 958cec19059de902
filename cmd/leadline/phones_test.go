package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// startPhones runs `leadline phones args…` in-process until the test ends and returns
// the URI it printed for each phone.
func startPhones(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"phones"}, args...), func(string) string { return "" }, pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("phones exited %d: %s", code, stderr.String())
			}
		case <-time.After(5 * time.Second):
			t.Error("phones did not stop within 5 s of its context ending")
		}
	})

	uris := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The header, one line per phone; the output is then silent until the end.
	for header := false; ; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("phones stopped early; stderr:\n%s", stderr.String())
			}
			if !header {
				header = strings.HasPrefix(l, "leadline phones: ")
				continue
			}
			f := strings.Fields(l)
			if len(f) < 2 || !strings.HasPrefix(f[1], "sip:") {
				t.Fatalf("unexpected phones line %q", l)
			}
			uris[f[0]] = f[1]
		case <-time.After(500 * time.Millisecond):
			if len(uris) == 0 {
				t.Fatalf("phones printed no URI; stderr:\n%s", stderr.String())
			}
			go func() { // drain the pipe so that the command never blocks
				for range lines {
				}
			}()
			return uris
		}
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPhonesAnswerLeadline rings the phones of a phones process with Leadline's own SIP
// user agent, directly and through the simulated carrier.
func TestPhonesAnswerLeadline(t *testing.T) {
	cfg := writeFile(t, "phones.yaml", `
phones:
  - {name: piet, role: presses 1, ring: 100ms, key: "1", key_after: 300ms, tone: 700}
  - name: carrier
    ring: 100ms
    tone: 500
    numbers:
      "+31612345678": {ring: 50ms, code: 486}
`)
	uris := startPhones(t, "--config", cfg, "--listen", "127.0.0.1")
	if !strings.HasPrefix(uris["piet"], "sip:piet@127.0.0.1:") || uris["carrier"] == "" {
		t.Fatalf("URIs %v", uris)
	}
	trunk := "sip:" + strings.TrimPrefix(uris["carrier"], "sip:carrier@")
	ua, err := sip.Listen(sip.Config{Listen: "127.0.0.1:0", RTPPortMin: 42000, RTPPortMax: 42999, TrunkURI: trunk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	t.Run("salesperson presses 1", func(t *testing.T) {
		leg, err := ua.Dial(ctx, uris["piet"], dialer.DialOpts{LeadID: "lead-1", Kind: dialer.LegAgent, CallerID: "+31201234567"})
		if err != nil {
			t.Fatalf("dial piet: %v", err)
		}
		defer leg.Hangup(context.WithoutCancel(ctx))
		select {
		case k := <-leg.Digits():
			if k != '1' {
				t.Errorf("piet pressed %q, want 1", k)
			}
		case <-ctx.Done():
			t.Fatal("piet pressed nothing")
		}
	})
	t.Run("customer answers through the carrier", func(t *testing.T) {
		leg, err := ua.Dial(ctx, "+31698765432", dialer.DialOpts{LeadID: "lead-1", Kind: dialer.LegCustomer, CallerID: "+31201234567"})
		if err != nil {
			t.Fatalf("dial customer: %v", err)
		}
		if err := leg.Hangup(ctx); err != nil {
			t.Errorf("hangup: %v", err)
		}
	})
	t.Run("per-number behaviour", func(t *testing.T) {
		leg, err := ua.Dial(ctx, "+31612345678", dialer.DialOpts{LeadID: "lead-2", Kind: dialer.LegCustomer, CallerID: "+31201234567"})
		if !errors.Is(err, dialer.ErrBusy) {
			if leg != nil {
				leg.Hangup(ctx)
			}
			t.Fatalf("dial busy customer: %v, want ErrBusy", err)
		}
	})
}

// TestPhonesComposeCast keeps the built-in cast, deploy/phones.yaml and
// deploy/leadline.yaml in step: every person and the trunk ring one of the phones.
func TestPhonesComposeCast(t *testing.T) {
	builtin, err := simphone.ParseCast([]byte(simphone.DefaultCast))
	if err != nil {
		t.Fatalf("built-in cast: %v", err)
	}
	data, err := os.ReadFile("../../deploy/phones.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file, err := simphone.ParseCast(data)
	if err != nil {
		t.Fatalf("deploy/phones.yaml: %v", err)
	}
	if !reflect.DeepEqual(builtin, file) {
		t.Errorf("deploy/phones.yaml differs from the built-in cast (simphone.DefaultCast)")
	}
	uris := map[string]bool{}
	for _, p := range file.Phones {
		uris[fmt.Sprintf("sip:%s@%s:%d", p.Name, file.Listen, p.Port)] = true
	}
	env := map[string]string{"POSTGRES_PASSWORD": "x", "JANSEN_API_KEY": "k1-0123456789abcdef", "BAKKER_API_KEY": "k2-0123456789abcdef"}
	cfg, err := config.Load("../../deploy/leadline.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("deploy/leadline.yaml: %v", err)
	}
	for _, d := range cfg.Dealers {
		for _, p := range d.People {
			if !uris[p.Target.String()] {
				t.Errorf("dealer %s person %s rings %s, which is no phone in deploy/phones.yaml", d.ID, p.ID, p.Target)
			}
		}
	}
	if trunk := cfg.SIP.Trunk.URI; trunk != fmt.Sprintf("sip:%s:5080", file.Listen) || !uris["sip:carrier@"+strings.TrimPrefix(trunk, "sip:")] {
		t.Errorf("trunk %s is not the carrier phone", trunk)
	}
}

func TestPhonesBadConfig(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"none", "phones: []", "none defined"},
		{"unknown key", "phones: [{name: a, rings: 1s}]", "field rings not found"},
		{"duplicate name", "phones: [{name: a}, {name: a}]", `"a": used twice`},
		{"duplicate port", "phones: [{name: a, port: 5071}, {name: b, port: 5071}]", "port 5071: used twice"},
		{"bad name", "phones: [{name: 'a b'}]", "letters, digits"},
		{"bad key", "phones: [{name: a, key: '12'}]", "one of 0-9"},
		{"bad key_by", "phones: [{name: a, key: '1', key_by: dtmf}]", "rfc4733, info or inband"},
		{"bad code", "phones: [{name: a, code: 200}]", "300 to 699"},
		{"bad codec", "phones: [{name: a, codec: opus}]", "pcmu or pcma"},
		{"bad number", "phones: [{name: a, numbers: {'+31': {key: x}}}]", `numbers["+31"]: key "x"`},
		{"bad listen", "listen: 0.0.0.0\nphones: [{name: a}]", "specific IPv4"},
		{"bare duration", "phones: [{name: a, ring: 2}]", `"2" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simphone.ParseCast([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPhonesUsage(t *testing.T) {
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"phones", "--listen", "::1"}, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "IPv4") {
		t.Errorf("--listen ::1: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(t.Context(), []string{"phones", "extra"}, nil, &out, &errOut); code != 1 {
		t.Errorf("extra argument: exit %d, stderr %q", code, errOut.String())
	}
}
