package mailout

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Relay is the outgoing mail server every mail Leadline sends leaves through
// (email.relay): smtp://[user:password@]host[:587] with STARTTLS, or
// smtps://[user:password@]host[:465] with TLS from the first byte.
//
// The rules, checked on every connection:
//   - TLS always, with the certificate verified for the relay's host name (against the
//     system's roots, or Options.RootCAs), except on an smtp:// relay on loopback
//     (127.0.0.0/8, ::1, "localhost"), which is used in plain: the mail never leaves the
//     machine, and a local MTA's certificate is often a self-signed one no client can
//     verify. An smtp:// relay elsewhere that offers no STARTTLS gets nothing: neither
//     the password nor a mail.
//   - With user information, AUTH PLAIN when the relay offers it, else AUTH LOGIN
//     (go-sasl); a relay that offers neither gets no mail. Without user information no
//     AUTH is tried.
//
// A Relay is safe for concurrent use; each Send is a connection of its own.
type Relay struct {
	host     string // as configured, for TLS verification and the loopback rule
	addr     string // host:port
	implicit bool   // smtps://
	plain    bool   // smtp:// on loopback: no STARTTLS
	user     string
	password string
	hasAuth  bool
	shown    string
	o        Options
}

// Options configure a Relay.
type Options struct {
	// Timeout bounds one Send: connecting, TLS, AUTH, and the relay's answer to the
	// message's end; default DefaultTimeout. The context given to Send may end it
	// sooner.
	Timeout time.Duration
	// HelloName is the name given in EHLO; default "localhost".
	HelloName string
	// RootCAs verify the relay's certificate; nil: the system's roots.
	RootCAs *x509.CertPool
	// Dial opens the TCP connection; nil: a net.Dialer (tests point a name at
	// loopback with it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultTimeout bounds a Send when Options.Timeout is 0: submission servers that scan
// a message before they answer its end can take seconds.
const DefaultTimeout = 30 * time.Second

// Default ports of the two schemes.
const (
	PortSubmission  = "587" // smtp://, STARTTLS
	PortSubmissions = "465" // smtps://, implicit TLS (RFC 8314)
)

// ErrRelayURL is wrapped by New's errors.
var ErrRelayURL = errors.New("not a relay URL")

// New returns the relay raw names (smtp:// or smtps://). Its errors never hold the
// password.
func New(raw string, o Options) (*Relay, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", Redact(raw), ErrRelayURL)
	}
	r := &Relay{host: u.Hostname(), o: o}
	if r.o.Timeout <= 0 {
		r.o.Timeout = DefaultTimeout
	}
	if r.o.HelloName == "" {
		r.o.HelloName = "localhost"
	}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		port = cmpOr(port, PortSubmission)
	case "smtps":
		port = cmpOr(port, PortSubmissions)
		r.implicit = true
	default:
		return nil, fmt.Errorf("relay %s: %w: use smtp://host:587 (STARTTLS) or smtps://host:465 (TLS)", Redact(raw), ErrRelayURL)
	}
	if r.host == "" {
		return nil, fmt.Errorf("relay %s: %w: no host", Redact(raw), ErrRelayURL)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("relay %s: %w: bad port", Redact(raw), ErrRelayURL)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("relay %s: %w: a path, query or fragment means nothing here", Redact(raw), ErrRelayURL)
	}
	r.addr = net.JoinHostPort(r.host, port)
	r.plain = !r.implicit && Loopback(r.host)
	if u.User != nil {
		r.user = u.User.Username()
		r.password, r.hasAuth = u.User.Password()
		if r.user == "" || !r.hasAuth {
			return nil, fmt.Errorf("relay %s: %w: give both user and password (smtp://user:password@host), or neither", Redact(raw), ErrRelayURL)
		}
	}
	shown := &url.URL{Scheme: u.Scheme, Host: r.addr}
	if r.hasAuth {
		shown.User = url.User(r.user)
	}
	r.shown = shown.String()
	return r, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Loopback reports whether host (a relay's, as configured) is this machine: an IP
// address in 127.0.0.0/8 or ::1, or "localhost".
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// String is the relay as logs and `leadline check` show it: scheme, user, host and
// port; never the password.
func (r *Relay) String() string { return r.shown }

// Security says how the relay is reached, for people: "STARTTLS", "TLS" or "plain
// (loopback)", and "AUTH as USER" when credentials are given.
func (r *Relay) Security() string {
	s := "STARTTLS"
	switch {
	case r.implicit:
		s = "TLS"
	case r.plain:
		s = "plain (loopback)"
	}
	if r.hasAuth {
		s += ", AUTH as " + r.user
	}
	return s
}

// Error is a failed Send: Code is the relay's SMTP reply code (451, 550…), 0 when none
// came (no connection, TLS refused, a timeout).
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Code returns the SMTP reply code of a Send error, 0 when it has none.
func Code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Send submits msg (a whole message, CRLF lines) from the envelope sender from to the
// recipients to, in one connection, within Options.Timeout and ctx. A nil error means
// the relay took responsibility for the message (250 to its end). The error is an
// *Error; it names the relay without its password.
func (r *Relay) Send(ctx context.Context, from string, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	err := r.send(ctx, from, to, msg)
	if err == nil {
		return nil
	}
	e := &Error{Err: err}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e.Code = se.Code
	}
	var ne net.Error
	if ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
		e.Err = fmt.Errorf("no answer from the relay %s within %s: %w", r.addr, r.o.Timeout, err)
	}
	return e
}

func (r *Relay) send(ctx context.Context, from string, to []string, msg []byte) error {
	dial := r.o.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", r.addr)
	if err != nil {
		return fmt.Errorf("connect to the relay %s: %w", r.addr, err)
	}
	// The context bounds every step: greeting, TLS handshake, commands and the answer
	// to the message's end (go-smtp sets deadlines of its own per command, and clears
	// them after).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	tlsConfig := &tls.Config{ServerName: r.host, RootCAs: r.o.RootCAs, MinVersion: tls.VersionTLS12}
	var c *smtp.Client
	switch {
	case r.implicit:
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("TLS with the relay %s: %w", r.addr, err)
		}
		c = smtp.NewClient(tc)
	case r.plain:
		c = smtp.NewClient(conn)
	default:
		// go-smtp says EHLO (as "localhost"), checks that STARTTLS is offered and starts
		// it; our own name follows in the EHLO over TLS.
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			conn.Close()
			return fmt.Errorf("STARTTLS with the relay %s (an smtp:// relay off this machine is used only over TLS; nothing was sent): %w", r.addr, err)
		}
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = r.o.Timeout, r.o.Timeout
	if err := c.Hello(r.o.HelloName); err != nil {
		return fmt.Errorf("relay %s: %w", r.addr, err)
	}
	if r.hasAuth {
		if err := r.auth(c); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("relay %s: %w", r.addr, err)
	}
	_ = c.Quit() // the message is the relay's now, whatever QUIT gets
	return nil
}

// auth authenticates with PLAIN, else LOGIN.
func (r *Relay) auth(c *smtp.Client) error {
	var a sasl.Client
	switch {
	case c.SupportsAuth(sasl.Plain):
		a = sasl.NewPlainClient("", r.user, r.password)
	case c.SupportsAuth(sasl.Login):
		a = &loginClient{user: r.user, password: r.password}
	default:
		return fmt.Errorf("the relay %s offers neither AUTH PLAIN nor AUTH LOGIN to authenticate %s with (nothing was sent)", r.addr, r.user)
	}
	if err := c.Auth(a); err != nil {
		return fmt.Errorf("AUTH as %s at the relay %s: %w", r.user, r.addr, err)
	}
	return nil
}

// loginClient is AUTH LOGIN answering by the order of the relay's prompts, not their
// words, as Python's smtplib does: the first is for the user name, any later one for
// the password. Relays word them differently ("Username:", "User Name\x00"), and go-sasl's
// LOGIN client takes only "Password:".
type loginClient struct {
	user, password string
	asked          int
}

func (l *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (l *loginClient) Next([]byte) ([]byte, error) {
	l.asked++
	if l.asked == 1 {
		return []byte(l.user), nil
	}
	return []byte(l.password), nil
}

// Redact is a relay URL without its password, for messages: smtp://user:xxxxx@host.
// A URL that does not parse loses everything between "://" and the last "@".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		return u.String()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if at := strings.LastIndexByte(rest, '@'); ok && at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return "(an unreadable URL)"
}
