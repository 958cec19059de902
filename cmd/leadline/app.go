package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/crmmail"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/mailin"
	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/recording"
	"github.com/leadline/leadline/reportmail"
	"github.com/leadline/leadline/sip"
	"github.com/leadline/leadline/store"
	"github.com/leadline/leadline/tts"
	"github.com/leadline/leadline/webhook"
)

// app is one running Leadline: everything serve starts, wired together. The demo runs
// the same app.
type app struct {
	log  *slog.Logger
	met  *metrics.Metrics
	db   *store.DB
	ua   *sip.UA
	reg  *sip.Registrar // salespeople's softphones (softphones.go)
	svc  *dialer.Service
	srv  *http.Server
	ln   net.Listener
	mail *mailin.Server  // the SMTP receiver; nil when email.listen is empty
	imap *mailin.Readers // the dealers' IMAP mailboxes; started by run
	// hooks sends the leads' events to the dealers' webhooks, and mailer their results
	// to the dealers' CRM addresses, for the store's delivery jobs (crm.go).
	hooks    *webhook.Sender
	mailer   *crmmail.Sender
	reports  *reportmail.Sender         // the owner's weekly report mails, for the store's report jobs
	mailOpts mailout.Options            // how the relay is reached (tests: their CA, loopback)
	now      func() time.Time           // the dialer's and the store's clock (withClock), for the open gauge too
	keys     atomic.Pointer[api.Access] // dealers' keys and rules (trust.go)
	ids      atomic.Pointer[[]string]   // the configured dealers, for the open gauge
	rec      *recording.Recorder        // call recordings (recordings.go)
	lib      *recording.Library         // serves, erases and expires them
	// readyFile is serve's --ready-file: written once run serves, removed as it stops.
	readyFile string
}

// startApp opens the store (migrating it), the SIP user agent and the HTTP listener.
// Nothing runs until run.
func startApp(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...appOption) (_ *app, err error) {
	var o appOptions
	for _, opt := range opts {
		opt(&o)
	}
	// On an error, what was opened so far is closed; a stays non-nil for that, whatever
	// is returned.
	a := &app{log: log, now: time.Now}
	if o.now != nil {
		a.now = o.now
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.met = metrics.New(reg)

	storeOpts := []store.Option{store.WithLogger(log), store.WithTakeover(cfg.TakeoverAfter)}
	if o.now != nil {
		storeOpts = append(storeOpts, store.WithNow(o.now)) // leases and the sweep on one clock
	}
	if a.db, err = store.OpenAndMigrate(ctx, cfg.Store, storeOpts...); err != nil {
		return nil, fmt.Errorf("store (%s): %w", cfg.StoreDriver, err)
	}
	a.ua, err = sip.Listen(sip.Config{
		Listen: cfg.SIP.Listen, ExternalHost: cfg.SIP.ExternalHost,
		RTPPortMin: cfg.SIP.RTPPortMin, RTPPortMax: cfg.SIP.RTPPortMax,
		Trunks:       sipTrunks(cfg),
		TLS:          sip.TLSConfig(cfg.SIP.TLS),
		MediaTimeout: cfg.SIP.MediaTimeout, Logger: log, Observer: a.met,
	})
	if err != nil {
		return nil, err
	}
	speaker, err := tts.New(cfg.TTS.Engine, cfg.TTS.Dir, log)
	if err != nil {
		return nil, err
	}
	node := cfg.NodeID
	if node == "" {
		host, _ := os.Hostname()
		node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	a.reg = sip.NewRegistrar(a.ua, registrarConfig(a, node, log, o))
	if a.rec, err = openRecordings(ctx, cfg, a, log, o); err != nil {
		return nil, err
	}
	a.svc = dialer.New(dialer.Options{
		Store: a.db, Caller: a.ua, Speaker: speaker, Recorder: a.met, Logger: log, NodeID: node,
		LeaseTTL: cfg.TakeoverAfter, Ringback: ringback(), Now: o.now, Abuse: a.db, Archive: a.db, Reports: a.db,
		Devices: a.reg, Deliveries: a.db, Recordings: a.rec,
	})
	a.imap = mailin.NewReaders(readerConfig(cfg, log, a.met, o.now), a.svc)
	a.hooks = webhook.New(webhook.Options{
		Leads: a.db, AllowPrivateTargets: cfg.Webhooks.AllowPrivateTargets, Timeout: cfg.Webhooks.Timeout,
		Resolver: o.resolver, Recorder: a.met, Logger: log,
	})
	a.mailer = crmmail.New(crmmail.Options{Recorder: a.met, Logger: log})
	a.mailOpts = o.mail
	policy := o.delivery
	policy.TryTimeout = cfg.Webhooks.Timeout
	if cfg.Email.Relay != "" {
		// A try's lease and job time cover the slower of the two: a mail may take
		// mailout's time limit (a submission server scanning it), a webhook its own.
		mailTry := o.mail.Timeout
		if mailTry <= 0 {
			mailTry = mailout.DefaultTimeout
		}
		policy.TryTimeout = max(policy.TryTimeout, mailTry)
	}
	a.db.Deliver(courier{hooks: a.hooks, mail: a.mailer}, policy)
	a.reports = reportmail.New(reportmail.Options{Reports: a.svc, Recorder: a.met, Logger: log})
	a.db.MailReports(a.reports)
	if err := a.apply(ctx, cfg); err != nil {
		return nil, err
	}

	if a.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	if cfg.Email.Listen != "" {
		if a.mail, err = mailin.Listen(mailConfig(cfg, log, o.now), a.svc); err != nil {
			return nil, err
		}
		a.mail.SetMailboxes(mailboxes(cfg))
	}
	a.srv = &http.Server{
		Handler: api.NewHandler(api.Options{
			Logger: log, Leads: a.svc, Access: a.keys.Load, Ready: a.ready,
			Metrics: metrics.Handler(reg), FormLimits: formLimits(cfg), TrustedProxies: cfg.TrustedProxyPrefixes,
			Recordings: a.lib,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	args := []any{"http", a.ln.Addr().String(), "sip", a.ua.Addr().String(),
		"store", cfg.StoreDriver, "node", node, "dealers", len(cfg.Dealers)}
	if tls := a.ua.TLSAddr(); tls.IsValid() {
		args = append(args, "sip_tls", tls.String())
	}
	if a.mail != nil {
		args = append(args, "smtp", a.mail.Addr().String())
	}
	log.Info("leadline started", args...)
	return a, nil
}

type appOptions struct {
	now     func() time.Time // the dialer's clock; nil: time.Now
	lockout sip.Lockout      // the registrar's; zero: its defaults (tests shorten it)
	// delivery is the webhooks' retry policy (its TryTimeout is webhooks.timeout); zero
	// fields take the store's defaults.
	delivery store.DeliveryPolicy
	// resolver resolves webhook hosts; nil: the system's.
	resolver *net.Resolver
	// mail is how the relay is reached; zero: mailout's defaults (tests: their CA, a
	// relay name dialled on loopback, a shorter time limit).
	mail mailout.Options
}

type appOption func(*appOptions)

// withClock runs the dialer on another clock: the demo and the tests use one set to
// midday so that calling hours allow calls whenever they run.
func withClock(now func() time.Time) appOption {
	return func(o *appOptions) { o.now = now }
}

// withDelivery retries webhooks by p instead of the defaults (tests: seconds, not
// hours).
func withDelivery(p store.DeliveryPolicy) appOption {
	return func(o *appOptions) { o.delivery = p }
}

// withResolver resolves webhook hosts with r (tests: a name that points at loopback).
func withResolver(r *net.Resolver) appOption {
	return func(o *appOptions) { o.resolver = r }
}

// withMail reaches the relay with o (tests).
func withMail(o mailout.Options) appOption {
	return func(ao *appOptions) { ao.mail = o }
}

// middayClock is the wall clock moved back to the most recent 12:00 in Amsterdam (at most
// a day back): the same offset for every call in this process, so that several apps in
// one test agree on the time.
var middayClock = sync.OnceValue(func() func() time.Time {
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		return time.Now
	}
	now := time.Now().In(ams)
	noon := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, ams)
	if noon.After(now) {
		noon = noon.AddDate(0, 0, -1)
	}
	offset := noon.Sub(now)
	return func() time.Time { return time.Now().Add(offset) }
})

// apply installs a (re)loaded configuration's dealers, keys, webhooks and mail; calls in
// progress keep the dealer they started with. Only the webhooks and the report mails can
// fail (the store records their endpoints and plans): the rest is applied all the same.
func (a *app) apply(ctx context.Context, cfg *config.Config) error {
	for _, d := range cfg.Dealers {
		a.met.InitDealer(d.ID)
		for _, p := range d.People {
			a.met.InitPerson(d.ID, p.ID)
		}
	}
	a.keys.Store(access(cfg)) // api.Access compares keys in constant time
	a.reg.SetAccounts(accounts(cfg))
	if a.mail != nil {
		a.mail.SetMailboxes(mailboxes(cfg))
	}
	a.imap.SetMailboxes(mailboxes(cfg)) // restarts only the readers whose IMAP settings changed
	a.svc.SetIntakeRules(intakeRules(cfg))
	a.svc.SetDealers(dealers(cfg))
	ids := make([]string, len(cfg.Dealers))
	for i, d := range cfg.Dealers {
		ids[i] = d.ID
	}
	a.ids.Store(&ids)
	a.gaugeOpen()
	return errors.Join(a.applyWebhooks(ctx, cfg), a.planReports(ctx))
}

// gaugeOpen sets leadline_dealer_open for every dealer from its opening hours now.
func (a *app) gaugeOpen() {
	now := a.now()
	for _, id := range *a.ids.Load() {
		if d, ok := a.svc.Dealer(id); ok {
			a.met.DealerOpen(id, d.Hours.Open(now))
		}
	}
}

// ready is /readyz: not while draining, nor while the store cannot take leads (see
// store.DB.Ready, whose error says why), nor while no trunk can carry calls; ready but
// saying which trunks are down when some are (trunksReady).
func (a *app) ready(ctx context.Context) error {
	if a.svc.Draining() {
		return errors.New("shutting down")
	}
	if err := a.db.Ready(ctx); err != nil {
		return err
	}
	return trunksReady(a.ua.Trunks())
}

// run serves until ctx ends, then drains: no new leads, flows in progress get until
// drain ends to finish, then are hung up and left to resume. The drain ends at once
// when stopNow(ctx) ends (a second signal).
func (a *app) run(ctx context.Context, drain time.Duration) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if a.mail != nil {
		g.Go(a.mail.Serve)
	}
	if err := a.db.Work(gctx, a.svc.Watch); err != nil {
		a.srv.Close()
		_ = g.Wait()
		a.close()
		return err
	}
	a.imap.Start()
	g.Go(func() error { a.lib.RunRetention(gctx, retentionEvery); return nil })
	a.writeReady()
	g.Go(func() error {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				a.gaugeOpen()
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		a.removeReady()
		a.log.Info("shutting down: finishing calls in progress", "drain", drain)
		if a.mail != nil {
			// Mail being received is finished (its leads stored) or refused 421; the
			// sender delivers the rest later, to this node or another.
			mctx, cancel := context.WithTimeout(stopNow(ctx), 30*time.Second)
			if err := a.mail.Shutdown(mctx); err != nil {
				a.log.Warn("stopping the SMTP receiver", "error", err)
			}
			cancel()
		}
		// A message being read is delivered and marked, or left unmarked to be read
		// again at the next start (a repeat then, not a second lead).
		ictx, cancel := context.WithTimeout(stopNow(ctx), 30*time.Second)
		if err := a.imap.Shutdown(ictx); err != nil {
			a.log.Warn("stopping the IMAP readers", "error", err)
		}
		cancel()
		dctx, cancel := context.WithTimeout(stopNow(ctx), drain)
		defer cancel()
		a.svc.Drain(dctx)
		if err := a.db.StopWork(dctx); err != nil {
			a.log.Warn("stopping the queue", "error", err)
		}
		sctx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel2()
		return a.srv.Shutdown(sctx)
	})
	err := g.Wait()
	a.close()
	return err
}

func (a *app) close() {
	if a.imap != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // at once: run has stopped them already, unless it never ran
		_ = a.imap.Shutdown(ctx)
	}
	if a.mail != nil {
		_ = a.mail.Close()
	}
	if a.reg != nil {
		a.reg.Close()
	}
	if a.ua != nil {
		a.ua.Close()
	}
	if a.ln != nil {
		a.ln.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// dealers copies the configuration into the dialer's terms.
func dealers(cfg *config.Config) []dialer.Dealer {
	out := make([]dialer.Dealer, 0, len(cfg.Dealers))
	for _, d := range cfg.Dealers {
		dd := dialer.Dealer{
			ID: d.ID, Name: d.Name, Language: d.Language, Country: d.Country, CallerID: d.CallerID, Location: d.Location,
			Privacy:     d.Privacy,
			RingTimeout: d.RingTimeout, AcceptTimeout: d.AcceptTimeout,
			CustomerRingTimeout: d.CustomerRingTimeout, MaxCallLength: d.MaxCallLength,
			Whisper: d.WhisperTemplate, People: map[string]dialer.Person{},
			Hours: hours(d.OpeningHours, d.Location), Stagger: d.Stagger,
			CustomerHours:   dialer.Span{From: d.CustomerSpan[0], To: d.CustomerSpan[1]},
			DuplicateWindow: d.DuplicateWindow, Rounds: d.Rounds, RoundPause: d.RoundPause,
		}
		for _, r := range d.Retries {
			dd.Retries = append(dd.Retries, dialer.Retry(r))
		}
		for _, o := range d.Outcomes {
			dd.Outcomes = append(dd.Outcomes, dialer.OutcomeChoice(o))
		}
		for _, p := range d.People {
			dd.People[p.ID] = dialer.Person{ID: p.ID, Name: p.Name, Phone: p.Target.String(), Hours: hours(p.Hours, d.Location),
				Registered: p.Registered(), SRTP: p.SRTP}
		}
		dd.Recording = dialer.RecordingPolicy{
			Enabled: d.Recording.Enabled, Consent: dialer.Consent(d.Recording.Consent),
			Notice: d.Recording.Notice, Retention: d.Recording.RetentionDuration,
		}
		for _, st := range d.Flow {
			dd.Flow = append(dd.Flow, dialer.Step{People: st.People, RoundRobin: st.RoundRobin})
		}
		out = append(out, dd)
	}
	return out
}

// hours converts a configured timetable; nil when none is set (always open).
func hours(t config.Timetable, loc *time.Location) *dialer.Hours {
	if !t.Set() {
		return nil
	}
	h := &dialer.Hours{Loc: loc, Closed: map[string]bool{}}
	for wd, spans := range t.Week {
		for _, s := range spans {
			h.Week[wd] = append(h.Week[wd], dialer.Span{From: s[0], To: s[1]})
		}
	}
	for _, day := range t.Closed {
		h.Closed[day] = true
	}
	return h
}

// ringback is five seconds of the European ringback tone (425 Hz, 1 s on, 4 s off).
func ringback() dialer.Audio {
	gen := media.Ringback("eu")
	out := make([]int16, 0, 5*8000)
	for len(out) < 5*8000 {
		out = gen.Next(out)
	}
	return out
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
