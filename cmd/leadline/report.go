package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leadline/leadline/config"
	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/store"
)

// reportCmd prints the owner's report of a dealer: how each salesperson followed the
// process and how each lead source fared, over whole days in the dealer's time zone.
func reportCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	path := fs.String("config", "leadline.yaml", "configuration file")
	dealer := fs.String("dealer", "", "dealer id (required)")
	from := fs.String("from", "", "first day, 2026-11-30 (default: seven days before --to)")
	to := fs.String("to", "", "last day, included (default: today)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dealer == "" || fs.NArg() > 0 {
		return errors.New("report: give --dealer ID (and optionally --from and --to dates), nothing else")
	}
	cfg, err := config.Load(*path, getenv)
	if err != nil {
		return err
	}
	db, err := store.OpenAndMigrate(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("store (%s): %w", cfg.StoreDriver, err)
	}
	defer db.Close()
	svc := dialer.New(dialer.Options{Store: db, Reports: db})
	svc.SetDealers(dealers(cfg))
	r, err := svc.ReportDays(ctx, *dealer, *from, *to)
	if err != nil {
		return err
	}
	d, _ := svc.Dealer(*dealer)
	return writeReport(stdout, r, d)
}

// writeReport prints a report as two tables.
func writeReport(w io.Writer, r dialer.Report, d *dialer.Dealer) error {
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	last := r.To.Add(-time.Nanosecond)
	fmt.Fprintf(w, "%s: %d leads from %s to %s (%s)\n\n", r.Dealer, r.Leads,
		r.From.In(loc).Format("Mon 2006-01-02"), last.In(loc).Format("Mon 2006-01-02"), loc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "person\toffered\tanswered\taccepted\tdeclined\tmissed\tbusy\tfailed\ttaken by a colleague\tmedian answer\twent on to the owner\toutcomes")
	for _, p := range r.People {
		name := p.Person
		if pp, ok := d.People[p.Person]; ok && pp.Name != "" && pp.Name != p.Person {
			name += " (" + pp.Name + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", name, p.Offered, p.Answered, p.Accepted,
			p.Declined, p.Missed, p.Busy, p.Failed, p.Canceled, seconds(p.MedianAnswer), p.ToOwner, outcomes(p.Outcomes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "source\tleads\tconnected\tshare\tmedian speed to lead")
	for _, s := range r.Sources {
		src := s.Source
		if src == "" {
			src = "(none given)"
		}
		share := "-"
		if s.Leads > 0 {
			share = strconv.Itoa(100*s.Connected/s.Leads) + " %"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", src, s.Leads, s.Connected, share, seconds(s.MedianSpeed))
	}
	return tw.Flush()
}

// outcomes lists counts by outcome, "appointment 2, follow_up 1", or "-".
func outcomes(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, id+" "+strconv.Itoa(m[id]))
	}
	return strings.Join(parts, ", ")
}

func seconds(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Millisecond).String()
}
