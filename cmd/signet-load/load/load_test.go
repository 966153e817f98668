package load

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeIssuer serves a discovery document and a JWKS that answers after delay
// (or when the client gives up), enough for the discovery and jwks scenarios.
func fakeIssuer(t *testing.T, delay *atomic.Int64) string {
	t.Helper()
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":                 srv.URL,
			"jwks_uri":               srv.URL + "/jwks",
			"authorization_endpoint": srv.URL + "/authorize",
			"token_endpoint":         srv.URL + "/token",
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Duration(delay.Load())):
		case <-r.Context().Done():
			return
		}
		w.Write([]byte(`{"keys":[]}`))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTimeoutCancelsNotErrors: operations cut off by the run's own --timeout
// are counted as cancelled, not as errors, and the run reports being cut short.
func TestTimeoutCancelsNotErrors(t *testing.T) {
	var delay atomic.Int64
	delay.Store(int64(time.Minute))
	cfg := Config{Issuer: fakeIssuer(t, &delay), Scenarios: []string{JWKS}, Concurrency: 3,
		Duration: 10 * time.Second, Timeout: 300 * time.Millisecond}
	var out bytes.Buffer
	start := time.Now()
	rep, err := Run(context.Background(), cfg, &out)
	t.Logf("\n%s", out.String())
	if err == nil || !strings.Contains(err.Error(), "stopped after 0 of 1 scenarios") || !strings.Contains(err.Error(), "--timeout") {
		t.Errorf("error %v, want the run reported as cut short by --timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--timeout 300ms: the run took %s", d)
	}
	res, _ := rep.Result(JWKS)
	if res.Errors != 0 || res.Cancelled != 3 || res.Requests != 0 || res.Stopped == "" {
		t.Errorf("got %d errors (%s), %d cancelled, %d requests, stopped %q; want 0, 3, 0 and a reason",
			res.Errors, res.FirstError, res.Cancelled, res.Requests, res.Stopped)
	}
	if !strings.Contains(out.String(), "cancelled") || strings.Contains(out.String(), "first error") {
		t.Errorf("the table should show cancelled operations and no error:\n%s", out.String())
	}
}

// TestWallTime: a scenario's wall time is reported, operations in flight at
// the end of --duration finish and count, and --request-timeout bounds them.
func TestWallTime(t *testing.T) {
	var delay atomic.Int64
	issuer := fakeIssuer(t, &delay)
	cfg := Config{Issuer: issuer, Scenarios: []string{JWKS}, Concurrency: 2, Duration: 100 * time.Millisecond}

	delay.Store(int64(400 * time.Millisecond))
	var out bytes.Buffer
	rep, err := Run(context.Background(), cfg, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	res, _ := rep.Result(JWKS)
	if res.Requests != 2 || res.Errors != 0 || res.Cancelled != 0 {
		t.Errorf("%d requests, %d errors (%s), %d cancelled; want the 2 in flight to finish and count", res.Requests, res.Errors, res.FirstError, res.Cancelled)
	}
	if res.Wall < 400*time.Millisecond || res.Wall < res.Elapsed || res.Drain < 250*time.Millisecond {
		t.Errorf("wall %s, elapsed %s, drain %s; want at least the 400ms the operations took", res.Wall, res.Elapsed, res.Drain)
	}
	for _, want := range []string{"wall", "0.4s", "finishing the operations in flight", "--request-timeout 30s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q", want)
		}
	}

	// An operation longer than --request-timeout is cut there, and is an error.
	delay.Store(int64(time.Minute))
	cfg.RequestTimeout = 300 * time.Millisecond
	rep, err = Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, _ = rep.Result(JWKS)
	if res.Errors != 2 || res.Cancelled != 0 || !strings.Contains(res.FirstError, "--request-timeout 300ms") {
		t.Errorf("%d errors (%s), %d cancelled; want 2 timed-out errors naming --request-timeout", res.Errors, res.FirstError, res.Cancelled)
	}
	if bound := cfg.Duration + cfg.RequestTimeout; res.Elapsed < cfg.RequestTimeout || res.Elapsed > bound+time.Second {
		t.Errorf("elapsed %s; want at least --request-timeout and at most --duration + --request-timeout, %s", res.Elapsed, bound)
	}
}

// TestMemoryOfDescendants: given the PID of a wrapper (here a shell), the
// server it started is found and measured, the processes are named, and a
// total too small for a server draws a warning.
func TestMemoryOfDescendants(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	sh := exec.Command("sh", "-c", "sleep 5 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	var sleepPID int
	t.Cleanup(func() {
		if sleepPID != 0 {
			syscall.Kill(sleepPID, syscall.SIGKILL)
		}
		sh.Process.Kill()
		sh.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); sleepPID == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pids, err := descendants(sh.Process.Pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids[1:] {
			if _, _, comm, err := readStatus(pid); err == nil && comm == "sleep" {
				sleepPID = pid
			}
		}
	}
	if sleepPID == 0 {
		t.Fatal("the shell's child sleep was not found among its descendants")
	}
	if pids, _ := descendants(sh.Process.Pid, sleepPID); slices.Contains(pids, sleepPID) {
		t.Error("the skipped process was measured")
	}
	self := os.Getpid()
	if pids, _ := descendants(os.Getppid(), self); slices.Contains(pids, self) {
		t.Error("this process was measured under its parent")
	}

	var delay atomic.Int64
	cfg := Config{Issuer: fakeIssuer(t, &delay), Scenarios: []string{Discovery}, Concurrency: 2,
		Duration: 100 * time.Millisecond, PID: sh.Process.Pid}
	var out bytes.Buffer
	rep, err := Run(context.Background(), cfg, &out)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	var shell, sleep Process
	for _, p := range rep.Processes {
		switch p.PID {
		case sh.Process.Pid:
			shell = p
		case sleepPID:
			sleep = p
		}
	}
	if sleep.Comm != "sleep" || sleep.PeakRSS == 0 || shell.PeakRSS == 0 {
		t.Fatalf("processes measured: %+v; want the shell and its sleep", rep.Processes)
	}
	if rep.PeakRSS < max(shell.PeakRSS, sleep.PeakRSS) || rep.PeakRSS <= sleep.PeakRSS {
		t.Errorf("peak %d is not the sum of the shell's %d and the sleep's %d", rep.PeakRSS, shell.PeakRSS, sleep.PeakRSS)
	}
	if rep.HWM < sleep.HWM || rep.HWM < shell.HWM {
		t.Errorf("VmHWM %d is not the largest of %d and %d", rep.HWM, shell.HWM, sleep.HWM)
	}
	for _, want := range []string{"sleep", "probably not the server"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
