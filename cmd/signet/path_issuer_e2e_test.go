package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/web"
)

// An issuer with a path (issue 16, item 3): everything Signet serves, links to,
// redirects to and scopes a cookie to lies under the path, and nothing is
// served outside it.

// startPathIssuer is startIssuer with the issuer http://127.0.0.1:PORT/auth; it
// returns the issuer, its path and its origin.
func startPathIssuer(t *testing.T) (*testIssuer, string, string) {
	t.Helper()
	ti := startIssuer(t, func(c *Config) { c.Issuer += "/auth" })
	base := issuerBasePath(ti.URL)
	if base != "/auth" {
		t.Fatalf("issuer %s: base path %q", ti.URL, base)
	}
	return ti, base, strings.TrimSuffix(ti.URL, base)
}

// hopRecorder sees every response a browser gets from Signet and reports any
// that points outside the issuer's path: a redirect, a cookie's path, a link,
// form action or image in a page, or a 404 (a route that is not there).
type hopRecorder struct {
	t      *testing.T
	host   string
	base   string
	next   http.RoundTripper
	mu     sync.Mutex
	hops   []string
	cookie []*http.Cookie
}

// watch makes b report through a new hopRecorder.
func watch(t *testing.T, b *signettest.Browser, issuer string) *hopRecorder {
	u, _ := url.Parse(issuer)
	rec := &hopRecorder{t: t, host: u.Host, base: u.Path, next: http.DefaultTransport}
	b.Client.Transport = rec
	return rec
}

var urlAttrRE = regexp.MustCompile(`\b(href|action|src)="([^"]*)"`)

func (h *hopRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err != nil || req.URL.Host != h.host {
		return resp, err
	}
	where := req.Method + " " + req.URL.Path
	h.mu.Lock()
	h.hops = append(h.hops, where+" -> "+resp.Status)
	h.cookie = append(h.cookie, resp.Cookies()...)
	h.mu.Unlock()
	if !h.under(req.URL.Path) {
		h.t.Errorf("%s: the browser was sent outside %s", where, h.base)
	}
	if resp.StatusCode == http.StatusNotFound {
		h.t.Errorf("%s: 404", where)
	}
	if loc, err := resp.Location(); err == nil && loc.Host == h.host && !h.under(loc.Path) {
		h.t.Errorf("%s: redirects to %s, outside %s", where, loc, h.base)
	}
	for _, c := range resp.Cookies() {
		if c.Path != h.base {
			h.t.Errorf("%s: cookie %s has path %q, want %q", where, c.Name, c.Path, h.base)
		}
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		for _, m := range urlAttrRE.FindAllStringSubmatch(string(body), -1) {
			ref := html.UnescapeString(m[2])
			if strings.HasPrefix(ref, "/") && !h.under(ref) {
				h.t.Errorf("%s: %s=%q outside %s", where, m[1], ref, h.base)
			}
		}
	}
	return resp, nil
}

func (h *hopRecorder) under(p string) bool { return strings.HasPrefix(p, h.base+"/") }

// formAction returns the action of the form with the given id in p, as a
// browser would post it.
func formAction(t *testing.T, p signettest.Page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<form[^>]*action="([^"]*)"[^>]*id="` + regexp.QuoteMeta(id) + `"`).FindStringSubmatch(p.Body)
	if m == nil {
		m = regexp.MustCompile(`<form[^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*action="([^"]*)"`).FindStringSubmatch(p.Body)
	}
	if m == nil {
		t.Fatalf("no form %q on %d %s:\n%.600s", id, p.Status, p.URL, p.Body)
	}
	return html.UnescapeString(m[1])
}

func TestPathIssuerEndToEnd(t *testing.T) {
	t.Parallel()
	ti, base, origin := startPathIssuer(t)

	// Discovery names the issuer with its path, and every endpoint under it.
	resp, err := http.Get(ti.URL + provider.PathDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d %v", resp.StatusCode, err)
	}
	if doc["issuer"] != ti.URL {
		t.Errorf("discovery issuer %v, want %s", doc["issuer"], ti.URL)
	}
	var endpoints []string
	for k, v := range doc {
		if strings.HasSuffix(k, "_endpoint") || k == "jwks_uri" {
			s, _ := v.(string)
			endpoints = append(endpoints, k)
			if !strings.HasPrefix(s, ti.URL+"/") {
				t.Errorf("discovery %s = %q, not under %s", k, s, ti.URL)
			}
			// Each endpoint is there (a GET may be refused, never unknown).
			if r, err := http.Get(s); err != nil || r.StatusCode == http.StatusNotFound {
				t.Errorf("%s %s: %v %v", k, s, err, r.Status)
			} else {
				r.Body.Close()
			}
		}
	}
	for _, want := range []string{"authorization_endpoint", "end_session_endpoint", "introspection_endpoint", "jwks_uri",
		"revocation_endpoint", "token_endpoint", "userinfo_endpoint"} {
		if !slices.Contains(endpoints, want) {
			t.Errorf("discovery has no %s: %v", want, endpoints)
		}
	}

	// Health under the path; nothing outside it, not even the root.
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/static/signet.css"} {
		if r, err := http.Get(ti.URL + p); err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("GET %s%s: %v %v", base, p, err, r.Status)
		} else {
			r.Body.Close()
		}
	}
	for _, p := range []string{"/", provider.PathDiscovery, provider.PathJWKS, "/login", "/healthz", "/static/signet.css", "/authx/login", base + "x"} {
		r, err := http.Get(origin + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s outside the issuer's path: %s, want 404", p, r.Status)
		}
		// Signet's own error page, its stylesheet under the path.
		if !strings.Contains(string(body), `href="`+base+`/static/signet.css"`) {
			t.Errorf("GET %s: not Signet's error page: %.200s", p, body)
		}
	}
	// The path alone, a subtree without its slash and an unclean path come
	// back under the path.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for p, loc := range map[string]string{base: base + "/", base + "/static": base + "/static/", base + "/x/../login": base + "/login"} {
		r, err := noFollow.Get(origin + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if got := r.Header.Get("Location"); r.StatusCode/100 != 3 || got != loc {
			t.Errorf("GET %s: %s Location %q, want a redirect to %s", p, r.Status, got, loc)
		}
	}

	// The account pages: sign in, enrol a second factor.
	acct := signettest.NewBrowser(t)
	watch(t, acct, ti.URL)
	p := acct.Get(ti.URL + web.PathAccountTOTP)
	if p.URL.Path != base+web.PathAccountLogin {
		t.Fatalf("account page without a session: %d %s", p.Status, p.URL)
	}
	p = acct.Submit(p, formAction(t, p, "login-form"), url.Values{"username": {"alice"}, "password": {alicePassword}})
	m := secretRE.FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || p.URL.Path != base+web.PathAccountTOTP || m == nil {
		t.Fatalf("enrolment page: %d %s\n%.600s", p.Status, p.URL, p.Body)
	}
	p = acct.Submit(p, formAction(t, p, "totp-enrol-form"), url.Values{"code": {ti.totpCode(m[1])}})
	if p.Status != http.StatusOK || !recoveryRE.MatchString(p.Body) {
		t.Fatalf("after the enrolment code: %d %s\n%.600s", p.Status, p.URL, p.Body)
	}
	ti.nextStep()
	// The device verification page (RFC 8628), its form under the path too.
	if p = acct.Get(ti.URL + web.PathDevice); p.Status != http.StatusOK || formAction(t, p, "device-form") != base+web.PathDevice {
		t.Errorf("device page: %d %s", p.Status, p.URL)
	}

	// An application's sign-in: password, code, consent, back with a code.
	app := ti.addThirdParty(admin.AddClientInput{ID: "pathapp", PostLogoutRedirectURIs: []string{ti.RPBase + "/bye"}})
	b := signettest.NewBrowser(t)
	rec := watch(t, b, ti.URL)
	authURL, ap := app.AuthURL()
	if !strings.HasPrefix(authURL, ti.URL+provider.PathAuthorize+"?") {
		t.Fatalf("authorization URL %s", authURL)
	}
	p = b.Get(authURL)
	if p.URL.Path != base+web.PathLogin {
		t.Fatalf("authorize did not lead to the login page: %d %s", p.Status, p.URL)
	}
	p = b.Submit(p, formAction(t, p, "login-form"), url.Values{"username": {"alice"}, "password": {alicePassword}})
	if p.URL.Path != base+web.PathSecondFactor {
		t.Fatalf("password did not lead to the code page: %d %s", p.Status, p.URL)
	}
	p = b.Submit(p, formAction(t, p, "totp-form"), url.Values{"code": {ti.totpCode(m[1])}})
	if p.URL.Path != base+web.PathConsent {
		t.Fatalf("code did not lead to the consent page: %d %s\n%.600s", p.Status, p.URL, p.Body)
	}
	p = b.Submit(p, formAction(t, p, "consent-form"), url.Values{"decision": {"allow"}})
	code := app.CodeFrom(p, ap)

	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt := app.VerifyID(tok, ap.Nonce)
	if idt.Issuer != ti.URL {
		t.Errorf("ID token iss %q, want %q", idt.Issuer, ti.URL)
	}
	var claims authClaims
	idt.Claims(&claims)
	wantAuth(t, claims, amrMFA, web.ACRMFA)
	if ui, err := app.UserInfo(tok.AccessToken); err != nil || ui.Subject != idt.Subject {
		t.Fatalf("userinfo: %v %v", ui, err)
	}
	if !app.Introspect(tok.AccessToken) {
		t.Error("introspection: the access token is not active")
	}
	refreshed, err := app.Refresh(tok.RefreshToken)
	if err != nil || refreshed.AccessToken == "" {
		t.Fatalf("refresh: %v", err)
	}
	if status, _ := app.PostForm(provider.PathRevoke, url.Values{"token": {tok.AccessToken}}); status != http.StatusOK {
		t.Errorf("revocation: %d", status)
	}
	if app.Introspect(tok.AccessToken) {
		t.Error("a revoked access token is still active")
	}

	// Single sign-on, then the account page of the same browser.
	u, ap := app.AuthURL()
	app.CodeFrom(b.Get(u), ap)
	p = b.Get(ti.URL + web.PathAccount)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "App pathapp") {
		t.Fatalf("account page: %d %s\n%.600s", p.Status, p.URL, p.Body)
	}

	// Logout: without a hint Signet asks, its form under the path; with one it
	// signs out and returns to the application.
	p = b.Get(ti.URL + web.PathEndSession)
	if p.Status != http.StatusOK || formAction(t, p, "logout-form") != base+web.PathEndSessionConfirm {
		t.Fatalf("logout question: %d %s\n%.600s", p.Status, p.URL, p.Body)
	}
	raw, _ := refreshed.Extra("id_token").(string)
	p = b.Get(ti.URL + web.PathEndSession + "?" + url.Values{
		"id_token_hint": {raw}, "post_logout_redirect_uri": {ti.RPBase + "/bye"}, "state": {"s1"},
	}.Encode())
	if p.URL.String() != ti.RPBase+"/bye?state=s1" {
		t.Fatalf("logout with a hint: %d %s\n%.600s", p.Status, p.URL, p.Body)
	}
	p = b.Get(ti.URL + web.PathAccount)
	if p.URL.Path != base+web.PathAccountLogin {
		t.Errorf("after logout the account page is %d %s, want its sign-in", p.Status, p.URL)
	}

	rec.mu.Lock()
	named := map[string]bool{}
	for _, c := range rec.cookie {
		named[c.Name] = true
	}
	hops := len(rec.hops)
	rec.mu.Unlock()
	if !named["signet_session"] || !named["signet_pending"] {
		t.Errorf("cookies set: %v", named)
	}
	if hops < 8 {
		t.Errorf("only %d responses seen", hops)
	}

	// The access metrics name routes as they do without a path.
	for _, handler := range []string{"/login", "/login/totp", "/consent"} {
		if n := requestsCounted(t, ti, handler, http.MethodPost, "303"); n < 1 {
			t.Errorf("signet_http_requests_total{handler=%q,method=POST,code=303} = %v", handler, n)
		}
	}
}

// requestsCounted reads signet_http_requests_total for one handler, method and
// status code.
func requestsCounted(t *testing.T, ti *testIssuer, handler, method, code string) float64 {
	t.Helper()
	families, err := ti.srv.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"handler": handler, "method": method, "code": code}
	for _, f := range families {
		if f.GetName() != "signet_http_requests_total" {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestPathIssuerBehindProxy: a sign-in through a reverse proxy that passes the
// full path and the browser's Host, as docs/reverse-proxy.md configures nginx
// and Caddy: Signet's own listener is never named, the proxy's request ids are
// taken, and nothing points outside the path.
func TestPathIssuerBehindProxy(t *testing.T) {
	t.Parallel()
	var target *url.URL
	var ids atomic.Int64
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target) // no path of its own: /auth/... goes on as /auth/...
		pr.Out.Host = pr.In.Host
		pr.SetXForwarded()
		pr.Out.Header.Set("X-Request-Id", fmt.Sprintf("proxy-%d", ids.Add(1)))
	}})
	t.Cleanup(proxy.Close)
	ti := startIssuer(t, func(c *Config) {
		target = &url.URL{Scheme: "http", Host: c.Listen}
		c.Issuer = proxy.URL + "/auth"
		c.TrustedProxies = []string{"127.0.0.1"}
	})
	app := ti.addThirdParty(admin.AddClientInput{ID: "proxied"})
	if got := app.OAuth.Endpoint.TokenURL; got != proxy.URL+"/auth"+provider.PathToken {
		t.Fatalf("token endpoint %s", got)
	}
	b := signettest.NewBrowser(t)
	watch(t, b, ti.URL)
	u, ap := app.AuthURL()
	p := b.Get(u)
	p = b.Submit(p, formAction(t, p, "login-form"), url.Values{"username": {"alice"}, "password": {alicePassword}})
	p = b.Submit(p, formAction(t, p, "consent-form"), url.Values{"decision": {"allow"}})
	tok, err := app.Exchange(app.CodeFrom(p, ap), ap)
	if err != nil {
		t.Fatalf("exchange through the proxy: %v", err)
	}
	app.VerifyID(tok, ap.Nonce)
	if _, err := app.UserInfo(tok.AccessToken); err != nil {
		t.Fatalf("userinfo through the proxy: %v", err)
	}
	if _, err := app.Refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh through the proxy: %v", err)
	}
	resp, err := http.Get(ti.URL + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("X-Request-Id"), fmt.Sprintf("proxy-%d", ids.Load()); got != want {
		t.Errorf("X-Request-Id %q, want the proxy's %q", got, want)
	}
}
