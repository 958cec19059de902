package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
)

// The registrar (RFC 3261 section 10) takes REGISTERs from the softphones of people
// whose phone is `registered`, so that a flow can ring them (Devices). Leadline still
// takes no calls: an INVITE from a registered phone is refused like any other.
//
// Every REGISTER is challenged with the same 401 (digest, digest.go), whatever its user;
// credentials that do not verify get 403, whether the user is unknown or the password
// wrong, and so do all credentials while a lockout holds (lockout.go). A registration
// keeps the Contact, but the phone is reached where the REGISTER came from: requests
// go to its source address and port (RFC 3581 section 4) over its transport, from the
// listening UDP socket or over the very TCP or TLS connection it registered on, so a
// phone behind NAT is reached through the mapping its own packets opened. Such a phone is
// granted at most natExpiry, and kept open between its refreshes by an OPTIONS every
// KeepAlive (RFC 3261 section 11), which its NAT must let through as it lets the
// phone's own traffic through.
//
// Registrations are kept in the store (BindingStore), with the node that took them: a
// restarted node keeps its UDP phones (same address, same mapping); a phone behind
// NAT is reachable only through the node it registered to, so a flow on another node
// does not ring it (see docs/softphones.md for running several nodes).

// Account is a SIP user a softphone signs in as: a person with phone: registered.
type Account struct {
	User     string // matched ignoring case
	Password string
	Dealer   string
	Person   string
}

// BindingStore keeps registrations. *store.DB implements it. Every method is safe for
// concurrent use.
type BindingStore interface {
	// PutBinding stores b, replacing the binding of b.User with the same Key (whose ID
	// is kept).
	PutBinding(ctx context.Context, b dialer.Binding) error
	// Bindings returns user's bindings that have not expired by now, oldest first.
	Bindings(ctx context.Context, user string, now time.Time) ([]dialer.Binding, error)
	// NodeBindings returns the bindings node took that have not expired by now.
	NodeBindings(ctx context.Context, node string, now time.Time) ([]dialer.Binding, error)
	// DeleteBinding removes user's binding with key; DeleteBindings all of user's.
	DeleteBinding(ctx context.Context, user, key string) error
	DeleteBindings(ctx context.Context, user string) error
	// PurgeBindings removes the bindings that expired by before.
	PurgeBindings(ctx context.Context, before time.Time) (int64, error)
}

// RegistrarObserver receives what the registrar does. *metrics.Metrics implements it.
type RegistrarObserver interface {
	// Registrations sets how many devices are registered through this node, by dealer
	// (every dealer with a registered person is present, 0 included).
	Registrations(byDealer map[string]int)
	// RegisterFailure counts a REGISTER refused (reason: RegisterFailure* constants).
	RegisterFailure(reason string)
	// RegisterLockout counts a lockout that began (scope "user" or "source").
	RegisterLockout(scope string)
}

// Reasons a REGISTER is refused: the reason label of leadline_register_failures_total.
const (
	// RegisterFailureCredentials: the credentials did not verify (an unknown user and a
	// wrong password are not told apart).
	RegisterFailureCredentials = "credentials"
	// RegisterFailureLocked: refused unchecked during a lockout.
	RegisterFailureLocked = "locked"
	// RegisterFailureBad: a malformed REGISTER or Authorization header, a stale or
	// foreign nonce, a replayed nonce count.
	RegisterFailureBad = "bad_request"
)

// RegistrarConfig is what NewRegistrar needs; cmd fills it.
type RegistrarConfig struct {
	Store    BindingStore
	Node     string // this node's id, recorded with each binding
	Observer RegistrarObserver
	Logger   *slog.Logger
	// Lockout limits repeated bad passwords (zero fields: the defaults).
	Lockout Lockout
	// KeepAlive is how often phones behind NAT registered over UDP get an OPTIONS
	// (default 25 s), and how often the registrations gauge is refreshed.
	KeepAlive time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Registration limits.
const (
	minExpiry     = 60 * time.Second   // shorter requests get 423 (RFC 3261 section 10.3 step 7)
	maxExpiry     = 3600 * time.Second // granted at most to a phone reached at its own Contact
	natExpiry     = 300 * time.Second  // granted at most to a phone behind NAT or on TCP or TLS
	defaultExpiry = 3600 * time.Second // when the REGISTER names none
	maxDevices    = 10                 // bindings per user; the one expiring first makes room
)

// Registrar is Leadline's registrar for softphones. It implements dialer.Devices.
type Registrar struct {
	ua     *UA
	store  BindingStore
	node   string
	obs    RegistrarObserver
	log    *slog.Logger
	now    func() time.Time
	keep   time.Duration
	nonces *nonces
	guard  *guard

	accounts atomic.Pointer[accounts]
	userMu   keyedMutex // serialises the REGISTERs of one user on this node

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// accounts are the configured SIP users, by lower-case user and by dealer/person.
type accounts struct {
	byUser   map[string]Account
	byPerson map[[2]string]Account
	dealers  []string // with a registered person, for the gauge's zeros
}

var _ dialer.Devices = (*Registrar)(nil)

// NewRegistrar starts taking REGISTERs on u; until then, and after Close, u answers
// REGISTER 405 as it does every method it does not take. It answers 405 too while no
// account is set. Close stops it.
func NewRegistrar(u *UA, cfg RegistrarConfig) *Registrar {
	if cfg.Logger == nil {
		cfg.Logger = u.log
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 25 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = nopRegistrarObserver{}
	}
	r := &Registrar{
		ua: u, store: cfg.Store, node: cfg.Node, obs: cfg.Observer, log: cfg.Logger, now: cfg.Now, keep: cfg.KeepAlive,
		nonces: newNonces(cfg.Now), guard: newGuard(cfg.Lockout, cfg.Now),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	r.accounts.Store(&accounts{})
	u.reg.Store(r)
	go r.keepAlive()
	return r
}

// SetAccounts replaces the accounts (config reload). Bindings of a user no longer
// configured are not rung and expire.
func (r *Registrar) SetAccounts(as []Account) {
	a := &accounts{byUser: map[string]Account{}, byPerson: map[[2]string]Account{}}
	seen := map[string]bool{}
	for _, x := range as {
		a.byUser[strings.ToLower(x.User)] = x
		a.byPerson[[2]string{x.Dealer, x.Person}] = x
		if !seen[x.Dealer] {
			seen[x.Dealer] = true
			a.dealers = append(a.dealers, x.Dealer)
		}
	}
	r.accounts.Store(a)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.gauge(ctx)
}

// Close stops the keep-alives and detaches the registrar from its UA.
func (r *Registrar) Close() {
	r.once.Do(func() {
		r.ua.reg.CompareAndSwap(r, nil)
		close(r.stop)
	})
	<-r.done
}

// onRegister hands a REGISTER to the registrar, or answers 405 without one.
func (u *UA) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	r := u.reg.Load()
	if r == nil || len(r.accounts.Load().byUser) == 0 {
		u.onOtherMethod(req, tx)
		return
	}
	r.serve(req, tx)
}

// serve answers a REGISTER: a challenge, a refusal or the user's bindings.
func (r *Registrar) serve(req *sip.Request, tx sip.ServerTransaction) {
	src := sourceIP(req.Source())
	hdr := req.GetHeader("Authorization")
	if hdr == nil {
		r.challenge(req, tx, false)
		return
	}
	cred, ok := parseCredentials(hdr.Value())
	if !ok || !strings.EqualFold(cred.realm, realm) || hasher(cred.alg) == nil {
		r.obs.RegisterFailure(RegisterFailureBad)
		r.challenge(req, tx, false)
		return
	}
	switch ours, stale := r.nonces.check(cred.nonce); {
	case !ours || stale:
		// Not a password test: another node's or an old nonce. Challenge again.
		r.challenge(req, tx, ours)
		return
	}
	if r.guard.locked(cred.user, src) {
		r.obs.RegisterFailure(RegisterFailureLocked)
		r.forbid(req, tx)
		return
	}
	acct, known := r.accounts.Load().byUser[strings.ToLower(cred.user)]
	password := acct.Password
	if !known {
		password = "\x00unknown user: no password matches\x00" // the same work either way
	}
	if !cred.valid(string(sip.REGISTER), password) || !known || !sameURI(cred.uri, req.Recipient) {
		r.obs.RegisterFailure(RegisterFailureCredentials)
		for _, scope := range r.guard.fail(cred.user, src) {
			r.obs.RegisterLockout(scope)
			r.log.Warn("registrar lockout after repeated bad passwords", "scope", scope,
				"user", printable(cred.user), "source", src.String())
		}
		r.forbid(req, tx)
		return
	}
	if !r.nonces.fresh(cred.nonce, cred.nc) {
		r.obs.RegisterFailure(RegisterFailureBad)
		r.challenge(req, tx, false) // a replay, or a client reusing a count: a new nonce
		return
	}
	// Authenticated as acct. It may change only its own bindings (RFC 3261 section 10.3
	// step 3).
	if to := req.To(); to == nil || !strings.EqualFold(to.Address.User, acct.User) {
		r.ua.respond(req, tx, 403, "Forbidden", nil)
		return
	}
	r.bind(req, tx, acct, src)
}

// challenge answers 401 with a fresh nonce, the same for every user. The transaction
// is not kept: a retransmission is challenged again.
//
// It offers MD5 only. RFC 8760 section 2.4 has a UAS offer SHA-256 first and MD5 after
// it, each in a WWW-Authenticate of its own, but baresip 1.0 (Debian 12's) gives up on
// the whole 401 when any challenge names SHA-256 ("Function not implemented"), MD5
// first or last. Credentials in SHA-256 still verify (credentials.valid).
func (r *Registrar) challenge(req *sip.Request, tx sip.ServerTransaction, stale bool) {
	nonce := r.nonces.make()
	r.ua.respond(req, tx, 401, "Unauthorized", nil,
		sip.NewHeader("WWW-Authenticate", challenge(nonce, algMD5, stale)))
	tx.Terminate()
}

// forbid answers 403: the only final answer to credentials that do not verify, for a
// known user or not, locked out or not.
func (r *Registrar) forbid(req *sip.Request, tx sip.ServerTransaction) {
	r.ua.respond(req, tx, 403, "Forbidden", nil)
}

// sameURI reports whether the digest's uri is the Request-URI (RFC 7616 section 3.4.6).
func sameURI(digestURI string, ruri sip.Uri) bool {
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, ruri.Scheme) && u.User == ruri.User && strings.EqualFold(u.Host, ruri.Host) && u.Port == ruri.Port
}

// bind applies an authenticated REGISTER's Contacts to the user's bindings (RFC 3261
// section 10.3 steps 6 to 8) and answers 200 with the bindings now current.
func (r *Registrar) bind(req *sip.Request, tx sip.ServerTransaction, acct Account, src netip.Addr) {
	unlock := r.userMu.lock(strings.ToLower(acct.User))
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := r.now()
	source, transport := req.Source(), strings.ToLower(req.Transport())
	defExpiry := defaultExpiry
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			r.ua.respond(req, tx, 400, "Bad Expires", nil)
			return
		}
		defExpiry = time.Duration(n) * time.Second
	}
	var contacts []*sip.ContactHeader
	wildcard := false
	for _, h := range req.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			r.ua.respond(req, tx, 400, "Bad Contact", nil)
			return
		}
		wildcard = wildcard || c.Address.Wildcard
		contacts = append(contacts, c)
	}
	cid, cseq := string(*req.CallID()), req.CSeq().SeqNo
	if wildcard {
		// Contact: * removes every binding, and only with Expires: 0 (step 6).
		if len(contacts) != 1 || defExpiry != 0 || req.GetHeader("Expires") == nil {
			r.ua.respond(req, tx, 400, "Bad Wildcard Contact", nil)
			return
		}
		if err := r.store.DeleteBindings(ctx, acct.User); err != nil {
			r.fail(req, tx, err)
			return
		}
		r.log.Info("softphone unregistered all devices", "dealer", acct.Dealer, "person", acct.Person)
		r.answer(ctx, req, tx, acct, src, now)
		return
	}
	existing, err := r.store.Bindings(ctx, acct.User, now)
	if err != nil {
		r.fail(req, tx, err)
		return
	}
	byKey := map[string]dialer.Binding{}
	for _, b := range existing {
		byKey[b.Key] = b
	}
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = printable(h.Value())
	}
	for _, c := range contacts {
		// sips: only from a phone that registered over TLS (RFC 3261 section 10.2.1:
		// a sips: Contact asks to be reached over TLS, and we reach it the way it came).
		if scheme := strings.ToLower(c.Address.Scheme); scheme != "sip" && (scheme != "sips" || transport != "tls") {
			r.ua.respond(req, tx, 400, "Only sip: Contacts, or sips: over TLS", nil)
			return
		}
		expiry := defExpiry
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				r.ua.respond(req, tx, 400, "Bad Contact Expires", nil)
				return
			}
			expiry = time.Duration(n) * time.Second
		}
		if expiry != 0 && expiry < minExpiry {
			r.ua.respond(req, tx, 423, "Interval Too Brief", nil, sip.NewHeader("Min-Expires", strconv.Itoa(int(minExpiry/time.Second))))
			return
		}
		key := c.Address.String()
		if inst, ok := c.Params.Get("+sip.instance"); ok && inst != "" {
			key = inst
		}
		old, had := byKey[key]
		if had && old.CallID == cid && cseq <= old.CSeq {
			// Out of order (step 7): an older request arrived after a newer one.
			r.ua.respond(req, tx, 500, "Out Of Order Registration", nil, sip.NewHeader("Retry-After", "1"))
			return
		}
		if expiry == 0 {
			if err := r.store.DeleteBinding(ctx, acct.User, key); err != nil {
				r.fail(req, tx, err)
				return
			}
			delete(byKey, key)
			r.log.Info("softphone unregistered", "dealer", acct.Dealer, "person", acct.Person, "device", old.ID)
			continue
		}
		b := dialer.Binding{
			ID: newToken(12), User: acct.User, Dealer: acct.Dealer, Person: acct.Person, Key: key,
			Contact: c.Address.String(), Source: source, Transport: transport, Node: r.node,
			CallID: cid, CSeq: cseq, UserAgent: ua, Updated: now,
		}
		if had {
			b.ID = old.ID
		}
		limit := natExpiry
		if direct(b) {
			limit = maxExpiry
		}
		b.Expires = now.Add(min(expiry, limit))
		if !had && len(byKey) >= maxDevices {
			// Room for the new device: the binding that would expire first goes.
			var first dialer.Binding
			for _, o := range byKey {
				if first.Key == "" || o.Expires.Before(first.Expires) {
					first = o
				}
			}
			if err := r.store.DeleteBinding(ctx, acct.User, first.Key); err != nil {
				r.fail(req, tx, err)
				return
			}
			delete(byKey, first.Key)
		}
		if err := r.store.PutBinding(ctx, b); err != nil {
			r.fail(req, tx, err)
			return
		}
		byKey[key] = b
		if reliable(transport) {
			r.ua.holdTCP(transport, source, b.Expires.Sub(now))
		}
		if !had {
			r.log.Info("softphone registered", "dealer", acct.Dealer, "person", acct.Person, "device", b.ID,
				"source", source, "transport", transport, "user_agent", ua, "expires_in", b.Expires.Sub(now).Round(time.Second))
		}
		r.guard.succeed(acct.User, src, b.Expires)
	}
	r.answer(ctx, req, tx, acct, src, now)
}

// answer sends the 200 of a REGISTER: every current binding of the user in a Contact
// with the time it has left (RFC 3261 section 10.3 step 8).
func (r *Registrar) answer(ctx context.Context, req *sip.Request, tx sip.ServerTransaction, acct Account, src netip.Addr, now time.Time) {
	current, err := r.store.Bindings(ctx, acct.User, now)
	if err != nil {
		r.fail(req, tx, err)
		return
	}
	hdrs := []sip.Header{sip.NewHeader("Date", now.UTC().Format(time.RFC1123))}
	for _, b := range current {
		left := int(b.Expires.Sub(now).Round(time.Second) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(left)))
	}
	r.ua.respond(req, tx, 200, "OK", nil, hdrs...)
	r.gauge(ctx)
}

// fail answers a REGISTER the store could not take: 500 with Retry-After, so the phone
// tries again shortly (RFC 3261 section 21.5.1).
func (r *Registrar) fail(req *sip.Request, tx sip.ServerTransaction, err error) {
	r.log.Error("registrar store", "error", err)
	r.ua.respond(req, tx, 500, "Server Internal Error", nil, sip.NewHeader("Retry-After", "5"))
}

// direct reports whether a binding's phone is reached at its own Contact: over UDP,
// from the host and port its Contact names. Any other is behind NAT (or on a TCP
// connection) as far as Leadline can tell.
func direct(b dialer.Binding) bool {
	if b.Transport != "udp" {
		return false
	}
	var u sip.Uri
	if err := sip.ParseUri(b.Contact, &u); err != nil {
		return false
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	src, err := netip.ParseAddrPort(b.Source)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	return err == nil && ip.Unmap() == src.Addr().Unmap() && uint16(port) == src.Port()
}

// reliable reports whether a binding's transport is a connection (tcp, tls): its phone
// is reached over the connection it registered on, by the node that holds it.
func reliable(transport string) bool { return transport == "tcp" || transport == "tls" }

// Devices implements dialer.Devices: the person's live bindings this node can reach.
// A binding taken by another node is reachable only when its phone is not behind NAT
// (direct); one on TCP or TLS only while its connection is open here.
func (r *Registrar) Devices(ctx context.Context, dealer, person string) ([]dialer.Device, error) {
	acct, ok := r.accounts.Load().byPerson[[2]string{dealer, person}]
	if !ok {
		return nil, nil
	}
	bs, err := r.store.Bindings(ctx, acct.User, r.now())
	if err != nil {
		return nil, fmt.Errorf("registered devices of %s/%s: %w", dealer, person, err)
	}
	var out []dialer.Device
	for _, b := range bs {
		switch {
		case reliable(b.Transport) && (b.Node != r.node || !r.ua.hasConn(b.Transport, b.Source)):
			continue
		case !reliable(b.Transport) && b.Node != r.node && !direct(b):
			continue
		}
		out = append(out, dialer.Device{ID: b.ID, Target: b.Contact, Route: b.Transport + ":" + b.Source, UserAgent: b.UserAgent})
	}
	return out, nil
}

// keepAlive runs until Close: every KeepAlive it sends an OPTIONS to each phone behind
// NAT registered here over UDP, refreshes the registrations gauge and purges expired
// registrations.
func (r *Registrar) keepAlive() {
	defer close(r.done)
	t := time.NewTicker(r.keep)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.keep)
		bs := r.gauge(ctx)
		for _, b := range bs {
			if b.Transport == "udp" && !direct(b) {
				r.ping(b)
			}
		}
		if _, err := r.store.PurgeBindings(ctx, r.now().Add(-time.Minute)); err != nil {
			r.log.Warn("purging expired registrations", "error", err)
		}
		cancel()
	}
}

// gauge counts this node's live bindings by dealer and returns them.
func (r *Registrar) gauge(ctx context.Context) []dialer.Binding {
	bs, err := r.store.NodeBindings(ctx, r.node, r.now())
	if err != nil {
		r.log.Warn("reading registrations", "error", err)
		return nil
	}
	a := r.accounts.Load()
	counts := map[string]int{}
	for _, d := range a.dealers {
		counts[d] = 0
	}
	var live []dialer.Binding
	for _, b := range bs {
		if acct, ok := a.byUser[strings.ToLower(b.User)]; ok && acct.Dealer == b.Dealer && acct.Person == b.Person {
			counts[b.Dealer]++
			live = append(live, b)
		}
	}
	r.obs.Registrations(counts)
	return live
}

// ping sends one OPTIONS to a phone where its registration came from; the answer only
// matters to the NAT between us (RFC 3261 section 11; RFC 5626 section 3.5 does the
// same with STUN). It gives up after a few seconds.
func (r *Registrar) ping(b dialer.Binding) {
	var target sip.Uri
	if sip.ParseUri(b.Contact, &target) != nil {
		return
	}
	req := sip.NewRequest(sip.OPTIONS, target)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "leadline", Host: r.ua.host}, Params: sip.NewParams()}
	from.Params.Add("tag", newToken(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}})
	callID := sip.CallIDHeader(newToken(24))
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	req.SetBody(nil)
	rt, err := parseRoute(b.Transport + ":" + b.Source)
	if err != nil {
		return
	}
	rt.apply(req)
	r.ua.goBackground(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tx, err := r.ua.request(ctx, req, withRport(r.ua.buildOpt))
		if err != nil {
			r.log.Debug("keep-alive", "device", b.ID, "error", err)
			return
		}
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if !res.IsProvisional() {
					return
				}
			case <-tx.Done():
				return
			case <-ctx.Done():
				r.log.Debug("keep-alive unanswered", "device", b.ID)
				return
			}
		}
	})
}

// printable keeps what may go into a log line or the store from a header a phone
// wrote: printable characters, at most 128.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > 128 {
		s = s[:128]
	}
	return s
}

// keyedMutex is a mutex per key, dropped when nobody holds or waits for it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyed
}

type keyed struct {
	sync.Mutex
	n int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyed{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyed{}
		k.m[key] = e
	}
	e.n++
	k.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		k.mu.Lock()
		if e.n--; e.n == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

type nopRegistrarObserver struct{}

func (nopRegistrarObserver) Registrations(map[string]int) {}
func (nopRegistrarObserver) RegisterFailure(string)       {}
func (nopRegistrarObserver) RegisterLockout(string)       {}
