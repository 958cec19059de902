package main

import (
	"log/slog"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/sip"
)

// The registrar for salespeople's softphones (phone: registered): its accounts come from
// the dealers' people, its bindings live in the store, and it is the dialer's Devices.

// accounts are the SIP users of the people whose phones register, over all dealers.
func accounts(cfg *config.Config) []sip.Account {
	var out []sip.Account
	for _, d := range cfg.Dealers {
		for _, p := range d.People {
			if p.Registered() {
				out = append(out, sip.Account{User: p.SIPUser, Password: p.SIPPassword, Dealer: d.ID, Person: p.ID})
			}
		}
	}
	return out
}

func registrarConfig(a *app, node string, log *slog.Logger, o appOptions) sip.RegistrarConfig {
	return sip.RegistrarConfig{Store: a.db, Node: node, Observer: a.met, Logger: log, Lockout: o.lockout}
}

// withLockout shortens the registrar's lockout (tests).
func withLockout(l sip.Lockout) appOption {
	return func(o *appOptions) { o.lockout = l }
}
