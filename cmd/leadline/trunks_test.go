package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// RTP ranges of the trunk tests (see harness_test.go).
const (
	rtpFailover        = "25600-25699"
	rtpKamailio        = "25700-25799"
	rtpKamailioRefused = "25800-25899"
)

// trunksOf lists a lead's attempts as "leg:person:result:trunk".
func trunksOf(l leadview.Lead) []string {
	var out []string
	for _, a := range l.Attempts {
		out = append(out, fmt.Sprintf("%s:%s:%s:%s", a.Leg, a.Person, a.Result, a.Trunk))
	}
	return out
}

// TestTrunkFailoverRecorded: the customer's number goes to the first trunk, which
// answers 503; the second carries the call, and the lead's customer attempt says so in
// the API. A salesperson dialled by SIP URI went through no trunk.
func TestTrunkFailoverRecorded(t *testing.T) {
	const customer = "+31612345678"
	broken := newPhone(t, "broken", simphone.Behaviour{Code: 503})
	backup := newPhone(t, "backup", simphone.Behaviour{Never: true})
	backup.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	ta := startTestApp(t, appSpec{
		rtp: rtpFailover,
		trunks: fmt.Sprintf("  trunks:\n    - {name: broken, uri: %q}\n    - {name: backup, uri: %q, caller_id_header: pai}\n",
			"sip:"+broken.Addr().String(), "sip:"+backup.Addr().String()),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	ta.waitFinal(t, id, 30*time.Second)
	var l leadview.Lead
	ta.leadAs(t, id, &l)
	if got, want := strings.Join(trunksOf(l), " "), "agent:piet:accepted: customer:piet:answered:backup"; got != want || l.Status != "completed" {
		t.Errorf("lead %s, attempts %s; want completed, %s", l.Status, got, want)
	}
	if n := len(callsTo(broken, customer)); n != 1 {
		t.Errorf("the broken trunk got %d INVITEs, want 1", n)
	}
	calls := callsTo(backup, customer)
	if len(calls) != 1 {
		t.Fatalf("the backup trunk got %d INVITEs, want 1", len(calls))
	}
	if pai := calls[0].Header("P-Asserted-Identity"); pai != "<sip:"+testCallerID+"@127.0.0.1>" {
		t.Errorf("P-Asserted-Identity %q", pai)
	}
	if h := callsTo(broken, customer)[0].Header("P-Asserted-Identity"); h != "" {
		t.Errorf("the broken trunk (caller_id_header from) got P-Asserted-Identity %q", h)
	}
}

// `leadline check` prints the configuration and warns, exiting 0, about a Belgian
// number presented through trunks not in Belgium and about a dealer that does not list
// the numbers it owns; a caller id the dealer does not own is an error with its path.
func TestCheckTrunkWarnings(t *testing.T) {
	check := func(t *testing.T, yaml string) (int, string, string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "leadline.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"check", "--config", path}, func(string) string { return "" }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	const cfg = `sip:
  trunks:
    - {name: voys, uri: "sip:sip.voys.example", username: "u1", password: "p", register: true, country: NL}
    - {name: telnyx, uri: "sips:sip.telnyx.example", caller_id_header: ppi}
dealers:
  - id: gent
    api_keys: ["gent-key-0123456789abcdef"]
    caller_id: "02 555 12 34"
    country: BE
    caller_ids: ["+3225551234"]
    people: [{id: owner, phone: "+32470123456"}]
    flow: [owner]
  - id: jansen
    api_keys: ["jansen-key-0123456789abcd"]
    caller_id: "+31201234567"
    people: [{id: owner, phone: "+31611111111"}]
    flow: [owner]
`
	code, out, errOut := check(t, cfg)
	if code != 0 {
		t.Fatalf("check exited %d: %s", code, errOut)
	}
	for _, want := range []string{
		`trunk 1         voys: sip:sip.voys.example as "u1", udp, registers (asks for 1h), country NL`,
		`trunk 2         telnyx: sips:sip.telnyx.example, tls, caller id also in P-Preferred-Identity, country not set`,
		"  caller ids  +3225551234",
		`warning: dealers[0].caller_id: Belgian number +3225551234 is presented through trunk "voys" in NL: Belgium blocks calls from abroad that present a Belgian number (since 2024); call through a Belgian trunk or present a number of NL`,
		`warning: dealers[0].caller_id: Belgian number +3225551234 is presented through trunk "telnyx", whose country is unknown: Belgium blocks calls from abroad that present a Belgian number (since 2024); set sip.trunks[1].country`,
		"warning: dealers[1].caller_ids: not set: list the numbers the dealer owns, so that caller_id (+31201234567) is checked against them",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("check's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"p"`) {
		t.Errorf("check printed a trunk password:\n%s", out)
	}

	code, out, errOut = check(t, strings.Replace(cfg, `caller_ids: ["+3225551234"]`, `caller_ids: ["+3225551235"]`, 1))
	if want := "dealers[0].caller_id: +3225551234 is not one of caller_ids (+3225551235): present only a number the dealer owns"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check exited %d, stderr %q; want 1 and %q (stdout %q)", code, errOut, want, out)
	}
	code, _, errOut = check(t, strings.Replace(cfg, "  trunks:\n", "  trunk: {uri: \"sip:old.example\"}\n  trunks:\n", 1))
	if want := "sip.trunks: use either sip.trunk (one trunk) or sip.trunks (a list), not both"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check exited %d, stderr %q; want 1 and %q", code, errOut, want)
	}
}

// trunksReady: ready with every trunk up or none configured; ready but naming the
// trunks down while another can carry calls; not ready when none can.
func TestTrunksReady(t *testing.T) {
	up := sip.TrunkState{Name: "ip"}
	reg := sip.TrunkState{Name: "voys", Registers: true, Registered: true}
	refused := sip.TrunkState{Name: "kpn", Registers: true, Error: "trunk kpn: sip 403 Forbidden"}
	starting := sip.TrunkState{Name: "kpn2", Registers: true}
	if err := trunksReady(nil); err != nil {
		t.Errorf("no trunks: %v", err)
	}
	if err := trunksReady([]sip.TrunkState{up, reg}); err != nil {
		t.Errorf("all up: %v", err)
	}
	err := trunksReady([]sip.TrunkState{refused, up})
	var d *api.Degraded
	if !errors.As(err, &d) || d.Detail != "down: trunk kpn (not registered: trunk kpn: sip 403 Forbidden)" {
		t.Errorf("one down: %v", err)
	}
	err = trunksReady([]sip.TrunkState{refused, starting})
	if err == nil || errors.As(err, &d) || err.Error() != "no trunk can carry calls: trunk kpn (not registered: trunk kpn: sip 403 Forbidden); trunk kpn2 (not registered yet)" {
		t.Errorf("all down: %v", err)
	}
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, ta *testApp) (int, string) {
	t.Helper()
	res, err := http.Get(ta.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
