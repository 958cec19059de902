package mailin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
	"github.com/emersion/go-imap/commands"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadmail"
)

// IMAP is a dealer's mailbox that Leadline reads leads from (Mailbox.IMAP).
type IMAP struct {
	// URL is imaps://host[:993] (TLS) or imap://host[:143] (STARTTLS when the server
	// offers it; without it, only to a loopback address).
	URL      string
	Username string
	Password string
	Folder   string // "" is INBOX
	// MoveTo, when set, is the folder a message is moved to once what it became is
	// committed; it is created when missing.
	MoveTo string
}

// Enabled reports whether the mailbox is read.
func (m IMAP) Enabled() bool { return m.URL != "" }

// DoneKeyword is the IMAP keyword a message gets once Leadline is done with it: what it
// became (leads, or a rejection) is committed, or its sender was refused. Messages
// without it are read; a person reading the mailbox (\Seen) does not hide a lead.
const DoneKeyword = "$Leadline"

// Reader defaults.
const (
	// DefaultPoll is how often a mailbox is searched: the only way to learn of new mail
	// from a server without IDLE, and a safety net beside IDLE (each look also renews
	// the IDLE, well within RFC 2177's 29 minutes).
	DefaultPoll = 30 * time.Second
	// maxAge: a message that arrived in the mailbox longer ago is left alone, so that
	// connecting a mailbox full of old mail does not ring anyone about enquiries from
	// last year. The search's SINCE works in days (RFC 3501 section 6.4.4).
	maxAge = 7 * 24 * time.Hour
	// batch bounds the messages one look handles; the next look follows at once.
	batch = 50
	// dialTimeout bounds the TCP connection, TLS handshake and greeting.
	dialTimeout = 15 * time.Second
	// deliverTimeout bounds one message's delivery to the store, as for SMTP.
	deliverTimeout = time.Minute
	// longSession: a session that lasted this long resets the reconnection backoff.
	longSession = time.Minute
	// replaceGrace is how long a reader stopped by a reload may finish the message in
	// hand before its connection is closed.
	replaceGrace = 30 * time.Second
)

// ReaderConfig is what the IMAP readers share; cmd fills it from the configuration.
type ReaderConfig struct {
	// MaxBytes is the largest message read (email.max_size). A bigger one is not
	// fetched: it is kept as a rejection with its header and the reason.
	MaxBytes int64
	Logger   *slog.Logger
	// Observer is told whether each mailbox is connected; nil: nobody.
	Observer Observer
	// Now is the clock of received times; nil: time.Now. It must be the dialer's, as
	// the intake-to-INVITE measure subtracts one from the other.
	Now func() time.Time
	// LookupTXT replaces DNS for DKIM keys (tests).
	LookupTXT func(domain string) ([]string, error)
	// TLS is the base of each connection's TLS configuration (RootCAs for tests); the
	// server name is the URL's host.
	TLS *tls.Config
	// Poll is how often a mailbox is searched (DefaultPoll).
	Poll time.Duration
	// Backoff is the first wait before reconnecting, doubled (with jitter) after each
	// failure up to MaxBackoff; LoginBackoff is the least wait after a refused login,
	// so as not to trip the provider's lockout. Defaults 1 s, 5 min, 1 min.
	Backoff, MaxBackoff, LoginBackoff time.Duration
	// Timeout bounds each IMAP command, an IDLE included; default 2 min, and at least
	// Poll plus a minute.
	Timeout time.Duration

	// afterCommit, when set, is called once a message's delivery returned nil and
	// before it is marked; an error ends the session there, as a crash would (tests).
	afterCommit func(uid uint32) error
}

// Observer is told whether each dealer's mailbox is being read. *metrics.Metrics
// implements it. Calls for one dealer come from one goroutine at a time.
type Observer interface {
	// IMAPConnected reports whether the dealer's reader is logged in with its folder
	// selected (true), or is not and retries (false).
	IMAPConnected(dealer string, connected bool)
	// IMAPRemoved reports that the dealer's mailbox is no longer read (config reload).
	IMAPRemoved(dealer string)
}

func (cfg *ReaderConfig) defaults() {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.LoginBackoff <= 0 {
		cfg.LoginBackoff = time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	// An IDLE is a command too: it must end (at the next look) before its deadline.
	cfg.Timeout = max(cfg.Timeout, cfg.Poll+time.Minute)
}

type nopObserver struct{}

func (nopObserver) IMAPConnected(string, bool) {}
func (nopObserver) IMAPRemoved(string)         {}

// Readers runs one reader goroutine per dealer mailbox with IMAP set. Each reader owns
// its connection: it searches the folder for messages without the done marker, hands
// each to deliver, and marks it done (flags it, or moves it) only once deliver returned
// nil, or refused its sender. Between looks it waits in IDLE, or polls.
type Readers struct {
	cfg ReaderConfig
	in  Intake

	mu       sync.Mutex         // guards the following fields
	want     []Mailbox          // the configured mailboxes with IMAP set
	running  map[string]*reader // by dealer
	retiring map[string]*reader // the last reader of each dealer stopped by a reload; ended perhaps
	started  bool               // Start was called
	stopped  bool               // Shutdown was called: nothing starts again
}

// NewReaders prepares the readers; none runs before Start.
func NewReaders(cfg ReaderConfig, in Intake) *Readers {
	cfg.defaults()
	return &Readers{cfg: cfg, in: in, running: map[string]*reader{}, retiring: map[string]*reader{}}
}

// SetMailboxes sets the mailboxes to read (config reload). A reader whose IMAP
// settings changed is restarted, one whose dealer lost them is stopped, a new one
// started; the others go on, with the new senders and rules for the next message.
func (rs *Readers) SetMailboxes(mbs []Mailbox) {
	var want []Mailbox
	for _, mb := range mbs {
		if mb.IMAP.Enabled() {
			want = append(want, mb)
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.want = want
	if rs.started && !rs.stopped {
		rs.reconcileLocked()
	}
}

// Start starts a reader for each mailbox set. Calling it again does nothing.
func (rs *Readers) Start() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.started || rs.stopped {
		return
	}
	rs.started = true
	rs.reconcileLocked()
}

// reconcileLocked makes the running readers those of rs.want.
func (rs *Readers) reconcileLocked() {
	next := make(map[string]Mailbox, len(rs.want))
	for _, mb := range rs.want {
		next[mb.Dealer] = mb
	}
	for dealer, r := range rs.running {
		mb, ok := next[dealer]
		if ok && mb.IMAP == r.imap {
			r.box.Store(&mb)
			delete(next, dealer)
			continue
		}
		if ok {
			r.log.Info("IMAP settings changed; the reader restarts")
		} else {
			r.removed.Store(true)
			r.log.Info("IMAP mailbox no longer configured; its reader stops")
		}
		r.cancel()
		// A command blocked on a dead connection would hold a replacement back.
		time.AfterFunc(replaceGrace, r.kill)
		delete(rs.running, dealer)
		rs.retiring[dealer] = r
	}
	for dealer, mb := range next {
		var after <-chan struct{}
		if old := rs.retiring[dealer]; old != nil {
			// The dealer's reader begins once the one before has let go of the
			// mailbox; that one does not report the dealer's mailbox removed.
			old.removed.Store(false)
			after = old.done
		}
		rs.running[dealer] = rs.startLocked(mb, after)
	}
}

func (rs *Readers) startLocked(mb Mailbox, after <-chan struct{}) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	killCtx, kill := context.WithCancel(context.Background())
	r := &reader{
		cfg: &rs.cfg, in: rs.in, dealer: mb.Dealer, imap: mb.IMAP,
		log:    rs.cfg.Logger.With("dealer", mb.Dealer, "imap", redact(mb.IMAP.URL), "folder", folderOf(mb.IMAP)),
		cancel: cancel, kill: kill, done: make(chan struct{}), after: after, warned: map[string]bool{},
	}
	r.box.Store(&mb)
	go r.run(ctx, killCtx)
	return r
}

// Shutdown stops every reader: a message being delivered is delivered and marked, and
// each reader logs out. When ctx ends first, the connections are closed and the
// deliveries abandoned (their messages stay unmarked and are read again at the next
// start: their leads are repeats then, not new ones).
func (rs *Readers) Shutdown(ctx context.Context) error {
	rs.mu.Lock()
	rs.stopped = true
	readers := make([]*reader, 0, len(rs.running)+len(rs.retiring))
	for _, r := range rs.running {
		r.cancel()
		readers = append(readers, r)
	}
	for _, r := range rs.retiring {
		readers = append(readers, r)
	}
	rs.running, rs.retiring = map[string]*reader{}, map[string]*reader{}
	rs.mu.Unlock()
	var err error
	for _, r := range readers {
		select {
		case <-r.done:
		case <-ctx.Done():
			err = ctx.Err()
			r.kill()
			<-r.done
		}
		r.kill()
	}
	return err
}

// reader reads one dealer's mailbox. Its goroutine (run) owns the connection and is the
// only one to report the dealer's connected state; done is closed when it has ended.
type reader struct {
	cfg    *ReaderConfig
	in     Intake
	log    *slog.Logger
	dealer string
	imap   IMAP
	box    atomic.Pointer[Mailbox] // senders and rules change on reload

	cancel  context.CancelFunc // stop after the message in hand, and log out
	kill    context.CancelFunc // stop now: close the connection, abandon the delivery
	done    chan struct{}
	after   <-chan struct{} // run begins when it is closed (the reader before has ended); nil: at once
	removed atomic.Bool     // set before cancel when the dealer's mailbox was removed

	// Owned by run's goroutine.
	up        bool            // the current session reads the mailbox
	lost      bool            // the last session read the mailbox until it failed
	down      bool            // a failure was logged and the mailbox has not been read since
	downClass string          // what failed (connect, tls, login, folder, read)
	downSince time.Time       // when the first failure in a row happened
	failures  int             // failed sessions in a row
	everUp    bool            // the mailbox was read at least once
	tooOld    bool            // the mail left alone for its age was reported
	warned    map[string]bool // conditions of the server logged once
}

var (
	// errLogin marks a login the server refused.
	errLogin = errors.New("login refused")
	// errClosed is a connection the server or the network closed.
	errClosed = errors.New("connection closed")
)

// stepError is a session failure with the step it happened in.
type stepError struct {
	step string // connect, tls, login, folder, read
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func step(s string, err error) error {
	if err == nil {
		return nil
	}
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	return &stepError{step: s, err: err}
}

// run reads the mailbox until ctx ends, reconnecting with backoff; it begins once
// r.after is closed (the reader it replaces has ended).
func (r *reader) run(ctx, killCtx context.Context) {
	defer close(r.done)
	defer r.kill()
	defer func() {
		if r.removed.Load() {
			r.cfg.Observer.IMAPRemoved(r.dealer)
		} else {
			r.cfg.Observer.IMAPConnected(r.dealer, false)
		}
	}()
	if r.after != nil {
		// Waited for even when stopped meanwhile, so that a reader's end means the
		// end of every one before it (the one before is stopped, and killed after
		// replaceGrace).
		<-r.after
		if ctx.Err() != nil {
			return
		}
	}
	r.cfg.Observer.IMAPConnected(r.dealer, false)
	if r.box.Load().RequireSPF {
		r.log.Warn("require_spf cannot be checked for mail read from a mailbox (there is no SMTP client address); the senders list and require_dkim apply")
	}
	wait := time.Duration(0)
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		began := time.Now()
		err := r.session(ctx, killCtx)
		r.cfg.Observer.IMAPConnected(r.dealer, false)
		if ctx.Err() != nil {
			if err != nil {
				r.log.Debug("IMAP reader stopped", "error", err)
			}
			r.log.Info("IMAP reader stopped")
			return
		}
		if time.Since(began) >= longSession {
			r.failures = 0
		}
		r.failures++
		wait = r.backoff(err)
		wasUp := r.up
		r.up = false
		if wasUp && errors.Is(err, errClosed) {
			// Read until the connection broke: a server restart, a network blip. Say
			// so once; the warning waits for a reconnection that fails.
			r.lost = true
			r.log.Info("IMAP connection lost; reconnecting", "error", err, "retry_in", wait.Round(time.Millisecond))
			continue
		}
		r.failed(err, wait) // a command the server refused: it will likely refuse it again
	}
}

// backoff is the wait before the next attempt after r.failures failures in a row:
// exponential with jitter (half to all of it), at least LoginBackoff after a refused
// login.
func (r *reader) backoff(err error) time.Duration {
	d := r.cfg.Backoff
	for i := 1; i < r.failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	if errors.Is(err, errLogin) {
		d = max(d, r.cfg.LoginBackoff)
	}
	return d
}

// failed logs a failed session: the first failure, or one that failed at another step
// than the last, at warning; repeats of the same at debug.
func (r *reader) failed(err error, wait time.Duration) {
	class := "read"
	var se *stepError
	if errors.As(err, &se) {
		class = se.step
	}
	if !r.down {
		r.down, r.downSince = true, time.Now()
	}
	if class != r.downClass {
		r.downClass = class
		r.log.Warn("IMAP mailbox cannot be read; retrying with backoff (logged again only when it recovers or fails otherwise)",
			"step", class, "error", err, "retry_in", wait.Round(time.Millisecond))
		return
	}
	r.log.Debug("IMAP mailbox still cannot be read", "step", class, "error", err, "failures", r.failures, "retry_in", wait.Round(time.Millisecond))
}

// connected logs the mailbox as read, once per recovery.
func (r *reader) connected(st *sessionState) {
	r.cfg.Observer.IMAPConnected(r.dealer, true)
	args := []any{"idle", st.idle, "done_marker", st.marker, "move_to", r.imap.MoveTo}
	switch {
	case r.down:
		r.log.Info("IMAP mailbox read again", append(args, "down_for", time.Since(r.downSince).Round(time.Second), "failures", r.failures)...)
	case r.lost:
		r.log.Info("IMAP mailbox reconnected")
	case !r.everUp:
		r.log.Info("IMAP mailbox read", args...)
	}
	r.up, r.lost, r.down, r.downClass, r.everUp = true, false, false, "", true
}

// warnOnce logs a condition of the server once per reader.
func (r *reader) warnOnce(key, msg string, args ...any) {
	if r.warned[key] {
		return
	}
	r.warned[key] = true
	r.log.Warn(msg, args...)
}

// sessionState is what one connection learned of the server.
type sessionState struct {
	c       *client.Client
	idle    bool   // IDLE (RFC 2177)
	move    bool   // MOVE (RFC 6851)
	uidplus bool   // UID EXPUNGE (RFC 4315)
	marker  string // DoneKeyword, or \Seen when the folder takes no keywords of ours
	wake    chan time.Time
	// searched is when the last look's search began: a wake from before it is news
	// that look has seen already.
	searched time.Time
}

// session connects, logs in, selects the folder and reads it until ctx ends (nil) or
// something fails.
func (r *reader) session(ctx, killCtx context.Context) (err error) {
	c, err := r.dial(ctx)
	if err != nil {
		return err
	}
	// Closing the connection ends whatever command is waiting on it.
	stopKill := context.AfterFunc(killCtx, func() { _ = c.Terminate() })
	defer func() {
		stopKill()
		if ctx.Err() != nil && err == nil {
			c.Timeout = 5 * time.Second
			_ = c.Logout()
		}
		_ = c.Terminate()
		<-c.LoggedOut()
	}()
	st := &sessionState{c: c, wake: make(chan time.Time, 1)}
	if err := r.login(c); err != nil {
		return err
	}
	if err := r.selectFolder(st); err != nil {
		return err
	}
	r.connected(st)
	seen := r.cfg.Now()
	retry := time.Duration(0) // after a temporary delivery failure
	for {
		more, temp, err := r.look(ctx, killCtx, st, seen)
		if err != nil {
			return step("read", closedOr(c, err))
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case temp:
			retry = min(max(2*retry, r.cfg.Backoff), r.cfg.Poll)
		case more:
			seen = r.cfg.Now()
			continue
		default:
			retry = 0
		}
		if seen, err = r.wait(ctx, st, cmp.Or(retry, r.cfg.Poll)); err != nil {
			return step("read", closedOr(c, err))
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// closedOr marks err as the connection's end (errClosed) when the connection is gone,
// rather than a command the server refused.
func closedOr(c *client.Client, err error) error {
	select {
	case <-c.LoggedOut():
		if !errors.Is(err, errClosed) {
			return fmt.Errorf("%w: %w", errClosed, err)
		}
	default:
	}
	return err
}

// dial connects with TLS (imaps), or in the clear to upgrade with STARTTLS (imap), and
// reads the greeting. Mailbox updates are drained into st.wake by a goroutine that
// ends with the connection.
func (r *reader) dial(ctx context.Context) (*client.Client, error) {
	u, err := url.Parse(r.imap.URL)
	if err != nil {
		return nil, step("connect", err)
	}
	host, port := u.Hostname(), u.Port()
	implicitTLS := u.Scheme == "imaps"
	if port == "" {
		port = map[bool]string{true: "993", false: "143"}[implicitTLS]
	}
	addr := net.JoinHostPort(host, port)
	tcfg := &tls.Config{}
	if r.cfg.TLS != nil {
		tcfg = r.cfg.TLS.Clone()
	}
	tcfg.ServerName, tcfg.MinVersion = host, max(tcfg.MinVersion, tls.VersionTLS12)

	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, step("connect", err)
	}
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if implicitTLS {
		tc := tls.Client(conn, tcfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, step("tls", err)
		}
		conn = tc
	}
	c, err := client.New(conn) // reads the greeting
	if err != nil {
		conn.Close()
		return nil, step("connect", fmt.Errorf("greeting: %w", err))
	}
	c.ErrorLog = imapLogger{r.log}
	c.Timeout = r.cfg.Timeout
	if !implicitTLS {
		ok, err := c.SupportStartTLS()
		switch {
		case err != nil:
			_ = c.Terminate()
			return nil, step("connect", err)
		case ok:
			if err := c.StartTLS(tcfg); err != nil {
				_ = c.Terminate()
				return nil, step("tls", fmt.Errorf("STARTTLS: %w", err))
			}
		case !loopback(conn.RemoteAddr()):
			_ = c.Terminate()
			return nil, step("tls", fmt.Errorf("%s offers no STARTTLS: the password is not sent in the clear but to this machine (loopback); use imaps://", addr))
		}
	}
	return c, nil
}

// loopback reports whether a connection's remote address is this machine's loopback.
func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.AddrPort().Addr().Unmap().IsLoopback()
}

func (r *reader) login(c *client.Client) error {
	if err := c.Login(r.imap.Username, r.imap.Password); err != nil {
		select {
		case <-c.LoggedOut():
			return step("login", err) // the connection broke
		default:
			return step("login", fmt.Errorf("%w: %w", errLogin, err))
		}
	}
	return nil
}

// selectFolder selects the folder read-write, learns what the server can do and which
// done marker the folder takes, and creates MoveTo when missing.
func (r *reader) selectFolder(st *sessionState) error {
	c := st.c
	updates := make(chan client.Update, 16)
	// Set before any command that could bring an update: the client's reader goroutine
	// reads it under the handlers' lock, which the next command takes first.
	c.Updates = updates
	go drain(c, updates, st.wake, r.cfg.Now)
	mbox, err := c.Select(folderOf(r.imap), false)
	if err != nil {
		return step("folder", err)
	}
	if mbox.ReadOnly {
		return step("folder", fmt.Errorf("%s is read-only for %s: Leadline must mark what it has read", mbox.Name, r.imap.Username))
	}
	st.marker = doneMarker(mbox.PermanentFlags)
	if st.marker != DoneKeyword {
		r.warnOnce("marker", "the folder takes no keyword of Leadline's own ("+DoneKeyword+"): messages read are marked \\Seen, and a message a person opens first is not read as a lead",
			"permanent_flags", strings.Join(mbox.PermanentFlags, " "))
	}
	for capability, v := range map[string]*bool{"IDLE": &st.idle, "MOVE": &st.move, "UIDPLUS": &st.uidplus} {
		if *v, err = c.Support(capability); err != nil {
			return step("folder", err)
		}
	}
	if !st.idle {
		r.warnOnce("idle", "the server has no IDLE: new mail is found by polling", "poll", r.cfg.Poll)
	}
	if to := r.imap.MoveTo; to != "" {
		ch := make(chan *imap.MailboxInfo, 4)
		if err := c.List("", to, ch); err != nil {
			return step("folder", fmt.Errorf("list %s: %w", to, err))
		}
		if len(ch) == 0 {
			if err := c.Create(to); err != nil {
				return step("folder", fmt.Errorf("create %s: %w", to, err))
			}
			r.log.Info("IMAP folder created for messages read", "move_to", to)
		}
	}
	return nil
}

// doneMarker is DoneKeyword when the folder keeps keywords a client makes up (\*) or
// has it already, else \Seen.
func doneMarker(permanent []string) string {
	if permanent == nil || slices.Contains(permanent, imap.TryCreateFlag) || slices.ContainsFunc(permanent, func(f string) bool { return strings.EqualFold(f, DoneKeyword) }) {
		return DoneKeyword
	}
	return imap.SeenFlag
}

// drain passes the client's unilateral updates on until the connection ends: a new
// message count (EXISTS) wakes the reader with the time it was told. It never blocks
// the client, which stops reading the connection while an update waits.
func drain(c *client.Client, updates <-chan client.Update, wake chan<- time.Time, now func() time.Time) {
	for {
		select {
		case u := <-updates:
			if _, ok := u.(*client.MailboxUpdate); ok {
				select {
				case wake <- now():
				default: // a wake is pending: it keeps the earlier time
				}
			}
		case <-c.LoggedOut():
			return
		}
	}
}

// wait waits for news of the folder: in IDLE when the server has it, else idly, until
// an update, for at most d, or until ctx ends. It returns when the reader learned of
// what the next look finds.
func (r *reader) wait(ctx context.Context, st *sessionState, d time.Duration) (time.Time, error) {
	for pending := true; pending; {
		select {
		case seen := <-st.wake:
			if !seen.Before(st.searched) {
				return seen, nil
			}
		default:
			pending = false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var idleStop chan struct{}
	idleDone := make(chan error, 1)
	if st.idle {
		idleStop = make(chan struct{})
		go func() { idleDone <- st.c.Idle(idleStop, nil) }()
	}
	var seen time.Time
	select {
	case seen = <-st.wake:
	case <-t.C:
		seen = r.cfg.Now()
	case <-ctx.Done():
	case err := <-idleDone: // the connection ended
		close(idleStop)
		return seen, fmt.Errorf("idle ended: %w", cmp.Or(err, errClosed))
	case <-st.c.LoggedOut():
		if st.idle {
			close(idleStop)
			<-idleDone
		}
		return seen, errClosed
	}
	if st.idle {
		close(idleStop)
		if err := <-idleDone; err != nil {
			return seen, fmt.Errorf("idle: %w", err)
		}
	}
	return seen, nil
}

// outcome is what a message became, which decides how it is marked.
type outcome int

const (
	taken   outcome = iota // leads or a rejection committed: marked done and read, or moved
	refused                // sender refused: marked done only, left where it is
	skipped                // not read (gone meanwhile): not marked
)

// look searches the folder for messages not done, oldest first, and handles up to
// batch of them. more: there are others; temp: a delivery failed for now (the store),
// and the rest wait for the next look. err: the connection failed.
func (r *reader) look(ctx, killCtx context.Context, st *sessionState, seen time.Time) (more, temp bool, err error) {
	c := st.c
	st.searched = r.cfg.Now()
	since := st.searched.Add(-maxAge)
	uids, err := c.UidSearch(&imap.SearchCriteria{WithoutFlags: []string{st.marker, imap.DeletedFlag}, Since: since})
	if err != nil {
		return false, false, fmt.Errorf("search: %w", err)
	}
	if !r.tooOld {
		r.tooOld = true
		if old, err := c.UidSearch(&imap.SearchCriteria{WithoutFlags: []string{st.marker, imap.DeletedFlag}, Before: since}); err == nil && len(old) > 0 {
			r.log.Info("messages older than a week that Leadline never read are left alone", "count", len(old), "max_age", maxAge)
		}
	}
	if len(uids) == 0 {
		return false, false, nil
	}
	slices.Sort(uids)
	if len(uids) > batch {
		uids, more = uids[:batch], true
	}
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	msgs, err := fetch(c, set, []imap.FetchItem{imap.FetchUid, imap.FetchRFC822Size, imap.FetchInternalDate, imap.FetchFlags})
	if err != nil {
		return false, false, fmt.Errorf("fetch: %w", err)
	}
	slices.SortFunc(msgs, func(a, b *imap.Message) int { return cmp.Compare(a.Uid, b.Uid) })
	for _, m := range msgs {
		if ctx.Err() != nil {
			return false, false, nil
		}
		if slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, st.marker) }) {
			continue // another node marked it meanwhile
		}
		out, err := r.handle(killCtx, st, m, seen)
		var de *deliveryError
		switch {
		case errors.As(err, &de) && de.temporary():
			r.log.Debug("IMAP message not taken for now; it stays unmarked for the next look", "uid", m.Uid, "reason", de.msg)
			return false, true, nil
		case err != nil:
			return false, false, err
		}
		if out == skipped {
			continue
		}
		if r.cfg.afterCommit != nil {
			if err := r.cfg.afterCommit(m.Uid); err != nil {
				return false, false, err
			}
		}
		if err := r.mark(st, m.Uid, out); err != nil {
			return false, false, err
		}
	}
	return more, false, nil
}

// handle fetches one message and delivers it. A message over MaxBytes is not fetched:
// its header alone is kept as a rejection. The result is the outcome to mark, a
// *deliveryError that is temporary, or a connection error.
func (r *reader) handle(killCtx context.Context, st *sessionState, m *imap.Message, seen time.Time) (outcome, error) {
	mb := r.box.Load()
	env := envelope{channel: dialer.ChannelIMAP, received: seen, proof: imapProof{lookupTXT: r.cfg.LookupTXT}}
	section := &imap.BodySectionName{Peek: true} // BODY.PEEK[]: \Seen is set by us, after commit
	big := int64(m.Size) > r.cfg.MaxBytes
	if big {
		section.Specifier = imap.HeaderSpecifier
	}
	set := new(imap.SeqSet)
	set.AddNum(m.Uid)
	got, err := fetch(st.c, set, []imap.FetchItem{imap.FetchUid, section.FetchItem()})
	if err != nil {
		return 0, fmt.Errorf("fetch %d: %w", m.Uid, err)
	}
	var raw []byte
	for _, g := range got {
		if lit := g.GetBody(section); g.Uid == m.Uid && lit != nil {
			var b bytes.Buffer
			if _, err := b.ReadFrom(lit); err != nil {
				return 0, fmt.Errorf("fetch %d: %w", m.Uid, err)
			}
			raw = b.Bytes()
		}
	}
	if raw == nil {
		r.log.Debug("IMAP message gone before it was read", "uid", m.Uid)
		return skipped, nil
	}
	r.log.Debug("IMAP message read", "uid", m.Uid, "size", m.Size, "arrived", m.InternalDate, "seen", seen)

	ctx, cancel := context.WithTimeout(killCtx, deliverTimeout)
	defer cancel()
	if big {
		err = deliverOversize(ctx, r.in, r.log, mb, raw, int64(m.Size), r.cfg.MaxBytes, env)
	} else {
		err = deliver(ctx, r.in, r.log, mb, raw, env)
	}
	var de *deliveryError
	switch {
	case err == nil:
		return taken, nil
	case errors.As(err, &de) && de.refused:
		return refused, nil // counted and logged by deliver; it will never be allowed
	case errors.As(err, &de):
		return 0, de
	default:
		return 0, tempFailure(err.Error())
	}
}

// deliverOversize keeps a message over the size limit, from its header, as a rejection
// with the reason, when its sender is one the dealer allows (the sender is refused
// otherwise). Its signature cannot be checked without the body: it makes no lead.
func deliverOversize(ctx context.Context, in Intake, log *slog.Logger, mb *Mailbox, header []byte, size, limit int64, env envelope) error {
	log = log.With("dealer", mb.Dealer, "channel", string(env.channel))
	env.proof = nil
	_, from, err := admit(ctx, in, log, mb, header, env)
	if err != nil {
		return err
	}
	var msg leadmail.Message
	res, err := leadmail.Extract(header, nil)
	var nl *leadmail.NoLeadError
	switch {
	case errors.As(err, &nl):
		msg = nl.Message
	case err == nil:
		msg = res.Message
	}
	reason := fmt.Sprintf("the message is %d bytes, over the limit of %d (email.max_size): it was not read; its header is kept", size, limit)
	orig := &dialer.Original{ContentType: "text/rfc822-headers", Body: header[:min(len(header), dialer.MaxOriginal)], Size: size}
	return reject(ctx, in, log, mb, header, env, msg, from, msg.Subject, reason, orig)
}

// mark marks a message done: a taken one with the done marker and \Seen, then moved
// when MoveTo is set; a refused one with the done marker only, where it is, so that
// people reading the mailbox see it as before.
func (r *reader) mark(st *sessionState, uid uint32, out outcome) error {
	c := st.c
	set := new(imap.SeqSet)
	set.AddNum(uid)
	flags := []interface{}{st.marker}
	if out == taken && st.marker != imap.SeenFlag {
		flags = append(flags, imap.SeenFlag)
	}
	if err := c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), flags, nil); err != nil {
		return fmt.Errorf("mark %d done: %w", uid, err)
	}
	if out != taken || r.imap.MoveTo == "" {
		return nil
	}
	if err := r.move(st, set); err != nil {
		select {
		case <-c.LoggedOut():
			return fmt.Errorf("move %d: %w", uid, err)
		default:
			// Marked done already: it stays where it is, and is not read again.
			r.log.Warn("IMAP message read and marked, but not moved", "uid", uid, "move_to", r.imap.MoveTo, "error", err)
		}
	}
	return nil
}

// move moves messages to MoveTo: UID MOVE, or UID COPY and \Deleted, expunged by UID
// (UIDPLUS) only; a plain EXPUNGE would also remove what people marked deleted.
func (r *reader) move(st *sessionState, set *imap.SeqSet) error {
	c := st.c
	if st.move {
		return c.UidMove(set, r.imap.MoveTo)
	}
	if err := c.UidCopy(set, r.imap.MoveTo); err != nil {
		return err
	}
	if err := c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []interface{}{imap.DeletedFlag}, nil); err != nil {
		return err
	}
	if !st.uidplus {
		r.warnOnce("expunge", "the server has neither MOVE nor UIDPLUS: messages copied to move_to are left marked \\Deleted in the folder, for the mail app to expunge")
		return nil
	}
	status, err := c.Execute(&commands.Uid{Cmd: &imap.Command{Name: "EXPUNGE", Arguments: []interface{}{set}}}, nil)
	if err != nil {
		return err
	}
	return status.Err()
}

// fetch runs a UID FETCH and collects its messages. The client hands each message over
// from its reader goroutine, so the channel is read while the command runs.
func fetch(c *client.Client, set *imap.SeqSet, items []imap.FetchItem) ([]*imap.Message, error) {
	ch := make(chan *imap.Message, 8)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, items, ch) }()
	var out []*imap.Message
	for m := range ch {
		out = append(out, m)
	}
	return out, <-done
}

// imapProof checks what a message read from a mailbox can prove: a DKIM signature is
// in the message, so it is verified; SPF needs the SMTP client's address, which a
// mailbox does not keep, so it passes (run logs this once).
type imapProof struct {
	lookupTXT func(domain string) ([]string, error)
}

func (p imapProof) dkim(raw []byte, fromDomain string) error {
	return verifyDKIM(raw, fromDomain, p.lookupTXT)
}

func (imapProof) spf(context.Context, string) error { return nil }

func folderOf(m IMAP) string {
	if m.Folder == "" {
		return "INBOX"
	}
	return m.Folder
}

// redact drops a URL's user information for logs.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// imapLogger passes go-imap's internal messages (a connection read error, mostly) to
// slog at debug: the reader logs what they mean.
type imapLogger struct{ log *slog.Logger }

func (l imapLogger) Printf(format string, v ...any) {
	l.log.Debug("imap: " + fmt.Sprintf(format, v...))
}
func (l imapLogger) Println(v ...any) { l.log.Debug("imap: " + strings.TrimSpace(fmt.Sprintln(v...))) }
