package main

// Attacks on the real wiring (startIssuer: newServer on httptest, a bbolt file,
// the real login pages), the way RFC 9700 and OWASP describe them. Each table row
// performs one attack and asserts the defence. A row with a knownDefect that still
// fails is skipped with "KNOWN DEFECT": the fix is outside these tests (see the
// message), and the row passes by itself once it lands.

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
)

// failOrKnown fails the test with the message; defect names the defect the row
// once found (fixed since), for the reader.
func failOrKnown(t *testing.T, defect, format string, args ...any) {
	t.Helper()
	if defect != "" {
		format += " (regression: " + strings.ReplaceAll(defect, "%", "%%") + ")"
	}
	t.Fatalf(format, args...)
}

// noRedirects is a client that returns the first response as it is.
func noRedirects(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// firstResponse GETs u and returns the status, the Location and the body.
func firstResponse(t *testing.T, c *http.Client, u string) (int, string, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// authorizeURL builds an authorization request by hand, so that every parameter
// is exactly what the attacker chose.
func authorizeURL(issuer string, params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Add(params[i], params[i+1])
	}
	return issuer + "/authorize?" + q.Encode()
}

// TestAttackRedirectURITricks sends authorization requests whose redirect_uri is
// a near miss of a registered one. None may be redirected to, neither with a code
// nor with an error; the exact URIs, and for a public (native) client its loopback
// URI with another port (RFC 8252, section 7.3), are accepted.
func TestAttackRedirectURITricks(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	for _, in := range []admin.AddClientInput{
		{ID: "app", Name: "App", FirstParty: true, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:9/cb/app"}},
		{ID: "native", Name: "Native", FirstParty: true, Public: true, RedirectURIs: []string{"http://127.0.0.1:9/cb/native"}},
	} {
		if _, err := ti.srv.admin.AddClient(ti.Ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	const userinfoDefect = "a public client's loopback redirect_uri is matched on its parsed host and decoded path, " +
		"so user info, percent-encoded paths and ports outside 1-65535 pass (provider/policy RedirectRegistered); " +
		"RFC 9700 section 2.1 wants exact string matching except the port: refuse user info and bad ports, and compare " +
		"the string with the port removed to the registered one"
	challenge := signettest.PKCEChallenge(oauth2.GenerateVerifier())
	c := noRedirects(nil)
	for _, tc := range []struct {
		name, client, uri string
		allowed           bool
		knownDefect       string
	}{
		{"exact", "app", "https://app.example/cb", true, ""},
		{"exact loopback", "app", "http://127.0.0.1:9/cb/app", true, ""},
		{"trailing slash", "app", "https://app.example/cb/", false, ""},
		{"longer path", "app", "https://app.example/cb/evil", false, ""},
		{"prefix of the path", "app", "https://app.example/c", false, ""},
		{"path suffix", "app", "https://app.example/cbx", false, ""},
		{"added query", "app", "https://app.example/cb?next=https://evil.example", false, ""},
		{"fragment", "app", "https://app.example/cb#https://evil.example", false, ""},
		{"empty fragment", "app", "https://app.example/cb#", false, ""},
		{"explicit default port", "app", "https://app.example:443/cb", false, ""},
		{"other port", "app", "https://app.example:8443/cb", false, ""},
		{"http downgrade", "app", "http://app.example/cb", false, ""},
		{"scheme case", "app", "HTTPS://app.example/cb", false, ""},
		{"host case", "app", "https://APP.example/cb", false, ""},
		{"path case", "app", "https://app.example/CB", false, ""},
		{"trailing dot host", "app", "https://app.example./cb", false, ""},
		{"user info", "app", "https://user@app.example/cb", false, ""},
		{"user info hiding the host", "app", "https://app.example@evil.example/cb", false, ""},
		{"subdomain of the attacker", "app", "https://app.example.evil.example/cb", false, ""},
		{"backslash", "app", `https://app.example\@evil.example/cb`, false, ""},
		{"scheme relative", "app", "//app.example/cb", false, ""},
		{"dot segments", "app", "https://app.example/x/../cb", false, ""},
		{"encoded path", "app", "https://app.example/%63b", false, ""},
		{"encoded slash traversal", "app", "https://app.example/cb%2F..%2F..%2Fevil", false, ""},
		{"double encoded", "app", "https%3A%2F%2Fapp.example%2Fcb", false, ""},
		{"leading space", "app", " https://app.example/cb", false, ""},
		{"trailing tab", "app", "https://app.example/cb\t", false, ""},
		{"NUL", "app", "https://app.example/cb\x00", false, ""},
		{"homoglyph host", "app", "https://аpp.example/cb", false, ""},
		{"registered URI in the query", "app", "https://evil.example/?https://app.example/cb", false, ""},
		{"other port, confidential loopback", "app", "http://127.0.0.1:10/cb/app", false, ""},
		{"no port, confidential loopback", "app", "http://127.0.0.1/cb/app", false, ""},
		{"another client's URI", "app", "http://127.0.0.1:9/cb/native", false, ""},

		{"native exact", "native", "http://127.0.0.1:9/cb/native", true, ""},
		{"native other port (RFC 8252)", "native", "http://127.0.0.1:4711/cb/native", true, ""},
		{"native no port", "native", "http://127.0.0.1/cb/native", true, ""},
		{"native localhost for 127.0.0.1", "native", "http://localhost:4711/cb/native", false, ""},
		{"native other loopback address", "native", "http://127.0.0.2:4711/cb/native", false, ""},
		{"native IPv6 for IPv4", "native", "http://[::1]:4711/cb/native", false, ""},
		{"native https", "native", "https://127.0.0.1:4711/cb/native", false, ""},
		{"native longer path", "native", "http://127.0.0.1:4711/cb/native/x", false, ""},
		{"native path case", "native", "http://127.0.0.1:4711/CB/native", false, ""},
		{"native added query", "native", "http://127.0.0.1:4711/cb/native?x=1", false, ""},
		{"native fragment", "native", "http://127.0.0.1:4711/cb/native#f", false, ""},
		{"native port hiding the host", "native", "http://127.0.0.1:4711@evil.example/cb/native", false, ""},
		{"native invalid port", "native", "http://127.0.0.1:99999/cb/native", false, userinfoDefect},
		{"native user info", "native", "http://evil@127.0.0.1:4711/cb/native", false, userinfoDefect},
		{"native encoded path", "native", "http://127.0.0.1:4711/cb/%6Eative", false, userinfoDefect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, responseType := range []string{"code", "token"} {
				u := authorizeURL(ti.URL, "client_id", tc.client, "redirect_uri", tc.uri, "response_type", responseType,
					"scope", "openid", "state", "st", "code_challenge", challenge, "code_challenge_method", "S256")
				status, loc, body := firstResponse(t, c, u)
				if tc.allowed {
					want := "/login?"
					if responseType == "token" {
						want = tc.uri + "?"
					}
					if status != http.StatusFound || !strings.HasPrefix(loc, want) {
						t.Fatalf("response_type=%s: got %d %q, want a redirect to %s", responseType, status, loc, want)
					}
					continue
				}
				if loc != "" || status != http.StatusBadRequest {
					failOrKnown(t, tc.knownDefect, "response_type=%s: %q was answered %d with Location %q, want an error page", responseType, tc.uri, status, loc)
				}
				if strings.Contains(body, "evil.example") {
					t.Errorf("the error page repeats the attacker's URI")
				}
			}
		})
	}
}

// TestAttackLoginCSRF posts the login form the way another site could make a
// browser do it. Every such post is refused and signs nobody in; the legitimate
// post still works afterwards.
func TestAttackLoginCSRF(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	b := signettest.NewBrowser(t)
	u, ap := app.AuthURL()
	page := b.Get(u)
	if !strings.Contains(page.Body, `name="password"`) {
		t.Fatalf("no login form: %d %s", page.Status, page.URL)
	}
	hidden := url.Values{}
	for _, m := range signettest.InputRE.FindAllStringSubmatch(page.Body, -1) {
		hidden.Set(m[1], html.UnescapeString(m[2]))
	}
	const bindingDefect = "the login form token is bound only to the auth request (web/web.go formToken), not to the " +
		"browser: a browser that sends neither Origin nor Sec-Fetch-Site accepts a login form an attacker fetched " +
		"(login CSRF); issue 7 item 4 asks for a token bound to the session and auth request, e.g. the pending cookie " +
		"the second factor already uses"
	post := func(c *http.Client, form url.Values, headers map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ti.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	creds := func(f url.Values) url.Values {
		out := url.Values{}
		for k, v := range f {
			out[k] = v
		}
		out.Set("username", "alice")
		out.Set("password", "correct horse battery")
		return out
	}
	without := func(key string) url.Values {
		f := creds(hidden)
		f.Del(key)
		return f
	}
	otherRequest := func() url.Values {
		u2, _ := app.AuthURL()
		p2 := signettest.NewBrowser(t).Get(u2)
		f := url.Values{}
		for _, m := range signettest.InputRE.FindAllStringSubmatch(p2.Body, -1) {
			f.Set(m[1], html.UnescapeString(m[2]))
		}
		f.Set("auth_request_id", hidden.Get("auth_request_id"))
		return creds(f)
	}
	// A login form the attacker fetched for a sign-in of their own.
	attackerForm := func() url.Values {
		u2, _ := app.AuthURL()
		p2 := signettest.NewBrowser(t).Get(u2)
		f := url.Values{}
		for _, m := range signettest.InputRE.FindAllStringSubmatch(p2.Body, -1) {
			f.Set(m[1], html.UnescapeString(m[2]))
		}
		f.Set("username", "alice")
		f.Set("password", "correct horse battery")
		return f
	}
	for _, tc := range []struct {
		name        string
		form        url.Values
		headers     map[string]string
		ownCookies  bool // the victim's own browser (its cookies) or a fresh one
		knownDefect string
	}{
		{"cross-site fetch metadata", creds(hidden), map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, true, ""},
		{"same-site sibling", creds(hidden), map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://evil.127.0.0.1.nip.io"}, true, ""},
		{"foreign Origin only (no fetch metadata)", creds(hidden), map[string]string{"Origin": "https://evil.example"}, true, ""},
		{"other loopback port", creds(hidden), map[string]string{"Origin": "http://127.0.0.1:1"}, true, ""},
		{"null Origin (sandboxed frame)", creds(hidden), map[string]string{"Origin": "null"}, true, ""},
		{"no form token", without("csrf_token"), map[string]string{"Sec-Fetch-Site": "same-origin"}, true, ""},
		{"no auth request id", without("auth_request_id"), map[string]string{"Sec-Fetch-Site": "same-origin"}, true, ""},
		{"form token of another request", otherRequest(), map[string]string{"Sec-Fetch-Site": "same-origin"}, true, ""},
		{"attacker's form posted by another browser without Origin or fetch metadata", attackerForm(), nil, false, bindingDefect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jar := b.Client.Jar
			if !tc.ownCookies {
				jar = signettest.NewBrowser(t).Client.Jar
			}
			resp := post(noRedirects(jar), tc.form, tc.headers)
			signedIn := false
			for _, c := range resp.Cookies() {
				if strings.HasSuffix(c.Name, "signet_session") && c.Value != "" && c.MaxAge >= 0 {
					signedIn = true
				}
			}
			if signedIn || resp.StatusCode/100 == 3 {
				failOrKnown(t, tc.knownDefect, "forged login post: %d, Location %q, session cookie %v", resp.StatusCode, resp.Header.Get("Location"), signedIn)
			}
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
				failOrKnown(t, tc.knownDefect, "forged login post: %d, want 403", resp.StatusCode)
			}
		})
	}
	// The real form, from the real page, still signs in.
	app.CodeFrom(b.Login(page, "alice", "correct horse battery"), ap)
}

// unusualValues are states and nonces a client may legitimately send.
var unusualValues = []string{
	"plain",
	"with spaces and +plus+ signs",
	"&code=forged&iss=https://evil.example",
	"%41%42 stays percent-encoded",
	"=?#/\\'\"<>`;",
	"<script>alert(1)</script>",
	"ünïcödé ✓ 署名 🔏",
	"line\nbreak\ttab",
	strings.Repeat("long-", 400),
}

// TestAttackStateAndNoncePassThrough checks that state and nonce come back exactly
// as sent, in the redirect (with iss), in error redirects, and in the ID token.
func TestAttackStateAndNoncePassThrough(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	b := signettest.NewBrowser(t)
	app.SignIn(b) // a session: the requests below complete without the form
	for i, v := range unusualValues {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			state, nonce := v, "n:"+v
			p := b.Get(app.OAuth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
			q := p.URL.Query()
			if p.URL.Host != "127.0.0.1:9" || q.Get("code") == "" {
				t.Fatalf("no code: %d %s", p.Status, p.URL)
			}
			if got := q["state"]; len(got) != 1 || got[0] != state {
				t.Errorf("state = %q, want %q", got, state)
			}
			if q.Get("iss") != ti.URL {
				t.Errorf("iss = %q, want %q", q.Get("iss"), ti.URL)
			}
			tok, err := app.OAuth.Exchange(ti.Ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			app.VerifyID(tok, nonce)

			// An error goes back with the same state.
			p = signettest.NewBrowser(t).Get(app.OAuth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
				oauth2.SetAuthURLParam("prompt", "none")))
			q = p.URL.Query()
			if q.Get("error") != "login_required" || len(q["state"]) != 1 || q.Get("state") != state || q.Get("iss") != ti.URL {
				t.Errorf("error redirect: %s", p.URL)
			}
		})
	}
}

// TestAttackAuthorizationResponseIssuer checks RFC 9207: every authorization
// response, success or error, carries iss, and discovery says so; a client can
// then tell Signet's responses from a mix-up attacker's.
func TestAttackAuthorizationResponseIssuer(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	b := signettest.NewBrowser(t)
	app.SignIn(b)

	resp, err := http.Get(ti.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["authorization_response_iss_parameter_supported"] != true || d["issuer"] != ti.URL {
		t.Errorf("discovery: iss parameter supported = %v, issuer %v", d["authorization_response_iss_parameter_supported"], d["issuer"])
	}

	const libraryDefect = "errors that zitadel's op.Authorize raises itself (an invalid id_token_hint, prompt=none " +
		"with other values) are redirected without iss; provider/authorize.go should verify id_token_hint and prompt " +
		"before calling op.Authorize (or add iss to the library's error redirects)"
	verifier := oauth2.GenerateVerifier()
	for _, tc := range []struct {
		name        string
		extra       []oauth2.AuthCodeOption
		fresh       bool // a browser without a session
		wantError   string
		knownDefect string
	}{
		{"success", nil, false, "", ""},
		{"login_required", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}, true, "login_required", ""},
		{"unsupported_response_type", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_type", "token")}, false, "unsupported_response_type", ""},
		{"invalid_scope", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("scope", "profile")}, false, "invalid_scope", ""},
		{"plain PKCE", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge_method", "plain")}, false, "invalid_request", ""},
		{"request object", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("request", "e30.e30.")}, false, "request_not_supported", ""},
		{"request_uri", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("request_uri", "https://evil.example/r")}, false, "request_uri_not_supported", ""},
		{"invalid id_token_hint", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("id_token_hint", "e30.e30.c2ln")}, false, "login_required", libraryDefect},
		{"prompt none with login", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none login")}, false, "invalid_request", libraryDefect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := b
			if tc.fresh {
				br = signettest.NewBrowser(t)
			}
			opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, tc.extra...)
			p := br.Get(app.OAuth.AuthCodeURL("st", opts...))
			q := p.URL.Query()
			if p.URL.Host != "127.0.0.1:9" {
				t.Fatalf("not returned to the client: %d %s", p.Status, p.URL)
			}
			if q.Get("error") != tc.wantError || (tc.wantError == "" && q.Get("code") == "") {
				t.Errorf("error = %q, want %q: %s", q.Get("error"), tc.wantError, p.URL)
			}
			if tc.wantError != "" && q.Get("error_description") == "" {
				t.Errorf("error without a description: %s", p.URL)
			}
			if q.Get("state") != "st" {
				t.Errorf("state = %q", q.Get("state"))
			}
			if q.Get("iss") != ti.URL {
				failOrKnown(t, tc.knownDefect, "iss = %q, want %q: %s", q.Get("iss"), ti.URL, p.URL)
			}
		})
	}
}

// tokenPost posts form to the token endpoint with Basic credentials (none when id
// is empty) and returns the status and the decoded answer.
func tokenPost(t *testing.T, issuer, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestAttackPKCEDowngrade: a code issued with a challenge cannot be redeemed
// without its verifier (or with the challenge itself, as if it were plain), one
// issued without a challenge cannot be redeemed with a verifier, and the
// authorization endpoint refuses plain and challenge-less public requests.
func TestAttackPKCEDowngrade(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	native := ti.addClient(admin.AddClientInput{ID: "native", FirstParty: true, Public: true})
	b := signettest.NewBrowser(t)
	app.SignIn(b)
	codeWith := func(r *signettest.RP, opts ...oauth2.AuthCodeOption) string {
		t.Helper()
		p := b.Get(r.OAuth.AuthCodeURL("st", opts...))
		c := p.URL.Query().Get("code")
		if c == "" {
			t.Fatalf("no code: %s", p.URL)
		}
		return c
	}
	verifier := oauth2.GenerateVerifier()
	challenge := signettest.PKCEChallenge(verifier)
	redeem := func(r *signettest.RP, code string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.OAuth.RedirectURL}}
		for k, v := range extra {
			form[k] = v
		}
		if r.OAuth.ClientSecret == "" {
			form.Set("client_id", r.OAuth.ClientID)
			return tokenPost(t, ti.URL, "", "", form)
		}
		return tokenPost(t, ti.URL, r.OAuth.ClientID, r.OAuth.ClientSecret, form)
	}
	for _, tc := range []struct {
		name   string
		client *signettest.RP
		auth   []oauth2.AuthCodeOption
		token  url.Values
	}{
		{"challenge, no verifier", app, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, nil},
		{"challenge, wrong verifier", app, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, url.Values{"code_verifier": {oauth2.GenerateVerifier()}}},
		{"challenge, the challenge as verifier (plain)", app, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, url.Values{"code_verifier": {challenge}}},
		{"challenge, empty verifier", app, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, url.Values{"code_verifier": {""}}},
		{"no challenge, a verifier", app, nil, url.Values{"code_verifier": {verifier}}},
		{"public client, no verifier", native, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, nil},
		{"public client, wrong verifier", native, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, url.Values{"code_verifier": {oauth2.GenerateVerifier()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := codeWith(tc.client, tc.auth...)
			status, m := redeem(tc.client, code, tc.token)
			if status == http.StatusOK || m["access_token"] != nil {
				t.Fatalf("redeemed: %d %v", status, m)
			}
			if status != http.StatusBadRequest || (m["error"] != "invalid_grant" && m["error"] != "invalid_request") {
				t.Errorf("got %d %v, want 400 invalid_grant or invalid_request", status, m)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		client *signettest.RP
		opts   []oauth2.AuthCodeOption
	}{
		{"plain method", app, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "plain")}},
		{"no method (plain by default)", app, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", challenge)}},
		{"method without challenge", app, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge_method", "S256")}},
		{"short challenge", app, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "S256")}},
		{"public client without PKCE", native, nil},
	} {
		t.Run("authorize/"+tc.name, func(t *testing.T) {
			p := b.Get(tc.client.OAuth.AuthCodeURL("st", tc.opts...))
			if q := p.URL.Query(); q.Get("code") != "" || q.Get("error") != "invalid_request" {
				t.Errorf("got %s, want error=invalid_request", p.URL)
			}
		})
	}
}

// TestAttackCodeBinding: a code works only for the client it was issued to, with
// the redirect URI it was issued for.
func TestAttackCodeBinding(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true, RedirectURIs: []string{ti.RPBase + "/app", ti.RPBase + "/app2"}})
	other := ti.addClient(admin.AddClientInput{ID: "other", FirstParty: true})
	native := ti.addClient(admin.AddClientInput{ID: "native", FirstParty: true, Public: true})
	b := signettest.NewBrowser(t)
	app.SignIn(b)
	for _, tc := range []struct {
		name                 string
		id, secret, redirect string
		extra                url.Values
	}{
		{"another confidential client", "other", other.OAuth.ClientSecret, app.OAuth.RedirectURL, nil},
		{"another client with its own redirect", "other", other.OAuth.ClientSecret, other.OAuth.RedirectURL, nil},
		{"a public client", "", "", app.OAuth.RedirectURL, url.Values{"client_id": {"native"}}},
		{"the public client's redirect", "", "", native.OAuth.RedirectURL, url.Values{"client_id": {"native"}}},
		{"another registered redirect of the same client", "app", app.OAuth.ClientSecret, ti.RPBase + "/app2", nil},
		{"no redirect_uri", "app", app.OAuth.ClientSecret, "", nil},
		{"right client, wrong secret", "app", "wrong", app.OAuth.RedirectURL, nil},
		{"client_id in the form contradicting Basic", "other", other.OAuth.ClientSecret, app.OAuth.RedirectURL, url.Values{"client_id": {"app"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ap := app.SignIn(b)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {ap.Verifier}}
			if tc.redirect != "" {
				form.Set("redirect_uri", tc.redirect)
			}
			for k, v := range tc.extra {
				form[k] = v
			}
			status, m := tokenPost(t, ti.URL, tc.id, tc.secret, form)
			if status == http.StatusOK || m["access_token"] != nil {
				t.Fatalf("redeemed by the attacker: %d %v", status, m)
			}
			if status != http.StatusBadRequest && status != http.StatusUnauthorized {
				t.Errorf("status %d %v, want 400 or 401", status, m)
			}
		})
	}
}

// TestAttackRequestObjectRefused: request and request_uri are not supported and
// are refused with a clear error at the client (or on a page, when the redirect
// URI is not registered), never silently ignored.
func TestAttackRequestObjectRefused(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	c := noRedirects(nil)
	jwt := "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwuZXhhbXBsZS9jYiJ9."
	for _, tc := range []struct {
		name, param, value, redirect, wantError string
	}{
		{"request", "request", jwt, app.OAuth.RedirectURL, "request_not_supported"},
		{"request_uri", "request_uri", "https://evil.example/request.jwt", app.OAuth.RedirectURL, "request_uri_not_supported"},
		{"request_uri urn (PAR)", "request_uri", "urn:ietf:params:oauth:request_uri:abc", app.OAuth.RedirectURL, "request_uri_not_supported"},
		{"request with an unregistered redirect", "request", jwt, "https://evil.example/cb", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := authorizeURL(ti.URL, "client_id", "app", "redirect_uri", tc.redirect, "response_type", "code",
				"scope", "openid", "state", "st", tc.param, tc.value)
			status, loc, _ := firstResponse(t, c, u)
			if tc.wantError == "" {
				if loc != "" || status != http.StatusBadRequest {
					t.Fatalf("got %d %q, want an error page", status, loc)
				}
				return
			}
			lu, err := url.Parse(loc)
			if err != nil || !strings.HasPrefix(loc, tc.redirect+"?") {
				t.Fatalf("got %d %q, want a redirect to the client", status, loc)
			}
			q := lu.Query()
			if q.Get("error") != tc.wantError || q.Get("error_description") == "" || q.Get("state") != "st" || q.Get("iss") != ti.URL || q.Get("code") != "" {
				t.Errorf("got %q", loc)
			}
		})
	}
	resp, err := http.Get(ti.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["request_parameter_supported"] == true || d["request_uri_parameter_supported"] == true {
		t.Errorf("discovery advertises request objects: %v %v", d["request_parameter_supported"], d["request_uri_parameter_supported"])
	}
}

// TestAttackRefreshTokenBinding: a refresh token works only for its client; the
// attempts of others neither get tokens nor spend it.
func TestAttackRefreshTokenBinding(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	other := ti.addClient(admin.AddClientInput{ID: "other", FirstParty: true})
	ti.addClient(admin.AddClientInput{ID: "native", FirstParty: true, Public: true})
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	rt := tok.RefreshToken
	const noClientDefect = "a refresh_token grant naming no client (or an unknown one) is answered 500 server_error " +
		"with the storage error's text: provider/opstorage.go GetClientByClientID returns storage.ErrNotFound, which " +
		"zitadel's AuthorizeRefreshClient passes on unwrapped; return oidc.ErrInvalidClient() there"
	for _, tc := range []struct {
		name, id, secret string
		extra            url.Values
		knownDefect      string
	}{
		{"another confidential client", "other", other.OAuth.ClientSecret, nil, ""},
		{"a public client", "", "", url.Values{"client_id": {"native"}}, ""},
		{"the right client id, a wrong secret", "app", "wrong", nil, ""},
		{"the client id in the form, no secret", "", "", url.Values{"client_id": {"app"}}, ""},
		{"no client at all", "", "", nil, noClientDefect},
		{"an unknown client", "", "", url.Values{"client_id": {"ghost"}}, noClientDefect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			for k, v := range tc.extra {
				form[k] = v
			}
			status, m := tokenPost(t, ti.URL, tc.id, tc.secret, form)
			if status == http.StatusOK || m["access_token"] != nil {
				t.Fatalf("refreshed by the attacker: %d %v", status, m)
			}
			if status != http.StatusBadRequest && status != http.StatusUnauthorized {
				failOrKnown(t, tc.knownDefect, "status %d %v, want 400 or 401", status, m)
			}
		})
	}
	// The token is still good for its client.
	if _, err := app.Refresh(rt); err != nil {
		t.Fatalf("the attacks spent the refresh token: %v", err)
	}
}

// TestAttackReplay replays codes and refresh tokens, one after the other and all
// at once: one use succeeds, every replay fails with invalid_grant, and a replay
// revokes what the first use issued.
func TestAttackReplay(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", FirstParty: true})
	b := signettest.NewBrowser(t)

	t.Run("code, sequential", func(t *testing.T) {
		code, ap := app.SignIn(b)
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := app.Exchange(code, ap); signettest.OAuthErrorCode(err) != "invalid_grant" {
				t.Fatalf("replay: %v", err)
			}
		}
		if app.Introspect(tok.AccessToken) {
			t.Errorf("the first use's access token is still active")
		}
		if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("the first use's refresh token still works: %v", err)
		}
	})
	concurrently := func(n int, fn func() error) (ok int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				if fn() == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		return ok
	}
	t.Run("code, concurrent", func(t *testing.T) {
		code, ap := app.SignIn(b)
		if ok := concurrently(12, func() error { _, err := app.Exchange(code, ap); return err }); ok != 1 {
			t.Fatalf("%d of 12 concurrent exchanges succeeded, want 1", ok)
		}
	})
	t.Run("refresh, sequential", func(t *testing.T) {
		code, ap := app.SignIn(b)
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		next, err := app.Refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Fatalf("replayed refresh token: %v", err)
		}
		if _, err := app.Refresh(next.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("the successor survived the replay: %v", err)
		}
		if app.Introspect(next.AccessToken) {
			t.Errorf("the successor's access token survived the replay")
		}
	})
	t.Run("refresh, concurrent", func(t *testing.T) {
		code, ap := app.SignIn(b)
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []string
		ok := concurrently(12, func() error {
			n, err := app.Refresh(tok.RefreshToken)
			if err == nil {
				mu.Lock()
				got = append(got, n.RefreshToken)
				mu.Unlock()
			}
			return err
		})
		if ok != 1 {
			t.Fatalf("%d of 12 concurrent rotations succeeded, want 1", ok)
		}
		// The others were replays: the family, with the winner's token, is revoked.
		if _, err := app.Refresh(got[0]); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("the winner's token survived the concurrent replays: %v", err)
		}
	})
}

// loginTimingKinds are the failed sign-ins an attacker probing for usernames can
// make. The first, an existing user with a wrong password, pays for one real
// argon2id verification: the others are compared with it.
var loginTimingKinds = []string{"wrong password", "unknown user", "disabled user", "locked user"}

// loginTiming is the rig of the login timing test and benchmark: the real wiring
// with the default argon2id parameters, one authorization request's login form,
// and accounts for every kind of failure, made as needed.
type loginTiming struct {
	tb   testing.TB
	srv  *server
	ctx  context.Context
	url  string
	form url.Values // the login form's hidden fields
	jar  http.CookieJar
	// hash is "the right password" hashed once, with the server's parameters,
	// for every account: hashing it for each would cost as much as the
	// attempts it makes possible.
	hash string
	// perAccount is how many failures an existing account takes without
	// locking, so that "wrong password" and "disabled user" stay what they say.
	perAccount int
	accounts   map[string]bool
	addr       int
}

func newLoginTiming(tb testing.TB) *loginTiming {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(tb.TempDir(), "data")
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	// The pages log every failure through the server's logger: discard it, to
	// keep the output to the figures. The clock stands still, so the locked
	// account stays locked however long the measurement takes.
	s, err := newServer(ctx, cfg, clocktest.New(time.Now()).Now, withLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.handler}}
	ts.Start()
	tb.Cleanup(func() { ts.Close(); s.store.Close() })
	lt := &loginTiming{tb: tb, srv: s, ctx: ctx, url: cfg.Issuer, perAccount: cfg.Throttle.AccountFailures - 1, accounts: map[string]bool{}}
	if lt.hash, err = newHasher(cfg).Hash(ctx, "the right password"); err != nil {
		tb.Fatal(err)
	}

	const redirect = "http://127.0.0.1:9/cb"
	c, err := s.admin.AddClient(ctx, admin.AddClientInput{ID: "app", Name: "App", RedirectURIs: []string{redirect}, FirstParty: true})
	if err != nil {
		tb.Fatal(err)
	}
	lt.jar, _ = cookiejar.New(nil)
	browser := &http.Client{Jar: lt.jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "127.0.0.1:9" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {signettest.RandHex()}, "nonce": {signettest.RandHex()}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
	}
	resp, err := browser.Get(lt.url + "/authorize?" + q.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lt.form = url.Values{}
	for _, m := range signettest.InputRE.FindAllStringSubmatch(string(body), -1) {
		lt.form.Set(m[1], html.UnescapeString(m[2]))
	}
	if resp.StatusCode != http.StatusOK || len(lt.form) == 0 {
		tb.Fatalf("login page: %d, hidden fields %v", resp.StatusCode, lt.form)
	}

	// Lock "locked" before measuring; the failures also warm up argon2's memory
	// (the first hashes pay for page faults).
	lt.account("locked", false)
	for range cfg.Throttle.AccountFailures {
		lt.attempt("locked", "a wrong password")
	}
	return lt
}

// account creates the user name (with "the right password") unless it exists,
// and returns the name.
func (lt *loginTiming) account(name string, disabled bool) string {
	if lt.accounts[name] {
		return name
	}
	now := time.Now().UTC()
	u := &storage.User{ID: "id-" + name, Username: name, Email: name + "@example.com", PasswordHash: lt.hash, Disabled: disabled, CreatedAt: now, UpdatedAt: now}
	if err := lt.srv.store.CreateUser(lt.ctx, u); err != nil {
		lt.tb.Fatal(err)
	}
	lt.accounts[name] = true
	return name
}

// creds returns the username and password of the i-th attempt of kind.
func (lt *loginTiming) creds(kind string, i int) (string, string) {
	switch kind {
	case "wrong password":
		return lt.account(fmt.Sprintf("user%d", i/lt.perAccount), false), "a wrong password"
	case "unknown user":
		return fmt.Sprintf("nobody%d", i), "a wrong password"
	case "disabled user":
		return lt.account(fmt.Sprintf("off%d", i/lt.perAccount), true), "the right password"
	case "locked user":
		return "locked", "a wrong password"
	}
	panic(kind)
}

// post posts the login form with username, password and csrf token from a
// loopback address and connection of its own (so per-address limits and
// keep-alive favour no kind), and returns how long the answer took, its status
// and its body.
func (lt *loginTiming) post(username, pw, token string) (time.Duration, int, string) {
	lt.tb.Helper()
	lt.addr++
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+lt.addr/250), byte(1+lt.addr%250))}}
	c := noRedirects(lt.jar)
	c.Transport = &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}
	f := url.Values{}
	for k, v := range lt.form {
		f[k] = v
	}
	f.Set("username", username)
	f.Set("password", pw)
	f.Set("csrf_token", token)
	req, _ := http.NewRequest(http.MethodPost, lt.url+"/login", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", lt.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		lt.tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode, string(body)
}

// attempt signs in as username with pw, checks that it failed with the generic
// answer, and returns how long it took.
func (lt *loginTiming) attempt(username, pw string) time.Duration {
	lt.tb.Helper()
	d, status, body := lt.post(username, pw, lt.form.Get("csrf_token"))
	if status != http.StatusUnauthorized || !strings.Contains(body, "The username or password is incorrect.") {
		lt.tb.Fatalf("%q: %d, want 401 with the generic message", username, status)
	}
	return d
}

// unhashed posts the form with a wrong csrf token, which is refused before any
// password is looked at: the time of a sign-in that skips the hash.
func (lt *loginTiming) unhashed() time.Duration {
	lt.tb.Helper()
	d, status, _ := lt.post("nobody", "a wrong password", "not the token")
	if status != http.StatusForbidden {
		lt.tb.Fatalf("wrong csrf token: %d, want 403", status)
	}
	return d
}

// round makes the i-th attempt of every kind and one unhashed request, in
// random order so that a slow spell of the machine falls on no kind in
// particular, and returns their times (the unhashed one last).
func (lt *loginTiming) round(i int) []time.Duration {
	lt.tb.Helper()
	creds := make([][2]string, len(loginTimingKinds))
	for j, kind := range loginTimingKinds {
		creds[j][0], creds[j][1] = lt.creds(kind, i)
	}
	out := make([]time.Duration, len(creds)+1)
	for _, j := range rand.Perm(len(out)) {
		if j < len(creds) {
			out[j] = lt.attempt(creds[j][0], creds[j][1])
		} else {
			out[j] = lt.unhashed()
		}
	}
	return out
}

// loginTimingFigures are the statistics of rounds: hash is the median over
// rounds of "wrong password" minus the unhashed request, what one argon2id
// verification adds to a sign-in (and what a skipped one would save); diff[j]
// is the median over rounds of kind j minus "wrong password" in the same round
// (diff[0] is 0).
func loginTimingFigures(rounds [][]time.Duration) (hash time.Duration, diff []time.Duration) {
	kinds := len(loginTimingKinds)
	d := make([]time.Duration, len(rounds))
	for i, r := range rounds {
		d[i] = r[0] - r[kinds]
	}
	hash = medianDuration(d)
	diff = make([]time.Duration, kinds)
	for j := 1; j < kinds; j++ {
		for i, r := range rounds {
			d[i] = r[j] - r[0]
		}
		diff[j] = medianDuration(d)
	}
	return hash, diff
}

// medianDuration returns the median of s, which it sorts.
func medianDuration(s []time.Duration) time.Duration {
	slices.Sort(s)
	n := len(s)
	return (s[(n-1)/2] + s[n/2]) / 2
}

// BenchmarkLoginTimingEnumeration is the strict measurement behind the test, for
// a quiet machine: rounds as in the test, reporting the ratio of the slowest
// kind's median time to the fastest's ("ratio", 1 when alike), the largest median
// paired difference from "wrong password" in hashes ("diff/hash", about 1 if a
// kind skipped the hash) and what one hash adds to a sign-in ("hash-ms"). A round
// costs four hashes; the figures use at least 10 rounds, more with -benchtime 40x.
func BenchmarkLoginTimingEnumeration(b *testing.B) {
	lt := newLoginTiming(b)
	var rounds [][]time.Duration
	for b.Loop() {
		rounds = append(rounds, lt.round(len(rounds)))
	}
	// A round or two (the default -benchtime) say nothing: top up, untimed.
	for len(rounds) < 10 {
		rounds = append(rounds, lt.round(len(rounds)))
	}
	lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
	for j := range loginTimingKinds {
		times := make([]time.Duration, len(rounds))
		for i, r := range rounds {
			times[i] = r[j]
		}
		m := medianDuration(times)
		lo, hi = min(lo, m), max(hi, m)
	}
	hash, diff := loginTimingFigures(rounds)
	worst := time.Duration(0)
	for _, d := range diff {
		worst = max(worst, d, -d)
	}
	b.ReportMetric(float64(hi)/float64(lo), "ratio")
	b.ReportMetric(float64(worst)/float64(hash), "diff/hash")
	b.ReportMetric(float64(hash)/float64(time.Millisecond), "hash-ms")
}
