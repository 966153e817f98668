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

// client is what RedirectRegistered is asked of a registered client.
type client struct {
	ID           string
	Public       bool
	RedirectURIs []string
}

// TestRedirectRegistered is the matching of a presented redirect_uri against a
// client's registration: exact, but for a public (native) client's loopback http
// URI, whose port may differ (RFC 8252, section 7.3).
func TestRedirectRegistered(t *testing.T) {
	t.Parallel()
	native := &client{ID: "native", Public: true, RedirectURIs: []string{
		"http://[::1]/cb", "http://[::1]:8080/v6port", "http://127.0.0.1/cb4", "http://localhost/lh",
		"http://[::1]/q?app=1", "http://[0:0:0:0:0:0:0:1]/long", "com.example.app:/oauth",
	}}
	confidential := &client{ID: "web", RedirectURIs: []string{
		"https://app.example/cb", "http://[::1]/cb", "http://127.0.0.1:9000/cb",
	}}
	for _, tc := range []struct {
		name   string
		client *client
		uri    string
		want   bool
	}{
		{"[::1] as registered", native, "http://[::1]/cb", true},
		{"[::1] any port", native, "http://[::1]:54321/cb", true},
		{"[::1] port 1", native, "http://[::1]:1/cb", true},
		{"[::1] port 65535", native, "http://[::1]:65535/cb", true},
		{"[::1] registered with a port, no port", native, "http://[::1]/v6port", true},
		{"[::1] registered with a port, other port", native, "http://[::1]:9/v6port", true},
		{"127.0.0.1 any port", native, "http://127.0.0.1:54321/cb4", true},
		{"localhost any port", native, "http://localhost:54321/lh", true},
		{"[::1] any port with the registered query", native, "http://[::1]:5/q?app=1", true},
		{"private-use scheme exact", native, "com.example.app:/oauth", true},

		{"[::1] wrong path", native, "http://[::1]:54321/cbx", false},
		{"[::1] path prefix", native, "http://[::1]:54321/c", false},
		{"[::1] trailing slash", native, "http://[::1]:54321/cb/", false},
		{"[::1] path case", native, "http://[::1]:54321/CB", false},
		{"[::1] encoded path", native, "http://[::1]:54321/c%62", false},
		{"[::1] added query", native, "http://[::1]:54321/cb?x=1", false},
		{"[::1] empty query", native, "http://[::1]:54321/cb?", false},
		{"[::1] other query", native, "http://[::1]:5/q?app=2", false},
		{"[::1] https", native, "https://[::1]:54321/cb", false},
		{"[::1] scheme case", native, "HTTP://[::1]:54321/cb", false},
		{"[::1] for [0:0:0:0:0:0:0:1]", native, "http://[::1]:54321/long", false},
		{"[0:0:0:0:0:0:0:1] for [::1]", native, "http://[0:0:0:0:0:0:0:1]:54321/cb", false},
		{"[0:0:0:0:0:0:0:1] as registered", native, "http://[0:0:0:0:0:0:0:1]:5/long", true},
		{"127.0.0.1 for [::1]", native, "http://127.0.0.1:54321/cb", false},
		{"[::1] for 127.0.0.1", native, "http://[::1]:54321/cb4", false},
		{"localhost for [::1]", native, "http://localhost:54321/cb", false},
		{"LOCALHOST for localhost", native, "http://LOCALHOST:54321/lh", false},
		{"IPv4-mapped for 127.0.0.1", native, "http://[::ffff:127.0.0.1]:54321/cb4", false},
		{"[::1] with a zone", native, "http://[::1%25lo]:54321/cb", false},
		{"[::1] without brackets", native, "http://::1:54321/cb", false},
		{"[::1] user info", native, "http://user@[::1]:54321/cb", false},
		{"[::1] user info hiding the host", native, "http://[::1]:54321@evil.example/cb", false},
		{"[::1] fragment", native, "http://[::1]:54321/cb#f", false},
		{"[::1] empty fragment", native, "http://[::1]/cb#", false},
		{"[::1] port 0", native, "http://[::1]:0/cb", false},
		{"[::1] port 65536", native, "http://[::1]:65536/cb", false},
		{"[::1] port with a leading zero", native, "http://[::1]:08080/cb", false},
		{"[::1] empty port", native, "http://[::1]:/cb", false},
		{"[::1] non-numeric port", native, "http://[::1]:http/cb", false},
		{"127.0.0.1 encoded host", native, "http://%31%32%37.0.0.1:5/cb4", false},
		{"empty", native, "", false},

		{"confidential exact", confidential, "https://app.example/cb", true},
		{"confidential [::1] exact", confidential, "http://[::1]/cb", true},
		{"confidential [::1] other port", confidential, "http://[::1]:54321/cb", false},
		{"confidential 127.0.0.1 exact", confidential, "http://127.0.0.1:9000/cb", true},
		{"confidential 127.0.0.1 other port", confidential, "http://127.0.0.1:9001/cb", false},
		{"confidential 127.0.0.1 no port", confidential, "http://127.0.0.1/cb", false},
		{"confidential fragment", confidential, "https://app.example/cb#f", false},
	} {
		if got := RedirectRegistered(tc.client.RedirectURIs, tc.client.Public, tc.uri); got != tc.want {
			t.Errorf("%s: RedirectRegistered(%s, %q) = %v, want %v", tc.name, tc.client.ID, tc.uri, got, tc.want)
		}
	}
}

// TestCheckRedirectURILoopback: http is registered for exactly the hosts that
// the authorization endpoint treats as loopback (IsLoopbackHost), so a native
// app can register http://[::1]/cb and use any port with it.
func TestCheckRedirectURILoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"http://[::1]/cb", true},
		{"http://[::1]:8080/cb", true},
		{"http://[0:0:0:0:0:0:0:1]/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://127.8.9.10:9/cb", true},
		{"http://localhost/cb", true},
		{"http://[::1%25lo]/cb", false},
		{"http://[::2]/cb", false},
		{"http://127.1/cb", false},
		{"http://0177.0.0.1/cb", false},
		{"http://0.0.0.0/cb", false},
		{"http://localhost./cb", false},
	} {
		for _, public := range []bool{true, false} {
			err := CheckRedirectURI(tc.uri, public)
			if tc.ok && err != nil {
				t.Errorf("CheckRedirectURI(%q, public=%v) = %v, want nil", tc.uri, public, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("CheckRedirectURI(%q, public=%v) = nil, want an error", tc.uri, public)
			}
		}
	}
}
