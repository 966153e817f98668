package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
	"github.com/signet-idp/signet/web"
)

// testIssuer is the real wiring on httptest with a bbolt file in t.TempDir().
type testIssuer struct {
	t      *testing.T
	URL    string
	srv    *server
	clock  *clocktest.Clock
	ctx    context.Context
	rpBase string
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
	ti := serveIssuerOn(t, ln, cfg)
	if _, err := ti.srv.admin.AddUser(ti.ctx, admin.AddUserInput{Username: "alice", Email: "alice@example.com", Name: "Alice Example", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	return ti
}

// serveIssuerOn runs the real wiring for cfg on ln until the test ends.
func serveIssuerOn(t *testing.T, ln net.Listener, cfg *Config) *testIssuer {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := newServer(ctx, cfg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.handler}}
	ts.Start()
	t.Cleanup(func() { ts.Close(); s.store.Close() })
	return &testIssuer{t: t, URL: cfg.Issuer, srv: s, clock: clk, ctx: oidc.ClientContext(ctx, ts.Client()), rpBase: "http://127.0.0.1:9/cb"}
}

// rp is a relying party built from go-oidc and x/oauth2.
type rp struct {
	ti       *testIssuer
	oauth    oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// addClient registers a first-party client (no consent page), so that tests of
// other features need not click through consent; addThirdParty registers one
// that asks.
func (ti *testIssuer) addClient(in admin.AddClientInput) *rp {
	ti.t.Helper()
	in.FirstParty = true
	return ti.addThirdParty(in)
}

func (ti *testIssuer) addThirdParty(in admin.AddClientInput) *rp {
	ti.t.Helper()
	if len(in.RedirectURIs) == 0 {
		in.RedirectURIs = []string{ti.rpBase + "/" + in.ID}
	}
	if in.Name == "" {
		in.Name = "App " + in.ID
	}
	created, err := ti.srv.admin.AddClient(ti.ctx, in)
	if err != nil {
		ti.t.Fatal(err)
	}
	p, err := oidc.NewProvider(ti.ctx, ti.URL)
	if err != nil {
		ti.t.Fatal(err)
	}
	return &rp{
		ti: ti,
		oauth: oauth2.Config{
			ClientID: created.ClientID, ClientSecret: created.ClientSecret,
			Endpoint: p.Endpoint(), RedirectURL: in.RedirectURIs[0],
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
		},
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: created.ClientID, Now: ti.clock.Now}),
	}
}

// browser is a cookie jar that stops at the relying party's redirect URI.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == "127.0.0.1:9" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

type page struct {
	status int
	url    *url.URL
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	u := resp.Request.URL
	if loc, err := resp.Location(); err == nil {
		u = loc
	}
	return page{status: resp.StatusCode, url: u, body: string(body), header: resp.Header}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

var (
	inputRE    = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	checkboxRE = regexp.MustCompile(`<input[^>]*type="checkbox"[^>]*name="([^"]+)"[^>]*value="([^"]*)"[^>]*>`)
)

// submit posts the page's form (its hidden inputs plus fields), as a browser would.
func (b *browser) submit(p page, action string, fields url.Values) page {
	b.t.Helper()
	form := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	// Checked, enabled checkboxes are submitted as a browser would.
	for _, m := range checkboxRE.FindAllStringSubmatch(p.body, -1) {
		if strings.Contains(m[0], " checked") && !strings.Contains(m[0], " disabled") {
			form.Add(m[1], html.UnescapeString(m[2]))
		}
	}
	for k, v := range fields {
		form[k] = v
	}
	target := p.url.ResolveReference(&url.URL{Path: action})
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", target.Scheme+"://"+target.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

func (b *browser) login(p page, user, pw string) page {
	return b.submit(p, "/login", url.Values{"username": {user}, "password": {pw}})
}

type authParams struct {
	state, nonce, verifier string
	opts                   []oauth2.AuthCodeOption
}

func (r *rp) authURL(extra ...oauth2.AuthCodeOption) (string, authParams) {
	ap := authParams{state: randHex(), nonce: randHex(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(ap.verifier), oidc.Nonce(ap.nonce)}, extra...)
	return r.oauth.AuthCodeURL(ap.state, opts...), ap
}

func randHex() string {
	v := oauth2.GenerateVerifier()
	return v[:20]
}

// signIn runs the browser part of the flow and returns the code.
func (r *rp) signIn(b *browser, extra ...oauth2.AuthCodeOption) (string, authParams) {
	r.ti.t.Helper()
	u, ap := r.authURL(extra...)
	p := b.get(u)
	if strings.Contains(p.url.Path, "/login") {
		if p.status != http.StatusOK || !strings.Contains(p.body, `name="password"`) {
			r.ti.t.Fatalf("login page: %d %s", p.status, p.body)
		}
		p = b.login(p, "alice", "correct horse battery")
	}
	return r.codeFrom(p, ap), ap
}

func (r *rp) codeFrom(p page, ap authParams) string {
	r.ti.t.Helper()
	q := p.url.Query()
	if p.url.Host != "127.0.0.1:9" || q.Get("code") == "" {
		r.ti.t.Fatalf("expected a redirect to the RP with a code, got %d %s: %s", p.status, p.url, p.body)
	}
	if q.Get("state") != ap.state {
		r.ti.t.Fatalf("state = %q, want %q", q.Get("state"), ap.state)
	}
	if q.Get("iss") != r.ti.URL {
		r.ti.t.Fatalf("iss = %q, want %q", q.Get("iss"), r.ti.URL)
	}
	return q.Get("code")
}

func (r *rp) exchange(code string, ap authParams) (*oauth2.Token, error) {
	return r.oauth.Exchange(r.ti.ctx, code, oauth2.VerifierOption(ap.verifier))
}

func (r *rp) verifyID(tok *oauth2.Token, nonce string) *oidc.IDToken {
	r.ti.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ti.ctx, raw)
	if err != nil {
		r.ti.t.Fatalf("verify id token: %v", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		r.ti.t.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	return idt
}

func (r *rp) userinfo(access string) (*oidc.UserInfo, error) {
	return r.provider.UserInfo(r.ti.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"}))
}

func (r *rp) refresh(refreshToken string) (*oauth2.Token, error) {
	return r.oauth.TokenSource(r.ti.ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// postForm posts an authenticated form to an endpoint and decodes the JSON answer.
func (r *rp) postForm(path string, form url.Values) (int, map[string]any) {
	r.ti.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.ti.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.oauth.ClientID), url.QueryEscape(r.oauth.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.ti.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (r *rp) introspect(token string) bool {
	r.ti.t.Helper()
	_, m := r.postForm("/oauth/introspect", url.Values{"token": {token}})
	active, _ := m["active"].(bool)
	return active
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if ok := asRetrieveError(err, &re); ok {
		return re.ErrorCode
	}
	return ""
}

func asRetrieveError(err error, target **oauth2.RetrieveError) bool {
	re, ok := err.(*oauth2.RetrieveError)
	if ok {
		*target = re
	}
	return ok
}

// jwtParts decodes a compact JWS header and payload without verifying.
func jwtParts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

func TestEndToEndCodeFlow(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)

	code, ap := app.signIn(b)
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if cc := tok.Extra("scope"); cc == nil {
		t.Errorf("token response has no scope")
	}
	idt := app.verifyID(tok, ap.nonce)
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
	if h, _ := jwtParts(t, tok.Extra("id_token").(string)); h["alg"] != "RS256" {
		t.Errorf("id token alg = %v, want RS256", h["alg"])
	}

	// The access token is an RFC 9068 JWT that verifies with the published keys.
	h, at := jwtParts(t, tok.AccessToken)
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
	atVerifier := app.provider.VerifierContext(ti.ctx, &oidc.Config{SkipClientIDCheck: true, Now: ti.clock.Now})
	if _, err := atVerifier.Verify(ti.ctx, tok.AccessToken); err != nil {
		t.Errorf("access token does not verify with the JWKS: %v", err)
	}
	// And it is not accepted as an ID token by the RP (audience differs).
	if _, err := app.verifier.Verify(ti.ctx, tok.AccessToken); err == nil {
		t.Errorf("access token passed as an ID token")
	}

	ui, err := app.userinfo(tok.AccessToken)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if ui.Subject != claims.Sub || ui.Email != "alice@example.com" {
		t.Errorf("userinfo = %+v", ui)
	}
	if !app.introspect(tok.AccessToken) {
		t.Errorf("fresh access token inactive")
	}

	// Refresh rotates; the rotated token presented again kills the family.
	rt1 := tok.RefreshToken
	if rt1 == "" {
		t.Fatal("no refresh token for offline_access")
	}
	tok2, err := app.refresh(rt1)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == rt1 {
		t.Fatalf("refresh token not rotated")
	}
	app.verifyID(tok2, "")
	if _, err := app.refresh(rt1); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: err = %v, want invalid_grant", err)
	}
	if _, err := app.refresh(tok2.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("successor after reuse: err = %v, want invalid_grant (family revoked)", err)
	}
	if _, err := app.userinfo(tok2.AccessToken); err == nil {
		t.Errorf("access token of a revoked family still accepted by userinfo")
	}

	// Code replay fails and revokes what the code issued.
	if _, err := app.exchange(code, ap); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("code replay: err = %v", err)
	}
	if _, err := app.userinfo(tok.AccessToken); err == nil {
		t.Errorf("access token of a replayed code still accepted")
	}
	if app.introspect(tok.AccessToken) {
		t.Errorf("access token of a replayed code still active")
	}
}

func TestCodeExchangeConcurrentOnce(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.signIn(newBrowser(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := app.exchange(code, ap); err == nil {
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
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	pub := ti.addClient(admin.AddClientInput{ID: "native", Public: true})
	b := newBrowser(t)

	t.Run("plain refused", func(t *testing.T) {
		u := app.oauth.AuthCodeURL("s1", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"))
		p := b.get(u)
		if p.url.Host != "127.0.0.1:9" || p.url.Query().Get("error") != "invalid_request" {
			t.Fatalf("plain PKCE: got %d %s", p.status, p.url)
		}
	})
	t.Run("public client without PKCE refused", func(t *testing.T) {
		p := b.get(pub.oauth.AuthCodeURL("s2"))
		if p.url.Query().Get("error") != "invalid_request" {
			t.Fatalf("public without PKCE: got %d %s", p.status, p.url)
		}
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code, _ := app.signIn(b)
		_, err := app.oauth.Exchange(ti.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("wrong verifier: %v", err)
		}
	})
	t.Run("missing verifier (downgrade)", func(t *testing.T) {
		code, _ := app.signIn(b)
		if _, err := app.oauth.Exchange(ti.ctx, code); oauthErrorCode(err) == "" {
			t.Fatalf("missing verifier accepted: %v", err)
		}
	})
	t.Run("verifier without challenge", func(t *testing.T) {
		ap := authParams{state: "s3"}
		p := b.get(app.oauth.AuthCodeURL(ap.state))
		code := app.codeFrom(p, ap)
		if _, err := app.oauth.Exchange(ti.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); oauthErrorCode(err) == "" {
			t.Fatalf("verifier for a code without challenge accepted: %v", err)
		}
	})
	t.Run("public client with PKCE", func(t *testing.T) {
		code, ap := pub.signIn(b)
		tok, err := pub.exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		pub.verifyID(tok, ap.nonce)
	})
}

func TestRevocation(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	code, ap := app.signIn(b)
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := app.postForm("/revoke", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); st != http.StatusOK {
		t.Fatalf("revoke access token: %d", st)
	}
	if _, err := app.userinfo(tok.AccessToken); err == nil {
		t.Errorf("revoked access token accepted by userinfo")
	}
	if app.introspect(tok.AccessToken) {
		t.Errorf("revoked access token active")
	}
	if st, _ := app.postForm("/revoke", url.Values{"token": {tok.RefreshToken}}); st != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", st)
	}
	if _, err := app.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("revoked refresh token: %v", err)
	}
	if st, _ := app.postForm("/revoke", url.Values{"token": {"not-a-token"}}); st != http.StatusOK {
		t.Errorf("unknown token revocation: %d, want 200", st)
	}
}

func TestSSOAndPrompt(t *testing.T) {
	ti := startIssuer(t)
	one := ti.addClient(admin.AddClientInput{ID: "one"})
	two := ti.addClient(admin.AddClientInput{ID: "two", IDTokenAlg: "ES256"})
	b := newBrowser(t)
	code, ap := one.signIn(b)
	tok1, err := one.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	id1 := one.verifyID(tok1, ap.nonce)

	// A second app signs in without a password.
	u, ap2 := two.authURL()
	p := b.get(u)
	code2 := two.codeFrom(p, ap2)
	tok2, err := two.exchange(code2, ap2)
	if err != nil {
		t.Fatal(err)
	}
	id2 := two.verifyID(tok2, ap2.nonce)
	if id2.Subject != id1.Subject {
		t.Errorf("SSO subject differs")
	}
	if h, _ := jwtParts(t, tok2.Extra("id_token").(string)); h["alg"] != "ES256" {
		t.Errorf("ES256 client got alg %v", h["alg"])
	}

	// prompt=none with a session succeeds silently.
	u, ap3 := one.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	one.codeFrom(b.get(u), ap3)

	// prompt=login shows the form despite the session.
	u, _ = one.authURL(oauth2.SetAuthURLParam("prompt", "login"))
	if p := b.get(u); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("prompt=login did not show the form: %s", p.url)
	}

	// max_age: an old sign-in must be renewed.
	ti.clock.Advance(2 * time.Minute)
	u, _ = one.authURL(oauth2.SetAuthURLParam("max_age", "60"))
	if p := b.get(u); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("max_age exceeded did not show the form: %s", p.url)
	}

	// prompt=none without a session: login_required, back at the RP.
	u, ap4 := one.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	p = newBrowser(t).get(u)
	if p.url.Host != "127.0.0.1:9" || p.url.Query().Get("error") != "login_required" || p.url.Query().Get("state") != ap4.state {
		t.Errorf("prompt=none without session: %s", p.url)
	}
}

func TestLoginFailuresAreGeneric(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	u, _ := app.authURL()
	p := b.get(u)
	wrong := b.login(p, "alice", "wrong password")
	unknown := b.login(p, "nobody", "wrong password")
	if wrong.status != unknown.status || wrong.status != http.StatusUnauthorized {
		t.Errorf("statuses: wrong=%d unknown=%d", wrong.status, unknown.status)
	}
	if !strings.Contains(wrong.body, "The username or password is incorrect.") || !strings.Contains(unknown.body, "The username or password is incorrect.") {
		t.Errorf("missing generic message")
	}

	// A cross-site post is refused.
	form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
	for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	req, _ := http.NewRequest(http.MethodPost, ti.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if p := b.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site login post: %d", p.status)
	}

	// A login form fetched by another browser cannot be posted from this one.
	if p := newBrowser(t).login(p, "alice", "correct horse battery"); p.status != http.StatusForbidden {
		t.Errorf("login form posted from another browser: %d", p.status)
	}

	// A form token for another auth request is refused.
	u2, _ := app.authURL()
	p2 := b.get(u2)
	bad := b.submit(p2, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"},
		"csrf_token": {inputRE.FindAllStringSubmatch(p.body, -1)[1][2]}})
	if bad.status != http.StatusForbidden {
		t.Errorf("form token of another request: %d", bad.status)
	}
}

func TestAuthorizeErrorsNeverRedirectUnregistered(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	for name, u := range map[string]string{
		"unknown client":        ti.URL + "/authorize?client_id=nope&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape(app.oauth.RedirectURL),
		"unregistered redirect": app.oauth.AuthCodeURL("s") + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb"),
		"redirect prefix":       strings.Replace(app.oauth.AuthCodeURL("s"), url.QueryEscape(app.oauth.RedirectURL), url.QueryEscape(app.oauth.RedirectURL+"/x"), 1),
		"missing client_id":     ti.URL + "/authorize?response_type=code",
		"oversized":             ti.URL + "/authorize?client_id=app&x=" + strings.Repeat("a", 9000),
	} {
		t.Run(name, func(t *testing.T) {
			p := b.get(u)
			if p.status < 400 || p.url.Host == "127.0.0.1:9" || p.url.Host == "evil.example" {
				t.Fatalf("got %d at %s", p.status, p.url)
			}
			if !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("error page content type %q", p.header.Get("Content-Type"))
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	code, ap := app.signIn(b)
	ti.clock.Advance(2 * time.Minute) // past the authorization code lifetime
	if _, err := app.exchange(code, ap); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("expired code: %v", err)
	}
	u, _ := app.authURL()
	b2 := newBrowser(t)
	p := b2.get(u)
	ti.clock.Advance(11 * time.Minute) // past the auth request lifetime
	if p2 := b2.login(p, "alice", "correct horse battery"); p2.status != http.StatusBadRequest || p2.url.Host == "127.0.0.1:9" {
		t.Fatalf("expired auth request: %d %s", p2.status, p2.url)
	}
}

func TestOpaqueAccessToken(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", AccessTokenFormat: "opaque"})
	code, ap := app.signIn(newBrowser(t))
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("opaque access token looks like a JWT")
	}
	if _, err := app.userinfo(tok.AccessToken); err != nil {
		t.Fatalf("userinfo with opaque token: %v", err)
	}
	if !app.introspect(tok.AccessToken) {
		t.Fatalf("opaque token inactive")
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
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
		"unknown code":      {url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {app.oauth.RedirectURL}}, "", 400, "invalid_grant"},
		"wrong secret":      {url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "wrong", 401, "invalid_client"},
		"oversized body":    {url.Values{"grant_type": {"authorization_code"}, "pad": {strings.Repeat("a", 70000)}}, "", 400, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			secret := app.oauth.ClientSecret
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

// pkceChallenge is S256 of a verifier, for hand-made requests.
func pkceChallenge(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

var _ = pkceChallenge
