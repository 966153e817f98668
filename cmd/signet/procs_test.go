package main

import (
	"runtime"
	"testing"
)

// serve gives bbolt's syncs a P of their own unless GOMAXPROCS chooses, and
// leaves the count alone for PostgreSQL; again and again, it stays one more.
func TestSetProcs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })

	t.Setenv("GOMAXPROCS", "")
	cfg := &Config{}
	setProcs(cfg)
	setProcs(cfg)
	if got := runtime.GOMAXPROCS(0); got != defaultProcs+1 {
		t.Fatalf("GOMAXPROCS with bbolt = %d, want %d (one more than the %d CPUs)", got, defaultProcs+1, defaultProcs)
	}

	runtime.GOMAXPROCS(defaultProcs)
	cfg.Storage.Type = "postgres"
	setProcs(cfg)
	if got := runtime.GOMAXPROCS(0); got != defaultProcs {
		t.Fatalf("GOMAXPROCS with PostgreSQL = %d, want %d", got, defaultProcs)
	}

	cfg.Storage.Type = ""
	t.Setenv("GOMAXPROCS", "1")
	setProcs(cfg)
	if got := runtime.GOMAXPROCS(0); got != defaultProcs {
		t.Fatalf("GOMAXPROCS=1 in the environment: GOMAXPROCS = %d, want it left at %d", got, defaultProcs)
	}
}
