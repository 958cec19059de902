package main

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/leadmail"
	"github.com/leadline/leadline/mailin"
	"github.com/leadline/leadline/metrics"
)

var _ mailin.Observer = (*metrics.Metrics)(nil)

// mailConfig copies the email section into the SMTP receiver's terms, on the dialer's
// clock now (nil: the wall clock), so that a lead's arrival and its first INVITE are
// measured on one clock. The certificate was loaded once by config validation; it is
// loaded again here for the server.
func mailConfig(cfg *config.Config, log *slog.Logger, now func() time.Time) mailin.Config {
	e := cfg.Email
	mc := mailin.Config{
		Listen: e.Listen, Domain: e.Domain, MaxBytes: e.MaxBytes, Logger: log, Now: now,
		PerSender: mailin.Rate{Count: e.PerSender.Count, Per: e.PerSender.Per},
		PerDealer: mailin.Rate{Count: e.PerDealer.Count, Per: e.PerDealer.Per},
	}
	if e.TLS.Set() {
		if cert, err := tls.LoadX509KeyPair(e.TLS.Cert, e.TLS.Key); err == nil {
			mc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		} else {
			log.Error("email.tls: the certificate cannot be loaded; STARTTLS is off", "error", err)
		}
	}
	return mc
}

// mailboxes copies the dealers' email sections into the receiver's terms.
func mailboxes(cfg *config.Config) []mailin.Mailbox {
	var out []mailin.Mailbox
	for _, d := range cfg.Dealers {
		e := d.Email
		if e.Address == "" && !e.IMAP.Enabled() {
			continue
		}
		mb := mailin.Mailbox{
			Dealer: d.ID, Address: e.Address, Senders: e.Senders,
			RequireDKIM: e.RequireDKIM, RequireSPF: e.RequireSPF,
		}
		if m := e.IMAP; m.Enabled() {
			mb.IMAP = mailin.IMAP{URL: m.URL, Username: m.Username, Password: m.Password, Folder: m.Folder, MoveTo: m.MoveTo}
		}
		for _, r := range e.Rules {
			mb.Rules = append(mb.Rules, leadmail.Rule{Sender: r.Sender, Subject: r.SubjectRe, Fields: r.FieldRes, Source: r.Source})
		}
		out = append(out, mb)
	}
	return out
}

// readerConfig is what the IMAP readers share: the message size limit of the email
// section, and the dialer's clock, from which the time to the first INVITE is measured.
func readerConfig(cfg *config.Config, log *slog.Logger, met *metrics.Metrics, now func() time.Time) mailin.ReaderConfig {
	return mailin.ReaderConfig{MaxBytes: cfg.Email.MaxBytes, Logger: log, Observer: met, Now: now}
}
