package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/crmmail"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/mailout"
	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/reportmail"
	"github.com/leadline/leadline/store"
	"github.com/leadline/leadline/webhook"
)

var (
	_ store.Courier       = courier{}
	_ crmmail.Relay       = (*mailout.Relay)(nil)
	_ crmmail.Recorder    = (*metrics.Metrics)(nil)
	_ store.ReportMailer  = (*reportmail.Sender)(nil)
	_ reportmail.Relay    = (*mailout.Relay)(nil)
	_ reportmail.Reports  = (*dialer.Service)(nil)
	_ reportmail.Recorder = (*metrics.Metrics)(nil)
)

// courier is the store's one Courier: it sends each delivery by its endpoint, a CRM
// address (crmmail) by mail and any other as a webhook. Every endpoint of an event gets
// the same body, the webhook body the store freezes at the event's first try; the CRM
// mail is made from it, so that a mail tried again is the same mail.
type courier struct {
	hooks *webhook.Sender
	mail  *crmmail.Sender
}

func (c courier) Body(ctx context.Context, e dialer.Event) ([]byte, error) {
	return c.hooks.Body(ctx, e)
}

func (c courier) Send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult {
	if crmmail.IsEndpoint(d.Endpoint) {
		return c.mail.Send(ctx, d, body)
	}
	return c.hooks.Send(ctx, d, body)
}

func (c courier) Observe(d dialer.Delivery, r dialer.TryResult) {
	if crmmail.IsEndpoint(d.Endpoint) {
		c.mail.Observe(d, r)
		return
	}
	c.hooks.Observe(d, r)
}

// crmEndpoints copies the dealers' CRM addresses into the mail sender's terms and the
// store's.
func crmEndpoints(cfg *config.Config) ([]crmmail.Endpoint, []store.Endpoint) {
	var send []crmmail.Endpoint
	var route []store.Endpoint
	for _, d := range cfg.Dealers {
		for _, addr := range d.CRMEmail {
			ep := crmmail.Endpoint{Dealer: crmDealer(d), Address: addr}
			send = append(send, ep)
			route = append(route, store.Endpoint{
				ID: ep.ID(), Dealer: d.ID, URL: ep.URL(), Version: ep.Version(), Events: crmmail.Events,
			})
		}
	}
	return send, route
}

// crmDealer is what a mail says of dealer d.
func crmDealer(d config.Dealer) crmmail.Dealer {
	cd := crmmail.Dealer{ID: d.ID, Name: d.Name, CallerID: d.CallerID, Location: d.Location, People: map[string]string{}}
	for _, p := range d.People {
		cd.People[p.ID] = p.Name
	}
	return cd
}

// newRelay is the configured relay, or nil when there is none (or, which validation
// prevents, it cannot be read: then it is logged and no mail leaves).
func newRelay(cfg *config.Config, o mailout.Options, log *slog.Logger) *mailout.Relay {
	if cfg.Email.Relay == "" {
		return nil
	}
	if o.HelloName == "" {
		o.HelloName = helloName(cfg)
	}
	r, err := mailout.New(cfg.Email.Relay, o)
	if err != nil {
		log.Error("email.relay: no mail is sent", "error", err)
		return nil
	}
	return r
}

// helloName is the name Leadline gives itself to the relay: this host's name when it is
// a domain name, else the mail domain.
func helloName(cfg *config.Config) string {
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
		return h
	}
	if _, domain, ok := strings.Cut(cfg.Email.FromAddress.Address, "@"); ok {
		return domain
	}
	return "localhost"
}

// applyMail installs the relay, the CRM addresses in the CRM mail sender and the weekly
// reports in the report sender, and inits the mail metrics of the dealers that get mail.
func (a *app) applyMail(cfg *config.Config) []store.Endpoint {
	relay := newRelay(cfg, a.mailOpts, a.log)
	if relay != nil {
		a.mailer.SetRelay(relay, cfg.Email.FromAddress)
		a.reports.SetRelay(relay, cfg.Email.FromAddress)
	} else {
		a.mailer.SetRelay(nil, cfg.Email.FromAddress)
		a.reports.SetRelay(nil, cfg.Email.FromAddress)
	}
	a.reports.SetDealers(reportConfigs(cfg))
	send, route := crmEndpoints(cfg)
	a.mailer.SetEndpoints(send)
	for _, d := range cfg.Dealers {
		if len(d.CRMEmail) > 0 {
			a.met.InitMail(d.ID, crmmail.KindCRM)
		}
		if d.Reports.Enabled() {
			a.met.InitMail(d.ID, crmmail.KindReport)
		}
	}
	return route
}

// reportConfigs copies the dealers' weekly reports into the report sender's terms.
func reportConfigs(cfg *config.Config) []reportmail.Config {
	var out []reportmail.Config
	for _, d := range cfg.Dealers {
		if !d.Reports.Enabled() {
			continue
		}
		rd := reportmail.Dealer{ID: d.ID, Name: d.Name, Location: d.Location, People: map[string]string{}}
		for _, p := range d.People {
			rd.People[p.ID] = p.Name
		}
		out = append(out, reportmail.Config{
			Dealer:   rd,
			Schedule: reportmail.Schedule{Day: d.Reports.Day, At: d.Reports.At, Location: d.Location},
			To:       d.Reports.To,
		})
	}
	return out
}

// planReports has the store plan each dealer's next weekly report mail (after
// applyMail has set the dealers).
func (a *app) planReports(ctx context.Context) error {
	if err := a.db.PlanReports(ctx, a.reports.Plans(a.now())); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}
