package sip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
)

// The INVITE client: placing a leg (Dial), waiting for its answer or cancelling it, and
// completing the dialog (ACK, and BYE for an answer we do not keep). The leg itself,
// once answered, is call.go's Call.

// Dial implements dialer.Caller. A SIP URI is called as it is (with the credentials of
// the trunk it names, if any); a number goes through the trunks, in order (dialTrunks).
func (u *UA) Dial(ctx context.Context, target string, o dialer.DialOpts) (dialer.Leg, error) {
	if strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:") {
		var uri sip.Uri
		if err := sip.ParseUri(target, &uri); err != nil {
			return nil, fmt.Errorf("sip: bad uri %q: %w", target, err)
		}
		return u.dial(ctx, uri, u.trunkFor(uri), o, o.CallID, 0)
	}
	if len(u.trunks) == 0 {
		return nil, fmt.Errorf("sip: no trunk configured to call %q", target)
	}
	return u.dialTrunks(ctx, target, o)
}

// dial places one INVITE to uri, through t when not nil, with Call-ID callID (empty: a
// new one). With silent > 0, a far end that sends no response at all within it is left
// (its INVITE is cancelled in the background) and errNoResponse returned.
func (u *UA) dial(ctx context.Context, uri sip.Uri, t *trunk, o dialer.DialOpts, callID string, silent time.Duration) (dialer.Leg, error) {
	var rt *route
	if o.Route != "" {
		var err error
		if rt, err = parseRoute(o.Route); err != nil {
			return nil, err
		}
	}
	mode, err := parseSRTPMode(o.SRTP)
	if err != nil {
		return nil, err
	}
	if t != nil && o.SRTP == "" {
		mode = t.srtp // a number, or a URI naming the trunk: the trunk's
	}
	// Close waits for legs being dialled, so that it sees them cancelled.
	u.mu.Lock()
	if u.closing {
		u.mu.Unlock()
		return nil, errClosed
	}
	u.bg.Add(1)
	u.mu.Unlock()
	defer u.bg.Done()
	sock, err := u.ports.listen()
	if err != nil {
		return nil, err
	}
	c := &Call{
		ua:       u,
		kind:     o.Kind,
		callID:   cmp.Or(callID, newToken(24)),
		localTag: newToken(16),
		trunk:    t,
		route:    rt,
		srtp:     mode,
		sessID:   rand.Uint64() >> 1,
		forks:    map[string]bool{},
		digits:   make(chan rune, 32),
		done:     make(chan struct{}),
		stKick:   make(chan struct{}, 1),
	}
	c.ctx, c.cancelCtx = context.WithCancel(context.Background())
	c.log = u.log.With("lead_id", o.LeadID, "call_id", c.callID, "leg", string(o.Kind))
	if t != nil {
		c.log = c.log.With("trunk", t.Name)
	}
	c.media, err = newStream(sock, u.mediaLoop(), u.obs, u.cfg.MediaTimeout, c.digits, func(err error) { c.end(err, true) })
	if err != nil {
		c.cancelCtx()
		return nil, err
	}
	c.media.nat.Store(rt != nil)
	if mode != srtpOff {
		if err := c.media.initSRTP(); err != nil {
			c.media.close()
			c.cancelCtx()
			return nil, fmt.Errorf("sip: srtp key: %w", err)
		}
	}
	c.invite = u.newInvite(c, uri, o)
	u.routeInvite(c.invite, rt)
	u.register(c)
	u.obs.CallStarted(string(c.kind))

	tx, err := u.request(ctx, c.invite, u.buildOpt)
	if err != nil {
		c.end(fmt.Errorf("invite %s: %w", uri.String(), err), false)
		return nil, c.err
	}
	return c.awaitAnswer(ctx, tx, o, silent)
}

func (u *UA) newInvite(c *Call, uri sip.Uri, o dialer.DialOpts) *sip.Request {
	req := sip.NewRequest(sip.INVITE, uri)
	transport := ""
	if uri.UriParams != nil {
		transport, _ = uri.UriParams.Get("transport")
	}
	if t := c.trunk; t != nil && transport == "" {
		transport = t.transport // a sips: URI names none
	}
	if strings.EqualFold(uri.Scheme, "sips") {
		transport = "TLS" // RFC 3261 section 26.2.2: a sips: URI is reached over TLS only
	}
	if transport != "" {
		req.SetTransport(strings.ToUpper(transport))
	}
	if t := c.trunk; t != nil {
		if t.route != nil {
			req.AppendHeader(&sip.RouteHeader{Address: *t.route.Clone()})
		}
	}
	from := &sip.FromHeader{
		DisplayName: quotedDisplayName(o.DisplayName),
		Address:     sip.Uri{Scheme: "sip", User: userPart(o.CallerID), Host: u.host},
		Params:      sip.NewParams(),
	}
	identify(req, from, c.trunk, o)
	from.Params.Add("tag", c.localTag)
	to := &sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}}
	callID := sip.CallIDHeader(c.callID)
	c.cseq.Store(1)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	contact := u.contact(req.Transport())
	if strings.EqualFold(uri.Scheme, "sips") {
		contact.Address.Scheme = "sips" // RFC 3261 section 8.1.1.8
	}
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	req.AppendHeader(sip.NewHeader("X-Leadline-Lead", userPart(o.LeadID)))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(c.localBody(nil, c.offerSec()))
	return req
}

func (c *Call) inviteReq() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.invite
}

// awaitAnswer reads the INVITE's responses until a final one, ctx ends or the leg is hung
// up. It reads tx.Responses itself rather than sipgo's WaitAnswer, which gives up after
// ten provisional responses and leaves a 2xx racing the CANCEL unanswered (NOTES.md).
//
// With silent > 0, a far end that sends no response at all for that long after an
// INVITE is left: cancelInvite takes over the transaction and errNoResponse is returned.
func (c *Call) awaitAnswer(ctx context.Context, tx sip.ClientTransaction, o dialer.DialOpts, silent time.Duration) (dialer.Leg, error) {
	u := c.ua
	provisional, authTries := false, 0
	var quiet <-chan time.Time
	if silent > 0 {
		t := time.NewTimer(silent)
		defer t.Stop()
		quiet = t.C
	}
	for {
		select {
		case <-quiet:
			c.cancel(tx, false)
			return nil, fmt.Errorf("invite: %w within %v", errNoResponse, silent)
		case res := <-tx.Responses():
			quiet = nil // it responds
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
			case (res.StatusCode == 401 || res.StatusCode == 407) && c.trunk != nil && c.trunk.Password != "" && authTries < 2:
				// Digest authentication (RFC 3261 section 22.2); a second challenge
				// is answered once more in case the nonce was stale.
				authTries++
				tx.Terminate()
				inv := c.inviteReq().Clone()
				err := u.send(func() (err error) {
					tx, err = u.client.TransactionDigestAuth(ctx, inv, res, sipgo.DigestAuth{
						Username: c.trunk.Username, Password: c.trunk.Password,
					})
					return err
				})
				if err != nil {
					c.end(fmt.Errorf("invite auth: %w", err), false)
					return nil, c.err
				}
				c.mu.Lock()
				c.invite = inv
				c.mu.Unlock()
				c.cseq.Store(inv.CSeq().SeqNo)
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
			c.cancel(tx, provisional)
			return nil, ctx.Err()
		case <-c.done: // hung up while ringing, or the UA is closing
			c.cancel(tx, provisional)
			return nil, c.err
		}
	}
}

// cancel hands the ringing INVITE transaction to cancelInvite.
func (c *Call) cancel(tx sip.ClientTransaction, provisional bool) {
	if !c.ua.goBackground(func() { c.cancelInvite(tx, provisional) }) {
		tx.Terminate()
		c.end(context.Canceled, false)
	}
}

// earlyMedia points the callee's early media (a 18x with SDP, RFC 3261 section 13.2.1)
// at the leg that should hear it.
func (c *Call) earlyMedia(res *sip.Response, to dialer.Leg) {
	if len(res.Body()) == 0 || res.StatusCode == 100 {
		return
	}
	rm, err := parseAnswer(res.Body())
	if err == nil {
		err = c.applyAnswer(rm)
	}
	if err != nil {
		c.log.Debug("early media sdp", "error", err)
		return
	}
	c.media.setRemote(rm, sourceIP(res.Source()))
	if peer, ok := to.(*Call); ok && peer != nil {
		c.media.peer.Store(peer.media)
	}
}

// cancelInvite owns tx after a ring timeout: it sends CANCEL (once a provisional response
// allows it, RFC 3261 section 9.1), waits for the INVITE's final response and, should a
// 2xx win the race, acknowledges it and hangs up at once, whether the CANCEL was answered
// 200 or 481. It terminates tx and the CANCEL's transaction and ends the call. The leg
// stays unanswered for the dialer.
func (c *Call) cancelInvite(tx sip.ClientTransaction, provisional bool) {
	defer tx.Terminate()
	u := c.ua
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	var (
		cancelTx   sip.ClientTransaction
		cancelRes  <-chan *sip.Response
		cancelDone <-chan struct{}
	)
	defer func() {
		if cancelTx != nil {
			cancelTx.Terminate()
		}
	}()
	for {
		if provisional && cancelTx == nil {
			var err error
			if cancelTx, err = c.sendCancel(); err != nil {
				c.log.Debug("cancel", "error", err)
				c.end(context.Canceled, false)
				return
			}
			cancelRes, cancelDone = cancelTx.Responses(), cancelTx.Done()
		}
		select {
		case res := <-tx.Responses():
			u.obs.SIPResponse("INVITE", res.StatusCode)
			switch {
			case res.IsProvisional():
				provisional = true
			case res.IsSuccess():
				c.log.Info("answer raced cancel; hanging up", "code", res.StatusCode)
				c.mu.Lock()
				c.forks[toTag(res)] = true // its retransmissions are only ACKed again
				inv := c.invite
				c.mu.Unlock()
				tx.OnRetransmission(c.on2xx)
				c.end(context.Canceled, false)
				u.hangupDialog(c.log, inv, res)
				return
			default:
				c.end(context.Canceled, false)
				return
			}
		case res := <-cancelRes:
			u.obs.SIPResponse("CANCEL", res.StatusCode)
			if !res.IsProvisional() {
				// 481: the INVITE had its final response already (or never arrived);
				// keep waiting for it, a 2xx among them.
				cancelRes, cancelDone = nil, nil
			}
		case <-cancelDone:
			cancelRes, cancelDone = nil, nil
		case <-tx.Done():
			c.end(context.Canceled, false)
			return
		case <-deadline.C:
			c.end(context.Canceled, false)
			return
		}
	}
}

// sendCancel sends a CANCEL for the INVITE (RFC 3261 section 9.1): same Request-URI,
// Call-ID, From, To, CSeq number and top Via.
func (c *Call) sendCancel() (sip.ClientTransaction, error) {
	inv := c.inviteReq()
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
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
	return c.ua.request(context.Background(), req, func(*sipgo.Client, *sip.Request) error { return nil })
}

// established takes the 2xx: it sends the ACK, keeps re-sending it for retransmitted
// 2xx (and hangs up forks) through on2xx, and points the media at the answer's SDP.
func (c *Call) established(tx sip.ClientTransaction, res *sip.Response) error {
	c.mu.Lock()
	c.answer = res
	inv := c.invite
	c.mu.Unlock()
	if err := c.ua.writeAck(inv, res); err != nil {
		c.end(fmt.Errorf("ack: %w", err), false)
		return c.err
	}
	tx.OnRetransmission(c.on2xx)
	rm, err := parseAnswer(res.Body())
	if err == nil {
		err = c.applyAnswer(rm)
	}
	if err != nil {
		c.end(&answerError{err}, true)
		return c.err
	}
	c.media.setRemote(rm, sourceIP(res.Source()))
	c.media.peer.Store(nil) // early media, if any, is over
	c.media.arm()
	c.mu.Lock()
	c.peerUpdate = allows(res, sip.UPDATE)
	c.mu.Unlock()
	c.sessionTimerFromResponse(res)
	return nil
}

// on2xx takes a 2xx to our INVITE after the first final response: a retransmission of
// the answer (our ACK was lost: send it again) or of a fork already hung up (ACK again),
// or a new fork (RFC 3261 section 13.2.2.4), which is acknowledged and hung up: a leg
// keeps one dialog. It is called from the INVITE transaction and from
// onUnhandledResponse once the transaction is gone.
func (c *Call) on2xx(res *sip.Response) {
	if res.To() == nil {
		return
	}
	tag := toTag(res)
	c.mu.Lock()
	own := c.answer != nil && tag == toTag(c.answer)
	seen := c.forks[tag]
	if !own && !seen {
		c.forks[tag] = true
	}
	inv := c.invite
	c.mu.Unlock()
	if own || seen {
		if err := c.ua.writeAck(inv, res); err != nil {
			c.log.Debug("ack retransmitted 2xx", "error", err)
		}
		return
	}
	c.log.Info("second 2xx (fork); hanging it up", "to_tag", tag)
	if !c.ua.goBackground(func() { c.ua.hangupDialog(c.log, inv, res) }) {
		c.ua.hangupDialog(c.log, inv, res)
	}
}

// hangupDialog acknowledges a 2xx we do not want and ends its dialog with a BYE.
func (u *UA) hangupDialog(log *slog.Logger, inv *sip.Request, res *sip.Response) {
	if err := u.writeAck(inv, res); err != nil {
		log.Debug("ack", "error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	bye := dialogRequest(inv, res, sip.BYE, inv.CSeq().SeqNo+1)
	r, err := u.do(ctx, bye)
	if err != nil {
		log.Debug("bye", "error", err)
		return
	}
	u.obs.SIPResponse("BYE", r.StatusCode)
}

// writeAck sends the ACK for a 2xx (RFC 3261 section 13.2.2.4): a request of its own, in
// the dialog the 2xx set up, with the INVITE's CSeq number.
func (u *UA) writeAck(inv *sip.Request, res *sip.Response) error {
	return u.write(dialogRequest(inv, res, sip.ACK, inv.CSeq().SeqNo))
}

func toTag(res *sip.Response) string {
	if to := res.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		return tag
	}
	return ""
}
