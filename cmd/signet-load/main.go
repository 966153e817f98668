// Command signet-load drives a running Signet (or any OpenID Connect provider)
// over HTTP on loopback and reports, per scenario, requests, requests per
// second, p50 and p99 latency and errors, and the server's peak memory when
// given its PID. See BENCHMARKS.md.
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

	"github.com/signet-idp/signet/cmd/signet-load/load"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("signet-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg        load.Config
		scenarios  string
		scopes     string
		secretFile string
		asJSON     bool
	)
	fs.StringVar(&cfg.Issuer, "issuer", "http://127.0.0.1:5556", "issuer URL of the running server")
	fs.DurationVar(&cfg.Duration, "duration", 0, "measured time per scenario (default 10s)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "workers, each with one request in flight (default 16)")
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
	fs.IntVar(&cfg.PID, "pid", 0, "server process id: sample its peak memory from /proc/PID/status")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole run, setup included (default scenarios x (duration + 1m))")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", 0, "bound on one operation (default 30s)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON instead of a table")
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
	rep, err := load.Run(ctx, cfg, out)
	if asJSON && rep != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
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
