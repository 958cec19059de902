package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
)

// Observer receives the user agent's measurable events. *metrics.Metrics implements it.
type Observer interface {
	CallStarted(leg string)
	CallEnded(leg string)
	BridgeStarted()
	BridgeEnded()
	SIPResponse(method string, code int)
	RTPPacket(direction string)
	// RTPDropped counts a datagram a leg's RTP port received and ignored: reason is
	// dropSource, dropMalformed or dropPayloadType (rtp.go). Called per packet.
	RTPDropped(reason string)
}

// Config is what the user agent needs; cmd fills it from the configuration file.
type Config struct {
	// Listen is the host:port for SIP over UDP and TCP. Port 0 picks a free port (tests).
	Listen string
	// ExternalHost is put in Contact, Via and SDP; default the listen host, or the first
	// non-loopback address when listening on all interfaces.
	ExternalHost string
	// RTPPortMin and RTPPortMax bound the RTP ports (defaults 10000-20000).
	RTPPortMin, RTPPortMax int
	// Trunks receive calls to numbers, tried in order (trunk.go). None: numbers cannot be
	// dialled. TrunkURI, TrunkUser and TrunkPassword are one trunk, used when Trunks is
	// empty ("sip:carrier.example;transport=tcp").
	Trunks        []Trunk
	TrunkURI      string
	TrunkUser     string
	TrunkPassword string
	// MediaTimeout ends an answered leg that sent no RTP for this long (default 30 s).
	MediaTimeout time.Duration
	Logger       *slog.Logger
	Observer     Observer

	// TLS is SIP over TLS (tls.go): a listener, its certificate, and the CA trusted for
	// the peers we connect to besides the system's roots.
	TLS TLSConfig

	tcp tcpLimits // inbound TCP and TLS limits; zero: the defaults (inbound.go); tests shorten them
}

// UA is Leadline's SIP user agent. It implements dialer.Caller.
type UA struct {
	cfg    Config
	log    *slog.Logger
	obs    Observer
	host   string         // advertised host
	addr   netip.AddrPort // where we listen
	trunks []*trunk       // in the order they are tried
	ports  *portPool
	media  []*mediaLoop // read the RTP sockets; a stream goes to the next in turn
	turn   atomic.Uint32
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	udp    net.PacketConn
	tcp    net.Listener
	tls    net.Listener   // SIP over TLS; nil without Config.TLS.Listen
	tlsAt  netip.AddrPort // where tls listens

	mu      sync.Mutex       // guards the following fields
	calls   map[string]*Call // live legs by Call-ID
	ended   map[string]*Call // legs that ended less than endedTTL() ago, by Call-ID
	endedQ  []endedCall      // ended in the order they ended, for pruning
	closing bool             // Close has begun: Dial refuses
	closed  bool             // Close has stopped the transactions: no new background goroutines

	bg    sync.WaitGroup // background goroutines (cancelInvite, hangupDialog, session timers); Close waits
	dials atomic.Int32   // our requests being handed to the transport (see dialControl)
	// sendMu is held for reading while a request is handed to the transport (send) and
	// for writing when Close stops sending: a request sent after sipgo dropped its
	// connections would open a socket that nobody closes.
	sendMu   sync.RWMutex
	sendDone bool // guarded by sendMu

	reg atomic.Pointer[Registrar] // takes REGISTERs; nil: none (registrar.go)

	refused    atomic.Int64 // inbound INVITEs refused
	refusedLog atomic.Int64 // when one was last logged (unix ns)
}

// endedTTL is how long an ended leg is remembered so that a 2xx retransmitted or forked
// after its INVITE transaction is gone can still be acknowledged and hung up (64*T1: the
// time a UAS retransmits a 2xx, RFC 3261 section 13.3.1.4).
func endedTTL() time.Duration { return 64 * sip.T1 }

type endedCall struct {
	callID string
	at     time.Time
}

var _ dialer.Caller = (*UA)(nil)

// Listen opens the SIP sockets and starts answering requests. Close stops it.
func Listen(cfg Config) (*UA, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.MediaTimeout == 0 {
		cfg.MediaTimeout = 30 * time.Second
	}
	if cfg.RTPPortMin == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = 10000, 20000
	}
	u := &UA{cfg: cfg, log: cfg.Logger, obs: cfg.Observer, calls: make(map[string]*Call), ended: make(map[string]*Call)}
	trunks := cfg.Trunks
	if len(trunks) == 0 && cfg.TrunkURI != "" {
		trunks = []Trunk{{URI: cfg.TrunkURI, Username: cfg.TrunkUser, Password: cfg.TrunkPassword}}
	}
	for _, t := range trunks {
		tr, err := newTrunk(t)
		if err != nil {
			return nil, err
		}
		u.trunks = append(u.trunks, tr)
	}

	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen %q: %w", cfg.Listen, err)
	}
	network := "udp"
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		network = "udp4"
	}
	// UDP first (port 0 picks one), then TCP on the same port; with port 0, another
	// port when that one is taken for TCP.
	for try := 0; ; try++ {
		u.udp, err = listenPacket(network, cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("sip: listen udp: %w", err)
		}
		u.addr = u.udp.LocalAddr().(*net.UDPAddr).AddrPort()
		u.tcp, err = net.Listen(strings.Replace(network, "udp", "tcp", 1), net.JoinHostPort(host, strconv.Itoa(int(u.addr.Port()))))
		if err == nil {
			break
		}
		u.udp.Close()
		if _, port, _ := net.SplitHostPort(cfg.Listen); port != "0" || try == 10 {
			return nil, fmt.Errorf("sip: listen tcp: %w", err)
		}
	}
	u.host = advertisedHost(cfg.ExternalHost, u.addr.Addr())
	tlsServer, tlsClient, err := cfg.TLS.configs()
	if err != nil {
		u.closeSockets()
		return nil, err
	}
	if cfg.TLS.Listen != "" {
		if u.tls, err = net.Listen("tcp", cfg.TLS.Listen); err != nil {
			u.closeSockets()
			return nil, fmt.Errorf("sip: listen tls: %w", err)
		}
		u.tlsAt = u.tls.Addr().(*net.TCPAddr).AddrPort()
	}
	bindIP := u.addr.Addr().Unmap()
	u.ports = &portPool{ip: bindIP, min: cfg.RTPPortMin, max: cfg.RTPPortMax}
	for range runtime.GOMAXPROCS(0) {
		l, err := newMediaLoop()
		if err != nil {
			u.closeSockets()
			return nil, fmt.Errorf("sip: %w", err)
		}
		u.media = append(u.media, l)
	}

	u.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("Leadline"),
		sipgo.WithUserAgentHostname(u.host),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(u.log),
			// A 2xx whose INVITE transaction is gone (terminated after a CANCEL or a
			// final response, or a fork answering late) is ours to ACK and BYE
			// (NOTES: sipgo pitfall 1).
			sip.WithTransactionLayerUnhandledResponseHandler(u.onUnhandledResponse),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(u.log),
			sip.WithTransportLayerTransports(sip.TransportsConfig{
				TCP: &sip.TransportTCP{DialerCreate: u.tcpDialer},
				// TLS to trunks and phones: the peer's certificate is verified against
				// the host name connected to (sipgo sets ServerName).
				TLS: &sip.TransportTLS{TransportTCP: &sip.TransportTCP{DialerCreate: u.tcpDialer}},
			}),
		),
		sipgo.WithUserAgenTLSConfig(tlsClient),
	)
	if err != nil {
		u.closeSockets()
		return nil, fmt.Errorf("sip: %w", err)
	}
	u.srv, err = sipgo.NewServer(u.ua, sipgo.WithServerLogger(u.log))
	if err != nil {
		u.closeSockets()
		return nil, fmt.Errorf("sip: %w", err)
	}
	u.client, err = sipgo.NewClient(u.ua,
		sipgo.WithClientLogger(u.log),
		sipgo.WithClientHostname(u.host),
		sipgo.WithClientPort(int(u.addr.Port())),
		sipgo.WithClientConnectionAddr(u.udp.LocalAddr().String()),
	)
	if err != nil {
		u.closeSockets()
		return nil, fmt.Errorf("sip: %w", err)
	}
	u.routes()
	inbound := newInboundConns(cfg.tcp)
	go func() { _ = u.srv.ServeUDP(u.udp) }()
	go func() { _ = u.srv.ServeTCP(limitTCP(u.tcp, inbound, u.log, nil)) }()
	if u.tls != nil {
		wrap := func(c net.Conn) net.Conn { return tls.Server(c, tlsServer) }
		go func() { _ = u.srv.ServeTLS(limitTCP(u.tls, inbound, u.log, wrap)) }()
	}
	// Requests must leave from the listening socket (NOTES: sipgo pitfall 4), so wait until
	// the transport has registered it.
	for i := 0; ; i++ {
		if c, _ := u.ua.TransportLayer().GetConnection("udp", u.udp.LocalAddr().String()); c != nil {
			break
		}
		if i == 1000 {
			u.Close()
			return nil, errors.New("sip: udp listener did not start")
		}
		time.Sleep(time.Millisecond)
	}
	u.startRegistrations()
	return u, nil
}

// listenPacket opens the SIP UDP socket. Tests replace it to watch what the UA sends.
var listenPacket = net.ListenPacket

func advertisedHost(external string, listen netip.Addr) string {
	if external != "" {
		return external
	}
	if !listen.IsUnspecified() {
		return listen.Unmap().String()
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

// Addr is the address SIP listens on (UDP and TCP).
func (u *UA) Addr() netip.AddrPort { return u.addr }

// TLSAddr is the address SIP over TLS listens on; invalid without a TLS listener.
func (u *UA) TLSAddr() netip.AddrPort { return u.tlsAt }

// Close hangs up every call (CANCEL when ringing, BYE when answered), gives the
// cancellations two seconds to complete, stops listening and waits for the user agent's
// goroutines to end. Dial fails once Close has begun.
func (u *UA) Close() error {
	u.mu.Lock()
	u.closing = true
	calls := make([]*Call, 0, len(u.calls))
	for _, c := range u.calls {
		calls = append(calls, c)
	}
	u.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.Hangup(ctx)
		})
	}
	wg.Wait()
	u.stopRegistrations() // REGISTER with Expires: 0 while requests can still leave
	idle := make(chan struct{})
	go func() { u.bg.Wait(); close(idle) }() // ends when the last background goroutine does
	t := time.NewTimer(2 * time.Second)
	select {
	case <-idle:
	case <-t.C:
	}
	t.Stop()
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.sendMu.Lock()
	u.sendDone = true
	u.sendMu.Unlock()
	// Stop reading first: a request read after sipgo's connection pool is cleared would
	// be answered over a new socket nobody closes.
	u.closeSockets()
	err := u.ua.Close() // terminates every transaction: background goroutines see tx.Done
	<-idle
	return err
}

// goBackground runs f in a goroutine Close waits for. It reports false, and does not run
// f, once Close has stopped the transactions.
func (u *UA) goBackground(f func()) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	u.bg.Go(f)
	return true
}

func (u *UA) closeSockets() {
	if u.udp != nil {
		u.udp.Close()
	}
	if u.tcp != nil {
		u.tcp.Close()
	}
	if u.tls != nil {
		u.tls.Close()
	}
	for _, l := range u.media {
		l.close()
	}
}

// mediaLoop is the loop a new stream is read on.
func (u *UA) mediaLoop() *mediaLoop {
	return u.media[int(u.turn.Add(1))%len(u.media)]
}

// ActiveCalls is the number of legs in progress.
func (u *UA) ActiveCalls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.calls)
}

func (u *UA) register(c *Call) {
	u.mu.Lock()
	u.calls[c.callID] = c
	u.mu.Unlock()
}

// unregister forgets a leg that ended, but keeps it for endedTTL() among the ended legs
// (see onUnhandledResponse).
func (u *UA) unregister(c *Call) {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.calls[c.callID] == c {
		delete(u.calls, c.callID)
	}
	for len(u.endedQ) > 0 && now.Sub(u.endedQ[0].at) > endedTTL() {
		delete(u.ended, u.endedQ[0].callID)
		u.endedQ[0] = endedCall{}
		u.endedQ = u.endedQ[1:]
	}
	u.ended[c.callID] = c
	u.endedQ = append(u.endedQ, endedCall{c.callID, now})
}

// findCall returns the live or recently ended leg with Call-ID id, or nil.
func (u *UA) findCall(id string) *Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := u.calls[id]; c != nil {
		return c
	}
	return u.ended[id]
}

// onUnhandledResponse takes responses that match no client transaction. A 2xx to one of
// our INVITEs arrives here when its transaction has already ended: a retransmission after
// a 2xx raced our CANCEL, a 2xx after the CANCEL was answered 481, or a fork answering
// after another branch's final response. Each is acknowledged, and hung up unless it is
// the leg's own answer (RFC 3261 sections 13.2.2.4 and 17.1.1.2).
func (u *UA) onUnhandledResponse(res *sip.Response) {
	cseq, cid, from := res.CSeq(), res.CallID(), res.From()
	if cseq == nil || cid == nil || from == nil || res.To() == nil || cseq.MethodName != sip.INVITE || !res.IsSuccess() {
		return
	}
	c := u.findCall(string(*cid))
	if c == nil {
		u.log.Debug("stray 2xx for an unknown call", "call_id", string(*cid))
		return
	}
	if tag, _ := from.Params.Get("tag"); tag != c.localTag {
		return
	}
	c.on2xx(res)
}

// lookup finds the call an in-dialog request belongs to: same Call-ID, our tag in To,
// theirs in From (RFC 3261 section 12.2.2).
func (u *UA) lookup(req *sip.Request) *Call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	u.mu.Lock()
	c := u.calls[string(*cid)]
	u.mu.Unlock()
	if c == nil {
		return nil
	}
	to, from := req.To(), req.From()
	if to == nil || from == nil {
		return nil
	}
	if tag, _ := to.Params.Get("tag"); tag != c.localTag {
		return nil
	}
	if tag, _ := from.Params.Get("tag"); tag != c.remoteTag() {
		return nil
	}
	return c
}

func (u *UA) routes() {
	for method, h := range u.handlers() {
		switch method {
		case sip.INVITE:
			u.srv.OnInvite(h)
		case sip.ACK:
			u.srv.OnAck(h)
		case sip.BYE:
			u.srv.OnBye(h)
		case sip.INFO:
			u.srv.OnInfo(h)
		case sip.UPDATE:
			u.srv.OnUpdate(h)
		case sip.OPTIONS:
			u.srv.OnOptions(h)
		case sip.REGISTER:
			u.srv.OnRegister(h)
		case sip.CANCEL:
			u.srv.OnCancel(h)
		default:
			u.srv.OnNoRoute(h)
		}
	}
}

// handlers maps each method we take to its handler, behind the checks of RFC 3261
// section 8.2; "" is every other method.
func (u *UA) handlers() map[sip.RequestMethod]func(*sip.Request, sip.ServerTransaction) {
	return map[sip.RequestMethod]func(*sip.Request, sip.ServerTransaction){
		sip.INVITE:  u.checked(u.onInvite),
		sip.ACK:     u.checked(u.onAck),
		sip.BYE:     u.checked(u.onBye),
		sip.INFO:    u.checked(u.onInfo),
		sip.UPDATE:  u.checked(u.onUpdate),
		sip.OPTIONS: u.checked(u.onOptions),
		// A CANCEL matching a server transaction never gets here (sipgo answers it); we
		// have none for INVITEs, so every CANCEL is for a transaction that does not exist.
		sip.CANCEL: u.checked(func(req *sip.Request, tx sip.ServerTransaction) {
			u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		}),

		// Softphones' registrations (registrar.go); 405 without a registrar.
		sip.REGISTER: u.checked(u.onRegister),

		"": u.checked(u.onOtherMethod),
	}
}

func (u *UA) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	res.SipVersion = "SIP/2.0" // even to a request in another version (505)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		u.log.Debug("sip respond", "code", code, "method", req.Method.String(), "error", err)
	}
}

const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"

// onOptions answers health checks (RFC 3261 section 11).
func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	u.respond(req, tx, 200, "OK", nil,
		sip.NewHeader("Allow", allowed),
		sip.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
}

// onInvite answers re-INVITEs inside our dialogs and refuses every other INVITE:
// Leadline makes calls, it does not take them.
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil || !to.Params.Has("tag") {
		if n := u.refused.Add(1); n == 1 || time.Since(time.Unix(0, u.refusedLog.Load())) > time.Second {
			// A scanner sends thousands: one line a second at most.
			u.refusedLog.Store(time.Now().UnixNano())
			u.log.Info("refused inbound call", "from", req.Source(), "refused_total", n)
		}
		u.respond(req, tx, 403, "Forbidden", nil)
		// Answer like a stateless UAS: no retransmissions of the 403 towards whatever
		// address the INVITE claimed, no transaction kept for 32 s. A retransmitted
		// INVITE is simply refused again.
		tx.Terminate()
		return
	}
	c := u.lookup(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	c.refresh(req, tx)
}

func (u *UA) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookup(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	c.refresh(req, tx)
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookup(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	u.respond(req, tx, 200, "OK", nil)
	c.end(dialer.ErrHungUp, false)
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay or application/dtmf).
func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookup(req)
	if c == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if d, ok := media.ParseInfoDigit(ct, req.Body()); ok {
		c.media.digit(d)
	}
	u.respond(req, tx, 200, "OK", nil)
}

type nopObserver struct{}

func (nopObserver) CallStarted(string)      {}
func (nopObserver) CallEnded(string)        {}
func (nopObserver) BridgeStarted()          {}
func (nopObserver) BridgeEnded()            {}
func (nopObserver) SIPResponse(string, int) {}
func (nopObserver) RTPPacket(string)        {}
func (nopObserver) RTPDropped(string)       {}
