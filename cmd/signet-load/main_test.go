package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRefusesRemoteAndBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"--issuer", "http://203.0.113.7:5556", "--scenarios", "jwks"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), "not a loopback address") {
		t.Errorf("remote target: rc %d, stderr %q", rc, errb.String())
	}
	errb.Reset()
	if rc := run([]string{"--no-such-flag"}, &out, &errb); rc != 2 {
		t.Errorf("unknown flag: rc %d", rc)
	}
	errb.Reset()
	if rc := run([]string{"--scenarios", "jwks,bogus"}, &out, &errb); rc != 1 || !strings.Contains(errb.String(), `unknown scenario "bogus"`) {
		t.Errorf("unknown scenario: rc %d, stderr %q", rc, errb.String())
	}
	for _, flag := range []string{"--concurrency=-1", "--duration=-5s", "--max-requests=-1", "--code-pool=-1", "--pid=-1", "--timeout=-1m", "--request-timeout=-1s"} {
		errb.Reset()
		name, val, _ := strings.Cut(flag, "=")
		rc := run([]string{flag, "--scenarios", "jwks"}, &out, &errb)
		if msg := errb.String(); rc != 2 || !strings.Contains(msg, name+" "+val) || !strings.Contains(msg, "must not be negative") || strings.Count(msg, "\n") != 1 {
			t.Errorf("%s: rc %d, stderr %q; want 2 and one line refusing it", flag, rc, msg)
		}
	}
}
