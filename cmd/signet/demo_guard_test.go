package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestDemoRefusesNonLoopbackIssuer: `serve --demo` with an issuer others can
// reach fails at once, says why, and creates nothing in data_dir.
func TestDemoRefusesNonLoopbackIssuer(t *testing.T) {
	t.Parallel()
	for _, issuer := range []string{"https://id.example.com", "https://10.0.0.1:5556", "https://127.0.0.1.nip.io"} {
		e := newCLIEnv(t)
		os.Remove(filepath.Join(e.dataDir, dbFileName)) // a data directory serve never opened
		body, err := os.ReadFile(e.config)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.config, append([]byte("issuer: "+issuer+"\n"), body...), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"--config", e.config, "serve", "--demo"}
		r := runCLI(t, "", args...)
		checkFailure(t, r, "serve --demo refused: issuer "+issuer+" is not a loopback address", args)
		if !strings.Contains(r.stderr, "published password") {
			t.Errorf("%s: the refusal does not say why: %q", issuer, r.stderr)
		}
		for _, name := range []string{dbFileName, demoMarkFile} {
			if _, err := os.Stat(filepath.Join(e.dataDir, name)); err == nil {
				t.Errorf("%s: refused serve --demo created %s", issuer, name)
			}
		}
	}
}

// TestDemoRefusesDataDirWithPeople: a data directory that already holds a
// database serve --demo did not create (here, one with a real person) is refused,
// and the demo person is not added to it.
func TestDemoRefusesDataDirWithPeople(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.ok("correct horse battery\n", "user", "add", "alice", "--email", "alice@example.com", "--password-stdin")
	e.fails("already holds a Signet database that serve --demo did not create", "", "serve", "--demo")
	if out := e.ok("", "user", "list"); strings.Contains(out, demoUsername) || !strings.Contains(out, "alice") {
		t.Errorf("user list after the refused demo: %q", out)
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, demoMarkFile)); err == nil {
		t.Errorf("the refused demo marked the data directory")
	}
}

// TestDemoOnLoopbackIssuer runs `serve --demo` on a loopback issuer: it starts
// (the demo app answers), marks its data directory, starts again on it, and that
// data directory is then refused for a real issuer, with or without --demo.
func TestDemoOnLoopbackIssuer(t *testing.T) {
	if ln, err := net.Listen("tcp", demoListen); err != nil {
		t.Skipf("the demo app's address %s is taken: %v", demoListen, err)
	} else {
		ln.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t)
	cfg.Issuer, cfg.Listen = "http://"+addr, addr
	// runServe sets the default logger, the memory limit and the GC target, as
	// at start-up.
	prevLog, prevLimit, prevGC := slog.Default(), debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	t.Cleanup(func() { slog.SetDefault(prevLog); debug.SetMemoryLimit(prevLimit); debug.SetGCPercent(prevGC) })
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	for run := 1; run <= 2; run++ { // the second run reuses the marked data directory
		serveDemoOnce(t, cfg)
		mark, err := os.ReadFile(filepath.Join(cfg.DataDir, demoMarkFile))
		if err != nil || !strings.Contains(string(mark), "--demo") {
			t.Fatalf("run %d: demo mark %q, %v", run, mark, err)
		}
	}

	real := *cfg
	real.Issuer = "https://id.example.com"
	for _, demoMode := range []bool{false, true} {
		err := runServe(context.Background(), &real, demoMode, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("serve (demo %v) of a demo data directory with issuer %s: %v, want a refusal", demoMode, real.Issuer, err)
		}
	}
}

// serveDemoOnce runs serve --demo until the demo app answers, then stops it.
func serveDemoOnce(t *testing.T, cfg *Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, true, out) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "Demo credentials") {
		select {
		case err := <-done:
			t.Fatalf("serve --demo on %s stopped: %v\n%s", cfg.Issuer, err, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --demo did not start:\n%s", out)
		}
	}
	resp, err := http.Get("http://" + demoListen + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("demo app: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve --demo: %v", err)
	}
}

func TestLoopbackIssuer(t *testing.T) {
	t.Parallel()
	for issuer, want := range map[string]bool{
		"http://127.0.0.1:5556":    true,
		"http://127.8.9.10":        true,
		"http://localhost:5556":    true,
		"https://localhost":        true,
		"http://[::1]:5556":        true,
		"https://id.example.com":   false,
		"http://10.0.0.1:5556":     false,
		"https://127.0.0.1.nip.io": false,
		"http://[::2]:5556":        false,
		"http://127.1:5556":        false,
		"ftp://127.0.0.1":          false,
		"http://u@127.0.0.1":       false,
		"":                         false,
	} {
		if got := loopbackIssuer(issuer); got != want {
			t.Errorf("loopbackIssuer(%q) = %v, want %v", issuer, got, want)
		}
	}
}
