// Command leadline is the speed-to-lead call-connect server: `leadline serve` runs it,
// `leadline demo` shows it working with simulated phones, `leadline check` validates a
// configuration, `leadline migrate` prepares its database and `leadline phones` runs
// simulated phones for a stack without real ones (docker-compose.yml).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: leadline <command> [flags]

commands:
  serve    [--config leadline.yaml]  run the HTTP API, SIP user agent, dialer and metrics
  demo                               run the whole flow on this machine with simulated phones
  check    [--config leadline.yaml]  validate a configuration and print what it defines
  migrate  [--config leadline.yaml]  apply the store's database migrations
  phones   [--config phones.yaml]    run simulated SIP phones (and a carrier) until stopped
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = serveCmd(ctx, rest, getenv, stderr)
	case "demo":
		err = demoCmd(ctx, rest, stdout, stderr)
	case "check":
		err = checkCmd(rest, getenv, stdout)
	case "migrate":
		err = migrateCmd(ctx, rest, getenv, stdout)
	case "phones":
		err = phonesCmd(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "leadline: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintf(stderr, "leadline: %v\n", err)
	return 1
}
