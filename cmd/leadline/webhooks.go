package main

import (
	"context"
	"fmt"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/store"
	"github.com/leadline/leadline/webhook"
)

var (
	_ store.Courier    = (*webhook.Sender)(nil)
	_ webhook.Recorder = (*metrics.Metrics)(nil)
)

// webhookEndpoints copies the dealers' webhooks into the sender's terms and the store's.
func webhookEndpoints(cfg *config.Config) ([]webhook.Endpoint, []store.Endpoint) {
	var send []webhook.Endpoint
	var route []store.Endpoint
	for _, d := range cfg.Dealers {
		for _, w := range d.Webhooks {
			ep := webhook.Endpoint{Dealer: d.ID, URL: w.URL, Secrets: w.Keys}
			for _, e := range w.Events {
				ep.Events = append(ep.Events, dialer.EventType(e))
			}
			send = append(send, ep)
			route = append(route, store.Endpoint{
				ID: ep.ID(), Dealer: d.ID, URL: webhook.ShownURL(w.URL), Version: ep.Version(), Events: ep.Events,
			})
		}
	}
	return send, route
}

// applyWebhooks installs the dealers' webhooks and CRM addresses (crm.go): the senders
// first, so that they know every endpoint the store routes an event to.
func (a *app) applyWebhooks(ctx context.Context, cfg *config.Config) error {
	send, route := webhookEndpoints(cfg)
	if err := a.hooks.SetEndpoints(send); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	route = append(route, a.applyMail(cfg)...)
	if err := a.db.SetEndpoints(ctx, route); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}
