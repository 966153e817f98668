package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage/boltstore"
)

// pprofEnv names the variable that turns profiling on for a measurement run:
// SIGNET_PPROF=127.0.0.1:6060 serves net/http/pprof on that loopback address,
// on a listener of its own. It is never on by default and never on the public
// listener: profiles show request paths and timings, and the endpoint costs CPU.
const pprofEnv = "SIGNET_PPROF"

// startProfiling serves pprof when SIGNET_PPROF names a loopback address, with
// block and mutex profiling switched on (they cost a little on every
// contended lock, which is why they are off otherwise), and the store's
// group-commit counts at /debug/signet/commits when it keeps them. It stops
// with ctx, and logs that it is on to log.
func startProfiling(ctx context.Context, store any, log *slog.Logger) error {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %w", pprofEnv, err)
	}
	if !pprofHostOK(host) {
		return fmt.Errorf("%s=%s: profiling is served on a loopback address only", pprofEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", pprofEnv, err)
	}
	runtime.SetBlockProfileRate(int(10 * time.Microsecond)) // one sample per 10 µs blocked
	runtime.SetMutexProfileFraction(5)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	if st, ok := store.(interface {
		GroupCommitStats() boltstore.GroupCommitStats
	}); ok {
		mux.HandleFunc("/debug/signet/commits", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(st.GroupCommitStats())
		})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Warn("profiling endpoint on; for measurement runs only", "listen", ln.Addr().String())
	return nil
}

// pprofHostOK reports whether host (of SIGNET_PPROF's host:port) may serve
// profiles: a loopback address as policy.IsLoopbackHost defines it, written as
// an address. A name, localhost included, is refused: the listener would bind
// whatever the resolver says it is.
func pprofHostOK(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil && policy.IsLoopbackHost(host)
}
