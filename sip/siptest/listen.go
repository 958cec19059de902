package siptest

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// NewPhoneAt starts a phone whose SIP socket listens on addr, an IPv4 "ip:port" (port 0
// picks a free port), so that a configuration can name its URI in advance. The Contact
// and URI carry addr's IP, which therefore may not be unspecified (0.0.0.0).
//
// Its media, like NewPhone's, binds and advertises 127.0.0.1: the caller must share the
// phone's network namespace (the same host, or in docker-compose network_mode
// "service:leadline"). NewPhone is NewPhoneAt(name, "127.0.0.1:0", b, log) but for
// this file's error handling; the two are kept apart only so that phone.go is untouched.
func NewPhoneAt(name, addr string, b Behaviour, log *slog.Logger) (_ *Phone, err error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("phone %s: listen address: %w", name, err)
	}
	if !ap.Addr().Is4() || ap.Addr().IsUnspecified() {
		return nil, fmt.Errorf("phone %s: listen address %s: need a specific IPv4 address", name, addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Phone{Name: name, b: defaults(b), log: log.With("phone", name)}
	if p.conn, err = net.ListenPacket("udp4", addr); err != nil {
		return nil, fmt.Errorf("phone %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			if p.ua != nil {
				_ = p.ua.Close()
			}
			_ = p.conn.Close()
		}
	}()
	p.addr = p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name)); err != nil {
		return nil, err
	}
	if p.srv, err = sipgo.NewServer(p.ua); err != nil {
		return nil, err
	}
	client, err := sipgo.NewClient(p.ua, sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()))
	if err != nil {
		return nil, err
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: p.addr.Addr().String(), Port: int(p.addr.Port())}}
	p.dlgs = sipgo.NewDialogServerCache(client, contact)
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.dlgs.ReadAck(req, tx) })
	p.srv.OnBye(p.onBye)
	go func() { _ = p.srv.ServeUDP(p.conn) }()
	for range 1000 {
		if c, _ := p.ua.TransportLayer().GetConnection("udp", p.conn.LocalAddr().String()); c != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return p, nil
}
