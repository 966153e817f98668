package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/provider"
)

// TestLoopbackIPv6RedirectEndToEnd registers a public (native) client with
// `signet client add --public --redirect-uri http://[::1]/cb`, then runs the code
// flow on the real wiring with http://[::1]:54321/cb: the browser is sent there
// with a code (RFC 8252, section 7.3), and the code is exchanged with that URI.
// Another path on [::1], or another loopback host, still gets the error page.
func TestLoopbackIPv6RedirectEndToEnd(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	e.ok("", "client", "add", "--id", "native6", "--name", "Native v6", "--public", "--first-party",
		"--redirect-uri", "http://[::1]/cb")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.DataDir = e.dataDir
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	ti := serveIssuerOn(t, ln, cfg)
	if _, err := ti.srv.admin.AddUser(ti.Ctx, admin.AddUserInput{Username: "alice", Email: "alice@example.com", Name: "Alice Example", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}

	// The browser stops at the first redirect to [::1]: nothing listens there.
	jar, _ := cookiejar.New(nil)
	b := &signettest.Browser{T: t, Client: &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Hostname() == "::1" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
	authorize := func(redirectURI, state, verifier string) string {
		q := url.Values{
			"client_id": {"native6"}, "redirect_uri": {redirectURI}, "response_type": {"code"},
			"scope": {"openid profile"}, "state": {state}, "nonce": {"n-" + state},
			"code_challenge": {signettest.PKCEChallenge(verifier)}, "code_challenge_method": {"S256"},
		}
		return ti.URL + provider.PathAuthorize + "?" + q.Encode()
	}

	const redirectURI = "http://[::1]:54321/cb"
	verifier := oauth2.GenerateVerifier()
	p := b.Get(authorize(redirectURI, "st1", verifier))
	if !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("authorize with %s: got %d %s, want the login page: %s", redirectURI, p.Status, p.URL, p.Body)
	}
	p = b.Login(p, "alice", "correct horse battery")
	q := p.URL.Query()
	if p.URL.Scheme != "http" || p.URL.Host != "[::1]:54321" || p.URL.Path != "/cb" || q.Get("code") == "" {
		t.Fatalf("after login: got %d %s, want a redirect to %s with a code: %s", p.Status, p.URL, redirectURI, p.Body)
	}
	if q.Get("state") != "st1" || q.Get("iss") != ti.URL {
		t.Fatalf("redirect %s: want state st1 and iss %s", p.URL, ti.URL)
	}

	resp, err := http.PostForm(ti.URL+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirectURI},
		"client_id": {"native6"}, "code_verifier": {verifier},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || tok["id_token"] == nil || tok["access_token"] == nil {
		t.Fatalf("token exchange with %s: %d %v", redirectURI, resp.StatusCode, tok)
	}

	// Signed in now: a registered URI would go straight back with a code; these
	// near misses must get the error page and no redirect.
	for _, uri := range []string{
		"http://[::1]:54321/other",
		"http://127.0.0.1:54321/cb",
		"http://[0:0:0:0:0:0:0:1]:54321/cb",
		"https://[::1]:54321/cb",
		"http://user@[::1]:54321/cb",
	} {
		p := b.Get(authorize(uri, "st2", oauth2.GenerateVerifier()))
		if p.Status != http.StatusBadRequest || p.URL.Hostname() == "::1" || !strings.Contains(p.Body, "Unregistered redirect address") {
			t.Errorf("authorize with %s: got %d %s, want the unregistered-redirect error page", uri, p.Status, p.URL)
		}
	}
}
