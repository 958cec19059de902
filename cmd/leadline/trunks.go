package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/leadline/leadline/api"
	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/sip"
)

// sipTrunks copies the configured trunks (sip.trunk or sip.trunks) into the user
// agent's terms, in the order they are tried.
func sipTrunks(cfg *config.Config) []sip.Trunk {
	var out []sip.Trunk
	for _, t := range cfg.SIP.TrunkList() {
		out = append(out, sip.Trunk{
			Name: t.Name, URI: t.URI, Username: t.Username, Password: t.Password,
			Register: t.Register, RegisterExpires: t.RegisterExpires, Transport: t.Transport,
			SRTP: t.SRTP, CallerIDHeader: t.CallerIDHeader, OutboundProxy: t.OutboundProxy,
		})
	}
	return out
}

// trunksReady is the trunks' part of /readyz: nil when every trunk can carry calls (or
// there are none); an *api.Degraded naming the ones that cannot while another can; an
// error when none can, for numbers cannot be called then.
func trunksReady(states []sip.TrunkState) error {
	var down []string
	for _, s := range states {
		if s.Usable() {
			continue
		}
		why := "not registered yet"
		if s.Error != "" {
			why = "not registered: " + s.Error
		}
		down = append(down, "trunk "+s.Name+" ("+why+")")
	}
	switch {
	case len(down) == 0:
		return nil
	case len(down) == len(states):
		return errors.New("no trunk can carry calls: " + strings.Join(down, "; "))
	}
	return &api.Degraded{Detail: "down: " + strings.Join(down, "; ")}
}

// printWarnings writes what `leadline check` warns about, one per line.
func printWarnings(w io.Writer, warnings []config.Problem) error {
	for _, p := range warnings {
		if _, err := io.WriteString(w, "warning: "+p.String()+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// logWarnings logs the configuration's warnings at start.
func logWarnings(log *slog.Logger, warnings []config.Problem) {
	for _, p := range warnings {
		log.Warn("config: "+p.Message, "path", p.Path)
	}
}
