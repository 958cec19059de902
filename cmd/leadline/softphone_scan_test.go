package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/simphone"

	leadsip "github.com/leadline/leadline/sip"
)

// TestSoftphoneScan: with the registrar on (people whose phones register), a scan still
// finds no user and cracks nothing. Every REGISTER without credentials gets the same
// 401, a wrong password and an unknown user the same 403; svwar lists nobody; svcrack,
// with sanne's right password in its word list after four wrong ones, runs into the
// lockout and finds nothing, and the right password from another address is refused,
// with that same 403, while the lockout lasts (its end: sip's TestRegisterLockout).
func TestSoftphoneScan(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	if testing.Short() {
		t.Skip("the SIP scan takes a few seconds")
	}
	for _, tool := range []string{"svwar", "svcrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("sipvicious is not installed (%s not found)", tool)
		}
	}
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const keesPassword = "kees-pw-5t9w2m4x"
	ta := startTestApp(t, appSpec{
		rtp:          rtpSoftScan,
		trunk:        carrier.Addr().String(),
		people:       []person{{"sanne", "Sanne Mulder", "registered"}, {"kees", "Kees Bakker", "registered"}, {"owner", "Jan Jansen", "+31611111111"}},
		sipPasswords: map[string]string{"sanne": sannePassword, "kees": keesPassword},
		flow:         "[sanne, kees, owner]",
		appOpts:      []appOption{withLockout(leadsip.Lockout{UserLimit: 3, SourceLimit: 50, Window: time.Hour, Duration: time.Hour})},
		logLevel:     -4, // debug: nothing secret may reach even that
	})
	addr := ta.ua.Addr()
	users := []string{"sanne", "Sanne", "kees", "owner", "jansen", "nobody-zq81", "100", "admin"}

	// By hand: REGISTER without credentials, every user the same 401 (nonces masked:
	// each challenge has a fresh one).
	nonce := regexp.MustCompile(`nonce="[^"]*"`)
	answers := map[string][]string{}
	for _, u := range users {
		a := nonce.ReplaceAllString(probeSIP(t, addr.String(), "REGISTER", u), `nonce="…"`)
		answers[a] = append(answers[a], u)
	}
	if len(answers) != 1 {
		t.Errorf("REGISTER is answered differently by user: %q", answers)
	}
	for a := range answers {
		if !strings.HasPrefix(a, "401 ") {
			t.Errorf("REGISTER without credentials: %s, want 401", a)
		}
	}

	// A wrong password and an unknown user: the same 403.
	prober := phoneOn(t, "prober", "127.0.0.2")
	wrong := map[string][]string{}
	for _, u := range []string{"sanne", "nobody-zq81"} {
		a := finalAnswer(t, prober, addr, u, "not-the-password-1")
		wrong[a] = append(wrong[a], u)
	}
	if len(wrong) != 1 {
		t.Fatalf("a wrong password and an unknown user are told apart: %q", wrong)
	}
	var refused string
	for a := range wrong {
		refused = a
	}

	home := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, _ := cmd.CombinedOutput() // non-zero when they find nothing
		t.Logf("$ %s %s\n%s", name, strings.Join(args, " "), out)
		if ctx.Err() != nil {
			t.Errorf("%s did not finish within a minute", name)
		}
		return string(out)
	}
	dict := filepath.Join(home, "users.txt")
	words := filepath.Join(home, "passwords.txt")
	if err := os.WriteFile(dict, []byte(strings.Join(users, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(words, []byte("1234\npassword\nsecret\nsanne\n"+sannePassword+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := "udp://" + addr.String()
	out := run("svwar", "-m", "REGISTER", "-d", dict, "--force", "-t", "0.05", target)
	if found := svwarFound(out); len(found) > 0 || !strings.Contains(out, "found nothing") {
		t.Errorf("svwar tells these users apart: %q", found)
	}
	out = run("svcrack", "-u", "sanne", "-d", words, "-t", "0.05", target)
	if strings.Contains(out, sannePassword) || !strings.Contains(out, "found nothing") {
		t.Errorf("svcrack found sanne's password, or did not run")
	}
	if v, _ := metricValue(ta.metrics(t), `leadline_register_lockouts_total{scope="user"}`); v != 1 {
		t.Errorf("leadline_register_lockouts_total{scope=\"user\"} = %v, want 1", v)
	}

	// Locked out: the right password, from an address that never failed, gets what a
	// wrong one gets. Kees is not locked out.
	fresh := phoneOn(t, "fresh", "127.0.0.3")
	if a := finalAnswer(t, fresh, addr, "sanne", sannePassword); a != refused {
		t.Errorf("sanne's right password during the lockout: %s; want %s", a, refused)
	}
	if a := finalAnswer(t, fresh, addr, "kees", keesPassword); !strings.HasPrefix(a, "200 ") {
		t.Errorf("kees during sanne's lockout: %s", a)
	}

	// Nothing rang, and no credential reached the log.
	if n := len(carrier.Calls()); n != 0 {
		t.Errorf("the scan made Leadline place %d calls", n)
	}
	logs := ta.logs.String()
	for _, secret := range []string{sannePassword, keesPassword, "not-the-password-1"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the password %q", secret)
		}
	}
	if strings.Contains(logs, `response=`) || strings.Contains(logs, "Digest ") {
		t.Error("the log holds digest credentials")
	}
}

// phoneOn starts a phone listening on ip, a loopback address of its own.
func phoneOn(t *testing.T, name, ip string) *simphone.Phone {
	t.Helper()
	p, err := simphone.NewPhoneAt(name, ip+":0", simphone.Behaviour{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// finalAnswer registers p as user with password and reduces the final answer to what
// may not depend on the user (status, reason, headers that do not echo the request).
func finalAnswer(t *testing.T, p *simphone.Phone, at netip.AddrPort, user, password string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.Register(ctx, at, user, password, 600)
	if err != nil {
		t.Fatalf("REGISTER %s: %v", user, err)
	}
	var hdrs []string
	for _, h := range res.Headers() {
		switch strings.ToLower(h.Name()) {
		case "via", "from", "to", "call-id", "cseq", "content-length", "contact", "date":
			continue
		}
		hdrs = append(hdrs, h.Name()+": "+h.Value())
	}
	return fmt.Sprintf("%d %s %q", res.StatusCode, res.Reason, hdrs)
}
