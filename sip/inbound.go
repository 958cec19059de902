package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
)

// This file is the UA's front door for requests from outside: the checks RFC 3261
// section 8.2 asks of a UAS before any method is handled, and the limits that keep
// hostile TCP peers from holding memory.

// checked wraps a handler with the request checks of RFC 3261 section 8.2, in its order:
// a malformed request gets 400 (missing or repeated mandatory header fields, a CSeq for
// another method), then 505 for a SIP version other than 2.0, 416 for a Request-URI
// scheme we do not serve, and 420 for a required extension we lack. An ACK is never
// answered.
func (u *UA) checked(h func(*sip.Request, sip.ServerTransaction)) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		code, reason, hdrs := checkRequest(req)
		if code == 0 {
			h(req, tx)
			return
		}
		u.log.Debug("refused malformed request", "method", req.Method.String(), "code", code, "reason", reason, "from", req.Source())
		if req.IsAck() {
			return
		}
		u.respond(req, tx, code, reason, nil, hdrs...)
	}
}

// singleHeaders may appear once in a request (RFC 3261 section 7.3.1: only headers
// defined as comma-separated lists may repeat).
var singleHeaders = []string{"To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

func checkRequest(req *sip.Request) (code int, reason string, hdrs []sip.Header) {
	if req.To() == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
		return 400, "Missing Mandatory Header Field", nil
	}
	for _, name := range singleHeaders {
		if len(req.GetHeaders(name)) > 1 {
			return 400, "Repeated " + name, nil
		}
	}
	if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
		return 400, "CSeq Method Mismatch", nil
	}
	if req.SipVersion != "SIP/2.0" {
		return 505, "Version Not Supported", nil
	}
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips", "tel":
	default:
		return 416, "Unsupported URI Scheme", nil
	}
	if !req.IsAck() && !req.IsCancel() {
		if ext := unsupportedRequire(req); ext != "" {
			return 420, "Bad Extension", []sip.Header{sip.NewHeader("Unsupported", ext)}
		}
	}
	return 0, "", nil
}

// knownMethods are SIP methods we recognise but do not take (405, RFC 3261 section
// 8.2.1); any other gets 501.
var knownMethods = map[sip.RequestMethod]bool{
	sip.REGISTER: true, sip.MESSAGE: true, sip.SUBSCRIBE: true, sip.NOTIFY: true,
	sip.REFER: true, sip.PUBLISH: true, sip.PRACK: true,
}

func (u *UA) onOtherMethod(req *sip.Request, tx sip.ServerTransaction) {
	if knownMethods[req.Method] {
		u.respond(req, tx, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowed))
		return
	}
	u.respond(req, tx, 501, "Not Implemented", nil, sip.NewHeader("Allow", allowed))
}

// Inbound TCP. sipgo reads every connection a peer opens to us in a goroutine of its own
// with a 32 KiB buffer, for as long as the peer keeps it open, and its listener loop
// stops for good on an accept error. So limitTCP wraps the listener before sipgo sees
// it: a connection beyond maxTCPPerSource from one source (an IPv4 address, an IPv6
// /64) or beyond maxInboundTCP in all is closed at once instead of waiting for a slot,
// so that a flood from one address locks out nobody else; and a connection that has not
// delivered a complete SIP message for inboundTCPIdle is closed, however many bytes it
// sends, so that a peer dripping a byte a minute holds no slot for long. Connections
// that deliver messages are never closed to make room: peers that talk SIP keep being
// served. Connections we open ourselves (to the trunk, to phones) do not pass through
// here and are not limited.

const (
	maxInboundTCP    = 512 // connections from all peers at once
	maxTCPPerSource  = 16  // from one IPv4 address or IPv6 /64
	inboundTCPIdle   = 60 * time.Second
	tcpRefusedLogGap = time.Second // refusals are logged once a second at most
)

// tcpLimits are limitTCP's limits; a zero field takes the default above (tests shorten
// them).
type tcpLimits struct {
	total, perSource int
	idle             time.Duration // longest time between two complete SIP messages
}

func (l tcpLimits) withDefaults() tcpLimits {
	if l.total <= 0 {
		l.total = maxInboundTCP
	}
	if l.perSource <= 0 {
		l.perSource = maxTCPPerSource
	}
	if l.idle <= 0 {
		l.idle = inboundTCPIdle
	}
	return l
}

// inboundConns counts the inbound connections of the TCP and TLS listeners together:
// the limits hold for both at once.
type inboundConns struct {
	lim tcpLimits

	mu    sync.Mutex           // guards the following fields
	open  int                  // connections accepted and not closed
	bySrc map[netip.Prefix]int // of them, by source

	refused    atomic.Int64 // connections refused
	refusedLog atomic.Int64 // when a refusal was last logged (unix ns)
}

func newInboundConns(lim tcpLimits) *inboundConns {
	return &inboundConns{lim: lim.withDefaults(), bySrc: map[netip.Prefix]int{}}
}

// tcpListener is a SIP TCP or TLS listener as sipgo sees it (limitTCP).
type tcpListener struct {
	net.Listener
	conns *inboundConns
	log   *slog.Logger
	// wrap makes the raw connection what SIP is read from: the server side of TLS
	// (RFC 3261 section 26.2), below the idle watch, which must see SIP, not records.
	// nil for TCP.
	wrap func(net.Conn) net.Conn
}

func limitTCP(l net.Listener, conns *inboundConns, log *slog.Logger, wrap func(net.Conn) net.Conn) *tcpListener {
	return &tcpListener{Listener: l, conns: conns, log: log, wrap: wrap}
}

// Accept returns the next connection within the limits, closing at once those beyond
// them. A failed accept that a later one may get past (out of descriptors, a connection
// reset before it was accepted) is retried after a pause, as net/http does: sipgo would
// stop listening for good. A TLS connection's handshake happens at its first read, so
// within the idle limit like any message.
func (l *tcpListener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !retryAccept(err) {
				return nil, err
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			l.log.Warn("sip tcp accept", "error", err, "retry_in", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		src := sourcePrefix(c.RemoteAddr())
		if !l.conns.take(src) {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset: no TIME_WAIT kept for a flood
			}
			_ = c.Close()
			if n := l.conns.refused.Add(1); n == 1 || time.Since(time.Unix(0, l.conns.refusedLog.Load())) > tcpRefusedLogGap {
				l.conns.refusedLog.Store(time.Now().UnixNano())
				l.log.Info("refused sip tcp connection: too many open", "from", c.RemoteAddr().String(), "refused_total", n)
			}
			continue
		}
		if l.wrap != nil {
			c = l.wrap(c)
		}
		return newIdleConn(c, l.conns.lim.idle, l.log, func() { l.conns.release(src) }), nil
	}
}

// take counts a new connection from src, unless it would exceed a limit.
func (l *inboundConns) take(src netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.lim.total || l.bySrc[src] >= l.lim.perSource {
		return false
	}
	l.open++
	l.bySrc[src]++
	return true
}

func (l *inboundConns) release(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySrc[src]--; l.bySrc[src] <= 0 {
		delete(l.bySrc, src)
	}
}

// retryAccept reports whether an accept error is one a later accept may get past.
func retryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sourcePrefix is what the per-source limit counts connections by: the peer's IPv4
// address, or the /64 of its IPv6 address (one host can hold a whole /64).
func sourcePrefix(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits) // the zero Prefix for an address that is none: one shared source
	return p
}

// idleConn is an inbound connection that must deliver a complete SIP message every idle:
// its read deadline runs from the last complete message (from the accept before the
// first), not from the last byte. When it passes, Read reports errIdle, which sipgo
// takes as the end of the connection and closes it.
//
// Read is called by sipgo's one reading goroutine only; deadline and frame are its.
type idleConn struct {
	net.Conn
	idle     time.Duration
	log      *slog.Logger
	deadline time.Time
	frame    sipFramer
	once     sync.Once
	release  func()
	// held is when a registration on this connection ends (unix ns; 0: none): until
	// then any bytes, CRLF keep-alives included, count as activity, and the connection
	// is not closed before it (hold, set by the registrar).
	held atomic.Int64
}

func newIdleConn(c net.Conn, idle time.Duration, log *slog.Logger, release func()) *idleConn {
	ic := &idleConn{Conn: c, idle: idle, log: log, deadline: time.Now().Add(idle), release: release}
	_ = c.SetReadDeadline(ic.deadline)
	return ic
}

// errIdle ends a connection that delivered no complete message for too long. It is an
// io.EOF, which sipgo logs at debug level only: a flood of idle connections would
// otherwise be a flood of error lines.
var errIdle = fmt.Errorf("sip: tcp connection sent no complete message in time: %w", io.EOF)

func (c *idleConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && (c.frame.feed(b[:n]) > 0 || time.Now().UnixNano() < c.held.Load()) {
		c.deadline = c.extended()
		_ = c.Conn.SetReadDeadline(c.deadline)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.log.Debug("closing idle sip tcp connection", "from", c.RemoteAddr().String(), "idle", c.idle)
		return n, errIdle
	}
	return n, err
}

// extended is the read deadline after activity now: idle from now, or the end of a
// registration held on the connection when that is later.
func (c *idleConn) extended() time.Time {
	d := time.Now().Add(c.idle)
	if h := time.Unix(0, c.held.Load()); h.After(d) {
		return h
	}
	return d
}

// hold keeps the connection open for d at least, with keep-alives counted: a phone
// registered on it (holdTCP). Safe to call from any goroutine.
func (c *idleConn) hold(d time.Duration) {
	c.held.Store(time.Now().Add(d).UnixNano())
	_ = c.Conn.SetReadDeadline(c.extended())
}

func (c *idleConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// sipFramer finds where SIP messages end in a byte stream, as RFC 3261 section 18.3
// frames them: the headers end at the first empty line and the body is Content-Length
// bytes long (compact form l, section 7.3.3; a message without one has none, and sipgo
// then refuses it and closes the connection anyway). CRLFs between messages are
// keep-alives (RFC 5626 section 3.5.1) and complete nothing. It keeps no message, only
// enough of each header line to read Content-Length: sipgo parses the messages; this
// only tells a peer that talks SIP from one that drips bytes.
type sipFramer struct {
	state   uint8    // framerBetween, framerHeaders or framerBody
	line    [64]byte // the start of the current header line
	lineLen int      // the current line's length so far (it may be longer than line)
	clen    int      // the message's Content-Length; 0 when it has none
	left    int      // body bytes still to come
}

const (
	framerBetween = iota // before a start line: CR and LF are keep-alives
	framerHeaders        // in the start line or the headers
	framerBody           // in the body
)

// feed takes the next bytes of the stream and returns how many messages they completed.
func (f *sipFramer) feed(b []byte) int {
	done := 0
	for len(b) > 0 {
		switch f.state {
		case framerBetween:
			if b[0] == '\r' || b[0] == '\n' {
				b = b[1:]
				continue
			}
			f.state, f.lineLen, f.clen = framerHeaders, 0, 0
		case framerHeaders:
			c := b[0]
			b = b[1:]
			if c != '\n' {
				if f.lineLen < len(f.line) {
					f.line[f.lineLen] = c
				}
				f.lineLen++
				continue
			}
			line := f.line[:min(f.lineLen, len(f.line))]
			line = bytes.TrimSuffix(line, []byte("\r"))
			f.lineLen = 0
			if len(line) > 0 {
				if n, ok := contentLength(line); ok {
					f.clen = n
				}
				continue
			}
			if f.clen > 0 { // the empty line: the body follows
				f.state, f.left = framerBody, f.clen
				continue
			}
			f.state = framerBetween
			done++
		case framerBody:
			n := min(f.left, len(b))
			b, f.left = b[n:], f.left-n
			if f.left == 0 {
				f.state = framerBetween
				done++
			}
		}
	}
	return done
}

// contentLength reads a Content-Length (or l) header line.
func contentLength(line []byte) (int, bool) {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return 0, false
	}
	name = bytes.TrimSpace(name)
	if !bytes.EqualFold(name, []byte("content-length")) && !bytes.EqualFold(name, []byte("l")) {
		return 0, false
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
