package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// Issue 6, SIP: what an attacker on the network learns from scanning Leadline's SIP port
// with sipvicious (svmap finds SIP devices, svwar enumerates extensions, svcrack guesses
// passwords), and from probing every method for configured and made-up users by hand.
// Leadline only places calls: no scan may ring a phone, start a call or a lead, tell a
// configured person, trunk account or number from a made-up one, or put a credential in
// the log.

const (
	rtpScan       = "23500-23599"
	scanTrunkUser = "acct-leadline-7"
	scanTrunkPass = "trunk-pw-S3cr3t-9f2c"
)

// scanUsers are what a scanner tries as the user part: the configured people (ids,
// names, numbers), the trunk account, the caller id, and made-up ones.
var scanUsers = []string{
	"piet", "kees", "owner", "Piet", "PietdeVries", scanTrunkUser, "31612345678", "+31612345678",
	"0612345678", "+31201234567", "jansen",
	"nobody-zq81", "100", "1000", "admin", "x7f3k2",
}

// startScanApp starts Leadline as startTestApp does, with debug logging and a trunk that
// has an account and password.
func startScanApp(t *testing.T, spec appSpec) *testApp {
	t.Helper()
	spec.nodeID = nodeName(t.Name())
	spec.trunks = fmt.Sprintf("  trunk: {uri: %q, username: %q, password: %q}", "sip:"+spec.trunk, scanTrunkUser, scanTrunkPass)
	yaml := string(spec.yaml(t))
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	showLogs(t, "leadline log", logs)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := startApp(ctx, cfg, log, withClock(middayClock()))
	if err != nil {
		t.Fatalf("startApp: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.run(runCtx, 2*time.Second) }()
	ta := &testApp{app: a, base: "http://" + a.ln.Addr().String(), logs: logs}
	ta.stop = sync.OnceValue(func() error {
		stop()
		select {
		case err := <-served:
			return err
		case <-time.After(20 * time.Second):
			return fmt.Errorf("run did not return")
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

func TestSIPScan(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	if testing.Short() {
		t.Skip("the SIP scan takes about 30 s")
	}
	for _, tool := range []string{"svmap", "svwar", "svcrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("sipvicious is not installed (%s not found); apt-get install sipvicious to run the SIP scan", tool)
		}
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	kees := newPhone(t, "carrier", simphone.Behaviour{Never: true}) // the trunk: kees and every customer
	ta := startScanApp(t, appSpec{
		rtp:   rtpScan,
		trunk: kees.Addr().String(),
		people: []person{
			{"piet", "Piet de Vries", piet.URI()},
			{"kees", "Kees Bakker", "+31612345678"},
			{"owner", "Jan Jansen", "+31611111111"},
		},
		flow: "[piet, kees, owner]",
	})
	host, port, _ := net.SplitHostPort(ta.ua.Addr().String())
	target := "udp://" + host + ":" + port
	home := t.TempDir() // sipvicious keeps its sessions under $HOME/.sipvicious
	dict := filepath.Join(home, "users.txt")
	if err := os.WriteFile(dict, []byte(strings.Join(scanUsers, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	words := filepath.Join(home, "passwords.txt")
	if err := os.WriteFile(words, []byte("1234\npassword\nsecret\n"+scanTrunkPass+"\npiet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("$ %s %s  (%v)\n%s", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), out)
		if ctx.Err() != nil {
			t.Errorf("%s did not finish within a minute", name)
		}
		_ = err // the tools exit non-zero when they find nothing
		return string(out)
	}

	// svmap finds a SIP device, as it would any SIP endpoint: OPTIONS is answered for
	// carriers' health checks.
	out := run("svmap", "-p", port, host)
	if !strings.Contains(out, host+":"+port) {
		t.Errorf("svmap did not see Leadline at all; the scan proves nothing")
	}
	if ua := svmapAgent(out, host+":"+port); ua != "" {
		t.Logf("svmap fingerprint: %q", ua)
	}

	// svwar: every user, for each method, gets the same answer, so nothing is found.
	// (svwar gives up at once on REGISTER, answered 405, and on INVITE, answered 403;
	// the probes below show the answers are the same for every user.)
	for _, method := range []string{"REGISTER", "INVITE", "OPTIONS"} {
		out := run("svwar", "-m", method, "-d", dict, "--force", "-t", "0.05", target)
		if found := svwarFound(out); len(found) > 0 || !strings.Contains(out, "found nothing") {
			t.Errorf("svwar -m %s tells these users apart: %q", method, found)
		}
	}
	// svcrack, with the trunk's real account and password in its word list: Leadline
	// registers nobody and checks no credentials, so there is nothing to crack.
	out = run("svcrack", "-u", scanTrunkUser, "-d", words, "-t", "0.05", target)
	if strings.Contains(out, scanTrunkPass) || !strings.Contains(out, "found nothing") {
		t.Errorf("svcrack found a password, or did not run")
	}

	// By hand: every method, every user, the same answer (status, reason and headers
	// other than those that echo the request).
	for _, method := range []string{"INVITE", "REGISTER", "OPTIONS", "SUBSCRIBE", "NOTIFY", "MESSAGE", "REFER", "PUBLISH", "INFO", "BYE", "CANCEL", "UPDATE", "PRACK", "ACK"} {
		answers := map[string][]string{}
		for _, user := range scanUsers {
			a := probeSIP(t, ta.ua.Addr().String(), method, user)
			answers[a] = append(answers[a], user)
		}
		if len(answers) != 1 {
			t.Errorf("%s is answered differently depending on the user: %q", method, answers)
		}
		for a := range answers {
			t.Logf("%s → %s", method, a)
			if method == "INVITE" && !strings.HasPrefix(a, "403 ") {
				t.Errorf("an INVITE from outside is answered %q, want 403", a)
			}
		}
	}

	// Nothing happened: no lead, so no flow and no call; no credential in the log. No
	// wait is needed: every probe above has had its answer, and a request that stored a
	// lead or started a call would have done so before answering. Leadline rings only
	// for a stored lead.
	if n := ta.leadCount(t); n != 0 {
		t.Errorf("%d leads after the scan", n)
	}
	if n := ta.svc.Running(); n != 0 {
		t.Errorf("%d flows running after the scan", n)
	}
	if n := ta.ua.ActiveCalls(); n != 0 {
		t.Errorf("%d calls in progress after the scan", n)
	}
	if n := len(piet.Calls()) + len(kees.Calls()); n != 0 {
		t.Errorf("the scan made Leadline place %d calls", n)
	}
	logs := ta.logs.String()
	for _, secret := range []string{scanTrunkPass, testKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the credential %q", secret)
		}
	}
	if strings.Contains(logs, `response="`) || strings.Contains(logs, "Digest ") {
		t.Error("the log holds digest credentials sent by svcrack")
	}
}

// svmapAgent returns the User-Agent svmap reports for addr, or "".
func svmapAgent(out, addr string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, addr) {
			cells := strings.Split(line, "|")
			if len(cells) >= 3 {
				return strings.TrimSpace(cells[2])
			}
		}
	}
	return ""
}

// svwarFound returns the extensions svwar lists in its results table.
func svwarFound(out string) []string {
	var found []string
	for line := range strings.Lines(out) {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		ext := strings.TrimSpace(cells[1])
		if ext == "" || strings.EqualFold(ext, "Extension") || strings.Trim(ext, "-") == "" {
			continue
		}
		found = append(found, ext)
	}
	return found
}

// probeSIP sends one request over UDP as a scanner would and returns the final answer,
// reduced to what may not depend on the user: status, reason and the other headers'
// names and values, leaving out those that echo the request (Via, From, To, Call-ID,
// CSeq). "(no answer)" when nothing came within a second.
func probeSIP(t *testing.T, addr, method, user string) string {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().String()
	rnd := func() string { b := make([]byte, 8); _, _ = rand.Read(b); return hex.EncodeToString(b) }
	send := func(method string) {
		t.Helper()
		msg := fmt.Sprintf("%s sip:%s@%s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: \"scanner\" <sip:scanner@%s>;tag=%s\r\n"+
			"To: <sip:%s@%s>\r\n"+
			"Call-ID: %s@scanner\r\n"+
			"CSeq: 1 %s\r\n"+
			"Contact: <sip:scanner@%s>\r\n"+
			"User-Agent: friendly-scanner\r\n"+
			"Content-Length: 0\r\n\r\n",
			method, user, addr, local, rnd(), local, rnd(), user, addr, rnd(), method, local)
		if _, err := conn.WriteTo([]byte(msg), raddr); err != nil {
			t.Fatal(err)
		}
	}
	send(method)
	if method == "ACK" {
		// An ACK is never answered (RFC 3261 section 17.2.1): the answer to an OPTIONS
		// sent after it is the sign that it was not.
		send("OPTIONS")
	}
	buf := make([]byte, 65535)
	for {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return "(no answer)"
		}
		res := string(buf[:n])
		status, rest, _ := strings.Cut(res, "\r\n")
		f := strings.SplitN(status, " ", 3)
		if len(f) < 3 {
			return "(malformed) " + status
		}
		code, _ := strconv.Atoi(f[1])
		if code < 200 {
			continue
		}
		if method == "ACK" && strings.Contains(rest, "CSeq: 1 OPTIONS") {
			return "(no answer)"
		}
		var hdrs []string
		sc := bufio.NewScanner(strings.NewReader(rest))
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				break
			}
			name, value, _ := strings.Cut(line, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
				continue
			}
			hdrs = append(hdrs, strings.TrimSpace(name)+": "+strings.TrimSpace(value))
		}
		slices.Sort(hdrs)
		return f[1] + " " + f[2] + " [" + strings.Join(hdrs, "; ") + "]"
	}
}
