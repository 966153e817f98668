package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

// toConsent runs the browser to the consent page of a new request.
func (r *rp) toConsent(b *browser, extra ...oauth2.AuthCodeOption) (page, authParams) {
	r.ti.t.Helper()
	u, ap := r.authURL(extra...)
	p := b.get(u)
	if strings.HasSuffix(p.url.Path, "/login") {
		p = b.login(p, "alice", "correct horse battery")
	}
	if p.url.Path != "/consent" || !strings.Contains(p.body, `name="decision"`) {
		r.ti.t.Fatalf("expected the consent page, got %d %s: %.300s", p.status, p.url, p.body)
	}
	return p, ap
}

func scopeSet(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func TestConsentScopeByScope(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "calendar-app", Name: "Calendar Helper"})
	b := newBrowser(t)

	p, ap := app.toConsent(b)
	for _, want := range []string{"Calendar Helper", "127.0.0.1:9", `id="scope-openid"`, `name="scope" value="email"`,
		`name="decision" value="allow"`, `name="decision" value="deny"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if m := regexpFind(`<input[^>]*id="scope-openid"[^>]*>`, p.body); !strings.Contains(m, "checked") || !strings.Contains(m, "disabled") {
		t.Errorf("openid is not required (checked and disabled): %s", m)
	}
	// Untick email: allow with openid, profile and offline_access only.
	done := b.submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"profile", "offline_access"}})
	code := app.codeFrom(done, ap)
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"offline_access", "openid", "profile"}
	if got := scopeSet(tok.Extra("scope").(string)); !slices.Equal(got, want) {
		t.Errorf("token response scope = %v, want %v", got, want)
	}
	_, at := jwtParts(t, tok.AccessToken)
	if got := scopeSet(at["scope"].(string)); !slices.Equal(got, want) {
		t.Errorf("access token scope = %v, want %v", got, want)
	}
	ui, err := app.userinfo(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if ui.Email != "" {
		t.Errorf("userinfo releases the unticked email: %q", ui.Email)
	}
	var claims map[string]any
	ui.Claims(&claims)
	if claims["name"] != "Alice Example" {
		t.Errorf("userinfo lacks the approved profile: %v", claims)
	}
	_, intro := app.postForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}})
	if got := scopeSet(intro["scope"].(string)); !slices.Equal(got, want) {
		t.Errorf("introspection scope = %v, want %v", got, want)
	}

	// The same request again skips the page (email stays declined).
	u, ap2 := app.authURL()
	p2 := b.get(u)
	app.codeFrom(p2, ap2)

	// A wider request asks only for the new scope.
	p3, _ := app.toConsent(b, oauth2.SetAuthURLParam("scope", "openid profile email offline_access calendar.read"))
	if !strings.Contains(p3.body, `value="calendar.read"`) || strings.Contains(p3.body, `name="scope" value="profile"`) {
		t.Errorf("wider request: the page should ask only for calendar.read:\n%s", p3.body)
	}
	// prompt=consent shows every scope again.
	p4, _ := app.toConsent(b, oauth2.SetAuthURLParam("prompt", "consent"))
	if !strings.Contains(p4.body, `name="scope" value="profile"`) || !strings.Contains(p4.body, `name="scope" value="email"`) {
		t.Errorf("prompt=consent does not show every scope")
	}

	// prompt=none for an app never approved: consent_required.
	other := ti.addThirdParty(admin.AddClientInput{ID: "other"})
	u, ap5 := other.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.get(u); p.url.Query().Get("error") != "consent_required" || p.url.Query().Get("state") != ap5.state {
		t.Errorf("prompt=none without consent: %s", p.url)
	}

	// Deny: access_denied at the app, no grant.
	p6, ap6 := other.toConsent(b)
	denied := b.submit(p6, "/consent", url.Values{"decision": {"deny"}})
	if denied.url.Query().Get("error") != "access_denied" || denied.url.Query().Get("state") != ap6.state {
		t.Errorf("deny: %s", denied.url)
	}
	if gs, _ := ti.srv.admin.ListGrants(ti.ctx, "alice"); len(gs) != 1 || gs[0].ClientID != "calendar-app" {
		t.Errorf("grants after a deny: %+v", gs)
	}

	// A first-party client never sees the page.
	first := ti.addClient(admin.AddClientInput{ID: "first"})
	u, ap7 := first.authURL()
	first.codeFrom(b.get(u), ap7)
}

func regexpFind(expr, s string) string {
	return regexpMust(expr).FindString(s)
}

func TestConsentBadInput(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	p, ap := app.toConsent(b)
	noGrant := func(what string) {
		t.Helper()
		if gs, _ := ti.srv.admin.ListGrants(ti.ctx, "alice"); len(gs) != 0 {
			t.Fatalf("%s wrote a grant: %+v", what, gs)
		}
	}
	if r := b.submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"calendar.read"}}); r.status != http.StatusBadRequest {
		t.Errorf("unrequested scope: %d", r.status)
	}
	noGrant("an unrequested scope")
	if r := b.submit(p, "/consent", url.Values{}); r.status != http.StatusBadRequest {
		t.Errorf("missing decision: %d", r.status)
	}
	noGrant("a missing decision")
	if r := b.submit(p, "/consent", url.Values{"decision": {"allow"}, "auth_request_id": {"forged"}}); r.status != http.StatusForbidden {
		t.Errorf("forged auth request id: %d", r.status)
	}
	noGrant("a forged id")
	// Another browser (no session) cannot use the page.
	if r := newBrowser(t).submit(p, "/consent", url.Values{"decision": {"allow"}}); r.status != http.StatusForbidden {
		t.Errorf("consent from another browser: %d", r.status)
	}
	noGrant("another browser")
	// A cross-site post is refused.
	form := url.Values{"decision": {"allow"}}
	for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], m[2])
	}
	req, _ := http.NewRequest(http.MethodPost, ti.URL+"/consent", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if r := b.do(req); r.status != http.StatusForbidden {
		t.Errorf("cross-site consent: %d", r.status)
	}
	noGrant("a cross-site post")

	ok := b.submit(p, "/consent", url.Values{"decision": {"allow"}})
	app.codeFrom(ok, ap)
	// Replaying the consent post does nothing more.
	if r := b.submit(p, "/consent", url.Values{"decision": {"allow"}}); r.status != http.StatusBadRequest || r.url.Host == "127.0.0.1:9" {
		t.Errorf("replayed consent: %d %s", r.status, r.url)
	}
}

func TestAccountPageRevoke(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "app", Name: "Some App"})
	b := newBrowser(t)
	p, ap := app.toConsent(b)
	tok, err := app.exchange(app.codeFrom(b.submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"profile", "email", "offline_access"}}), ap), ap)
	if err != nil {
		t.Fatal(err)
	}
	acct := b.get(ti.URL + "/account")
	for _, want := range []string{"Alice Example", "alice@example.com", "Some App", `id="revoke-app"`, `href="/account/totp"`, "This browser"} {
		if !strings.Contains(acct.body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	// The admin view agrees.
	cli := serveAdminSocket(t, ti)
	code, out, errs := cli("user", "grants", "alice", "--output", "json")
	var gs []admin.GrantInfo
	if code != 0 || json.Unmarshal([]byte(out), &gs) != nil || len(gs) != 1 || gs[0].ClientID != "app" {
		t.Fatalf("user grants: %d %q %q", code, out, errs)
	}

	done := b.submit(acct, "/account/apps/revoke", url.Values{"client_id": {"app"}})
	if done.url.Path != "/account" || strings.Contains(done.body, `id="revoke-app"`) {
		t.Fatalf("after revoke: %s", done.url)
	}
	if _, err := app.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after revoke: %v", err)
	}
	if _, err := app.userinfo(tok.AccessToken); err == nil {
		t.Errorf("userinfo accepts an access token after revoke")
	}
	// The next sign-in asks again.
	app.toConsent(b)

	// Admin revoke-grant through the CLI.
	p2, ap2 := app.toConsent(b)
	tok2, err := app.exchange(app.codeFrom(b.submit(p2, "/consent", url.Values{"decision": {"allow"}}), ap2), ap2)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli("user", "revoke-grant", "alice", "app"); code != 0 {
		t.Fatalf("revoke-grant: %s", errs)
	}
	if _, err := app.userinfo(tok2.AccessToken); err == nil {
		t.Errorf("userinfo accepts an access token after admin revoke-grant")
	}
	if code, _, _ := cli("user", "revoke-grant", "alice", "app"); code == 0 {
		t.Errorf("revoking a missing grant succeeded")
	}
}

func TestAccountSessionsAndPassword(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	a, b := newBrowser(t), newBrowser(t)
	app.signIn(a)
	app.signIn(b)
	acct := a.get(ti.URL + "/account")
	if strings.Count(acct.body, `class="item"><div>`) < 2 {
		t.Fatalf("account page does not list both sessions:\n%s", acct.body)
	}
	// Wrong current password: refused, nothing changes.
	if r := a.submit(acct, "/account/password", url.Values{"current_password": {"wrong"}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}}); r.status != http.StatusUnauthorized {
		t.Errorf("wrong current password: %d", r.status)
	}
	r := a.submit(acct, "/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
	if r.url.Path != "/account" || !strings.Contains(r.body, "password is changed") {
		t.Fatalf("change password: %d %s", r.status, r.url)
	}
	// The other browser's session ended; this one goes on.
	u, ap := app.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.get(u); p.url.Query().Get("error") != "login_required" {
		t.Errorf("other session survived a password change: %s", p.url)
	}
	u, ap = app.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	app.codeFrom(a.get(u), ap)
	// The new password works, the old one does not.
	u, _ = app.authURL()
	lp := b.get(u)
	if p := b.login(lp, "alice", "correct horse battery"); p.status != http.StatusUnauthorized {
		t.Errorf("old password still works: %d", p.status)
	}
	// Sign out everywhere.
	acct = a.get(ti.URL + "/account")
	out := a.submit(acct, "/account/sessions", url.Values{"end": {"all"}})
	if !strings.Contains(out.body, "signed out everywhere") {
		t.Errorf("sign out everywhere: %d %s", out.status, out.body)
	}
	u, _ = app.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := a.get(u); p.url.Query().Get("error") != "login_required" {
		t.Errorf("session survived sign out everywhere: %s", p.url)
	}
	// Without a session the account page asks to sign in.
	if p := newBrowser(t).get(ti.URL + "/account"); p.url.Path != "/account/login" {
		t.Errorf("account page without a session: %s", p.url)
	}
}

func TestClientAllowedScopes(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", AllowedScopes: []string{"email"}})
	code, ap := app.signIn(newBrowser(t), oauth2.SetAuthURLParam("scope", "openid profile email calendar.read"))
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if got := scopeSet(tok.Extra("scope").(string)); !slices.Equal(got, []string{"email", "openid"}) {
		t.Errorf("scopes of a limited client = %v", got)
	}
}

func regexpMust(expr string) *regexp.Regexp { return regexp.MustCompile(expr) }
