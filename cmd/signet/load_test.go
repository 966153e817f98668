package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet-load/load"
	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

// loadTarget starts the real wiring on httptest and returns a load
// configuration for it: a first-party confidential client and alice.
func loadTarget(t *testing.T, mutate ...func(*Config)) load.Config {
	t.Helper()
	ti := startIssuer(t, mutate...)
	app := ti.addClient(admin.AddClientInput{ID: "load", FirstParty: true})
	return load.Config{
		Issuer:       ti.URL,
		ClientID:     app.OAuth.ClientID,
		ClientSecret: app.OAuth.ClientSecret,
		RedirectURI:  app.OAuth.RedirectURL,
		Username:     "alice",
		Password:     "correct horse battery",
	}
}

// TestLoadTool runs every scenario of cmd/signet-load for about a second in all
// against the real wiring and checks its report.
func TestLoadTool(t *testing.T) {
	t.Parallel()
	cfg := loadTarget(t)
	cfg.Duration = 150 * time.Millisecond
	cfg.Concurrency = 4
	cfg.CodePool = 50
	cfg.PID = os.Getpid()
	var out bytes.Buffer
	rep, err := load.Run(context.Background(), cfg, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range load.AllScenarios {
		res, ok := rep.Result(sc)
		switch {
		case !ok:
			t.Errorf("%s: missing from the report", sc)
		case res.Requests == 0 || res.PerSecond <= 0:
			t.Errorf("%s: %d requests, %.1f/s", sc, res.Requests, res.PerSecond)
		case res.Errors != 0:
			t.Errorf("%s: %d errors, first: %s", sc, res.Errors, res.FirstError)
		case res.P50 <= 0 || res.P99 < res.P50:
			t.Errorf("%s: p50 %s, p99 %s", sc, res.P50, res.P99)
		}
	}
	if res, _ := rep.Result(load.Login); res.HTTPRequests < 4*res.Requests {
		t.Errorf("login: %d HTTP requests for %d sign-ins, want at least 4 each", res.HTTPRequests, res.Requests)
	}
	if rep.HWM <= 0 || rep.PeakRSS <= 0 {
		t.Errorf("no memory figures for --pid: %+v", rep)
	}
	for _, want := range append([]string{"req/s", "p50", "p99", "errors", "peak RSS"}, load.AllScenarios...) {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestLoadToolBounds(t *testing.T) {
	t.Parallel()
	cfg := loadTarget(t)
	cfg.Scenarios = []string{load.JWKS, load.Refresh}
	cfg.Duration = 10 * time.Second
	cfg.MaxRequests = 25
	start := time.Now()
	rep, err := load.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range rep.Results {
		if res.Requests != 25 || res.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors (%s); want 25 and 0", res.Scenario, res.Requests, res.Errors, res.FirstError)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("max-requests did not end the run early: %s", d)
	}

	for _, issuer := range []string{"http://192.0.2.1:5556", "http://[2001:db8::1]/"} {
		bad := cfg
		bad.Issuer = issuer
		if _, err := load.Run(context.Background(), bad, nil); err == nil {
			t.Errorf("non-loopback target %s accepted", issuer)
		}
	}
}

func mib[T int64 | uint64](b T) float64 { return float64(b) / (1 << 20) }

// selfRSS reads this process's VmRSS (Linux only; an error elsewhere).
func selfRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		var kb int64
		if n, _ := fmt.Sscanf(string(line), "VmRSS: %d kB", &kb); n == 1 {
			return kb << 10, nil
		}
	}
	return 0, os.ErrNotExist
}
