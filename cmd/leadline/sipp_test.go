package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// sippPeer is one sipp (SIPp 3.6.1) running a UAS scenario from testdata/sipp for one
// call, in the foreground (NOTES.md: -bg misbehaves), killed when the test ends.
type sippPeer struct {
	name     string
	scenario string
	port     int
	out      *syncBuffer
	exited   chan struct{}
	err      error // set before exited closes
}

// sippTools are what the sipp scenarios need from the sip-tester package.
var sippTools = []string{
	"/usr/share/sip-tester/dtmf_2833_1.pcap",
	"/usr/share/sip-tester/g711a.pcap",
}

func needSipp(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("sipp integration test; skipped with -short")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (scripts/deps.sh installs sip-tester)")
	}
	for _, f := range sippTools {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("sip-tester file missing: %v", err)
		}
	}
}

// startSipp runs testdata/sipp/<scenario>.xml as user name on free ports of 127.0.0.1
// and waits until its SIP socket is bound.
func startSipp(t *testing.T, name, scenario string) *sippPeer {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	s := &sippPeer{name: name, scenario: scenario, out: &syncBuffer{}, exited: make(chan struct{})}
	s.port = freeUDPPort(t, "127.0.0.1")
	mp := freeUDPPortPair(t)
	cp := freeUDPPort(t, "0.0.0.0") // sipp's remote-control socket, 8888 by default
	errFile := filepath.Join(t.TempDir(), "errors.log")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mp), "-cp", strconv.Itoa(cp),
		"-m", "1", "-nostdin", "-timeout", "90s", "-timeout_error",
		"-trace_err", "-error_file", errFile)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp %s: %v", name, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		cancel() // kills sipp if it is still running
		<-s.exited
		if t.Failed() || os.Getenv("LEADLINE_TEST_LOG") != "" {
			errs, _ := os.ReadFile(errFile)
			t.Logf("---- sipp %s (%s.xml): %v ----\n%s\n%s", name, scenario, s.err, lastLines(s.out.String(), 30), errs)
		}
	})
	wait.For(t, 5*time.Second, "sipp "+name+" to listen", func() bool {
		select {
		case <-s.exited:
			t.Fatalf("sipp %s exited at start: %v\n%s", name, s.err, s.out.String())
		default:
		}
		return udpBound(s.port)
	})
	return s
}

// URI is the person's phone: sipp's address.
func (s *sippPeer) URI() string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", s.name, s.port) }

// wait waits for sipp to exit and returns why it failed, or nil when its scenario
// completed (exit status 0).
func (s *sippPeer) wait(within time.Duration) error {
	select {
	case <-s.exited:
		return s.err
	case <-time.After(within):
		return errors.New("still running")
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestSippDealerFlow is issue 2's end-to-end check against a real, independent SIP
// stack: the dealer's flow [piet, kees, anna, owner] where piet is busy (486), kees lets
// it ring until Leadline's CANCEL, anna's voicemail answers and plays a greeting, and
// the owner answers and presses 1 with sipp's RFC 4733 capture. The customer, behind the
// trunk, answers with a tone and hangs up after 2 s.
func TestSippDealerFlow(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	needSipp(t)
	piet := startSipp(t, "piet", "busy")
	kees := startSipp(t, "kees", "noanswer")
	anna := startSipp(t, "anna", "voicemail")
	owner := startSipp(t, "owner", "accept")
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 500 * time.Millisecond, Tone: 500, HangUp: 2 * time.Second})

	ta := startTestApp(t, appSpec{
		rtp:   rtpSipp,
		trunk: carrier.Addr().String(),
		people: []person{
			{"piet", "Piet de Vries", piet.URI()},
			{"kees", "Kees Bakker", kees.URI()},
			{"anna", "Anna Smit", anna.URI()},
			{"owner", "Jan Jansen", owner.URI()},
		},
		flow:   "[piet, kees, anna, owner]",
		ring:   2 * time.Second,
		accept: 2 * time.Second,
	})

	id := ta.postLead(t, map[string]string{
		"name": "Eva Jansen", "phone": "06-12345678", "interest": "Volvo XC60", "source": "website",
	})
	l := ta.waitFinal(t, id, 40*time.Second)

	want := []attemptSummary{
		{"agent", "piet", "busy"},
		{"agent", "kees", "no_answer"},
		{"agent", "anna", "no_accept"},
		{"agent", "owner", "accepted"},
		{"customer", "owner", "answered"},
	}
	if got := summarize(l); !slices.Equal(got, want) {
		t.Errorf("attempts:\n got %v\nwant %v", got, want)
	}
	if l.Status != "completed" {
		t.Errorf("status %q (reason %q), want completed", l.Status, l.Reason)
	}
	if len(l.Attempts) > 0 && l.Attempts[0].SIPCode != 486 {
		t.Errorf("piet's sip_code %d, want 486", l.Attempts[0].SIPCode)
	}
	for i, a := range l.Attempts {
		if a.EndedAt.IsZero() {
			t.Errorf("attempt %d (%s) has no ended_at", i, a.Person)
		}
		if answered := a.Result == "no_accept" || a.Result == "accepted" || a.Result == "answered"; answered != !a.AnsweredAt.IsZero() {
			t.Errorf("attempt %d (%s, %s): answered_at %v", i, a.Person, a.Result, a.AnsweredAt)
		}
	}
	if l.SpeedToLeadSeconds == nil || *l.SpeedToLeadSeconds <= 0 {
		t.Errorf("speed_to_lead_seconds %v, want > 0", l.SpeedToLeadSeconds)
	}
	if l.ConnectedAt.IsZero() || l.EndedAt.IsZero() {
		t.Errorf("connected_at %v, ended_at %v: want both", l.ConnectedAt, l.EndedAt)
	} else if !time.Time(l.EndedAt).After(time.Time(l.ConnectedAt)) {
		t.Errorf("ended_at %v is not after connected_at %v", l.EndedAt, l.ConnectedAt)
	}
	if n := len(callsTo(carrier, customer)); n != 1 {
		t.Errorf("customer dialled %d times, want 1", n)
	}

	// Each sipp ran its scenario to the end: piet got the ACK for its 486 and nothing
	// else, kees saw the CANCEL, anna's voicemail and the owner saw our BYE.
	for _, s := range []*sippPeer{piet, kees, anna, owner} {
		if err := s.wait(10 * time.Second); err != nil {
			t.Errorf("sipp %s (%s.xml) did not complete its scenario: %v", s.name, s.scenario, err)
		}
	}

	page := ta.metrics(t)
	for _, m := range []string{
		`leadline_agent_attempts_total{dealer="jansen",person="piet",result="busy"}`,
		`leadline_agent_attempts_total{dealer="jansen",person="kees",result="no_answer"}`,
		`leadline_agent_attempts_total{dealer="jansen",person="anna",result="no_accept"}`,
		`leadline_agent_attempts_total{dealer="jansen",person="owner",result="accepted"}`,
		`leadline_leads_received_total{dealer="jansen"}`,
		`leadline_leads_finished_total{dealer="jansen",status="completed"}`,
		`leadline_leads_reached_owner_total{dealer="jansen"}`,
		`leadline_sip_responses_total{code="486",method="INVITE"}`,
		`leadline_sip_responses_total{code="487",method="INVITE"}`,
	} {
		if v, ok := metricValue(page, m); !ok || v != 1 {
			t.Errorf("%s = %v (found %v), want 1", m, v, ok)
		}
	}
	for _, m := range []string{
		`leadline_rtp_packets_total{direction="in"}`,
		`leadline_rtp_packets_total{direction="out"}`,
	} {
		if v, ok := metricValue(page, m); !ok || v == 0 {
			t.Errorf("%s = %v (found %v), want > 0", m, v, ok)
		}
	}
	if t.Failed() {
		t.Logf("lead: %+v", l)
	}
}
