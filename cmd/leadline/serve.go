package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	// sipgo logs some transport errors (unparseable packets) through slog's default:
	// in the configured format too.
	slog.SetDefault(log)
	a, err := startApp(ctx, cfg, log)
	if err != nil {
		return err
	}

	// SIGHUP reloads dealers, people, flows and keys; calls in progress are untouched.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			next, err := config.Load(*path, getenv)
			if err != nil {
				log.Error("config reload refused; keeping the running configuration", "error", err)
				continue
			}
			a.apply(next)
			log.Info("config reloaded", "dealers", len(next.Dealers))
		}
	}()
	return a.run(ctx, *drain)
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
	return cfg.Summary(stdout)
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
