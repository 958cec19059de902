package sip

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Requests we send: the transport helpers every outgoing request goes through (the
// INVITE client, BYE, CANCEL, REGISTER, keep-alives) and the headers that name us.

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
	if u.steer(req) {
		opt = withRport(opt)
	}
	err = u.send(func() error {
		tx, err = u.client.TransactionRequest(ctx, req, opt)
		return err
	})
	return tx, err
}

// write sends a request built from a dialog (an ACK) outside any transaction.
func (u *UA) write(req *sip.Request) error {
	opt := sipgo.ClientRequestOption(u.addVia)
	if u.steer(req) {
		opt = withRport(opt)
	}
	return u.send(func() error { return u.client.WriteRequest(req, opt) })
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

// contact is our Contact for requests sent over transport: in-dialog requests come back
// over the same transport (RFC 3261 section 8.1.1.8), to the TLS listener over TLS.
func (u *UA) contact(transport string) *sip.ContactHeader {
	h := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "leadline", Host: u.host, Port: u.sentByPort(transport)}}
	if t := strings.ToLower(transport); t != "" && t != "udp" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", t)
	}
	return h
}

// buildOpt completes a request as sipgo's default does and makes it leave from the
// listening socket (NOTES: sipgo pitfall 4). Over TCP and TLS a connection goes out
// from an ephemeral port, as RFC 3261 section 18.1.1 expects; Via and Contact still
// name the listening port (the TLS listener's over TLS).
func (u *UA) buildOpt(c *sipgo.Client, req *sip.Request) error {
	if err := sipgo.ClientRequestBuild(c, req); err != nil {
		return err
	}
	u.fromListener(req)
	return nil
}

// fromListener pins a UDP request to the listening socket and leaves TCP and TLS to
// the pool, with the TLS listener's port in Via.
func (u *UA) fromListener(req *sip.Request) {
	if sip.IsReliable(req.Transport()) {
		req.Laddr = sip.Addr{}
	}
	u.tlsVia(req)
}

// addVia gives a request built from a dialog a new branch and the listening socket.
func (u *UA) addVia(c *sipgo.Client, req *sip.Request) error {
	if err := sipgo.ClientRequestAddVia(c, req); err != nil {
		return err
	}
	u.fromListener(req)
	return nil
}
