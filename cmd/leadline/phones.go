package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/leadline/leadline/simphone"
)

// The phones command: simulated phones (simphone) from a cast file, until interrupted.

func phonesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("phones", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: leadline phones [--listen IP] [--config phones.yaml] [-v]\n\n"+
			"Runs simulated SIP phones until interrupted (SIGINT or SIGTERM), printing their URIs.\n"+
			"Without --config it runs the cast of deploy/phones.yaml.\n\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "", "IPv4 `address` the phones listen on (default: the file's listen, else 127.0.0.1)")
	path := fs.String("config", "", "phones `file` (YAML); default: the built-in cast")
	verbose := fs.Bool("v", false, "also log the phones' own warnings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("phones: unexpected argument %q", fs.Arg(0))
	}
	data := []byte(simphone.DefaultCast)
	if *path != "" {
		var err error
		if data, err = os.ReadFile(*path); err != nil {
			return err
		}
	}
	pf, err := simphone.ParseCast(data)
	if err != nil {
		return fmt.Errorf("phones %s: %w", cmp.Or(*path, "(built in)"), err)
	}
	if *listen != "" {
		if pf.Listen, err = simphone.ListenIP(*listen); err != nil {
			return err
		}
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	phoneLog := slog.New(slog.DiscardHandler)
	if *verbose {
		phoneLog = log
	}
	phones, err := pf.Start(phoneLog)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range phones {
			p.Close()
		}
	}()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "leadline phones: %d simulated phones on %s; stop with Ctrl-C or SIGTERM\n", len(pf.Phones), pf.Listen)
	for i, s := range pf.Phones {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, phones[i].URI(), cmp.Or(s.Role, s.Describe()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	watchCalls(ctx, log, phones)
	return ctx.Err()
}

// watchCalls logs each call the phones receive and how it ended, until ctx ends.
func watchCalls(ctx context.Context, log *slog.Logger, phones []*simphone.Phone) {
	type key struct{ phone, call int }
	seen := map[key]bool{}
	ended := map[key]bool{}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, p := range phones {
			for j, c := range p.Calls() {
				k := key{i, j}
				l := log.With("phone", p.Name, "to", c.Invite.Recipient.User,
					"lead_id", c.Header("X-Leadline-Lead"), "call_id", c.Header("Call-ID"))
				if !seen[k] {
					seen[k] = true
					l.Info("ringing", "from", c.Header("From"))
				}
				if ended[k] {
					continue
				}
				select {
				case <-c.Done():
					ended[k] = true
					by := "leadline"
					if c.HungUpByPhone() {
						by = "phone"
					}
					l.Info("call ended", "answered", c.Answered(), "hung_up_by", by, "rtp_packets_heard", c.Packets())
				default:
				}
			}
		}
	}
}
