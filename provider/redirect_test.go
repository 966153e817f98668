package provider

import (
	"testing"

	"github.com/signet-idp/signet/storage"
)

// TestRedirectRegistered is the matching of a presented redirect_uri against a
// client's registration: exact, but for a public (native) client's loopback http
// URI, whose port may differ (RFC 8252, section 7.3).
func TestRedirectRegistered(t *testing.T) {
	t.Parallel()
	native := &storage.Client{ID: "native", Public: true, RedirectURIs: []string{
		"http://[::1]/cb", "http://[::1]:8080/v6port", "http://127.0.0.1/cb4", "http://localhost/lh",
		"http://[::1]/q?app=1", "http://[0:0:0:0:0:0:0:1]/long", "com.example.app:/oauth",
	}}
	confidential := &storage.Client{ID: "web", RedirectURIs: []string{
		"https://app.example/cb", "http://[::1]/cb", "http://127.0.0.1:9000/cb",
	}}
	for _, tc := range []struct {
		name   string
		client *storage.Client
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
		if got := redirectRegistered(tc.client, tc.uri); got != tc.want {
			t.Errorf("%s: redirectRegistered(%s, %q) = %v, want %v", tc.name, tc.client.ID, tc.uri, got, tc.want)
		}
	}
}
