package sip

import (
	"cmp"
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
// Dial owns the INVITE transaction until the answer; after a ring timeout (or a Hangup
// while ringing) the goroutine cancelInvite owns it and terminates it. end runs once,
// under endOnce, and releases the RTP port; the UA then forgets the call, but remembers it
// among the ended calls for a while so that a late 2xx can still be ACKed and BYEd.
type Call struct {
	ua       *UA
	log      *slog.Logger
	kind     dialer.LegKind
	callID   string
	localTag string // our From tag
	trunk    *trunk // the trunk the INVITE went to (its challenges get its credentials), or nil
	route    *route // a registered device's: where every request of the call goes (nat.go)
	srtp     srtpMode
	sessID   uint64

	cseq atomic.Uint32 // last CSeq we used in the dialog

	ctx       context.Context // ends with the leg: in-dialog transactions use it
	cancelCtx context.CancelFunc

	mu         sync.Mutex      // guards the following fields
	invite     *sip.Request    // our INVITE as last sent (after authentication)
	answer     *sip.Response   // the 2xx that established the dialog; nil before
	forks      map[string]bool // To tags of other 2xx responses, ACKed and BYEd
	target     *sip.Uri        // remote target once a target refresh changed it (RFC 3261 section 12.2)
	remoteCSeq uint32          // highest CSeq of the far end's in-dialog requests
	peerUpdate bool            // the far end allows UPDATE
	refreshing bool            // our re-INVITE or UPDATE is in progress (glare: 491)
	pendingAck *ackWait        // the far end's re-INVITE we answered, until its ACK
	lastSDP    []byte          // our last session description, at version 0
	sdpVersion uint64          // its o= version (RFC 3264 section 8)
	timer      sessionTimer    // RFC 4028

	stOnce sync.Once     // starts runSessionTimer
	stKick chan struct{} // wakes runSessionTimer after timer changed

	media  *stream
	digits chan rune

	done    chan struct{}
	endOnce sync.Once
	err     error                      // why the leg ended; set before done is closed
	link    atomic.Pointer[bridgeLink] // the bridge the leg is in, or nil
}

var _ dialer.Leg = (*Call)(nil)

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

func (c *Call) remoteTag() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answer == nil {
		return ""
	}
	return toTag(c.answer)
}

// dialogRequest builds a request within the dialog that res established for inv (RFC
// 3261 section 12.2.1.1): the remote target from the answer's Contact, the route set
// from its Record-Route reversed; with a strict router first, the Request-URI is that
// router and the remote target goes last in Route.
func dialogRequest(inv *sip.Request, res *sip.Response, method sip.RequestMethod, cseq uint32) *sip.Request {
	return dialogRequestTo(inv, res, nil, method, cseq)
}

// dialogRequestTo is dialogRequest with the remote target replaced after a target
// refresh (nil: the answer's Contact).
func dialogRequestTo(inv *sip.Request, res *sip.Response, remote *sip.Uri, method sip.RequestMethod, cseq uint32) *sip.Request {
	target := inv.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	if remote != nil {
		target = *remote
	}
	rr := res.GetHeaders("Record-Route")
	routes := make([]string, 0, len(rr)+1)
	for i := len(rr) - 1; i >= 0; i-- {
		routes = append(routes, rr[i].Value())
	}
	ruri := *target.Clone()
	if len(routes) > 0 {
		var first sip.Uri
		if err := sip.ParseUri(strings.Trim(strings.TrimSpace(routes[0]), "<>"), &first); err == nil && (first.UriParams == nil || !first.UriParams.Has("lr")) {
			ruri = first
			routes = append(routes[1:], "<"+target.String()+">")
		}
	}
	req := sip.NewRequest(method, ruri)
	for _, r := range routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(res.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.SetTransport(inv.Transport())
	req.Laddr = inv.Laddr
	req.SetBody(nil)
	return req
}

// inDialog builds a request within the leg's established dialog.
func (c *Call) inDialog(method sip.RequestMethod, cseq uint32) *sip.Request {
	c.mu.Lock()
	inv, res, target := c.invite, c.answer, c.target
	c.mu.Unlock()
	return dialogRequestTo(inv, res, target, method, cseq)
}

func (c *Call) bye(ctx context.Context) error {
	req := c.inDialog(sip.BYE, c.cseq.Add(1))
	res, err := c.ua.do(ctx, req)
	if err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	c.ua.obs.SIPResponse("BYE", res.StatusCode)
	if !res.IsSuccess() {
		return fmt.Errorf("bye: answered %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// end finishes the leg once: it records why, sends BYE when asked and the dialog is
// up, closes the media and forgets the call. It returns the BYE's failure, if this call
// sent one; the leg is ended all the same.
func (c *Call) end(why error, sendBye bool) (byeErr error) {
	c.endOnce.Do(func() {
		c.err = why
		close(c.done)
		c.cancelCtx()
		c.mu.Lock()
		answered := c.answer != nil
		c.mu.Unlock()
		if sendBye && answered {
			// c.ctx is over: the BYE gets its own time, up to its transaction's.
			ctx, cancel := context.WithTimeout(context.Background(), min(2*time.Second, 64*sip.T1))
			if byeErr = c.bye(ctx); byeErr != nil {
				c.log.Debug("bye", "error", byeErr)
			}
			cancel()
		}
		if br := c.link.Swap(nil); br != nil {
			br.end()
		}
		c.media.close()
		c.ua.unregister(c)
		c.ua.obs.CallEnded(string(c.kind))
	})
	return byeErr
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
// the packet it arrived in. A leg is in one bridge at a time: bridging it again ends the
// bridge it was in.
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
	br := &bridgeLink{a: c, b: o, obs: c.ua.obs}
	br.obs.BridgeStarted()
	// The media first, then the link: a leg ending from here on finds the link and
	// ends the bridge, which unhooks the media.
	c.media.peer.Store(o.media)
	o.media.peer.Store(c.media)
	for _, l := range []*Call{c, o} {
		if old := l.link.Swap(br); old != nil {
			old.end()
		}
	}
	// A leg that ended before its link was set did not see it (end swaps the link out
	// after closing done): end the bridge here. end runs once whoever calls it.
	select {
	case <-c.done:
		br.end()
		return c.err
	case <-o.done:
		br.end()
		return o.err
	default:
	}
	return nil
}

// bridgeLink is one bridge between two legs. Both legs point to it; whichever ends
// first (or a new Bridge of either) ends it, once: leadline_bridges_active goes up once
// in Bridge and down once here, however the two legs end.
type bridgeLink struct {
	a, b *Call
	obs  Observer
	once sync.Once
}

func (br *bridgeLink) end() {
	br.once.Do(func() {
		// Only where the bridge's own pointers still stand: a newer bridge's stay.
		br.a.media.peer.CompareAndSwap(br.b.media, nil)
		br.b.media.peer.CompareAndSwap(br.a.media, nil)
		br.obs.BridgeEnded()
	})
}

// Hangup implements dialer.Leg: it ends the leg, with a BYE once it was answered, and
// reports that BYE's failure (no answer within 2 s, or not 2xx); the leg is ended
// whatever the far end does. The BYE gets its own time: a ctx already done still sends
// it, as a teardown must. Hanging up a leg that has ended returns nil.
func (c *Call) Hangup(context.Context) error {
	return c.end(errHungUpLocally, true)
}

var (
	errHungUpLocally = errors.New("hung up by leadline")
	errClosed        = errors.New("sip: user agent closed")
)

// Trunk implements dialer.Trunked: the name of the trunk the leg went through, or "".
func (c *Call) Trunk() string {
	if c.trunk == nil {
		return ""
	}
	return c.trunk.Name
}

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
