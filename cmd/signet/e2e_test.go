package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/web"
)

// testIssuer is the real wiring on httptest with a bbolt file in t.TempDir():
// the harness's issuer plus the server, for what only the wiring knows (its
// admin service, its store).
type testIssuer struct {
	*signettest.Issuer
	srv *server
}

func testConfig(t *testing.T) *Config {
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Passwords.Argon2MemoryKiB = 8192
	cfg.Passwords.Argon2Iterations = 1
	cfg.Passwords.Argon2Parallelism = 1
	cfg.Scopes = []ScopeConfig{{Name: "calendar.read", Description: "See your calendar availability"}}
	return cfg
}

func startIssuer(t *testing.T, mutate ...func(*Config)) *testIssuer {
	t.Helper()
	return startIssuerOpts(t, nil, mutate...)
}

// startIssuerOpts is startIssuer with options for the wiring (a logger, say).
func startIssuerOpts(t *testing.T, opts []serverOption, mutate ...func(*Config)) *testIssuer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	for _, m := range mutate {
		m(cfg)
	}
	ti := serveIssuerOn(t, ln, cfg, opts...)
	if _, err := ti.srv.admin.AddUser(ti.Ctx, admin.AddUserInput{Username: signettest.User, Email: "alice@example.com", Name: "Alice Example", Password: signettest.Password}); err != nil {
		t.Fatal(err)
	}
	return ti
}

// serveIssuerOn runs the real wiring for cfg on ln until the test ends, logging
// to a logger of the test's own (opts may replace it).
func serveIssuerOn(t *testing.T, ln net.Listener, cfg *Config, opts ...serverOption) *testIssuer {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	seedKeys(t, cfg)
	opts = append([]serverOption{withLogger(signettest.Logger(t))}, opts...)
	var s *server
	iss := signettest.Start(t, ln, cfg.Issuer, func(ctx context.Context, now func() time.Time) (http.Handler, error) {
		var err error
		if s, err = newServer(ctx, cfg, now, opts...); err != nil {
			return nil, err
		}
		t.Cleanup(func() { s.store.Close() })
		return s.handler, nil
	})
	return &testIssuer{Issuer: iss, srv: s}
}

// keysTemplate is a data directory whose signing keys were generated once per
// test run. Generating the RSA keys is most of the CPU an issuer's start costs,
// and no test that starts on a fresh directory cares whose keys sign (those of
// key generation itself run the binary or set the keys up themselves).
var keysTemplate struct {
	once sync.Once
	dir  string
	err  error
}

// seedKeys gives a new embedded data directory the template's database (its
// signing keys) and the key-encryption key that opens them; the cookie key
// stays the directory's own. It leaves alone a directory that exists, a
// PostgreSQL configuration, and a key-encryption key from the environment.
func seedKeys(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.Storage.Postgres() || kekFromEnvironment() {
		return
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	keysTemplate.once.Do(func() {
		dir, err := signettest.RunDir()
		if err != nil {
			keysTemplate.err = err
			return
		}
		tc := DefaultConfig()
		tc.DataDir = filepath.Join(dir, "data")
		tc.Issuer, tc.Listen = "http://127.0.0.1:1", "127.0.0.1:1"
		s, err := newServer(context.Background(), tc, time.Now, withLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			keysTemplate.err = err
			return
		}
		keysTemplate.dir, keysTemplate.err = tc.DataDir, s.store.Close()
	})
	if keysTemplate.err != nil {
		t.Fatalf("keys template: %v", keysTemplate.err)
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dbFileName, KeyEncryptionKeyFile} {
		b, err := os.ReadFile(filepath.Join(keysTemplate.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.DataDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// addClient registers a first-party client (no consent page), so that tests of
// other features need not click through consent; addThirdParty registers one
// that asks.
func (ti *testIssuer) addClient(in admin.AddClientInput) *signettest.RP {
	ti.T.Helper()
	in.FirstParty = true
	return ti.addThirdParty(in)
}

func (ti *testIssuer) addThirdParty(in admin.AddClientInput) *signettest.RP {
	ti.T.Helper()
	if len(in.RedirectURIs) == 0 {
		in.RedirectURIs = []string{ti.RPBase + "/" + in.ID}
	}
	if in.Name == "" {
		in.Name = "App " + in.ID
	}
	created, err := ti.srv.admin.AddClient(ti.Ctx, in)
	if err != nil {
		ti.T.Fatal(err)
	}
	return signettest.NewRP(ti.Issuer, created.ClientID, created.ClientSecret, in.RedirectURIs[0])
}

func TestEndToEndCodeFlow(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)

	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if cc := tok.Extra("scope"); cc == nil {
		t.Errorf("token response has no scope")
	}
	idt := app.VerifyID(tok, ap.Nonce)
	var claims struct {
		Sub      string   `json:"sub"`
		AuthTime int64    `json:"auth_time"`
		SID      string   `json:"sid"`
		AMR      []string `json:"amr"`
		Email    string   `json:"email"`
		Name     string   `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Sub == "" || claims.Sub == "alice" || claims.AuthTime == 0 || claims.SID == "" {
		t.Errorf("id token claims: %+v", claims)
	}
	if len(claims.AMR) != 1 || claims.AMR[0] != "pwd" {
		t.Errorf("amr = %v", claims.AMR)
	}
	if h, _ := signettest.JWTParts(t, tok.Extra("id_token").(string)); h["alg"] != "RS256" {
		t.Errorf("id token alg = %v, want RS256", h["alg"])
	}

	// The access token is an RFC 9068 JWT that verifies with the published keys.
	h, at := signettest.JWTParts(t, tok.AccessToken)
	if h["typ"] != "at+jwt" {
		t.Errorf("access token typ = %v", h["typ"])
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := at[k]; !ok {
			t.Errorf("access token lacks %s: %v", k, at)
		}
	}
	if at["client_id"] != "app" || at["sub"] != claims.Sub || !strings.Contains(at["scope"].(string), "email") {
		t.Errorf("access token claims: %v", at)
	}
	atVerifier := app.Provider.VerifierContext(ti.Ctx, &oidc.Config{SkipClientIDCheck: true, Now: ti.Clock.Now})
	if _, err := atVerifier.Verify(ti.Ctx, tok.AccessToken); err != nil {
		t.Errorf("access token does not verify with the JWKS: %v", err)
	}
	// And it is not accepted as an ID token by the RP (audience differs).
	if _, err := app.Verifier.Verify(ti.Ctx, tok.AccessToken); err == nil {
		t.Errorf("access token passed as an ID token")
	}

	ui, err := app.UserInfo(tok.AccessToken)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != claims.Sub || ui.Email != "alice@example.com" {
		t.Errorf("userinfo = %+v", ui)
	}
	if !app.Introspect(tok.AccessToken) {
		t.Errorf("fresh access token inactive")
	}

	// Refresh rotates; the rotated token presented again kills the family.
	rt1 := tok.RefreshToken
	if rt1 == "" {
		t.Fatal("no refresh token for offline_access")
	}
	tok2, err := app.Refresh(rt1)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == rt1 {
		t.Fatalf("refresh token not rotated")
	}
	app.VerifyID(tok2, "")
	if _, err := app.Refresh(rt1); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: err = %v, want invalid_grant", err)
	}
	if _, err := app.Refresh(tok2.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("successor after reuse: err = %v, want invalid_grant (family revoked)", err)
	}
	if _, err := app.UserInfo(tok2.AccessToken); err == nil {
		t.Errorf("access token of a revoked family still accepted by userinfo")
	}

	// Code replay fails and revokes what the code issued.
	if _, err := app.Exchange(code, ap); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("code replay: err = %v", err)
	}
	if _, err := app.UserInfo(tok.AccessToken); err == nil {
		t.Errorf("access token of a replayed code still accepted")
	}
	if app.Introspect(tok.AccessToken) {
		t.Errorf("access token of a replayed code still active")
	}
}

func TestCodeExchangeConcurrentOnce(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.SignIn(signettest.NewBrowser(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := app.Exchange(code, ap); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d exchanges of one code succeeded, want 1", ok)
	}
}

func TestPKCE(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	pub := ti.addClient(admin.AddClientInput{ID: "native", Public: true})
	b := signettest.NewBrowser(t)

	t.Run("plain refused", func(t *testing.T) {
		u := app.OAuth.AuthCodeURL("s1", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"))
		p := b.Get(u)
		if p.URL.Host != "127.0.0.1:9" || p.URL.Query().Get("error") != "invalid_request" {
			t.Fatalf("plain PKCE: got %d %s", p.Status, p.URL)
		}
	})
	t.Run("public client without PKCE refused", func(t *testing.T) {
		p := b.Get(pub.OAuth.AuthCodeURL("s2"))
		if p.URL.Query().Get("error") != "invalid_request" {
			t.Fatalf("public without PKCE: got %d %s", p.Status, p.URL)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := app.SignIn(b)
		_, err := app.OAuth.Exchange(ti.Ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Fatalf("wrong verifier: %v", err)
		}
	})
	t.Run("missing verifier (downgrade)", func(t *testing.T) {
		code, _ := app.SignIn(b)
		if _, err := app.OAuth.Exchange(ti.Ctx, code); signettest.OAuthErrorCode(err) == "" {
			t.Fatalf("missing verifier accepted: %v", err)
		}
	})
	t.Run("verifier without challenge", func(t *testing.T) {
		ap := signettest.AuthParams{State: "s3"}
		p := b.Get(app.OAuth.AuthCodeURL(ap.State))
		code := app.CodeFrom(p, ap)
		if _, err := app.OAuth.Exchange(ti.Ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); signettest.OAuthErrorCode(err) == "" {
			t.Fatalf("verifier for a code without challenge accepted: %v", err)
		}
	})
	t.Run("public client with PKCE", func(t *testing.T) {
		code, ap := pub.SignIn(b)
		tok, err := pub.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		pub.VerifyID(tok, ap.Nonce)
	})
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := app.PostForm("/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); st != http.StatusOK {
		t.Fatalf("revoke access token: %d", st)
	}
	if _, err := app.UserInfo(tok.AccessToken); err == nil {
		t.Errorf("revoked access token accepted by userinfo")
	}
	if app.Introspect(tok.AccessToken) {
		t.Errorf("revoked access token active")
	}
	if st, _ := app.PostForm("/revoke", url.Values{"token": {tok.RefreshToken}}); st != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", st)
	}
	if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("revoked refresh token: %v", err)
	}
	if st, _ := app.PostForm("/revoke", url.Values{"token": {"not-a-token"}}); st != http.StatusOK {
		t.Errorf("unknown token revocation: %d, want 200", st)
	}
}

func TestSSOAndPrompt(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	one := ti.addClient(admin.AddClientInput{ID: "one"})
	two := ti.addClient(admin.AddClientInput{ID: "two", IDTokenAlg: "ES256"})
	b := signettest.NewBrowser(t)
	code, ap := one.SignIn(b)
	tok1, err := one.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	id1 := one.VerifyID(tok1, ap.Nonce)

	// A second app signs in without a password.
	u, ap2 := two.AuthURL()
	p := b.Get(u)
	code2 := two.CodeFrom(p, ap2)
	tok2, err := two.Exchange(code2, ap2)
	if err != nil {
		t.Fatal(err)
	}
	id2 := two.VerifyID(tok2, ap2.Nonce)
	if id2.Subject != id1.Subject {
		t.Errorf("SSO subject differs")
	}
	if h, _ := signettest.JWTParts(t, tok2.Extra("id_token").(string)); h["alg"] != "ES256" {
		t.Errorf("ES256 client got alg %v", h["alg"])
	}

	// prompt=none with a session succeeds silently.
	u, ap3 := one.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	one.CodeFrom(b.Get(u), ap3)

	// prompt=login shows the form despite the session.
	u, _ = one.AuthURL(oauth2.SetAuthURLParam("prompt", "login"))
	if p := b.Get(u); !strings.Contains(p.Body, `name="password"`) {
		t.Errorf("prompt=login did not show the form: %s", p.URL)
	}

	// max_age: an old sign-in must be renewed.
	ti.Clock.Advance(2 * time.Minute)
	u, _ = one.AuthURL(oauth2.SetAuthURLParam("max_age", "60"))
	if p := b.Get(u); !strings.Contains(p.Body, `name="password"`) {
		t.Errorf("max_age exceeded did not show the form: %s", p.URL)
	}

	// prompt=none without a session: login_required, back at the RP.
	u, ap4 := one.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	p = signettest.NewBrowser(t).Get(u)
	if p.URL.Host != "127.0.0.1:9" || p.URL.Query().Get("error") != "login_required" || p.URL.Query().Get("state") != ap4.State {
		t.Errorf("prompt=none without session: %s", p.URL)
	}
}

func TestLoginFailuresAreGeneric(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	u, _ := app.AuthURL()
	p := b.Get(u)
	wrong := b.Login(p, "alice", "wrong password")
	unknown := b.Login(p, "nobody", "wrong password")
	if wrong.Status != unknown.Status || wrong.Status != http.StatusUnauthorized {
		t.Errorf("statuses: wrong=%d unknown=%d", wrong.Status, unknown.Status)
	}
	if !strings.Contains(wrong.Body, "The username or password is incorrect.") || !strings.Contains(unknown.Body, "The username or password is incorrect.") {
		t.Errorf("missing generic message")
	}

	// A cross-site post is refused.
	form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
	for _, m := range signettest.InputRE.FindAllStringSubmatch(p.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	req, _ := http.NewRequest(http.MethodPost, ti.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if p := b.Do(req); p.Status != http.StatusForbidden {
		t.Errorf("cross-site login post: %d", p.Status)
	}

	// A login form fetched by another browser cannot be posted from this one.
	if p := signettest.NewBrowser(t).Login(p, "alice", "correct horse battery"); p.Status != http.StatusForbidden {
		t.Errorf("login form posted from another browser: %d", p.Status)
	}

	// A form token for another auth request is refused.
	u2, _ := app.AuthURL()
	p2 := b.Get(u2)
	bad := b.Submit(p2, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"},
		"csrf_token": {signettest.InputRE.FindAllStringSubmatch(p.Body, -1)[1][2]}})
	if bad.Status != http.StatusForbidden {
		t.Errorf("form token of another request: %d", bad.Status)
	}
}

func TestAuthorizeErrorsNeverRedirectUnregistered(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	for name, u := range map[string]string{
		"unknown client":        ti.URL + "/authorize?client_id=nope&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape(app.OAuth.RedirectURL),
		"unregistered redirect": app.OAuth.AuthCodeURL("s") + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb"),
		"redirect prefix":       strings.Replace(app.OAuth.AuthCodeURL("s"), url.QueryEscape(app.OAuth.RedirectURL), url.QueryEscape(app.OAuth.RedirectURL+"/x"), 1),
		"missing client_id":     ti.URL + "/authorize?response_type=code",
		"oversized":             ti.URL + "/authorize?client_id=app&x=" + strings.Repeat("a", 9000),
	} {
		t.Run(name, func(t *testing.T) {
			p := b.Get(u)
			if p.Status < 400 || p.URL.Host == "127.0.0.1:9" || p.URL.Host == "evil.example" {
				t.Fatalf("got %d at %s", p.Status, p.URL)
			}
			if !strings.Contains(p.Header.Get("Content-Type"), "text/html") {
				t.Errorf("error page content type %q", p.Header.Get("Content-Type"))
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	ti.Clock.Advance(2 * time.Minute) // past the authorization code lifetime
	if _, err := app.Exchange(code, ap); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
	}
	u, _ := app.AuthURL()
	b2 := signettest.NewBrowser(t)
	p := b2.Get(u)
	ti.Clock.Advance(11 * time.Minute) // past the auth request lifetime
	if p2 := b2.Login(p, "alice", "correct horse battery"); p2.Status != http.StatusBadRequest || p2.URL.Host == "127.0.0.1:9" {
		t.Fatalf("expired auth request: %d %s", p2.Status, p2.URL)
	}
}

func TestOpaqueAccessToken(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", AccessTokenFormat: "opaque"})
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("opaque access token looks like a JWT")
	}
	if _, err := app.UserInfo(tok.AccessToken); err != nil {
		t.Fatalf("userinfo with opaque token: %v", err)
	}
	if !app.Introspect(tok.AccessToken) {
		t.Fatalf("opaque token inactive")
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	resp, err := http.Get(ti.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["issuer"] != ti.URL {
		t.Errorf("issuer = %v", d["issuer"])
	}
	check := func(key string, want ...string) {
		got := fmt.Sprint(d[key])
		if got != fmt.Sprint(want) {
			t.Errorf("%s = %s, want %v", key, got, want)
		}
	}
	// provider advertises, web serves: the two must name one path.
	if d["end_session_endpoint"] != ti.URL+web.PathEndSession {
		t.Errorf("end_session_endpoint = %v, want %s", d["end_session_endpoint"], ti.URL+web.PathEndSession)
	}
	check("response_types_supported", "code")
	check("code_challenge_methods_supported", "S256")
	check("id_token_signing_alg_values_supported", "RS256", "ES256")

	resp, err = http.Get(ti.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Errorf("JWKS headers: %v", resp.Header)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	algs := map[string]bool{}
	for _, k := range set.Keys {
		algs[k.Algorithm] = true
		if !k.IsPublic() {
			t.Errorf("private key material in JWKS: %s", k.KeyID)
		}
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if strings.Contains(string(body), private) {
			t.Errorf("JWKS contains %s", private)
		}
	}
	if !algs["RS256"] || !algs["ES256"] {
		t.Errorf("JWKS algs: %v", algs)
	}
	req, _ := http.NewRequest(http.MethodGet, ti.URL+"/keys", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, _ = http.Get(ti.URL + "/healthz")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz %d", resp.StatusCode)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	for name, tc := range map[string]struct {
		form   url.Values
		secret string
		status int
		code   string
	}{
		"unsupported grant": {url.Values{"grant_type": {"password"}}, "", 400, "unsupported_grant_type"},
		"missing grant":     {url.Values{}, "", 400, "invalid_request"},
		"unknown code":      {url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {app.OAuth.RedirectURL}}, "", 400, "invalid_grant"},
		"wrong secret":      {url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "wrong", 401, "invalid_client"},
		"oversized body":    {url.Values{"grant_type": {"authorization_code"}, "pad": {strings.Repeat("a", 70000)}}, "", 400, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			secret := app.OAuth.ClientSecret
			if tc.secret != "" {
				secret = tc.secret
			}
			req, _ := http.NewRequest(http.MethodPost, ti.URL+"/oauth/token", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("app", secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != tc.status || m["error"] != tc.code {
				t.Errorf("got %d %v, want %d %s", resp.StatusCode, m, tc.status, tc.code)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}
