package sip

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
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

// tcpListener limits the SIP connections peers open to us and closes those idle for too
// long: sipgo reads each connection in a goroutine with a 32 KiB buffer, forever.
type tcpListener struct {
	net.Listener
	slots chan struct{} // one per open connection
	idle  time.Duration
}

const (
	maxInboundTCP  = 512
	inboundTCPIdle = 3 * time.Minute
)

func limitTCP(l net.Listener) net.Listener {
	return &tcpListener{Listener: l, slots: make(chan struct{}, maxInboundTCP), idle: inboundTCPIdle}
}

// Accept waits for a free slot, then for a connection.
func (l *tcpListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &idleConn{Conn: c, idle: l.idle, release: func() { <-l.slots }}, nil
}

// idleConn is an inbound connection that fails a read after idle without data.
type idleConn struct {
	net.Conn
	idle    time.Duration
	once    sync.Once
	release func()
}

func (c *idleConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(b)
}

func (c *idleConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// Outbound TCP connections are opened only for requests we send. sipgo would otherwise
// open one to answer a request whose connection has closed, to whatever host its Via
// names: a peer could make us connect anywhere by sending a request and hanging up.
// Such a response is dropped instead (RFC 3261 section 18.2.2 says SHOULD connect).

var errNoDial = errors.New("sip: not opening a connection for a response")

// tcpDialer is sipgo's TCP dialer with dialControl.
func (u *UA) tcpDialer(laddr net.Addr) net.Dialer {
	return net.Dialer{Timeout: 10 * time.Second, LocalAddr: laddr, Control: u.dialControl}
}

// dialControl allows a connection while one of our requests is being handed to the
// transport (u.dials > 0), the only time sipgo opens one for us.
func (u *UA) dialControl(string, string, syscall.RawConn) error {
	if u.dials.Load() > 0 {
		return nil
	}
	return errNoDial
}

// send hands a request to the transport with f, unless Close has stopped sending.
func (u *UA) send(f func() error) error {
	u.sendMu.RLock()
	defer u.sendMu.RUnlock()
	if u.sendDone {
		return errClosed
	}
	u.dials.Add(1)
	defer u.dials.Add(-1)
	return f()
}

// request starts a client transaction for req.
func (u *UA) request(ctx context.Context, req *sip.Request, opt sipgo.ClientRequestOption) (tx sip.ClientTransaction, err error) {
	err = u.send(func() error {
		tx, err = u.client.TransactionRequest(ctx, req, opt)
		return err
	})
	return tx, err
}

// write sends a request built from a dialog (an ACK) outside any transaction.
func (u *UA) write(req *sip.Request) error {
	return u.send(func() error { return u.client.WriteRequest(req, u.addVia) })
}

// do sends a request built from a dialog and waits for its final response.
func (u *UA) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := u.request(ctx, req, u.addVia)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if !res.IsProvisional() {
				return res, nil
			}
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
