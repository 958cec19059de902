// Package imaptest runs a throwaway dovecot on loopback for tests, as the test's own
// process, and puts mail into it the way mail reaches a real mailbox: IMAP APPEND.
//
// Dovecot refuses to give mail to uid 0 and to run its login process as root, so when
// the test runs as root the whole server runs as the unprivileged user "dovecot" (or
// "nobody"), in a temporary folder of its own; otherwise as the test's own user.
package imaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
)

// Dovecot is where the Debian package dovecot-imapd installs the server.
const Dovecot = "/usr/sbin/dovecot"

// Options shape the server.
type Options struct {
	// TLS turns ssl on with a self-signed certificate for 127.0.0.1: STARTTLS on the
	// plain port and implicit TLS on a second one (TLSAddr). CertPool trusts it.
	TLS bool
	// Capabilities, when set, replaces the capabilities announced after login
	// (imap_capability), e.g. to leave IDLE or MOVE out.
	Capabilities string
	// Listen is the address the IMAP listener binds; default 127.0.0.1. Addr is still
	// on it, with a free port.
	Listen string
}

// Server is one running dovecot with one user and a maildir per user.
type Server struct {
	Addr     string // 127.0.0.1:port of the IMAP listener (STARTTLS offered with TLS)
	TLSAddr  string // 127.0.0.1:port of the imaps listener; "" without TLS
	User     string
	Password string
	CertPool *x509.CertPool // trusts the server's certificate; nil without TLS

	t    testing.TB
	dir  string
	conf string
	cred *syscall.Credential // nil: run as the test's user

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a dovecot until the test ends; it skips the test when dovecot is not
// installed.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := os.Stat(Dovecot); err != nil {
		t.Skipf("dovecot is not installed (%s; Debian package dovecot-imapd, scripts/deps.sh installs it)", Dovecot)
	}
	s := &Server{t: t, User: "leads", Password: "s3cret-imap-pw"}
	name, group, uid, gid := runAs(t)
	if uid != os.Geteuid() {
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parents are closed to other users.
	dir, err := os.MkdirTemp("", "leadline-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1"
	}
	s.Addr = freeAddr(t, listen)
	ssl := "ssl = no"
	imaps := "port = 0"
	if o.TLS {
		s.TLSAddr = freeAddr(t, "127.0.0.1")
		cert, key, pool := selfSigned(t, dir)
		s.CertPool = pool
		ssl = fmt.Sprintf("ssl = yes\nssl_cert = <%s\nssl_key = <%s\nssl_min_protocol = TLSv1.2", cert, key)
		_, port, _ := net.SplitHostPort(s.TLSAddr)
		imaps = "address = 127.0.0.1\n    port = " + port + "\n    ssl = yes"
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	caps := ""
	if o.Capabilities != "" {
		caps = "imap_capability = " + o.Capabilities
	}
	conf := fmt.Sprintf(dovecotConf, dir, port, imaps, ssl, name, group, uid, gid, caps, listen)
	s.conf = filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), fmt.Appendf(nil, "%s:{PLAIN}%s\n", s.User, s.Password), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.cred != nil {
		chownAll(t, dir, uid, gid)
	}
	s.Restart()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() || os.Getenv("LEADLINE_TEST_LOG") != "" {
			t.Logf("---- dovecot log ----\n%s", s.Log())
		}
	})
	return s
}

const dovecotConf = `# A throwaway dovecot for Leadline's tests (mailin/imaptest).
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = leadline-test-%[2]s
log_path = %[1]s/dovecot.log
protocols = imap
listen = %[10]s
service imap-login {
  chroot =
  inet_listener imap {
    address = %[10]s
    port = %[2]s
  }
  inet_listener imaps {
    %[3]s
  }
}
service anvil {
  chroot =
}
%[4]s
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = %[5]s
default_internal_group = %[6]s
default_login_user = %[5]s
first_valid_uid = 1
first_valid_gid = 0
mail_location = maildir:%[1]s/mail/%%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = static
  args = uid=%[7]d gid=%[8]d home=%[1]s/mail/%%u
}
protocol imap {
  mail_max_userip_connections = 100
}
%[9]s
`

// runAs is the user (and group) dovecot runs as: the test's own, or an unprivileged
// one for root.
func runAs(t testing.TB) (name, group string, uid, gid int) {
	t.Helper()
	var candidates []*user.User
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		candidates = append(candidates, u)
	} else {
		for _, n := range []string{"dovecot", "nobody"} {
			if u, err := user.Lookup(n); err == nil {
				candidates = append(candidates, u)
			}
		}
	}
	for _, u := range candidates {
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return u.Username, g.Name, uid, gid
	}
	t.Skip("no user to run dovecot as: as root it needs the user dovecot or nobody")
	return "", "", 0, 0
}

func chownAll(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a TCP address on host nobody listens on right now.
func freeAddr(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Restart starts the server (again, after Stop) on the same ports and mail, and waits
// until it greets.
func (s *Server) Restart() {
	t := s.t
	t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return
	}
	cmd := exec.Command(Dovecot, "-F", "-c", s.conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatalf("dovecot: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			line := make([]byte, 64)
			n, _ := c.Read(line)
			c.Close()
			if strings.HasPrefix(string(line[:n]), "* OK") {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("dovecot exited at start:\n%s\n%s", out.String(), s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("dovecot did not greet on %s within 15 s:\n%s", s.Addr, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server and every process it started (its process group), as a crash
// or a pulled cable would: connected clients see their connection close.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Log is the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "dovecot.log"))
	return string(b)
}

// URL is the mailbox's imap:// URL (STARTTLS when the server has TLS).
func (s *Server) URL() string { return "imap://" + s.Addr }

// TLSURL is the mailbox's imaps:// URL; "" without TLS.
func (s *Server) TLSURL() string {
	if s.TLSAddr == "" {
		return ""
	}
	return "imaps://" + s.TLSAddr
}

// Client is a new connection logged in as the user; it logs out when the test ends.
func (s *Server) Client(t testing.TB) *client.Client {
	t.Helper()
	c := s.dial(t)
	t.Cleanup(func() { _ = c.Logout() })
	return c
}

// dial is a new connection logged in as the user.
func (s *Server) dial(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.Dial(s.Addr)
	if err != nil {
		t.Fatalf("imap dial: %v", err)
	}
	c.ErrorLog = discard{}
	c.Timeout = 30 * time.Second
	if err := c.Login(s.User, s.Password); err != nil {
		_ = c.Terminate()
		t.Fatalf("imap login: %v", err)
	}
	return c
}

// Append puts a message into folder (created when missing) as a mail server or a mail
// app does, with flags, and returns when the server has it.
func (s *Server) Append(t testing.TB, folder string, raw []byte, flags ...string) {
	t.Helper()
	c := s.dial(t)
	defer c.Logout()
	s.AppendWith(t, c, folder, raw, flags...)
}

// AppendWith appends with a connection of the test's (Client), to time an arrival
// without the login.
func (s *Server) AppendWith(t testing.TB, c *client.Client, folder string, raw []byte, flags ...string) {
	t.Helper()
	if folder != "INBOX" {
		_ = c.Create(folder) // "already exists" is fine
	}
	if err := c.Append(folder, flags, time.Time{}, bytes.NewReader(raw)); err != nil {
		t.Fatalf("imap append to %s: %v", folder, err)
	}
}

// Message is one message of a folder as the test sees it.
type Message struct {
	UID       uint32
	MessageID string // without angle brackets
	Flags     []string
}

// Has reports whether the message has flag (case-insensitive, as IMAP flags are).
func (m Message) Has(flag string) bool {
	return slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, flag) })
}

// Messages lists folder's messages (read-only: it changes no flag).
func (s *Server) Messages(t testing.TB, folder string) []Message {
	t.Helper()
	c := s.dial(t)
	defer c.Logout()
	mbox, err := c.Select(folder, true)
	if err != nil {
		t.Fatalf("imap examine %s: %v", folder, err)
	}
	if mbox.Messages == 0 {
		return nil
	}
	set := new(imap.SeqSet)
	set.AddRange(1, 0)
	ch := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() {
		done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, imap.FetchFlags, imap.FetchEnvelope}, ch)
	}()
	var out []Message
	for m := range ch {
		// Another session's flag change can come in as a FETCH of its own, without
		// the envelope.
		if m.Envelope != nil {
			out = append(out, Message{UID: m.Uid, MessageID: strings.Trim(m.Envelope.MessageId, "<>"), Flags: m.Flags})
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("imap fetch %s: %v", folder, err)
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.UID) - int(b.UID) })
	return out
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t testing.TB, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// TLSConfig trusts the server's certificate.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool, MinVersion: tls.VersionTLS12}
}

type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}
