package mailin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
	"golang.org/x/time/rate"

	"github.com/leadline/leadline/dialer"
)

// Config is what the SMTP receiver needs; cmd fills it from the configuration.
type Config struct {
	// Listen is host:port; port 0 picks one (tests).
	Listen string
	// Domain names the server in its greeting.
	Domain string
	// TLS, when set, is offered with STARTTLS.
	TLS *tls.Config
	// MaxBytes is the largest message taken (552 beyond it).
	MaxBytes int64
	// PerSender and PerDealer bound the messages taken from one sender address and for
	// one dealer, each Count per Per; beyond them a sender is told to try later (451).
	PerSender, PerDealer Rate
	// Timeout is how long a connection may wait for a command or data (default 5 min).
	Timeout time.Duration
	Logger  *slog.Logger
	// LookupTXT and SPFResolver replace DNS for DKIM keys and SPF records (tests).
	LookupTXT   func(domain string) ([]string, error)
	SPFResolver spf.DNSResolver
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Rate is at most Count events per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

// maxRecipients bounds the dealers one message is delivered to.
const maxRecipients = 10

// Server is Leadline's SMTP receiver. It answers 250 to a message only once every lead
// in it, or its rejection, is committed; 451 when the store cannot take it, so that the
// sending server tries again; 550 at RCPT for an address that is no dealer's, and after
// DATA for a sender the dealer does not allow; 552 for a message over the size limit.
type Server struct {
	cfg    Config
	in     Intake
	log    *slog.Logger
	srv    *smtp.Server
	ln     net.Listener
	served chan struct{} // closed when Serve returns

	boxes     atomic.Pointer[map[string]*Mailbox] // by address
	perSender *limiter
	perDealer *limiter
}

// Listen opens the SMTP port. Serve answers on it; Close stops it.
func Listen(cfg Config, in Intake) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	s := &Server{
		cfg: cfg, in: in, log: cfg.Logger, served: make(chan struct{}),
		perSender: newLimiter(cfg.PerSender), perDealer: newLimiter(cfg.PerDealer),
	}
	empty := map[string]*Mailbox{}
	s.boxes.Store(&empty)
	s.srv = smtp.NewServer(s)
	s.srv.Domain = cfg.Domain
	s.srv.MaxMessageBytes = cfg.MaxBytes
	s.srv.MaxRecipients = maxRecipients
	s.srv.ReadTimeout, s.srv.WriteTimeout = cfg.Timeout, cfg.Timeout
	s.srv.TLSConfig = cfg.TLS
	s.srv.ErrorLog = slogLogger{s.log}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	s.ln = ln
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetMailboxes replaces the dealers' mailboxes (config reload); mail being received
// keeps the mailbox it started with.
func (s *Server) SetMailboxes(mbs []Mailbox) {
	m := make(map[string]*Mailbox, len(mbs))
	for i := range mbs {
		if mbs[i].Address != "" {
			m[strings.ToLower(mbs[i].Address)] = &mbs[i]
		}
	}
	s.boxes.Store(&m)
}

// Serve answers connections until Close; it returns nil then.
func (s *Server) Serve() error {
	defer close(s.served)
	err := s.srv.Serve(s.ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops taking connections and waits, until ctx ends, for the messages being
// received; then it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		_ = s.srv.Close()
	}
	return err
}

// Close stops the server at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

// session is one SMTP connection's current transaction.
type session struct {
	s     *Server
	conn  *smtp.Conn
	from  string
	rcpts []*Mailbox
}

func (ss *session) Reset() { ss.from, ss.rcpts = "", nil }

func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = strings.ToLower(from)
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	mb := (*ss.s.boxes.Load())[strings.ToLower(to)]
	if mb == nil {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such address here"}
	}
	for _, r := range ss.rcpts {
		if r == mb {
			return nil
		}
	}
	ss.rcpts = append(ss.rcpts, mb)
	return nil
}

// Data reads the message (552 over the limit), refuses a message that hides an
// end-of-data marker behind a bare line ending (SMTP smuggling), applies the rate
// limits and delivers it to every recipient dealer. One reply covers all of them: a
// temporary failure for any asks for the whole message again, which is safe because a
// message delivered twice is one lead.
func (ss *session) Data(r io.Reader) error {
	s := ss.s
	remote := ss.conn.Conn().RemoteAddr().String()
	raw, err := io.ReadAll(r)
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			for _, mb := range ss.rcpts {
				s.in.Refused(mb.Dealer, dialer.ChannelEmail)
			}
			s.log.Warn("mail over email.max_size refused", "envelope_from", ss.from, "remote", remote, "max_bytes", s.cfg.MaxBytes)
		}
		return err
	}
	received := s.cfg.Now()
	if smuggled(raw) {
		for _, mb := range ss.rcpts {
			s.in.Refused(mb.Dealer, dialer.ChannelEmail)
		}
		s.log.Warn("mail with a bare line ending before a dot refused (SMTP smuggling?)", "envelope_from", ss.from, "remote", remote)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message: "a line with a lone dot ends in a bare CR or LF; send CRLF line endings"}
	}
	// Per sender and client network: a forger elsewhere cannot use up a real sender's
	// share.
	if !s.perSender.allow(ss.from+"|"+clientNet(ss.conn.Conn().RemoteAddr()), received) {
		for _, mb := range ss.rcpts {
			s.in.Refused(mb.Dealer, dialer.ChannelEmail)
		}
		s.log.Warn("too many mails from one sender; asked to try later", "envelope_from", ss.from, "remote", remote)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "too many messages from this sender; try again later"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The dealer's share is used only by mail its senders' check admitted, so that mail
	// from strangers cannot crowd out its real leads.
	env := envelope{channel: dialer.ChannelEmail, from: ss.from, received: received, proof: ss.proof(),
		limit: func(dealer string) bool { return s.perDealer.allow(dealer, received) }}
	var first *deliveryError
	refused := 0
	for _, mb := range ss.rcpts {
		err := deliver(ctx, s.in, s.log, mb, raw, env)
		var de *deliveryError
		switch {
		case err == nil:
		case errors.As(err, &de):
			if de.refused {
				refused++
			}
			first = cmpErr(first, de)
		default:
			first = cmpErr(first, tempFailure(err.Error()))
		}
	}
	switch {
	case first == nil:
		return nil
	case first.temporary():
	case refused < len(ss.rcpts):
		// Refused for some dealers, taken for others: the taken ones count.
		return nil
	}
	return &smtp.SMTPError{Code: first.code, EnhancedCode: smtp.EnhancedCode(first.enhanced), Message: first.msg}
}

// cmpErr keeps the error that decides the reply: a temporary one over a permanent one.
func cmpErr(cur, next *deliveryError) *deliveryError {
	if cur == nil || (next.temporary() && !cur.temporary()) {
		return next
	}
	return cur
}

// smuggled reports whether raw holds a lone "." between line endings of which one is
// a bare LF or CR: the end-of-data marker of SMTP smuggling (CVE-2023-51764 and
// others). A receiver that ended DATA there would take what follows as a second,
// forged message; this one does not, but refuses the message rather than pass on
// what another server in the path may have split.
func smuggled(raw []byte) bool {
	for i := 1; i+1 < len(raw); i++ {
		before, after := raw[i-1], raw[i+1]
		if raw[i] != '.' || (before != '\n' && before != '\r') || (after != '\n' && after != '\r') {
			continue
		}
		crlfBefore := before == '\n' && i >= 2 && raw[i-2] == '\r'
		crlfAfter := after == '\r' && i+2 < len(raw) && raw[i+2] == '\n'
		if !crlfBefore || !crlfAfter {
			return true
		}
	}
	return false
}

// proof is what this connection's sender can prove, checked against real DNS or the
// configured resolvers.
func (ss *session) proof() proof {
	ip := netip.Addr{}
	if a, ok := ss.conn.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ip = a.AddrPort().Addr().Unmap()
	}
	return dnsProof{s: ss.s, ip: ip, helo: ss.conn.Hostname()}
}

type dnsProof struct {
	s    *Server
	ip   netip.Addr
	helo string
}

// dkim passes when a valid signature's domain is fromDomain or a parent of it.
func (p dnsProof) dkim(raw []byte, fromDomain string) error {
	return verifyDKIM(raw, fromDomain, p.s.cfg.LookupTXT)
}

// verifyDKIM passes when a valid signature's domain is fromDomain or a parent of it
// (relaxed alignment, RFC 7489 section 3.1.1); lookupTXT nil is DNS.
func verifyDKIM(raw []byte, fromDomain string, lookupTXT func(string) ([]string, error)) error {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookupTXT, MaxVerifications: 5})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return err
	}
	var why []string
	for _, v := range vs {
		d := strings.ToLower(v.Domain)
		switch {
		case v.Err != nil:
			why = append(why, d+": "+v.Err.Error())
		case fromDomain == d || strings.HasSuffix(fromDomain, "."+d):
			return nil
		default:
			why = append(why, d+": not the From domain "+fromDomain)
		}
	}
	if len(why) == 0 {
		return errors.New("no DKIM signature")
	}
	return errors.New(strings.Join(why, "; "))
}

// spf passes when the envelope sender's domain allows the client's address; a DNS
// failure is temporary (451).
func (p dnsProof) spf(ctx context.Context, envelopeFrom string) error {
	if envelopeFrom == "" {
		return errors.New("no envelope sender to check")
	}
	opts := []spf.Option{spf.WithContext(ctx)}
	if p.s.cfg.SPFResolver != nil {
		opts = append(opts, spf.WithResolver(p.s.cfg.SPFResolver))
	}
	res, err := spf.CheckHostWithSender(net.IP(p.ip.AsSlice()), p.helo, envelopeFrom, opts...)
	switch res {
	case spf.Pass:
		return nil
	case spf.TempError:
		return tempFailure("SPF could not be checked now: try again later")
	}
	if err != nil {
		return fmt.Errorf("%s (%v)", res, err)
	}
	return fmt.Errorf("%s for %s from %s", res, domainOf(envelopeFrom), p.ip)
}

// limiter holds a token bucket per key; buckets idle for a whole period are dropped.
type limiter struct {
	r  Rate
	mu sync.Mutex // guards the following fields
	m  map[string]*bucket
	at time.Time // last sweep
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

func newLimiter(r Rate) *limiter { return &limiter{r: r, m: map[string]*bucket{}} }

// allow takes one event for key at now; always true without a rate.
func (l *limiter) allow(key string, now time.Time) bool {
	if l.r.Count <= 0 || l.r.Per <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.at) > l.r.Per {
		for k, b := range l.m {
			if now.Sub(b.used) > l.r.Per {
				delete(l.m, k)
			}
		}
		l.at = now
	}
	b := l.m[key]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(rate.Every(l.r.Per/time.Duration(l.r.Count)), l.r.Count)}
		l.m[key] = b
	}
	b.used = now
	return b.l.AllowN(now, 1)
}

// slogLogger passes go-smtp's internal errors to slog.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.log.Warn("smtp: " + fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.log.Warn("smtp: " + strings.TrimSpace(fmt.Sprintln(v...))) }

// clientNet is the network a client connects from, for rate limits: its IPv4 address's
// /24, its IPv6 address's /64.
func clientNet(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}
