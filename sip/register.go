package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// This file keeps the accounts of trunks that want one registered before they route a
// call (RFC 3261 section 10): each such trunk has a registration, one goroutine that
// registers at start, refreshes the binding before it lapses, backs off after a
// failure and says goodbye (Expires: 0) when the user agent closes.
//
// The state machine, one step per REGISTER transaction:
//
//	unregistered --200--> registered --(50-80 % of the granted time)--> refresh
//	     ^    |                |   \--403 to an INVITE (a kick)--> refresh
//	     |    failure          failure: retry with backoff; still registered
//	     |    v                |        until the binding's time is up
//	     +-- retry after backoff (2 s doubling to 5 min, jittered) <--+
//
// A 401 or 407 is answered with digest credentials (twice at most: a stale nonce), a 423
// with the registrar's Min-Expires (once). Every REGISTER of a process uses one Call-ID
// and a growing CSeq (section 10.2.4); a restarted process registers afresh.

// TrunkObserver is told when a registering trunk becomes registered or stops being so.
// The user agent tells its Observer when it implements this too (*metrics.Metrics does):
// once at start (not registered) and at every change.
type TrunkObserver interface {
	TrunkRegistered(trunk string, registered bool)
}

const (
	registerTimeout   = 32 * time.Second // one REGISTER and its challenge (64*T1 each at most)
	unregisterTimeout = 2 * time.Second  // the goodbye at Close
	backoffMin        = 2 * time.Second
	backoffMax        = 5 * time.Minute
	// kickGap: a kick (a 403 to an INVITE) this soon after the last REGISTER is ignored,
	// so that a trunk refusing every call for another reason is not flooded.
	kickGap = 5 * time.Second
)

// registration keeps one trunk's account registered. run owns callID, tag and cseq
// until it ends; stop then uses them for the goodbye.
type registration struct {
	u      *UA
	t      *trunk
	log    *slog.Logger
	obs    TrunkObserver // nil: nobody to tell
	callID string
	tag    string
	cseq   uint32

	ctx    context.Context // ends at stop, aborting a REGISTER in progress
	cancel context.CancelFunc
	kick   chan struct{} // buffered 1: register now
	done   chan struct{} // closed when run returns

	mu         sync.Mutex // guards the following fields
	registered bool
	until      time.Time // when the binding lapses without a refresh
	lastErr    string    // why the last REGISTER failed; "" after a success
	lastTry    time.Time
}

// startRegistrations starts a registration for every trunk that registers.
func (u *UA) startRegistrations() {
	obs, _ := u.obs.(TrunkObserver)
	for _, t := range u.trunks {
		if !t.Register {
			continue
		}
		r := &registration{
			u: u, t: t, obs: obs, log: u.log.With("trunk", t.Name),
			callID: newToken(24), tag: newToken(16),
			kick: make(chan struct{}, 1), done: make(chan struct{}),
		}
		r.ctx, r.cancel = context.WithCancel(context.Background())
		t.reg = r
		if obs != nil {
			obs.TrunkRegistered(t.Name, false)
		}
		go r.run()
	}
}

// stopRegistrations ends every registration, unregistering the bound ones, at most
// unregisterTimeout in all.
func (u *UA) stopRegistrations() {
	var wg sync.WaitGroup
	for _, t := range u.trunks {
		if t.reg != nil {
			wg.Go(t.reg.stop)
		}
	}
	wg.Wait()
}

// state reports the registration as a TrunkState.
func (r *registration) state() TrunkState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return TrunkState{Name: r.t.Name, Registers: true, Registered: r.registered, Error: r.lastErr}
}

// kickNow asks run to register now, unless it did less than kickGap ago.
func (r *registration) kickNow() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run is the registration's goroutine: it ends when ctx does.
func (r *registration) run() {
	defer close(r.done)
	next := time.Now() // the next REGISTER
	failures := 0
	for {
		wake := next
		r.mu.Lock()
		lapse := r.registered && r.until.Before(wake)
		if lapse {
			wake = r.until
		}
		r.mu.Unlock()
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-r.ctx.Done():
			timer.Stop()
			return
		case <-r.kick:
			timer.Stop()
			r.mu.Lock()
			recent := time.Since(r.lastTry) < kickGap
			r.mu.Unlock()
			if recent {
				continue
			}
			r.log.Info("trunk refused a call: registering again")
		case <-timer.C:
			if lapse && time.Now().Before(next) {
				r.lapsed()
				continue
			}
		}

		granted, retry, err := r.attempt(r.ctx, r.t.RegisterExpires)
		if err == nil && granted <= 0 {
			err = errors.New("the registrar granted no time")
		}
		if r.ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			r.succeeded(granted)
			next = time.Now().Add(refreshIn(granted))
			continue
		}
		failures++
		wait := max(backoff(failures), min(retry, backoffMax))
		next = time.Now().Add(wait)
		r.failed(err, wait)
	}
}

// refreshIn is when to refresh a binding granted for d: at a random point between 50 %
// and 80 % of it, so that nodes sharing an account spread their refreshes.
func refreshIn(d time.Duration) time.Duration {
	return max(d/2+time.Duration(rand.Int64N(int64(d*3/10)+1)), time.Second)
}

// backoff is the wait after the n'th failure in a row: backoffMin doubling up to
// backoffMax, jittered into its upper half.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 20 && backoffMin<<(n-1) < backoffMax {
		d = backoffMin << (n - 1)
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (r *registration) succeeded(granted time.Duration) {
	r.mu.Lock()
	was := r.registered
	r.registered, r.until, r.lastErr = true, time.Now().Add(granted), ""
	r.mu.Unlock()
	if was {
		r.log.Debug("trunk registration refreshed", "expires", granted)
		return
	}
	r.log.Info("trunk registered", "expires", granted)
	if r.obs != nil {
		r.obs.TrunkRegistered(r.t.Name, true)
	}
}

func (r *registration) failed(err error, retryIn time.Duration) {
	r.mu.Lock()
	repeated := r.lastErr == err.Error()
	r.lastErr = err.Error()
	lapsed := r.registered && !time.Now().Before(r.until)
	if lapsed {
		r.registered = false
	}
	still := r.registered
	r.mu.Unlock()
	switch {
	case repeated:
		r.log.Debug("trunk registration failed again", "error", err, "retry_in", retryIn)
	default:
		r.log.Warn("trunk registration failed", "error", err, "retry_in", retryIn, "still_registered", still)
	}
	if lapsed {
		r.log.Warn("trunk not registered: its registration lapsed")
		if r.obs != nil {
			r.obs.TrunkRegistered(r.t.Name, false)
		}
	}
}

// lapsed marks the registration gone once its time is up without a refresh.
func (r *registration) lapsed() {
	r.mu.Lock()
	gone := r.registered && !time.Now().Before(r.until)
	if gone {
		r.registered = false
	}
	r.mu.Unlock()
	if gone {
		r.log.Warn("trunk not registered: its registration lapsed")
		if r.obs != nil {
			r.obs.TrunkRegistered(r.t.Name, false)
		}
	}
}

// stop ends run and, when the account is registered, unregisters it (RFC 3261 section
// 10.2.2: our binding only, not "*", which would remove other nodes' too).
func (r *registration) stop() {
	r.cancel()
	<-r.done
	r.mu.Lock()
	was := r.registered
	r.registered = false
	r.mu.Unlock()
	if !was {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
	defer cancel()
	if _, _, err := r.attempt(ctx, 0); err != nil {
		r.log.Info("trunk not unregistered", "error", err)
	} else {
		r.log.Info("trunk unregistered")
	}
	if r.obs != nil {
		r.obs.TrunkRegistered(r.t.Name, false)
	}
}

// attempt runs one registration (expires 0: the goodbye) to its final answer,
// authenticating when challenged and asking for the registrar's minimum after a 423.
// It returns the time granted, and the Retry-After of a failure.
func (r *registration) attempt(ctx context.Context, expires time.Duration) (granted, retry time.Duration, err error) {
	r.mu.Lock()
	r.lastTry = time.Now()
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	req := r.request(expires)
	tx, err := r.send(ctx, req, nil)
	auths, brief := 0, false
	for {
		if err != nil {
			return 0, 0, fmt.Errorf("register: %w", err)
		}
		var res *sip.Response
		res, err = finalResponse(ctx, tx)
		tx.Terminate()
		if err != nil {
			return 0, 0, fmt.Errorf("register: no final response: %w", err)
		}
		r.u.obs.SIPResponse("REGISTER", res.StatusCode)
		switch code := res.StatusCode; {
		case res.IsSuccess():
			return r.granted(res, expires), 0, nil
		case (code == 401 || code == 407) && auths < 2 && r.t.Username != "":
			// Digest authentication (RFC 3261 section 22.2); a second challenge is
			// answered once more in case the nonce was stale.
			auths++
			tx, err = r.send(ctx, req, res)
		case code == 423 && !brief && expires > 0:
			// Interval Too Brief: ask again for the registrar's minimum (section 10.2.8).
			brief = true
			least := headerSeconds(res, "Min-Expires")
			if least <= expires {
				return 0, 0, &StatusError{Code: code, Reason: res.Reason}
			}
			expires = least
			req = r.request(expires)
			tx, err = r.send(ctx, req, nil)
		default:
			return 0, headerSeconds(res, "Retry-After"), &StatusError{Code: code, Reason: res.Reason}
		}
	}
}

// send starts req's transaction, with digest credentials for challenge when not nil.
func (r *registration) send(ctx context.Context, req *sip.Request, challenge *sip.Response) (tx sip.ClientTransaction, err error) {
	if challenge == nil {
		tx, err = r.u.request(ctx, req, r.u.buildOpt)
	} else {
		err = r.u.send(func() (err error) {
			tx, err = r.u.client.TransactionDigestAuth(ctx, req, challenge, sipgo.DigestAuth{
				Username: r.t.Username, Password: r.t.Password,
			})
			return err
		})
	}
	if cseq := req.CSeq(); cseq != nil {
		r.cseq = cseq.SeqNo
	}
	return tx, err
}

// request builds a REGISTER for the trunk's account (RFC 3261 section 10.2): the
// Request-URI is the registrar's domain, To and From the address of record
// (user@domain), Contact where we take requests, for expires (0: remove it).
func (r *registration) request(expires time.Duration) *sip.Request {
	t := r.t
	ruri := sip.Uri{Scheme: t.uri.Scheme, Host: t.uri.Host, Port: t.uri.Port}
	if t.uri.UriParams != nil {
		ruri.UriParams = t.uri.UriParams.Clone()
	}
	req := sip.NewRequest(sip.REGISTER, ruri)
	req.SetTransport(t.transport)
	if t.route != nil {
		req.AppendHeader(&sip.RouteHeader{Address: *t.route.Clone()})
	}
	aor := sip.Uri{Scheme: t.uri.Scheme, User: t.Username, Host: t.uri.Host}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", r.tag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: *aor.Clone()})
	callID := sip.CallIDHeader(r.callID)
	req.AppendHeader(&callID)
	r.cseq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: r.cseq, MethodName: sip.REGISTER})
	contact := r.contact()
	contact.Params = sip.NewParams()
	contact.Params.Add("expires", strconv.Itoa(int(expires/time.Second)))
	req.AppendHeader(contact)
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.SetBody(nil)
	return req
}

// contact is the binding we register: our address, with the account's user name.
func (r *registration) contact() *sip.ContactHeader {
	c := r.u.contact(r.t.transport)
	c.Address.User = r.t.Username
	if strings.EqualFold(r.t.uri.Scheme, "sips") {
		c.Address.Scheme = "sips"
	}
	return c
}

// granted is the time the registrar gave our binding (RFC 3261 section 10.2.4): the
// expires parameter of our Contact in the 200, else its Expires header, else what we
// asked for.
func (r *registration) granted(res *sip.Response, asked time.Duration) time.Duration {
	ours := r.contact().Address
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Params == nil || !sameBinding(c.Address, ours) {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// sameBinding compares Contact URIs as a registrar does for a binding: user, host and
// port (RFC 3261 section 10.3 step 7 compares them with the rules of 19.1.4).
func sameBinding(a, b sip.Uri) bool {
	port := func(u sip.Uri) int {
		if u.Port != 0 {
			return u.Port
		}
		return 5060
	}
	return a.User == b.User && strings.EqualFold(a.Host, b.Host) && port(a) == port(b)
}

// headerSeconds reads a delta-seconds header (Retry-After, Min-Expires): 0 when absent.
func headerSeconds(res *sip.Response, name string) time.Duration {
	h := res.GetHeader(name)
	if h == nil {
		return 0
	}
	v := strings.TrimSpace(h.Value())
	if i := strings.IndexAny(v, " ;("); i >= 0 {
		v = v[:i]
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// finalResponse waits for tx's final response.
func finalResponse(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
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
