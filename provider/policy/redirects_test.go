package policy

import "testing"

func TestRedirects(t *testing.T) {
	t.Parallel()
	if got, want := CallbackURL("/auth", "a b"), "/auth/authorize/callback?id=a+b"; got != want {
		t.Errorf("CallbackURL = %q, want %q", got, want)
	}
	if got, want := ErrorRedirectURL("https://id.test", "https://rp.test/cb?x=1", "s", "access_denied", ""), "https://rp.test/cb?x=1&error=access_denied&iss=https%3A%2F%2Fid.test&state=s"; got != want {
		t.Errorf("ErrorRedirectURL = %q, want %q", got, want)
	}
	reg := []string{"https://rp.test/out", "https://rp.test/bye?x=1"}
	for _, tc := range []struct{ uri, state, want string }{
		{"https://rp.test/out", "", "https://rp.test/out"},
		{"https://rp.test/out", "s 1", "https://rp.test/out?state=s+1"},
		{"https://rp.test/bye?x=1", "s", "https://rp.test/bye?x=1&state=s"},
		{"https://rp.test/out/", "s", ""},  // not exactly registered
		{"https://rp.test/out#f", "s", ""}, // a fragment
		{"", "s", ""},
	} {
		if got := PostLogoutRedirect(reg, tc.uri, tc.state); got != tc.want {
			t.Errorf("PostLogoutRedirect(%q, %q) = %q, want %q", tc.uri, tc.state, got, tc.want)
		}
	}
}
