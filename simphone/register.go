package simphone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// A Phone can also be a softphone that registers to Leadline (RFC 3261 section 10),
// over UDP from its own socket, optionally as if behind NAT (BehindNAT).

// regState is a phone's registration dialog: one Call-ID, CSeq counting up (RFC 3261
// section 10.2). Phone.regMu guards it.
type regState struct {
	client *sipgo.Client
	callID string
	cseq   uint32
}

// BehindNAT makes the phone claim private in its Contact, Via and SDP, as a phone
// behind NAT does, while it sends everything from the address it listens on (what its
// NAT's public address is to Leadline) and binds its media there too. Call it before
// the phone registers or takes a call.
func (p *Phone) BehindNAT(private netip.Addr) {
	p.mu.Lock()
	p.private = private
	p.mu.Unlock()
	client, err := sipgo.NewClient(p.ua, sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()))
	if err != nil {
		return
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.Name, Host: private.String(), Port: int(p.addr.Port())}}
	p.dlgs = sipgo.NewDialogServerCache(client, contact)
}

// mediaIP is where the phone binds its RTP sockets.
func (p *Phone) mediaIP() netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.private.IsValid() {
		return p.addr.Addr()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// sdpHost is the address the phone's SDP names.
func (p *Phone) sdpHost() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.private.IsValid() {
		return p.private.String()
	}
	return "127.0.0.1"
}

// contactHost is the host of the phone's Contact and Via.
func (p *Phone) contactHost() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.private.IsValid() {
		return p.private.String()
	}
	return p.addr.Addr().String()
}

// Register sends a REGISTER for user to registrar over UDP, with the phone's Contact
// and Expires: expires seconds (0 unregisters), answers a 401 with user and password
// once, and returns the final response. A 401 or 403 after the credentials is
// returned, not an error.
func (p *Phone) Register(ctx context.Context, registrar netip.AddrPort, user, password string, expires int) (*sip.Response, error) {
	req, err := p.registerRequest(registrar, user, expires, nil)
	if err != nil {
		return nil, err
	}
	res, err := p.doRegister(ctx, req)
	if err != nil || res.StatusCode != 401 {
		return res, err
	}
	auth := req.Clone()
	var out *sip.Response
	err = p.send(func() (err error) {
		out, err = p.reg.client.DoDigestAuth(ctx, auth, res, sipgo.DigestAuth{Username: user, Password: password})
		return err
	})
	p.regMu.Lock()
	p.reg.cseq = max(p.reg.cseq, auth.CSeq().SeqNo) // the next REGISTER counts on from the one that carried the credentials
	p.regMu.Unlock()
	return out, err
}

// RegisterRaw sends a REGISTER for user as Register does, with the headers given
// (an Authorization, say) and no answer to a challenge: the first final response.
func (p *Phone) RegisterRaw(ctx context.Context, registrar netip.AddrPort, user string, expires int, hdrs ...sip.Header) (*sip.Response, error) {
	req, err := p.registerRequest(registrar, user, expires, hdrs)
	if err != nil {
		return nil, err
	}
	return p.doRegister(ctx, req)
}

func (p *Phone) registerRequest(registrar netip.AddrPort, user string, expires int, hdrs []sip.Header) (*sip.Request, error) {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	if p.reg == nil {
		client, err := sipgo.NewClient(p.ua,
			sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()),
			sipgo.WithClientHostname(p.contactHost()),
			sipgo.WithClientPort(int(p.addr.Port())),
			sipgo.WithClientNAT())
		if err != nil {
			return nil, err
		}
		p.reg = &regState{client: client, callID: fmt.Sprintf("reg-%s-%d", p.Name, p.addr.Port())}
	}
	p.reg.cseq++
	aor := sip.Uri{Scheme: "sip", User: user, Host: registrar.Addr().String()}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: registrar.Addr().String(), Port: int(registrar.Port())})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", fmt.Sprintf("%s%d", p.Name, p.reg.cseq))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	callID := sip.CallIDHeader(p.reg.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: p.reg.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.Name, Host: p.contactHost(), Port: int(p.addr.Port())}})
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.AppendHeader(sip.NewHeader("User-Agent", "simphone "+p.Name))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetBody(nil)
	return req, nil
}

func (p *Phone) doRegister(ctx context.Context, req *sip.Request) (res *sip.Response, err error) {
	err = p.send(func() error {
		res, err = p.reg.client.Do(ctx, req)
		return err
	})
	return res, err
}

// Invite sends an INVITE from the phone's socket to target, as a call from the phone
// would start, and returns the final response (a 2xx is not acknowledged: Leadline
// must never send one).
func (p *Phone) Invite(ctx context.Context, target netip.AddrPort, user string) (*sip.Response, error) {
	client, err := sipgo.NewClient(p.ua, sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()),
		sipgo.WithClientHostname(p.contactHost()), sipgo.WithClientNAT())
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: user, Host: target.Addr().String(), Port: int(target.Port())})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.Name, Host: p.contactHost(), Port: int(p.addr.Port())}})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(fmt.Appendf(nil, "v=0\r\no=- 1 1 IN IP4 %[1]s\r\ns=-\r\nc=IN IP4 %[1]s\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", p.sdpHost()))
	var res *sip.Response
	err = p.send(func() (err error) {
		res, err = client.Do(ctx, req)
		return err
	})
	return res, err
}

// MediaAddr is where the call's media socket listens.
func (c *Call) MediaAddr() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rtp.LocalAddr().(*net.UDPAddr).AddrPort()
}
