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
