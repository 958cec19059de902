package sip_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// sippPeer is a sipp 3.6 process running one of the UAS scenarios in testdata/sipp for a
// single call (-m 1). It runs in the foreground with -nostdin, on free loopback ports,
// and is killed at cleanup if it has not finished.
type sippPeer struct {
	addr     netip.AddrPort // where it takes SIP
	media    int            // its media port (-mp)
	dir      string
	done     chan struct{}
	exitCode int
}

// startSipp starts scenario (a file name in testdata/sipp) over transport "u1" (UDP) or
// "t1" (TCP); vars become -set NAME VALUE. The test is skipped without sipp.
func startSipp(t *testing.T, scenario, transport string, vars map[string]string) *sippPeer {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (scripts/test.sh installs it)")
	}
	// Ports are free when chosen, but other processes on the machine may take one
	// before sipp binds it: sipp then exits 254 (bind error) and gets new ports.
	for try := 1; ; try++ {
		p, ok := tryStartSipp(t, bin, scenario, transport, vars, try == 3)
		if ok {
			return p
		}
	}
}

func tryStartSipp(t *testing.T, bin, scenario, transport string, vars map[string]string, last bool) (*sippPeer, bool) {
	t.Helper()
	p := &sippPeer{dir: t.TempDir(), done: make(chan struct{})}
	port := freePort(t)
	p.media = freePort(t)
	p.addr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	args := []string{"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(p.media),
		"-t", transport, "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-max_recv_loops", "1000",
		"-trace_msg", "-message_file", filepath.Join(p.dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(p.dir, "errors.log")}
	for k, v := range vars {
		args = append(args, "-set", k, v)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	out, err := os.Create(filepath.Join(p.dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // ends when sipp exits (it is killed at cleanup at the latest)
		defer close(p.done)
		err := cmd.Wait()
		out.Close()
		p.exitCode = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.exitCode = ee.ExitCode()
		} else if err != nil {
			p.exitCode = -1
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.dump(t)
		}
	})
	// Ready when the port is taken.
	for i := 0; ; i++ {
		if portTaken(transport, port) {
			break
		}
		select {
		case <-p.done:
			if p.exitCode == 254 && !last {
				return nil, false
			}
			t.Fatalf("sipp exited at start (%d)", p.exitCode)
		default:
		}
		if i == 500 {
			t.Fatal("sipp did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p, true
}

// URI is the peer's address as a person's phone (or a trunk) would name it.
func (p *sippPeer) URI(user, transport string) string {
	u := fmt.Sprintf("sip:%s@%s", user, p.addr)
	if transport == "t1" {
		u += ";transport=tcp"
	}
	return u
}

// wait waits for sipp to finish its call and fails the test unless it passed.
func (p *sippPeer) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("sipp still running after %v", timeout)
	}
	if p.exitCode != 0 {
		t.Errorf("sipp scenario failed (exit %d)", p.exitCode)
	}
}

// messages is sipp's trace of what it sent and received.
func (p *sippPeer) messages() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "messages.log"))
	return string(b)
}

func (p *sippPeer) dump(t *testing.T) {
	for _, f := range []string{"stdout.log", "errors.log", "messages.log"} {
		b, err := os.ReadFile(filepath.Join(p.dir, f))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			t.Logf("sipp %s:\n%s", f, b)
		}
	}
}

// freePort finds a port free on both UDP and TCP on loopback.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		u, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			// sipp media uses port and port+2 (RTP and RTCP pairs): keep it even and clear.
			if port%2 == 0 && port < 65000 {
				return port
			}
		}
	}
	t.Fatal("no free port")
	return 0
}

func portTaken(transport string, port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if transport == "t1" {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return true
		}
		l.Close()
		return false
	}
	u, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return true
	}
	u.Close()
	return false
}
