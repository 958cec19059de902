package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/store"
)

func serveCmd(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "leadline.yaml", "configuration file")
	drain := fs.Duration("drain", 2*time.Minute, "on SIGTERM, how long calls in progress may finish")
	readyFile := fs.String("ready-file", "", "once serving, write the HTTP, SIP and SMTP addresses here as JSON (atomically);\nremoved when shutting down (docs/operations.md)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: leadline serve [--config leadline.yaml] [--drain 2m] [--ready-file PATH]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nenvironment (each replaces its setting in the file; ${VAR} in the file is expanded too):\n")
		for _, line := range config.EnvOverrides() {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		fmt.Fprintf(stderr, "\nsignals: SIGHUP reloads the configuration; SIGTERM or SIGINT drains, a second one stops at once.\n")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	if *readyFile != "" {
		// One left by a node killed with kill -9 must not say this one is ready.
		if err := os.Remove(*readyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ready file: %w", err)
		}
	}
	log := newLogger(cfg.Log, stderr)
	// sipgo logs some transport errors (unparseable packets) through slog's default:
	// in the configured format too.
	slog.SetDefault(log)
	logWarnings(log, cfg.Warnings())
	a, err := startApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	a.readyFile = *readyFile

	// SIGHUP reloads dealers, people, flows and keys; calls in progress are untouched.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			a.reload(cfg, *path, getenv)
		}
	}()
	return a.run(ctx, *drain)
}

// reload applies the configuration file at path to an app started with started, or
// keeps the running one when the file is invalid. It says which changed settings wait
// for a restart.
func (a *app) reload(started *config.Config, path string, getenv func(string) string) {
	next, err := config.Load(path, getenv)
	if err != nil {
		a.log.Error("config reload refused; keeping the running configuration", "error", err)
		return
	}
	if err := a.apply(context.Background(), next); err != nil {
		a.log.Error("config reload: webhooks not applied; the previous ones stay", "error", err)
	}
	a.log.Info("config reloaded", "dealers", len(next.Dealers))
	logWarnings(a.log, next.Warnings())
	if paths := config.RestartNeeded(started, next); len(paths) > 0 {
		a.log.Warn("config reload: these settings changed but take effect only after a restart",
			"settings", strings.Join(paths, ", "))
	}
}

func checkCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("config", "leadline.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	if err := cfg.Summary(stdout); err != nil {
		return err
	}
	if w := cfg.Warnings(); len(w) > 0 {
		if _, err := io.WriteString(stdout, "\n"); err != nil {
			return err
		}
		return printWarnings(stdout, w)
	}
	return nil
}

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	path := fs.String("config", "leadline.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	db, err := store.OpenAndMigrate(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = io.WriteString(stdout, "migrations applied to the "+cfg.StoreDriver+" store\n")
	return err
}
