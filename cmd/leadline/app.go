package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/sip"
	"github.com/leadline/leadline/sip/media"
	"github.com/leadline/leadline/store"
	"github.com/leadline/leadline/tts"
)

// app is one running Leadline: everything serve starts, wired together. The demo runs
// the same app.
type app struct {
	log  *slog.Logger
	met  *metrics.Metrics
	db   *store.DB
	ua   *sip.UA
	svc  *dialer.Service
	srv  *http.Server
	ln   net.Listener
	keys atomic.Pointer[map[string]string] // API key → dealer id
}

// startApp opens the store (migrating it), the SIP user agent and the HTTP listener.
// Nothing runs until run.
func startApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (a *app, err error) {
	a = &app{log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.met = metrics.New(reg)

	if a.db, err = store.OpenAndMigrate(ctx, cfg.Store, store.WithLogger(log), store.WithTakeover(cfg.TakeoverAfter)); err != nil {
		return nil, err
	}
	a.ua, err = sip.Listen(sip.Config{
		Listen: cfg.SIP.Listen, ExternalHost: cfg.SIP.ExternalHost,
		RTPPortMin: cfg.SIP.RTPPortMin, RTPPortMax: cfg.SIP.RTPPortMax,
		TrunkURI: cfg.SIP.Trunk.URI, TrunkUser: cfg.SIP.Trunk.Username, TrunkPassword: cfg.SIP.Trunk.Password,
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
	a.svc = dialer.New(dialer.Options{
		Store: a.db, Caller: a.ua, Speaker: speaker, Recorder: a.met, Logger: log, NodeID: node,
		LeaseTTL: cfg.TakeoverAfter, Ringback: ringback(),
	})
	a.apply(cfg)

	if a.ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	a.srv = &http.Server{
		Handler: api.NewHandler(api.Options{
			Logger: log, Leads: a.svc, Authenticate: a.authenticate, Ready: a.ready,
			Metrics: metrics.Handler(reg),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("leadline started", "http", a.ln.Addr().String(), "sip", a.ua.Addr().String(),
		"store", cfg.StoreDriver, "node", node, "dealers", len(cfg.Dealers))
	return a, nil
}

// apply installs a (re)loaded configuration's dealers and keys; calls in progress keep
// the dealer they started with.
func (a *app) apply(cfg *config.Config) {
	keys := map[string]string{}
	for _, d := range cfg.Dealers {
		for _, k := range d.APIKeys {
			keys[k] = d.ID
		}
		a.met.InitDealer(d.ID)
		for _, p := range d.People {
			a.met.InitPerson(d.ID, p.ID)
		}
	}
	a.keys.Store(&keys)
	a.svc.SetDealers(dealers(cfg))
}

// authenticate finds the dealer of an API key, comparing against every key in constant
// time so the answer's timing says nothing about which keys exist.
func (a *app) authenticate(key string) (string, bool) {
	dealer := ""
	for k, d := range *a.keys.Load() {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			dealer = d
		}
	}
	return dealer, dealer != ""
}

func (a *app) ready(ctx context.Context) error {
	if a.svc.Draining() {
		return errors.New("shutting down")
	}
	if err := a.db.Ping(ctx); err != nil {
		return errors.New("store unreachable")
	}
	return nil
}

// run serves until ctx ends, then drains: no new leads, flows in progress get until
// drain ends to finish, then are hung up and left to resume.
func (a *app) run(ctx context.Context, drain time.Duration) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if err := a.db.Work(gctx, a.svc.Watch); err != nil {
		a.srv.Close()
		_ = g.Wait()
		a.close()
		return err
	}
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info("shutting down: finishing calls in progress", "drain", drain)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
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
			ID: d.ID, Name: d.Name, Language: d.Language, Country: d.Country, CallerID: d.CallerID,
			RingTimeout: d.RingTimeout, AcceptTimeout: d.AcceptTimeout,
			CustomerRingTimeout: d.CustomerRingTimeout, MaxCallLength: d.MaxCallLength,
			Whisper: d.WhisperTemplate, People: map[string]dialer.Person{},
		}
		for _, p := range d.People {
			dd.People[p.ID] = dialer.Person{ID: p.ID, Name: p.Name, Phone: p.Target.String()}
		}
		for _, st := range d.Flow {
			dd.Flow = append(dd.Flow, dialer.Step(st))
		}
		out = append(out, dd)
	}
	return out
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

func newLogger(cfg config.Log, w *os.File) *slog.Logger {
	o := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}
