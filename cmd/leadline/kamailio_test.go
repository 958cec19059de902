package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/leadview"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// kamailioCfg is a carrier that wants its account registered before it routes a call:
// REGISTER is challenged with 401 and INVITE with 407 (digest, qop=auth, one user
// "leadline" with the password %[2]s, checked with the auth module's pv_*
// functions: no database), an INVITE from an account without a registration is refused
// 403, and the others go to the customer at %[3]s, record-routed so that the dialog's
// requests cross the carrier too. Registrations are kept in memory for at most 10 s, so
// a refresh comes within the test, and a restart forgets them. UDP on 127.0.0.1:%[1]d.
const kamailioCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:%[1]d
alias="127.0.0.1:%[1]d"
` + kamailioRoutes

// kamailioTLSCfg is the same carrier taking SIP over TLS on 127.0.0.1:%[4]d (Kamailio's
// tls module, Debian's kamailio-tls-modules) with the certificate %[5]s and key %[6]s,
// and relaying to the customer over UDP from 127.0.0.1:%[1]d. It asks for no client
// certificate and verifies none. Record-routing puts it in both transports' paths
// (double Record-Route), so a BYE from the customer reaches Leadline over TLS, at the
// Contact Leadline gave: its own TLS listener.
const kamailioTLSCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
enable_tls=yes
auto_aliases=no
listen=udp:127.0.0.1:%[1]d
listen=tls:127.0.0.1:%[4]d
alias="127.0.0.1:%[4]d"

loadmodule "tls.so"
modparam("tls", "tls_method", "TLSv1.2+")
modparam("tls", "certificate", "%[5]s")
modparam("tls", "private_key", "%[6]s")
modparam("tls", "verify_certificate", 0)
modparam("tls", "require_certificate", 0)
` + kamailioRoutes

// kamailioRoutes is what both carriers do with requests.
const kamailioRoutes = `
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "default_expires", 10)
modparam("registrar", "max_expires", 10)
modparam("registrar", "min_expires", 5)

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { xlog("L_NOTICE", "carrier: in-dialog $rm over $proto relayed\n"); t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not Here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	# One account: user leadline. Other user names get a password nobody has.
	$var(pw) = "-";
	if ($au == "leadline") { $var(pw) = "%[2]s"; }
	if (is_method("REGISTER")) {
		# A function's result must be read from a variable: "f() < 0" is not what it seems.
		$var(rc) = pv_www_authenticate("$td", "$var(pw)", "0");
		if ($var(rc) < 0) { www_challenge("$td", "1"); exit; }
		consume_credentials();
		if (!save("location")) { sl_reply_error(); exit; }
		xlog("L_NOTICE", "carrier: REGISTER ok for $tU, expires $hdr(Expires)\n");
		exit;
	}
	if (is_method("INVITE")) {
		$var(rc) = pv_proxy_authenticate("$fd", "$var(pw)", "0");
		if ($var(rc) < 0) { proxy_challenge("$fd", "1"); exit; }
		if (!registered("location", "sip:leadline@$fd")) {
			xlog("L_NOTICE", "carrier: INVITE refused: leadline is not registered\n");
			sl_send_reply("403", "Not Registered");
			exit;
		}
		consume_credentials();
		record_route();
		$du = "sip:%[3]s";
		xlog("L_NOTICE", "carrier: INVITE for $rU relayed\n");
		t_relay();
		exit;
	}
	sl_send_reply("405", "Method Not Allowed");
}
`

// kamailio is a Kamailio process run in the foreground (-DD: the creator does not
// daemonize; its workers are its children, in a process group of their own) with the
// configuration above, stopped at cleanup.
type kamailio struct {
	port    int // UDP
	tlsPort int // TLS; 0: none
	dir     string
	cfg     string
	run     *kamailioRun // the current process
}

type kamailioRun struct {
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	err    error // set before exited closes
}

func needKamailio(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("kamailio integration test; skipped with -short")
	}
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Skip("kamailio is not installed (scripts/deps.sh installs it)")
	}
}

// startKamailio writes the configuration for a carrier whose password is password and
// whose calls go to customer, and starts Kamailio on a free loopback port.
func startKamailio(t *testing.T, password string, customer netip.AddrPort) *kamailio {
	t.Helper()
	k := &kamailio{port: freeSIPPort(t), dir: t.TempDir()}
	k.cfg = filepath.Join(k.dir, "kamailio.cfg")
	if err := os.WriteFile(k.cfg, fmt.Appendf(nil, kamailioCfg, k.port, password, customer), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		k.stop(t)
		if t.Failed() || os.Getenv("LEADLINE_TEST_LOG") != "" {
			t.Logf("---- kamailio ----\n%s", lastLines(k.run.log.String(), 60))
		}
	})
	k.start(t)
	return k
}

// startKamailioTLS is startKamailio with the carrier taking SIP over TLS too, with a
// certificate for 127.0.0.1 signed by ca.
func startKamailioTLS(t *testing.T, password string, customer netip.AddrPort, ca *simphone.CA) *kamailio {
	t.Helper()
	needKamailioTLS(t)
	cert, key, _, err := ca.Issue("carrier.test")
	if err != nil {
		t.Fatal(err)
	}
	k := &kamailio{port: freeUDPPort(t, "127.0.0.1"), tlsPort: freeTCPPort(t), dir: t.TempDir()}
	k.cfg = filepath.Join(k.dir, "kamailio.cfg")
	if err := os.WriteFile(k.cfg, fmt.Appendf(nil, kamailioTLSCfg, k.port, password, customer, k.tlsPort, cert, key), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		k.stop(t)
		if t.Failed() || os.Getenv("LEADLINE_TEST_LOG") != "" {
			t.Logf("---- kamailio ----\n%s", lastLines(k.run.log.String(), 80))
		}
	})
	k.start(t)
	return k
}

// needKamailioTLS skips the test without Kamailio's tls module.
func needKamailioTLS(t *testing.T) {
	t.Helper()
	needKamailio(t)
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tls.so"); len(m) == 0 {
		t.Skip("kamailio's tls module is not installed (kamailio-tls-modules; scripts/deps.sh installs it)")
	}
}

// URI is the carrier's address, as a trunk's uri.
func (k *kamailio) URI() string { return fmt.Sprintf("sip:127.0.0.1:%d", k.port) }

// TLSURI is the carrier's TLS address, as the uri of a trunk with transport: tls.
func (k *kamailio) TLSURI() string { return fmt.Sprintf("sip:127.0.0.1:%d", k.tlsPort) }

func (k *kamailio) start(t *testing.T) {
	t.Helper()
	r := &kamailioRun{log: &syncBuffer{}, exited: make(chan struct{})}
	// -Y: runtime files in the test's folder; -m/-M: small memory, the machine is shared.
	r.cmd = exec.Command("kamailio", "-DD", "-E", "-f", k.cfg, "-Y", k.dir, "-m", "32", "-M", "4")
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	k.run = r
	wait.For(t, 10*time.Second, "kamailio to listen", func() bool {
		select {
		case <-r.exited:
			t.Fatalf("kamailio exited at start: %v\n%s", r.err, r.log.String())
		default:
		}
		return udpBound(k.port) && strings.Contains(r.log.String(), "SO_RCVBUF is finally") && (k.tlsPort == 0 || tcpListening(k.tlsPort))
	})
}

// stop ends the current process and its workers (SIGTERM to its process group, SIGKILL
// after 5 s) and waits for the port to be free.
func (k *kamailio) stop(t *testing.T) {
	t.Helper()
	r := k.run
	select {
	case <-r.exited:
		return
	default:
	}
	pgid := r.cmd.Process.Pid // Setpgid: the group is the process's own id
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-r.exited
	}
	wait.For(t, 5*time.Second, "kamailio's workers to let the port go", func() bool {
		return !udpBound(k.port) && (k.tlsPort == 0 || !tcpListening(k.tlsPort))
	})
}

// tcpListening reports whether something listens on TCP port of 127.0.0.1, reading
// /proc/net/tcp (state 0A) so as not to connect to it.
func tcpListening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" &&
			(strings.HasPrefix(f[1], "0100007F:") || strings.HasPrefix(f[1], "00000000:")) {
			return true
		}
	}
	return false
}

// restart stops Kamailio and starts it again on the same port: it forgets every
// registration (they are kept in memory).
func (k *kamailio) restart(t *testing.T) {
	t.Helper()
	k.stop(t)
	k.start(t)
}

// count is how often the current process logged what.
func (k *kamailio) count(what string) int { return strings.Count(k.run.log.String(), what) }

// TestKamailioCarrier: Leadline registers with a real registrar that challenges
// REGISTER (401) and INVITE (407) and refuses calls from an account that is not
// registered; the gauge says so; a lead's customer is reached through it; after the
// carrier restarts and forgets the registration, Leadline registers again by itself and
// the next lead's customer is reached too.
func TestKamailioCarrier(t *testing.T) {
	needKamailio(t)
	const customer = "+31612345678"
	cust := newPhone(t, "customer", simphone.Behaviour{Never: true})
	cust.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})
	kam := startKamailio(t, "s3cret", cust.Addr())

	// The carrier really wants a registration: without one, the INVITE is refused 403
	// after its 407 was answered.
	u, err := sip.Listen(sip.Config{Listen: "127.0.0.1:0", RTPPortMin: 25700, RTPPortMax: 25799,
		Trunks: []sip.Trunk{{Name: "unregistered", URI: kam.URI(), Username: "leadline", Password: "s3cret"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = u.Dial(ctx, customer, dialer.DialOpts{Kind: dialer.LegCustomer, CallerID: testCallerID})
	cancel()
	u.Close()
	var coded interface{ SIPCode() int }
	if !errors.As(err, &coded) || coded.SIPCode() != 403 {
		t.Fatalf("INVITE without a registration: %v; want 403 from the carrier", err)
	}
	// Kamailio may log its refusal a moment after the 403 left.
	wait.For(t, 5*time.Second, "kamailio to log the refused INVITE", func() bool { return kam.count("INVITE refused") == 1 })

	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	ta := startTestApp(t, appSpec{
		rtp: rtpKamailio,
		trunks: fmt.Sprintf("  trunks:\n    - {name: carrier, uri: %q, username: leadline, password: s3cret, register: true, caller_id_header: pai}\n",
			kam.URI()),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	const gauge = `leadline_trunk_registered{trunk="carrier"}`
	wait.For(t, 10*time.Second, "the registration", func() bool {
		v, ok := metricValue(ta.metrics(t), gauge)
		return ok && v == 1
	})
	wait.For(t, 5*time.Second, "the carrier to log the registration", func() bool { return kam.count("REGISTER ok for leadline") > 0 })
	challenged := func(method, code string) bool {
		v, _ := metricValue(ta.metrics(t), `leadline_sip_responses_total{code="`+code+`",method="`+method+`"}`)
		return v > 0
	}
	if !challenged("REGISTER", "401") {
		t.Error("the carrier did not challenge REGISTER with 401")
	}

	call := func(n int) {
		t.Helper()
		id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
		ta.waitFinal(t, id, 30*time.Second)
		var l leadview.Lead
		ta.leadAs(t, id, &l)
		if got, want := strings.Join(trunksOf(l), " "), "agent:piet:accepted: customer:piet:answered:carrier"; got != want || l.Status != "completed" {
			t.Errorf("lead %d: %s, attempts %s; want completed, %s", n, l.Status, got, want)
		}
		calls := callsTo(cust, customer)
		if len(calls) != n {
			t.Fatalf("the customer got %d calls through the carrier, want %d", len(calls), n)
		}
		if pai := calls[n-1].Header("P-Asserted-Identity"); pai != "<sip:"+testCallerID+"@127.0.0.1>" {
			t.Errorf("P-Asserted-Identity through the carrier %q", pai)
		}
	}
	call(1)
	if !challenged("INVITE", "407") {
		t.Error("the carrier did not challenge the INVITE with 407")
	}

	kam.restart(t)
	wait.For(t, 30*time.Second, "Leadline to register with the restarted carrier", func() bool {
		return kam.count("REGISTER ok for leadline") > 0
	})
	if v, ok := metricValue(ta.metrics(t), gauge); !ok || v != 1 {
		t.Errorf("%s = %v after the new registration", gauge, v)
	}
	call(2)
	if n := kam.count("INVITE refused"); n != 0 {
		t.Errorf("the restarted carrier refused %d INVITEs", n)
	}
}

// TestKamailioRefusesRegistration: a carrier that refuses the account (a wrong
// password) leaves its trunk unregistered: the gauge says 0, /readyz stays ready (the
// next trunk can carry calls) and names it, and the lead's customer is called through
// the next trunk; the carrier never sees an INVITE.
func TestKamailioRefusesRegistration(t *testing.T) {
	needKamailio(t)
	const customer = "+31612345678"
	nobody := newPhone(t, "nobody", simphone.Behaviour{Never: true})
	kam := startKamailio(t, "s3cret", nobody.Addr())
	backup := newPhone(t, "backup", simphone.Behaviour{Never: true})
	backup.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	ta := startTestApp(t, appSpec{
		rtp: rtpKamailioRefused,
		trunks: fmt.Sprintf("  trunks:\n    - {name: carrier, uri: %q, username: leadline, password: wrong, register: true}\n    - {name: backup, uri: %q}\n",
			kam.URI(), "sip:"+backup.Addr().String()),
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
	})
	var body string
	wait.For(t, 10*time.Second, "/readyz to name the refused trunk", func() bool {
		var code int
		code, body = readyz(t, ta)
		return code == http.StatusOK && strings.Contains(body, "trunk carrier (not registered: sip 401")
	})
	t.Logf("/readyz: %s", body)
	if v, ok := metricValue(ta.metrics(t), `leadline_trunk_registered{trunk="carrier"}`); !ok || v != 0 {
		t.Errorf("leadline_trunk_registered = %v, %v; want 0", v, ok)
	}

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	ta.waitFinal(t, id, 30*time.Second)
	var l leadview.Lead
	ta.leadAs(t, id, &l)
	if got, want := strings.Join(trunksOf(l), " "), "agent:piet:accepted: customer:piet:answered:backup"; got != want {
		t.Errorf("attempts %s, want %s", got, want)
	}
	if strings.Contains(kam.run.log.String(), "INVITE") || len(nobody.Calls()) != 0 {
		t.Error("the carrier that refused the account got an INVITE")
	}
}
