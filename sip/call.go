package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
)

// Call is one outbound leg and its dialog. It implements dialer.Leg once answered.
//
// Dial owns the INVITE transaction until the answer; after a ring timeout the goroutine
// cancelInvite owns it and terminates it. end runs once, under endOnce, and releases the
// RTP port; the UA forgets the call there.
type Call struct {
	ua     *UA
	log    *slog.Logger
	kind   dialer.LegKind
	callID string

	invite   *sip.Request  // our INVITE as last sent (after authentication)
	localTag string        // our From tag
	answer   *sip.Response // the 2xx that established the dialog; nil before
	cseq     atomic.Uint32 // last CSeq we used in the dialog
	sdpVer   atomic.Uint64
	sessID   uint64

	media  *stream
	digits chan rune

	done    chan struct{}
	endOnce sync.Once
	err     error // why the leg ended; set before done is closed
	bridged atomic.Pointer[Call]
}

var _ dialer.Leg = (*Call)(nil)

// Dial implements dialer.Caller.
func (u *UA) Dial(ctx context.Context, target string, o dialer.DialOpts) (dialer.Leg, error) {
	uri, err := u.targetURI(target)
	if err != nil {
		return nil, err
	}
	conn, err := u.ports.listen()
	if err != nil {
		return nil, err
	}
	c := &Call{
		ua:       u,
		kind:     o.Kind,
		callID:   newToken(24),
		localTag: newToken(16),
		sessID:   rand.Uint64() >> 1,
		digits:   make(chan rune, 32),
		done:     make(chan struct{}),
	}
	c.log = u.log.With("lead_id", o.LeadID, "call_id", c.callID, "leg", string(o.Kind))
	c.media = newStream(conn, u.obs, u.cfg.MediaTimeout, c.digits, func(err error) { c.end(err, true) })
	c.invite = u.newInvite(c, uri, o)
	u.register(c)
	u.obs.CallStarted(string(c.kind))

	tx, err := u.client.TransactionRequest(ctx, c.invite, u.buildOpt)
	if err != nil {
		c.end(fmt.Errorf("invite %s: %w", uri.String(), err), false)
		return nil, c.err
	}
	return c.awaitAnswer(ctx, tx, o)
}

// targetURI turns a person's phone into a Request-URI: SIP URIs are used as they are,
// numbers go to the trunk.
func (u *UA) targetURI(target string) (sip.Uri, error) {
	var uri sip.Uri
	if strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:") {
		if err := sip.ParseUri(target, &uri); err != nil {
			return uri, fmt.Errorf("sip: bad uri %q: %w", target, err)
		}
		return uri, nil
	}
	if u.trunk == nil {
		return uri, fmt.Errorf("sip: no trunk configured to call %q", target)
	}
	uri = *u.trunk.Clone()
	uri.User = userPart(target)
	return uri, nil
}

func (u *UA) newInvite(c *Call, uri sip.Uri, o dialer.DialOpts) *sip.Request {
	req := sip.NewRequest(sip.INVITE, uri)
	if uri.UriParams != nil {
		if t, _ := uri.UriParams.Get("transport"); t != "" {
			req.SetTransport(strings.ToUpper(t))
		}
	}
	from := &sip.FromHeader{
		DisplayName: quotedDisplayName(o.DisplayName),
		Address:     sip.Uri{Scheme: "sip", User: userPart(o.CallerID), Host: u.host},
		Params:      sip.NewParams(),
	}
	from.Params.Add("tag", c.localTag)
	to := &sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}}
	callID := sip.CallIDHeader(c.callID)
	c.cseq.Store(1)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(u.contact())
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("X-Leadline-Lead", userPart(o.LeadID)))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	c.sdpVer.Store(1)
	req.SetBody(offerSDP(u.host, c.media.port, c.sessID, 1))
	return req
}

func (u *UA) contact() *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "leadline", Host: u.host, Port: int(u.addr.Port())}}
}

// buildOpt completes a request as sipgo's default does and makes it leave from the
// listening socket.
func (u *UA) buildOpt(c *sipgo.Client, req *sip.Request) error {
	return sipgo.ClientRequestBuild(c, req)
}

// awaitAnswer reads the INVITE's responses until a final one or ctx ends. It reads
// tx.Responses itself rather than sipgo's WaitAnswer, which gives up after ten
// provisional responses and leaves a 2xx racing the CANCEL unanswered (NOTES.md).
func (c *Call) awaitAnswer(ctx context.Context, tx sip.ClientTransaction, o dialer.DialOpts) (dialer.Leg, error) {
	u := c.ua
	provisional, authTries := false, 0
	for {
		select {
		case res := <-tx.Responses():
			u.obs.SIPResponse("INVITE", res.StatusCode)
			switch {
			case res.IsProvisional():
				provisional = true
				c.earlyMedia(res, o.EarlyMedia)
			case res.IsSuccess():
				if err := c.established(tx, res); err != nil {
					return nil, err
				}
				return c, nil
			case (res.StatusCode == 401 || res.StatusCode == 407) && u.cfg.TrunkPassword != "" && authTries == 0:
				authTries++
				tx.Terminate()
				var err error
				tx, err = u.client.TransactionDigestAuth(ctx, c.invite, res, sipgo.DigestAuth{
					Username: u.cfg.TrunkUser, Password: u.cfg.TrunkPassword,
				})
				if err != nil {
					c.end(fmt.Errorf("invite auth: %w", err), false)
					return nil, c.err
				}
				c.cseq.Store(c.invite.CSeq().SeqNo)
				provisional = false
			default:
				tx.Terminate()
				err := &StatusError{Code: res.StatusCode, Reason: res.Reason}
				c.end(err, false)
				return nil, err
			}
		case <-tx.Done():
			err := tx.Err()
			if errors.Is(err, sip.ErrTransactionTimeout) {
				u.obs.SIPResponse("INVITE", 408)
			}
			c.end(fmt.Errorf("invite: no final response: %w", err), false)
			return nil, c.err
		case <-ctx.Done():
			go c.cancelInvite(tx, provisional)
			return nil, ctx.Err()
		}
	}
}

// earlyMedia points the callee's early media (a 18x with SDP, RFC 3261 section 13.2.1)
// at the leg that should hear it.
func (c *Call) earlyMedia(res *sip.Response, to dialer.Leg) {
	if len(res.Body()) == 0 || res.StatusCode == 100 {
		return
	}
	rm, err := parseAnswer(res.Body())
	if err != nil {
		c.log.Debug("early media sdp", "error", err)
		return
	}
	c.media.setRemote(rm)
	if peer, ok := to.(*Call); ok && peer != nil {
		c.media.peer.Store(peer.media)
	}
}

// cancelInvite owns tx after a ring timeout: it sends CANCEL (once a provisional response
// allows it, RFC 3261 section 9.1), waits for the INVITE's final response and, should a
// 2xx win the race, acknowledges it and hangs up at once. It terminates tx and ends the
// call.
func (c *Call) cancelInvite(tx sip.ClientTransaction, provisional bool) {
	defer tx.Terminate()
	u := c.ua
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	sentCancel := false
	for {
		if provisional && !sentCancel {
			sentCancel = true
			go c.sendCancel()
		}
		select {
		case res := <-tx.Responses():
			u.obs.SIPResponse("INVITE", res.StatusCode)
			switch {
			case res.IsProvisional():
				provisional = true
			case res.IsSuccess():
				c.log.Info("answer raced cancel; hanging up")
				if err := c.established(tx, res); err == nil {
					c.end(context.Canceled, true)
				}
				return
			default:
				c.end(context.Canceled, false)
				return
			}
		case <-tx.Done():
			c.end(context.Canceled, false)
			return
		case <-deadline.C:
			c.end(context.Canceled, false)
			return
		}
	}
}

func (c *Call) sendCancel() {
	inv := c.invite
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via())) // must match the INVITE's top Via
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	sip.CopyHeaders("Route", inv, req)
	req.SetTransport(inv.Transport())
	req.SetBody(nil)
	req.Laddr = inv.Laddr
	ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1)
	defer cancel()
	res, err := c.ua.client.Do(ctx, req, func(*sipgo.Client, *sip.Request) error { return nil })
	if err != nil {
		c.log.Debug("cancel", "error", err)
		return
	}
	c.ua.obs.SIPResponse("CANCEL", res.StatusCode)
}

// established takes the 2xx: it sends the ACK, keeps re-sending it for retransmitted
// 2xx, and points the media at the answer's SDP.
func (c *Call) established(tx sip.ClientTransaction, res *sip.Response) error {
	c.answer = res
	ack := c.inDialog(sip.ACK, c.invite.CSeq().SeqNo)
	if err := c.ua.client.WriteRequest(ack.Clone(), sipgo.ClientRequestAddVia); err != nil {
		c.end(fmt.Errorf("ack: %w", err), false)
		return c.err
	}
	tx.OnRetransmission(func(r *sip.Response) {
		if !r.IsSuccess() {
			return
		}
		if tag, _ := r.To().Params.Get("tag"); tag != c.remoteTag() {
			go c.ua.hangupFork(c, r)
			return
		}
		_ = c.ua.client.WriteRequest(ack.Clone(), sipgo.ClientRequestAddVia)
	})
	rm, err := parseAnswer(res.Body())
	if err != nil {
		c.end(fmt.Errorf("answer: %w", err), true)
		return c.err
	}
	c.media.setRemote(rm)
	c.media.peer.Store(nil) // early media, if any, is over
	c.media.arm()
	return nil
}

// hangupFork acknowledges and ends a second 2xx from a forked INVITE (RFC 3261 section
// 13.2.2.4): only the first answer is kept.
func (u *UA) hangupFork(c *Call, res *sip.Response) {
	f := &Call{ua: u, log: c.log, callID: c.callID, invite: c.invite, localTag: c.localTag, answer: res, done: make(chan struct{})}
	f.cseq.Store(c.invite.CSeq().SeqNo)
	_ = u.client.WriteRequest(f.inDialog(sip.ACK, c.invite.CSeq().SeqNo), sipgo.ClientRequestAddVia)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f.bye(ctx)
}

func (c *Call) remoteTag() string {
	if c.answer == nil {
		return ""
	}
	tag, _ := c.answer.To().Params.Get("tag")
	return tag
}

// inDialog builds a request within the dialog (RFC 3261 section 12.2.1.1): the remote
// target from the answer's Contact, the route set from its Record-Route reversed.
func (c *Call) inDialog(method sip.RequestMethod, cseq uint32) *sip.Request {
	target := c.invite.Recipient
	if ct := c.answer.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(method, *target.Clone())
	rr := c.answer.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		req.AppendHeader(sip.NewHeader("Route", rr[i].Value()))
	}
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.HeaderClone(c.invite.From()))
	req.AppendHeader(sip.HeaderClone(c.answer.To()))
	req.AppendHeader(sip.HeaderClone(c.invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.SetTransport(c.invite.Transport())
	req.Laddr = c.invite.Laddr
	req.SetBody(nil)
	return req
}

func (c *Call) bye(ctx context.Context) error {
	req := c.inDialog(sip.BYE, c.cseq.Add(1))
	res, err := c.ua.client.Do(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	c.ua.obs.SIPResponse("BYE", res.StatusCode)
	return nil
}

// refresh answers a re-INVITE or UPDATE (RFC 3311) inside the dialog: a new offer moves
// the media, and our answer is the same stream with the next version. Session-timer
// refreshes without SDP get our current description back.
func (c *Call) refresh(req *sip.Request, tx sip.ServerTransaction) {
	if len(req.Body()) > 0 {
		rm, err := parseAnswer(req.Body())
		if err != nil {
			c.ua.respond(req, tx, 488, "Not Acceptable Here", nil)
			return
		}
		c.media.setRemote(rm)
	}
	body := offerSDP(c.ua.host, c.media.port, c.sessID, c.sdpVer.Add(1))
	c.ua.respond(req, tx, 200, "OK", body, c.ua.contact(), sip.NewHeader("Content-Type", "application/sdp"))
}

// end finishes the leg once: it records why, sends BYE when asked and the dialog is
// up, closes the media and forgets the call.
func (c *Call) end(why error, sendBye bool) {
	c.endOnce.Do(func() {
		c.err = why
		close(c.done)
		if sendBye && c.answer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := c.bye(ctx); err != nil {
				c.log.Debug("bye", "error", err)
			}
			cancel()
		}
		if p := c.bridged.Swap(nil); p != nil {
			p.media.peer.CompareAndSwap(c.media, nil)
			c.ua.obs.BridgeEnded()
		}
		c.media.close()
		c.ua.unregister(c)
		c.ua.obs.CallEnded(string(c.kind))
	})
}

// Play implements dialer.Leg.
func (c *Call) Play(ctx context.Context, a dialer.Audio) error {
	if err := c.media.play(ctx, c.done, a); errors.Is(err, errLegEnded) {
		return c.err
	} else {
		return err
	}
}

// Digits implements dialer.Leg.
func (c *Call) Digits() <-chan rune { return c.digits }

// Bridge implements dialer.Leg: from now on each leg's media goes to the other, within
// the packet it arrived in.
func (c *Call) Bridge(other dialer.Leg) error {
	o, ok := other.(*Call)
	if !ok {
		return fmt.Errorf("bridge: %T is not a sip call", other)
	}
	select {
	case <-c.done:
		return c.err
	case <-o.done:
		return o.err
	default:
	}
	c.media.peer.Store(o.media)
	o.media.peer.Store(c.media)
	c.bridged.Store(o)
	o.bridged.Store(c)
	c.ua.obs.BridgeStarted()
	return nil
}

// Hangup implements dialer.Leg.
func (c *Call) Hangup(ctx context.Context) error {
	c.end(errHungUpLocally, true)
	return nil
}

var errHungUpLocally = errors.New("hung up by leadline")

// Done implements dialer.Leg.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err implements dialer.Leg.
func (c *Call) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

const tokenChars = "abcdefghijklmnopqrstuvwxyz0123456789"

func newToken(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenChars[rand.IntN(len(tokenChars))]
	}
	return string(b)
}
