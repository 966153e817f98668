package main

import (
	"runtime/debug"
	"testing"
)

// serve raises the collector's target unless GOGC chooses one.
func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	t.Setenv("GOGC", "")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("GC percent with GOGC unset = %d, want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // as the runtime read it at start
	setGCPercent()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Fatalf("GC percent with GOGC=150 = %d, want 150 kept", got)
	}
}
