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
	"runtime/debug"
	"syscall"
)

func main() {
	first, second := signalled(os.Interrupt, syscall.SIGTERM)
	os.Exit(run(withStopNow(first, second), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// signalled returns a context that ends at the first of sigs and one that ends at the
// second: serve drains at the first and stops at once at the second. A third gets the
// signal's default action.
func signalled(sigs ...os.Signal) (first, second context.Context) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	first, stop1 := context.WithCancel(context.Background())
	second, stop2 := context.WithCancel(context.Background())
	go func() {
		<-ch
		stop1()
		<-ch
		stop2()
		signal.Stop(ch)
	}()
	return first, second
}

type stopNowKey struct{}

// withStopNow gives serve, through ctx, a context that ends when it must stop at once
// rather than let calls finish (a second signal).
func withStopNow(ctx, now context.Context) context.Context {
	return context.WithValue(ctx, stopNowKey{}, now)
}

// stopNow is the context withStopNow put in ctx; without one, a context that never ends.
func stopNow(ctx context.Context) context.Context {
	if now, ok := ctx.Value(stopNowKey{}).(context.Context); ok {
		return now
	}
	return context.WithoutCancel(ctx)
}

const usage = `usage: leadline <command> [flags]

commands:
  serve    [--config leadline.yaml]  run the HTTP API, SIP user agent, dialer and metrics
  demo                               run the whole flow on this machine with simulated phones
  check    [--config leadline.yaml]  validate a configuration and print what it defines
  migrate  [--config leadline.yaml]  apply the store's database migrations
  report   --dealer ID [--from DATE] [--to DATE] [--config leadline.yaml]
                                     print the owner's report: who followed the process, how each source fared
  phones   [--config phones.yaml]    run simulated SIP phones (and a carrier) until stopped
  version                            print the version and the source revision it was built from
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
		err = demoCmd(ctx, rest, getenv, stdout, stderr)
	case "check":
		err = checkCmd(rest, getenv, stdout)
	case "migrate":
		err = migrateCmd(ctx, rest, getenv, stdout)
	case "report":
		err = reportCmd(ctx, rest, getenv, stdout)
	case "phones":
		err = phonesCmd(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version())
		return 0
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

// version is the module's version and the VCS revision the binary was built from, as
// the Go toolchain recorded them: "leadline v1.2.0", or "leadline (devel) 1a2b3c4d5e6f
// 2026-12-07T10:00:00Z (modified)" for a build from a work tree.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "leadline (unknown version: built without module information)"
	}
	out := "leadline " + bi.Main.Version
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		out += " " + rev[:min(12, len(rev))]
		if t := settings["vcs.time"]; t != "" {
			out += " " + t
		}
		if settings["vcs.modified"] == "true" {
			out += " (modified)"
		}
	}
	return out + " " + bi.GoVersion
}
