// Command signet-load drives a running Signet (or any OpenID Connect provider)
// over HTTP on loopback and reports, per scenario, requests, requests per
// second, p50 and p99 latency, errors and wall time, and the server's peak
// memory when given its PID (or that of a wrapper it descends from, such as a
// subshell or `go run`). See BENCHMARKS.md.
//
//	go build -o /tmp/signet ./cmd/signet && go build -o /tmp/signet-load ./cmd/signet-load
//	cd "$(mktemp -d)"
//	/tmp/signet serve --demo &
//	sleep 2
//	/tmp/signet-load --client-secret-file signet-data/demo-client.secret \
//	    --duration 10s --concurrency 16 --pid $!
//
// The defaults match `signet serve --demo`: issuer http://127.0.0.1:5556, client
// signet-demo with redirect URI http://127.0.0.1:5557/callback, user demo.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/signet-idp/signet/cmd/signet-load/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == referenceCommand {
		return serveReference(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("signet-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var (
		cfg        load.Config
		scenarios  string
		scopes     string
		secretFile string
		asJSON     bool
		compareRaw bool
		rounds     int
	)
	fs.StringVar(&cfg.Issuer, "issuer", "http://127.0.0.1:5556", "issuer URL of the running server")
	fs.DurationVar(&cfg.Duration, "duration", 0, "time each scenario starts operations (default 10s); those in flight then finish, each within --request-timeout")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "workers, each with one operation in flight (default 16)")
	fs.IntVar(&cfg.MaxRequests, "max-requests", 0, "at most this many operations per scenario (default 1000000)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(load.AllScenarios, ","), "comma-separated scenarios to run, in order")
	fs.StringVar(&cfg.ClientID, "client-id", "signet-demo", "client id (its redirect URIs must include --redirect-uri)")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "", "client secret (or $SIGNET_LOAD_CLIENT_SECRET, or --client-secret-file); empty for a public client")
	fs.StringVar(&secretFile, "client-secret-file", "", "file holding the client secret (e.g. signet-data/demo-client.secret)")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "http://127.0.0.1:5557/callback", "registered redirect URI (never contacted: the tool stops at the redirect)")
	fs.StringVar(&scopes, "scopes", "openid profile email offline_access", "scopes to request")
	fs.StringVar(&cfg.Username, "username", "demo", "username to sign in with")
	fs.StringVar(&cfg.Password, "password", "", "password (or $SIGNET_LOAD_PASSWORD; default the demo's)")
	fs.StringVar(&cfg.UsernameField, "username-field", "username", "name of the login form's username field")
	fs.StringVar(&cfg.PasswordField, "password-field", "password", "name of the login form's password field")
	fs.IntVar(&cfg.CodePool, "code-pool", 0, "codes obtained (untimed) before each timed batch of the code scenario (default 1000)")
	fs.IntVar(&cfg.PID, "pid", 0, "server process id, or a wrapper's (subshell, go run): sample the summed memory of it and its descendants from /proc")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "hard bound on the whole run, setup included; cancels what is in flight (default scenarios x (duration + 1m))")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", 0, "bound on one operation (a whole sign-in for login) and on each setup step; longer is an error (default 30s)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON instead of a table")
	fs.BoolVar(&compareRaw, "compare-raw", false, "also start a storage-less reference server (a child process signing the same token shapes with the algorithms the provider's first answer shows) and run each scenario (code, refresh) against the provider and the reference in turn, printing the ratios")
	fs.IntVar(&rounds, "rounds", 0, "with --compare-raw: alternate provider and reference this many times per scenario; ratios are the medians (default 1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "signet-load: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if bad := negativeFlags(fs); len(bad) > 0 {
		fmt.Fprintf(stderr, "signet-load: %s: must not be negative (0 selects the default)\n", strings.Join(bad, ", "))
		return 2
	}
	for _, s := range strings.Split(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Scenarios = append(cfg.Scenarios, s)
		}
	}
	cfg.Scopes = strings.Fields(scopes)
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = os.Getenv("SIGNET_LOAD_CLIENT_SECRET")
	}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			fmt.Fprintf(stderr, "signet-load: %v\n", err)
			return 2
		}
		cfg.ClientSecret = strings.TrimSpace(string(b))
	}
	if cfg.Password == "" {
		cfg.Password = os.Getenv("SIGNET_LOAD_PASSWORD")
	}
	if cfg.Password == "" && cfg.Username == "demo" {
		cfg.Password = "signet-demo-password"
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := stdout
	if asJSON {
		out = nil
	}
	if compareRaw {
		scenariosSet := false
		fs.Visit(func(f *flag.Flag) { scenariosSet = scenariosSet || f.Name == "scenarios" })
		return compare(ctx, cfg, scenariosSet, rounds, out, asJSON, stdout, stderr)
	}
	rep, err := load.Run(ctx, cfg, out)
	if asJSON && rep != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
		// The table shows them; JSON readers may not look.
		for _, w := range rep.Warnings {
			fmt.Fprintf(stderr, "signet-load: warning: %s\n", w)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "signet-load: %v\n", err)
		return 1
	}
	if n := rep.Errors(); n > 0 {
		fmt.Fprintf(stderr, "signet-load: %d errors\n", n)
		return 1
	}
	return 0
}

const usage = `Usage: signet-load [flags]

Drives a running OpenID Connect provider over loopback, one scenario after the
other, and reports per scenario requests, req/s, p50, p99, errors and wall time.

Wall time: each scenario starts operations for --duration (or until
--max-requests), then waits for those in flight, each bounded by
--request-timeout: its measured phase lasts at most --duration +
--request-timeout. Before it, untimed, code, refresh, userinfo and introspect
sign in and obtain one grant per worker (each step within --request-timeout),
and code obtains a pool of codes before each timed batch (at most 20s a pool).
--timeout is the hard cap on the whole run: operations in flight when it passes
are cancelled, reported as "cancelled" (not as errors), and the exit status is 1.

Flags (0 selects a flag's default; negative numbers are refused):
`

// negativeFlags lists the numeric flags set to a negative number: the
// defaults apply to zero only, and a negative must not silently become one.
func negativeFlags(fs *flag.FlagSet) []string {
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		neg := false
		switch v := g.Get().(type) {
		case int:
			neg = v < 0
		case int64:
			neg = v < 0
		case float64:
			neg = v < 0
		case time.Duration:
			neg = v < 0
		}
		if neg {
			bad = append(bad, fmt.Sprintf("--%s %s", f.Name, f.Value))
		}
	})
	return bad
}
