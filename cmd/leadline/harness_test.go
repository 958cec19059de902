package main

// The integration harness: a whole Leadline (startApp + run, as serve and the demo start
// it) on loopback with an SQLite file in a temporary folder, simulated phones, and the
// HTTP calls a dealer's web form would make. Every helper cleans up after itself.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/simphone"
)

const (
	testDealer   = "jansen"
	testKey      = "test-key-jansen-0000000001"
	testCallerID = "+31201234567"
)

// Each test gets its own RTP range, below the kernel's ephemeral ports (32768-60999)
// where phones, sipp and other packages' tests (sip: 30000-39999, demo: 41000-41999)
// take theirs. The UA skips a port in use anyway; separate ranges keep the tests from
// slowing each other down.
const (
	rtpSipp    = "21000-21099"
	rtpBridge  = "21100-21199"
	rtpResume  = "21200-21299"
	rtpRefused = "21300-21399"
	rtpIntake  = "21400-21999"
)

// person is one entry of the test dealer's people.
type person struct{ id, name, phone string }

// appSpec is what a test chooses of the configuration; everything else is fixed.
type appSpec struct {
	db           string // sqlite file; default a new one in t.TempDir()
	storeURL     string // overrides db: the whole store URL
	rtp          string
	trunk        string // host:port of the carrier phone; "" for none
	trunks       string // sip.trunks as YAML, indented by two spaces; replaces trunk
	nodeID       string
	people       []person
	flow         string // YAML list, e.g. "[piet, [kees, anna], owner]"
	ring         time.Duration
	accept       time.Duration
	customerRing time.Duration
	whisper      string
	drain        time.Duration   // how long run lets calls finish after stop; default 2 s
	stopNow      context.Context // ends the drain at once, as a second signal does; nil: never
	logLevel     slog.Level
	dealerExtra  string            // more of the dealer's YAML, each line indented by four spaces
	extra        string            // more top-level YAML
	sipPasswords map[string]string // person id → sip_password, for people whose phone is "registered"
	personKeys   map[string]string // person id → more keys of their entry ("srtp: required")
	appOpts      []appOption       // more options for startApp
}

// yaml is the configuration s describes, built as a document and marshalled; the YAML
// fragments of s (trunks, extra, dealerExtra, personKeys) are parsed and merged into it.
func (s appSpec) yaml(t testing.TB) []byte {
	t.Helper()
	if s.storeURL == "" {
		if s.db == "" {
			s.db = filepath.Join(t.TempDir(), "leadline.db")
		}
		s.storeURL = "sqlite://" + s.db
	}
	sip := map[string]any{"listen": "127.0.0.1:0", "rtp_ports": s.rtp}
	if s.trunk != "" {
		sip["trunk"] = map[string]any{"uri": "sip:" + s.trunk}
	}
	if s.trunks != "" {
		delete(sip, "trunk")
		mergeYAML(sip, yamlFragment(t, s.trunks, 2))
	}
	people := make([]any, 0, len(s.people))
	for _, p := range s.people {
		e := map[string]any{"id": p.id, "name": p.name, "phone": p.phone}
		if pw := s.sipPasswords[p.id]; pw != "" {
			e["sip_password"] = pw
		}
		mergeYAML(e, yamlFragment(t, s.personKeys[p.id], 0))
		people = append(people, e)
	}
	var flow any
	if strings.Contains(s.flow, "\n") { // more keys go in extra and dealerExtra
		t.Fatalf("appSpec.flow %q: one line of YAML", s.flow)
	}
	if err := yaml.Unmarshal([]byte(s.flow), &flow); err != nil {
		t.Fatalf("appSpec.flow %q: %v", s.flow, err)
	}
	def := func(d, v time.Duration) string { return cmp.Or(d, v).String() }
	dealer := map[string]any{
		"id": "jansen", "name": "Autohuis Jansen", "api_keys": []string{testKey}, "language": "en",
		"caller_id": testCallerID, "ring_timeout": def(s.ring, 5*time.Second), "accept_timeout": def(s.accept, 2*time.Second),
		"customer_ring_timeout": def(s.customerRing, 5*time.Second),
		"whisper":               cmp.Or(s.whisper, "New lead: {{.Name}}. Press 1."), "people": people, "flow": flow,
	}
	mergeYAML(dealer, yamlFragment(t, s.dealerExtra, 4))
	doc := map[string]any{
		"node_id": s.nodeID, "http": map[string]any{"listen": "127.0.0.1:0"}, "sip": sip,
		"store": s.storeURL, "log": map[string]any{"level": "info"}, "dealers": []any{dealer},
	}
	mergeYAML(doc, yamlFragment(t, s.extra, 0))
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// yamlFragment parses a mapping written indent spaces deep ("" is an empty one).
func yamlFragment(t testing.TB, frag string, indent int) map[string]any {
	t.Helper()
	lines := strings.Split(frag, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, strings.Repeat(" ", indent))
	}
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &m); err != nil {
		t.Fatalf("YAML fragment %q: %v", frag, err)
	}
	return m
}

// mergeYAML merges from into into: mappings key by key, anything else replaced.
func mergeYAML(into, from map[string]any) {
	for k, v := range from {
		a, ok1 := into[k].(map[string]any)
		b, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			mergeYAML(a, b)
			continue
		}
		into[k] = v
	}
}

// testApp is a running Leadline.
type testApp struct {
	*app
	cfg  *config.Config // as started
	base string         // http://127.0.0.1:port
	logs *syncBuffer
	stop func() error // ends run (draining for spec.drain) and waits for it
}

// startTestApp starts Leadline with spec and runs it until the test ends (or stop).
// Its log is shown when the test fails.
func startTestApp(t testing.TB, spec appSpec) *testApp {
	t.Helper()
	if spec.nodeID == "" {
		spec.nodeID = nodeName(t.Name())
	}
	cfg, err := config.Parse(spec.yaml(t), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	showLogs(t, spec.nodeID+" log", logs)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: spec.logLevel}))
	// Not a context that ends with the test: what startApp keeps must outlive it.
	a, err := startApp(context.Background(), cfg, log, append([]appOption{withClock(middayClock())}, spec.appOpts...)...)
	if err != nil {
		t.Fatalf("startApp: %v", err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	served := make(chan error, 1)
	drain := spec.drain
	if drain == 0 {
		drain = 2 * time.Second
	}
	if spec.stopNow != nil {
		runCtx = withStopNow(runCtx, spec.stopNow)
	}
	go func() { served <- a.run(runCtx, drain) }()
	ta := &testApp{app: a, cfg: cfg, base: "http://" + a.ln.Addr().String(), logs: logs}
	ta.stop = sync.OnceValue(func() error {
		stopRun()
		select {
		case err := <-served:
			return err
		case <-time.After(drain + 15*time.Second):
			return fmt.Errorf("run did not return within %v of stopping", drain+15*time.Second)
		}
	})
	t.Cleanup(func() {
		if err := ta.stop(); err != nil {
			t.Errorf("app: %v", err)
		}
	})
	wait.For(t, 5*time.Second, "the app to be ready", func() bool {
		res, err := http.Get(ta.base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return ta
}

// nodeName makes a test's name a valid node_id.
func nodeName(test string) string {
	id := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, test)
	return id[:min(len(id), 64)]
}

// post sends a lead as JSON with the dealer's key and returns the status and body.
func (ta *testApp) post(t testing.TB, key, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ta.base+"/v1/leads", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/leads: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("POST /v1/leads: %v", err)
	}
	return res.StatusCode, res.Header, b
}

// postLead posts input as JSON and returns the new lead's id; anything but 202 fails.
func (ta *testApp) postLead(t testing.TB, input map[string]string) string {
	t.Helper()
	body, _ := json.Marshal(input)
	status, _, b := ta.post(t, testKey, "application/json", string(body))
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/leads: %d %s", status, b)
	}
	var l leadview.Lead
	if err := json.Unmarshal(b, &l); err != nil || l.ID == "" {
		t.Fatalf("POST /v1/leads: %v: %s", err, b)
	}
	return l.ID
}

func (ta *testApp) lead(t testing.TB, id string) leadview.Lead {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := getLead(ctx, ta.base, testKey, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// leadAs reads GET /v1/leads/{id} into v, for views of the lead JSON other than leadview.Lead.
func (ta *testApp) leadAs(t testing.TB, id string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ta.base+"/v1/leads/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/leads/%s: %d %v", id, res.StatusCode, err)
	}
}

// waitFinal polls the lead until its status is final.
func (ta *testApp) waitFinal(t testing.TB, id string, within time.Duration) leadview.Lead {
	t.Helper()
	var l leadview.Lead
	wait.For(t, within, "lead "+id+" to finish", func() bool {
		l = ta.lead(t, id)
		return l.Status.Final()
	})
	return l
}

// metrics returns the /metrics page.
func (ta *testApp) metrics(t testing.TB) string {
	t.Helper()
	res, err := http.Get(ta.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// metricValue finds the sample named exactly series (name and labels as Prometheus
// writes them) in a metrics page.
func metricValue(page, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// newPhone starts a simulated phone that stops at the end of the test.
func newPhone(t testing.TB, name string, b simphone.Behaviour) *simphone.Phone {
	t.Helper()
	p, err := simphone.NewPhone(name, b, nil)
	if err != nil {
		t.Fatalf("phone %s: %v", name, err)
	}
	t.Cleanup(p.Close)
	return p
}

// callsTo returns the calls a carrier phone received for user (an E.164 number).
func callsTo(p *simphone.Phone, user string) []*simphone.Call {
	var out []*simphone.Call
	for _, c := range p.Calls() {
		if c.Invite.Recipient.User == user {
			out = append(out, c)
		}
	}
	return out
}

// rms is the root mean square of pcm (silence is 0; a -12 dBm0 tone about 2,300).
func rms(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}

// freeUDPPort returns a UDP port nobody uses on host right now.
func freeUDPPort(t testing.TB, host string) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// freeSIPPort returns a port p on 127.0.0.1 free for UDP and TCP, with p+1 free too
// (SIP software binds UDP and TCP on its port and TLS on the next). It is drawn from
// 14000-19999: below the kernel's ephemeral range, where an outgoing connection's
// source port could take it between this check and the process binding it, and below
// the tests' fixed RTP ranges.
func freeSIPPort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := 14000 + rand.IntN(6000)
		if portFree(p) && portFree(p+1) {
			return p
		}
	}
	t.Fatal("no free SIP port in 14000-19999")
	return 0
}

// portFree reports whether port can be bound on 127.0.0.1 for both UDP and TCP.
func portFree(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return false
	}
	return l.Close() == nil
}

// freeUDPPortPair returns a UDP port p on 127.0.0.1 such that p and p+2 are free (sipp
// binds both for -mp p: audio and video).
func freeUDPPortPair(t testing.TB) int {
	t.Helper()
	for range 100 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c2, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+2)))
		c.Close()
		if err == nil {
			c2.Close()
			return p
		}
	}
	t.Fatal("no free pair of UDP ports")
	return 0
}

// udpBound reports whether something is bound to UDP port on 127.0.0.1 or 0.0.0.0,
// reading /proc/net/udp so as not to race the binding process for the port.
func udpBound(port int) bool {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && strings.HasSuffix(f[1]+" ", want) &&
			(strings.HasPrefix(f[1], "0100007F:") || strings.HasPrefix(f[1], "00000000:")) {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// showLogs prints buf at the end of a failed test (or with -v and LEADLINE_TEST_LOG=1).
func showLogs(t testing.TB, title string, buf *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("LEADLINE_TEST_LOG") != "" {
			t.Logf("---- %s ----\n%s", title, buf.String())
		}
	})
}

// attemptSummary is an attempt reduced to what a test compares.
type attemptSummary struct {
	Leg, Person, Result string
}

func summarize(l leadview.Lead) []attemptSummary {
	out := make([]attemptSummary, len(l.Attempts))
	for i, a := range l.Attempts {
		out[i] = attemptSummary{string(a.Leg), a.Person, string(a.Result)}
	}
	return out
}
