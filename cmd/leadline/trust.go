package main

import (
	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
)

// access copies the dealers' keys, origins, webhook secrets and portal secrets into the
// API's terms.
func access(cfg *config.Config) *api.Access {
	ds := make([]api.DealerAccess, 0, len(cfg.Dealers))
	for _, d := range cfg.Dealers {
		da := api.DealerAccess{
			Dealer: d.ID, APIKeys: d.APIKeyDigests, FormKeys: d.FormKeyDigests,
			AllowedOrigins: d.AllowedOrigins, RequireSignature: d.RequireSignature, Country: d.Country,
		}
		for _, s := range d.WebhookSecrets {
			da.WebhookSecrets = append(da.WebhookSecrets, []byte(s))
		}
		if s := d.Portals.Marktplaats.Secret; s != "" {
			da.MarktplaatsSecret = []byte(s)
		}
		ds = append(ds, da)
	}
	return api.NewAccess(ds)
}

// intakeRules copies the per-number cap and the dealers' countries into the dialer's
// terms.
func intakeRules(cfg *config.Config) dialer.IntakeRules {
	r := dialer.IntakeRules{
		MaxLeadsPerNumberPerDay: cfg.MaxLeadsPerNumberPerDay,
		Countries:               map[string][]string{},
	}
	for _, d := range cfg.Dealers {
		r.Countries[d.ID] = d.Countries
	}
	return r
}

// formLimits copies the web form rate limits into the API's terms.
func formLimits(cfg *config.Config) api.FormLimits {
	return api.FormLimits{
		PerIP:    api.Rate{Count: cfg.Forms.PerIP.Count, Per: cfg.Forms.PerIP.Per},
		PerPhone: api.Rate{Count: cfg.Forms.PerPhone.Count, Per: cfg.Forms.PerPhone.Per},
	}
}
