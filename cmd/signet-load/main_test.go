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
}
