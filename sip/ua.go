package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/sip/media"
)

// Observer receives the user agent's measurable events. *metrics.Metrics implements it.
type Observer interface {
	CallStarted(leg string)
	CallEnded(leg string)
	BridgeStarted()
	BridgeEnded()
	SIPResponse(method string, code int)
	RTPPacket(direction string)
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
	// TrunkURI receives calls to numbers ("sip:carrier.example;transport=tcp"). Empty:
	// numbers cannot be dialled.
	TrunkURI      string
	TrunkUser     string
	TrunkPassword string
	// MediaTimeout ends an answered leg that sent no RTP for this long (default 30 s).
	MediaTimeout time.Duration
	Logger       *slog.Logger
	Observer     Observer
}

// UA is Leadline's SIP user agent. It implements dialer.Caller.
type UA struct {
	cfg    Config
	log    *slog.Logger
	obs    Observer
	host   string         // advertised host
	addr   netip.AddrPort // where we listen
	trunk  *sip.Uri
	ports  *portPool
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	udp    net.PacketConn
	tcp    net.Listener

	mu    sync.Mutex       // guards calls
	calls map[string]*Call // by Call-ID
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
	u := &UA{cfg: cfg, log: cfg.Logger, obs: cfg.Observer, calls: make(map[string]*Call)}
	if cfg.TrunkURI != "" {
		var t sip.Uri
		if err := sip.ParseUri(cfg.TrunkURI, &t); err != nil {
			return nil, fmt.Errorf("sip: trunk uri %q: %w", cfg.TrunkURI, err)
		}
		u.trunk = &t
	}

	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen %q: %w", cfg.Listen, err)
	}
	network := "udp"
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		network = "udp4"
	}
	// UDP first (port 0 picks one), then TCP on the same port.
	u.udp, err = net.ListenPacket(network, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen udp: %w", err)
	}
	u.addr = u.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	u.tcp, err = net.Listen(strings.Replace(network, "udp", "tcp", 1), net.JoinHostPort(host, strconv.Itoa(int(u.addr.Port()))))
	if err != nil {
		u.udp.Close()
		return nil, fmt.Errorf("sip: listen tcp: %w", err)
	}
	u.host = advertisedHost(cfg.ExternalHost, u.addr.Addr())
	bindIP := u.addr.Addr().Unmap()
	u.ports = &portPool{ip: bindIP, min: cfg.RTPPortMin, max: cfg.RTPPortMax}

	u.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("Leadline"),
		sipgo.WithUserAgentHostname(u.host),
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
	go func() { _ = u.srv.ServeUDP(u.udp) }()
	go func() { _ = u.srv.ServeTCP(u.tcp) }()
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
	return u, nil
}

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

// Host is the host advertised in Contact and SDP.
func (u *UA) Host() string { return u.host }

// Close hangs up every call and stops listening.
func (u *UA) Close() error {
	u.mu.Lock()
	calls := make([]*Call, 0, len(u.calls))
	for _, c := range u.calls {
		calls = append(calls, c)
	}
	u.mu.Unlock()
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.Hangup(ctx)
		cancel()
	}
	err := u.ua.Close()
	u.closeSockets()
	return err
}

func (u *UA) closeSockets() {
	if u.udp != nil {
		u.udp.Close()
	}
	if u.tcp != nil {
		u.tcp.Close()
	}
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

func (u *UA) unregister(c *Call) {
	u.mu.Lock()
	if u.calls[c.callID] == c {
		delete(u.calls, c.callID)
	}
	u.mu.Unlock()
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
	u.srv.OnInvite(u.onInvite)
	u.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	u.srv.OnBye(u.onBye)
	u.srv.OnInfo(u.onInfo)
	u.srv.OnUpdate(u.onUpdate)
	u.srv.OnOptions(u.onOptions)
	u.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
	})
}

func (u *UA) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, body)
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
		u.log.Info("refused inbound call", "from", req.Source())
		u.respond(req, tx, 403, "Forbidden", nil)
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
