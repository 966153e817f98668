package main

import "testing"

// TestPprofHostOK pins which SIGNET_PPROF hosts serve profiles: the loopback
// addresses of policy.IsLoopbackHost, written as addresses (as net.ParseIP
// took them before), never a name.
func TestPprofHostOK(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1":        true,
		"127.0.0.2":        true,
		"::1":              true,
		"::ffff:127.0.0.1": true,
		"localhost":        false,
		"":                 false,
		"0.0.0.0":          false,
		"::":               false,
		"10.0.0.1":         false,
		"::1%lo":           false,
		"0127.0.0.1":       false,
	} {
		if got := pprofHostOK(host); got != want {
			t.Errorf("pprofHostOK(%q) = %v, want %v", host, got, want)
		}
	}
}
