package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// This file holds what happens inside an established dialog: the far end's re-INVITE and
// UPDATE (RFC 3261 section 14, RFC 3311), its ACK, and session timers (RFC 4028), where
// either side may be the one that refreshes.

// localBody is our session description: the offer (answerTo nil) or the answer to the far
// end's offer, with sec's protocol and SRTP key. Its o= version grows only when the
// description changes (RFC 3264 section 8), so a session refresh repeats the same
// version.
func (c *Call) localBody(answerTo *remoteMedia, sec mediaSec) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	probe := localSDP(c.ua.host, c.media.port, c.sessID, 0, answerTo, sec)
	if !bytes.Equal(probe, c.lastSDP) {
		c.lastSDP = probe
		c.sdpVersion++
	}
	return localSDP(c.ua.host, c.media.port, c.sessID, c.sdpVersion, answerTo, sec)
}

// ackWait is a re-INVITE from the far end that we answered 200, waiting for its ACK.
type ackWait struct {
	cseq uint32
	ack  chan *sip.Request // buffered 1
}

// onAck takes an ACK for a 2xx we sent to a re-INVITE (RFC 3261 section 13.3.1.4). ACKs
// for non-2xx responses never get here: the server transaction absorbs them.
func (u *UA) onAck(req *sip.Request, _ sip.ServerTransaction) {
	c := u.lookup(req)
	if c == nil || req.CSeq() == nil {
		return
	}
	c.mu.Lock()
	w := c.pendingAck
	c.mu.Unlock()
	if w != nil && w.cseq == req.CSeq().SeqNo {
		select {
		case w.ack <- req:
		default: // a retransmitted ACK
		}
	}
}

// refresh answers a re-INVITE or UPDATE inside the dialog: hold and resume, a codec or
// address change, a session-timer refresh with or without SDP. An offer moves the media
// and gets our answer; a re-INVITE without one gets our offer in the 200 and its answer
// comes in the ACK. Session-Expires is honoured and echoed (RFC 4028 section 9). The call
// stays up whatever the outcome, except when the far end never ACKs our 200.
func (c *Call) refresh(req *sip.Request, tx sip.ServerTransaction) {
	u := c.ua
	if ext := unsupportedRequire(req); ext != "" {
		u.respond(req, tx, 420, "Bad Extension", nil, sip.NewHeader("Unsupported", ext))
		return
	}
	isInvite := req.Method == sip.INVITE
	cseq := req.CSeq().SeqNo
	c.mu.Lock()
	switch {
	case c.remoteCSeq != 0 && cseq <= c.remoteCSeq: // RFC 3261 section 12.2.2
		c.mu.Unlock()
		u.respond(req, tx, 500, "Server Internal Error", nil)
		return
	case isInvite && c.pendingAck != nil: // RFC 3261 section 14.2
		c.mu.Unlock()
		u.respond(req, tx, 500, "Server Internal Error", nil, sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(10))))
		return
	case c.refreshing && (isInvite || len(req.Body()) > 0): // glare, RFC 3261 section 14.2, RFC 3311 section 5.2
		c.mu.Unlock()
		u.respond(req, tx, 491, "Request Pending", nil)
		return
	}
	c.remoteCSeq = cseq
	c.mu.Unlock()

	var (
		offer *remoteMedia
		key   *sdesCrypto // the far end's SRTP key in its offer
		sec   mediaSec    // what our answer says of SRTP
	)
	if len(req.Body()) > 0 {
		rm, err := parseAnswer(req.Body())
		if err == nil {
			key, sec, err = c.offerSRTP(rm)
		}
		if err != nil {
			c.log.Info("refused re-offer", "method", req.Method.String(), "error", err)
			u.respond(req, tx, 488, "Not Acceptable Here", nil)
			return
		}
		offer = &rm
	}
	if ct := req.Contact(); ct != nil { // target refresh, RFC 3261 section 12.2.2
		t := *ct.Address.Clone()
		c.mu.Lock()
		c.target = &t
		c.mu.Unlock()
	}

	var body []byte
	switch {
	case offer != nil:
		if err := c.media.useSRTP(key); err != nil {
			c.log.Info("refused re-offer", "method", req.Method.String(), "error", err)
			u.respond(req, tx, 488, "Not Acceptable Here", nil)
			return
		}
		c.media.setRemote(*offer, sourceIP(req.Source()))
		body = c.localBody(offer, sec)
	case isInvite:
		body = c.localBody(nil, c.offerSec())
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(u.contact(req.Transport()))
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Supported", "timer"))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if se, ok := sessionExpiresOf(req); ok {
		// In this transaction we are the UAS: refresher=uas means us. Without a choice
		// made, the far end keeps refreshing.
		if se.refresher == "" {
			se.refresher = "uac"
		}
		res.AppendHeader(sip.NewHeader("Session-Expires", se.String()))
		if supports(req, "timer") {
			res.AppendHeader(sip.NewHeader("Require", "timer"))
		}
		c.setSessionTimer(se.interval, se.refresher == "uas")
	} else if c.sessionTimerActive() {
		// A refresh without Session-Expires turns the timer off (RFC 4028 section 9).
		c.setSessionTimer(0, false)
	}

	var w *ackWait
	if isInvite {
		w = &ackWait{cseq: cseq, ack: make(chan *sip.Request, 1)}
		c.mu.Lock()
		c.pendingAck = w
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			c.pendingAck = nil
			c.mu.Unlock()
		}()
	}
	if err := tx.Respond(res); err != nil {
		c.log.Debug("respond re-offer", "error", err)
		return
	}
	u.obs.SIPResponse(req.Method.String(), 200) // what we answered
	if isInvite {
		c.awaitAck(tx, res, w, offer == nil)
	}
}

// awaitAck re-sends our 2xx to a re-INVITE over UDP (T1 doubling up to T2, RFC 3261
// section 13.3.1.4) until its ACK arrives, and applies the SDP answer an ACK carries when
// our 200 held the offer. Without an ACK in 64*T1 the call ends with a BYE.
func (c *Call) awaitAck(tx sip.ServerTransaction, res *sip.Response, w *ackWait, offered bool) {
	reliable := sip.IsReliable(res.Transport())
	interval := sip.T1
	resend := time.NewTimer(interval)
	defer resend.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	var ack *sip.Request
	for ack == nil {
		select {
		case ack = <-w.ack:
		case ack = <-tx.Acks(): // a peer that reused the INVITE's branch for the ACK
		case <-resend.C:
			if !reliable {
				_ = tx.Respond(res)
			}
			interval = min(2*interval, sip.T2)
			resend.Reset(interval)
		case <-giveUp.C:
			c.log.Info("no ACK for our 200 to a re-INVITE; hanging up")
			c.end(errNoAck, true)
			return
		case <-tx.Done(): // Timer L, 64*T1 as well; or the transport failed
			c.log.Info("re-INVITE transaction ended without ACK; hanging up")
			c.end(errNoAck, true)
			return
		case <-c.done:
			return
		}
	}
	if offered && len(ack.Body()) > 0 {
		c.applyMidCallAnswer(ack.Body(), ack.Source(), "answer in ACK")
	}
}

var errNoAck = errors.New("sip: no ACK for 200 to re-INVITE")

// applyMidCallAnswer applies the far end's answer to an offer we made inside the dialog
// (a refresh, or the offer in our 200 to its re-INVITE without SDP). One we cannot take
// (no codec; no SRTP key on a leg that must or does use SRTP) cannot be refused: it is
// logged and the media stays as it was; packets that do not authenticate are dropped,
// and dead-media detection ends a call that has no valid media left.
func (c *Call) applyMidCallAnswer(body []byte, source, what string) {
	rm, err := parseAnswer(body)
	if err == nil {
		err = c.applyAnswer(rm)
	}
	if err != nil {
		c.log.Info("ignored "+what, "error", err)
		return
	}
	c.media.setRemote(rm, sourceIP(source))
}

// sessionTimer is the state of RFC 4028 session timers on a leg.
type sessionTimer struct {
	interval  time.Duration // 0: no session timer
	weRefresh bool          // we are the refresher; else the far end is
	last      time.Time     // the last refresh (or the answer)
	retryAt   time.Time     // after a 491 to our refresh
}

// sessionExpires is a Session-Expires header (RFC 4028 section 4).
type sessionExpires struct {
	interval  time.Duration
	refresher string // "uac", "uas" or ""
}

func (se sessionExpires) String() string {
	v := strconv.Itoa(int(se.interval / time.Second))
	if se.refresher != "" {
		v += ";refresher=" + se.refresher
	}
	return v
}

// headerReader is what requests and responses share for reading headers.
type headerReader interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

// sessionExpiresOf reads Session-Expires (or its compact form x) from a message.
func sessionExpiresOf(m headerReader) (sessionExpires, bool) {
	h := m.GetHeader("Session-Expires")
	if h == nil {
		h = m.GetHeader("x")
	}
	if h == nil {
		return sessionExpires{}, false
	}
	v, params, _ := strings.Cut(h.Value(), ";")
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs <= 0 {
		return sessionExpires{}, false
	}
	se := sessionExpires{interval: time.Duration(min(secs, 86400)) * time.Second}
	for p := range strings.SplitSeq(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			se.refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return se, true
}

// sessionTimerFromResponse applies Session-Expires in a 2xx to our INVITE or refresh: we
// are that transaction's UAC, so refresher=uac (or none given, RFC 4028 section 7.2)
// means we refresh.
func (c *Call) sessionTimerFromResponse(res *sip.Response) {
	if se, ok := sessionExpiresOf(res); ok {
		c.setSessionTimer(se.interval, se.refresher != "uas")
	}
}

func (c *Call) sessionTimerActive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timer.interval > 0
}

// setSessionTimer records a refresh now, with interval (0 turns the timer off), and who
// refreshes next. The first call starts runSessionTimer.
func (c *Call) setSessionTimer(interval time.Duration, weRefresh bool) {
	c.mu.Lock()
	c.timer = sessionTimer{interval: interval, weRefresh: weRefresh, last: time.Now()}
	c.mu.Unlock()
	if interval > 0 {
		c.stOnce.Do(func() { c.ua.goBackground(c.runSessionTimer) })
	}
	select {
	case c.stKick <- struct{}{}:
	default:
	}
}

// runSessionTimer refreshes the session at half its interval when we are the refresher,
// and hangs up when the far end, the refresher, lets it expire: at expiry less
// min(32 s, interval/3) (RFC 4028 section 10). It ends with the leg.
func (c *Call) runSessionTimer() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		st := c.timer
		c.mu.Unlock()
		var at time.Time
		refresh := false
		switch {
		case st.interval == 0:
			at = time.Now().Add(24 * time.Hour)
		case st.weRefresh && !st.retryAt.IsZero():
			at, refresh = st.retryAt, true
		case st.weRefresh:
			at, refresh = st.last.Add(st.interval/2), true
		default:
			at = st.last.Add(st.interval - min(32*time.Second, st.interval/3))
		}
		if refresh && time.Now().After(st.last.Add(st.interval)) {
			refresh = false // our refreshes failed until expiry
		}
		t.Reset(time.Until(at))
		select {
		case <-t.C:
		case <-c.stKick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			continue
		case <-c.done:
			return
		}
		if !refresh {
			c.log.Info("session expired without a refresh; hanging up", "interval", st.interval)
			c.end(ErrSessionExpired, true)
			return
		}
		c.sendRefresh(st.interval)
	}
}

// sendRefresh refreshes the session as its refresher (RFC 4028 section 7.4): UPDATE
// without SDP when the far end allows UPDATE, else a re-INVITE offering our unchanged
// description. A 2xx restarts the timer; 422 retries with the far end's Min-SE; 491
// retries after 2.1-4 s (RFC 3261 section 14.1); 405 or 501 to UPDATE falls back to
// re-INVITE; 408, 481 or no answer end the call (RFC 4028 section 10).
func (c *Call) sendRefresh(interval time.Duration) {
	c.mu.Lock()
	if c.refreshing || c.pendingAck != nil {
		c.timer.retryAt = time.Now().Add(time.Second)
		c.mu.Unlock()
		return
	}
	c.refreshing = true
	useUpdate := c.peerUpdate
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.refreshing = false
		c.mu.Unlock()
	}()
	for range 3 {
		code, res, err := c.refreshOnce(interval, useUpdate)
		switch {
		case err == nil && code >= 200 && code < 300:
			return
		case err != nil || code == 408 || code == 481:
			if c.ctx.Err() != nil {
				return
			}
			c.log.Info("session refresh failed; hanging up", "code", code, "error", err)
			c.end(ErrSessionExpired, code != 481)
			return
		case code == 422:
			if h := res.GetHeader("Min-SE"); h != nil {
				v, _, _ := strings.Cut(h.Value(), ";")
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 && time.Duration(n)*time.Second > interval {
					interval = time.Duration(n) * time.Second
					continue
				}
			}
		case (code == 405 || code == 501) && useUpdate:
			useUpdate = false
			c.mu.Lock()
			c.peerUpdate = false
			c.mu.Unlock()
			continue
		case code == 491:
			c.mu.Lock()
			c.timer.retryAt = time.Now().Add(2100*time.Millisecond + rand.N(1900*time.Millisecond))
			c.mu.Unlock()
			return
		}
		break
	}
	// Refused otherwise: the session goes on without this refresh and ends at expiry
	// unless a later one succeeds.
	c.mu.Lock()
	c.timer.retryAt = time.Now().Add(c.timer.interval / 4)
	c.mu.Unlock()
}

// refreshOnce sends one refresh and waits for its final response. For a re-INVITE it
// applies the SDP answer and sends the ACK.
func (c *Call) refreshOnce(interval time.Duration, useUpdate bool) (int, *sip.Response, error) {
	u := c.ua
	method := sip.INVITE
	if useUpdate {
		method = sip.UPDATE
	}
	req := c.inDialog(method, c.cseq.Add(1))
	req.AppendHeader(u.contact(req.Transport()))
	req.AppendHeader(sip.NewHeader("Session-Expires", sessionExpires{interval: interval, refresher: "uac"}.String()))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if method == sip.INVITE {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(c.localBody(nil, c.offerSec()))
	}
	ctx, cancel := context.WithTimeout(c.ctx, 64*sip.T1)
	defer cancel()
	tx, err := u.request(ctx, req, u.addVia)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", method, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			u.obs.SIPResponse(method.String(), res.StatusCode)
			if !res.IsSuccess() {
				return res.StatusCode, res, nil
			}
			if ct := res.Contact(); ct != nil { // target refresh
				t := *ct.Address.Clone()
				c.mu.Lock()
				c.target = &t
				c.mu.Unlock()
			}
			if method == sip.INVITE {
				ack := c.inDialog(sip.ACK, req.CSeq().SeqNo)
				_ = u.write(ack.Clone())
				tx.OnRetransmission(func(*sip.Response) { _ = u.write(ack.Clone()) })
				c.applyMidCallAnswer(res.Body(), res.Source(), "answer to our refresh")
			}
			if se, ok := sessionExpiresOf(res); ok {
				c.setSessionTimer(se.interval, se.refresher != "uas")
			} else {
				c.setSessionTimer(0, false) // the far end no longer wants a session timer
			}
			return res.StatusCode, res, nil
		case <-tx.Done():
			return 0, nil, fmt.Errorf("%s: %w", method, tx.Err())
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("%s: %w", method, ctx.Err())
		}
	}
}

// allows reports whether a message's Allow header lists method.
func allows(m headerReader, method sip.RequestMethod) bool {
	for _, h := range m.GetHeaders("Allow") {
		for v := range strings.SplitSeq(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(v), method.String()) {
				return true
			}
		}
	}
	return false
}

// supports reports whether a message's Supported (or compact k) header lists option.
func supports(m headerReader, option string) bool {
	for _, name := range []string{"Supported", "k"} {
		for _, h := range m.GetHeaders(name) {
			for v := range strings.SplitSeq(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(v), option) {
					return true
				}
			}
		}
	}
	return false
}

// unsupportedRequire lists the options in a request's Require header that we do not
// support, for a 420 (RFC 3261 section 8.2.2.3); "" when there are none.
func unsupportedRequire(req *sip.Request) string {
	var out []string
	for _, h := range req.GetHeaders("Require") {
		for v := range strings.SplitSeq(h.Value(), ",") {
			if v = strings.TrimSpace(v); v != "" && !strings.EqualFold(v, "timer") {
				out = append(out, v)
			}
		}
	}
	return strings.Join(out, ", ")
}
