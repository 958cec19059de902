package smtptest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed relay.py
var relayScript []byte

// python is Debian's interpreter, which has python3-aiosmtpd (the default python3 on
// this kind of machine may be another build).
const python = "/usr/bin/python3"

// Options choose what the server asks of its clients.
type Options struct {
	// Port to listen on at 127.0.0.1; 0: any free one.
	Port int
	// Cert and Key offer STARTTLS (or, with ImplicitTLS, TLS from the first byte).
	Cert, Key   string
	ImplicitTLS bool
	RequireTLS  bool // refuse MAIL before STARTTLS
	// User and Password require AUTH; NoPlain offers LOGIN only.
	User, Password string
	NoPlain        bool
	// Fail answers the first Fail messages' DATA with FailWith (default "451 4.3.0 Try
	// again later") instead of taking them.
	Fail     int
	FailWith string
}

// Server is a running aiosmtpd; it stops when the test ends.
type Server struct {
	Addr string // 127.0.0.1:port
	Port int
	dir  string
	stop func()
}

// Message is one message the server took.
type Message struct {
	Raw    []byte
	From   string   `json:"mail_from"` // envelope sender
	To     []string `json:"rcpt_tos"`  // envelope recipients
	TLS    bool     `json:"tls"`       // the session was encrypted
	Auth   string   `json:"auth"`      // who authenticated; "" when nobody did
	Header mail.Header
	name   string
}

// Available skips the test when /usr/bin/python3 cannot import aiosmtpd.
func Available(tb testing.TB) {
	tb.Helper()
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		tb.Skip("aiosmtpd is not installed: outgoing mail is tested against it (Debian package python3-aiosmtpd; scripts/deps.sh)")
	}
}

// Start runs an SMTP server on 127.0.0.1 as o says, and waits (10 s at most) until it
// takes connections.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	Available(tb)
	dir := tb.TempDir()
	script := filepath.Join(dir, "relay.py")
	if err := os.WriteFile(script, relayScript, 0o600); err != nil {
		tb.Fatal(err)
	}
	mails := filepath.Join(dir, "mail")
	if err := os.Mkdir(mails, 0o700); err != nil {
		tb.Fatal(err)
	}
	args := []string{script, "--listen", "127.0.0.1:" + strconv.Itoa(o.Port), "--dir", mails}
	if o.Cert != "" {
		args = append(args, "--cert", o.Cert, "--key", o.Key)
	}
	if o.ImplicitTLS {
		args = append(args, "--implicit-tls")
	}
	if o.RequireTLS {
		args = append(args, "--require-tls")
	}
	if o.User != "" {
		args = append(args, "--user", o.User, "--password", o.Password)
	}
	if o.NoPlain {
		args = append(args, "--no-plain")
	}
	if o.Fail > 0 {
		args = append(args, "--fail", strconv.Itoa(o.Fail))
		if o.FailWith != "" {
			args = append(args, "--fail-with", o.FailWith)
		}
	}
	cmd := exec.Command(python, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &Server{dir: mails}
	s.stop = sync.OnceFunc(func() {
		stdin.Close() // the script stops when its stdin closes
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	tb.Cleanup(s.stop)

	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "listening ")))
		if err != nil {
			s.stop()
			tb.Fatalf("smtptest: aiosmtpd did not start: %q\n%s", l, stderr.String())
		}
		s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	case <-time.After(10 * time.Second):
		s.stop()
		tb.Fatalf("smtptest: aiosmtpd did not listen within 10 s\n%s", stderr.String())
	}
	return s
}

// Stop stops the server now (it also stops when the test ends).
func (s *Server) Stop() { s.stop() }

// Messages returns the messages taken so far, in the order taken.
func (s *Server) Messages(tb testing.TB) []Message {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.eml"))
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(names)
	out := make([]Message, 0, len(names))
	for _, name := range names {
		var m Message
		meta, err := os.ReadFile(strings.TrimSuffix(name, ".eml") + ".json")
		if err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal(meta, &m); err != nil {
			tb.Fatal(err)
		}
		if m.Raw, err = os.ReadFile(name); err != nil {
			tb.Fatal(err)
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(m.Raw)))
		if err != nil {
			tb.Fatalf("smtptest: message %s: %v", filepath.Base(name), err)
		}
		m.Header, m.name = msg.Header, filepath.Base(name)
		out = append(out, m)
	}
	return out
}

// Wait waits until the server has taken at least n messages, polling for within, and
// returns them all.
func (s *Server) Wait(tb testing.TB, n int, within time.Duration) []Message {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ms := s.Messages(tb)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			tb.Fatalf("smtptest: %d message(s) after %v, want %d", len(ms), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Certificate writes a self-signed certificate for names (DNS names, or IP addresses)
// and its key into a temporary folder, and returns their paths and a pool that trusts
// the certificate.
func Certificate(tb testing.TB, names ...string) (cert, key string, pool *x509.CertPool) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// DialAs returns a dial function that connects every address to 127.0.0.1 at the
// address's port: a relay named "relay.test" (not loopback to the relay's rules) is
// this test's server.
func DialAs() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on right now (for a
// relay that is down at first and started later on that port).
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedWriter keeps what the script writes to stderr, for failures.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// String names the message for test failures.
func (m Message) String() string { return fmt.Sprintf("%s (%s → %v)", m.name, m.From, m.To) }
