package main

import (
	"strings"
	"testing"
)

func TestIssuerBasePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		issuer, base, problem string
	}{
		{"https://id.example.com", "", ""},
		{"https://example.com/auth", "/auth", ""},
		{"https://example.com/a/b-c_d.e~f", "/a/b-c_d.e~f", ""},
		{"http://127.0.0.1:5556/auth", "/auth", ""},
		// http only to a loopback host, as policy.IsLoopbackHost says: an IPv6
		// zone is not one (before issue 13 config's own copy accepted it).
		{"http://localhost:5556", "", ""},
		{"http://[::1]:5556", "", ""},
		{"http://[::ffff:127.0.0.1]:5556", "", ""},
		{"http://[::1%25lo]:5556", "", "must use https"},
		{"http://10.0.0.1:5556", "", "must use https"},
		{"https://[::1%25lo]:5556", "", ""},
		{"https://example.com/a%2Fb", "", "percent-encoded"},
		{"https://example.com/%61uth", "", "percent-encoded"},
		{"https://example.com/a//b", "", "segment"},
		{"https://example.com/a/./b", "", "segment"},
		{"https://example.com/a/../b", "", "segment"},
		{"https://example.com/a:b", "", "segment"},
		{"https://example.com/a@b", "", "segment"},
		{"https://example.com/caf%C3%A9", "", "segment"},
	} {
		problem := issuerProblem(tc.issuer)
		if (problem == "") != (tc.problem == "") || !strings.Contains(problem, tc.problem) {
			t.Errorf("issuerProblem(%q) = %q, want one about %q", tc.issuer, problem, tc.problem)
		}
		if problem == "" {
			if got := issuerBasePath(tc.issuer); got != tc.base {
				t.Errorf("issuerBasePath(%q) = %q, want %q", tc.issuer, got, tc.base)
			}
		}
	}
}
