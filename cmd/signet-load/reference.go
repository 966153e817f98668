package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/cmd/signet-load/load"
)

// referenceCommand runs the reference server as a child of signet-load
// --compare-raw: its own process, as the provider is, so that neither shares
// the load tool's heap, garbage collector or scheduler.
const referenceCommand = "serve-reference"

// referenceSecretEnv carries the client secret to the child (never on its
// command line, which other users can read).
const referenceSecretEnv = "SIGNET_LOAD_REFERENCE_SECRET"

// serveReference listens on a loopback port, prints "listening ADDR", and
// serves the reference until its standard input closes (its parent ended).
func serveReference(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(referenceCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg load.ReferenceConfig
	fs.StringVar(&cfg.AccessTokenAlg, "access-alg", "RS256", "access token algorithm")
	fs.StringVar(&cfg.IDTokenAlg, "id-alg", "RS256", "ID token algorithm")
	fs.StringVar(&cfg.ClientID, "client-id", "", "client id")
	fs.StringVar(&cfg.RedirectURI, "redirect-uri", "", "redirect URI")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.ClientSecret = os.Getenv(referenceSecretEnv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "signet-load %s: %v\n", referenceCommand, err)
		return 1
	}
	cfg.Issuer = "http://" + ln.Addr().String()
	ref, err := load.NewReference(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "signet-load %s: %v\n", referenceCommand, err)
		return 1
	}
	srv := &http.Server{Handler: ref, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		srv.Close()
	}()
	fmt.Fprintf(stdout, "listening %s\n", cfg.Issuer)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "signet-load %s: %v\n", referenceCommand, err)
		return 1
	}
	return 0
}

// startReference starts this program as the reference server's process.
func startReference(cfg load.Config) load.StartReference {
	return func(ctx context.Context, accessAlg, idAlg string) (string, func(), error) {
		self, err := os.Executable()
		if err != nil {
			return "", nil, err
		}
		for _, alg := range []string{accessAlg, idAlg} {
			if !slices.Contains([]string{"RS256", "ES256"}, alg) {
				return "", nil, fmt.Errorf("the provider signs with %s; the reference knows RS256 and ES256", alg)
			}
		}
		cmd := exec.Command(self, referenceCommand, "--access-alg", accessAlg, "--id-alg", idAlg,
			"--client-id", cfg.ClientID, "--redirect-uri", cfg.RedirectURI)
		cmd.Env = append(os.Environ(), referenceSecretEnv+"="+cfg.ClientSecret)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return "", nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return "", nil, err
		}
		if err := cmd.Start(); err != nil {
			return "", nil, err
		}
		stop := func() {
			stdin.Close()
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		issuer, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if err != nil || !ok {
			stop()
			return "", nil, fmt.Errorf("the reference server did not start: %q %v", line, err)
		}
		return issuer, stop, nil
	}
}

// compare runs --compare-raw.
// Without --scenarios it compares the scenarios a reference can serve.
func compare(ctx context.Context, cfg load.Config, scenariosSet bool, rounds int, out io.Writer, asJSON bool, stdout, stderr io.Writer) int {
	if !scenariosSet {
		cfg.Scenarios = nil
	}
	cmp, err := load.Compare(ctx, cfg, rounds, startReference(cfg), out)
	if asJSON && cmp != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(cmp)
	}
	if err != nil {
		fmt.Fprintf(stderr, "signet-load: %v\n", err)
		return 1
	}
	for _, row := range cmp.Rows {
		for i := range row.Provider {
			if row.Provider[i].Errors > 0 || row.Reference[i].Errors > 0 {
				fmt.Fprintf(stderr, "signet-load: errors in %s\n", row.Scenario)
				return 1
			}
		}
	}
	return 0
}
