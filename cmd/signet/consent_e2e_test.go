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
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// toConsent runs the browser to the consent page of a new request.
func toConsent(r *signettest.RP, b *signettest.Browser, extra ...oauth2.AuthCodeOption) (signettest.Page, signettest.AuthParams) {
	r.Iss.T.Helper()
	u, ap := r.AuthURL(extra...)
	p := b.Get(u)
	if strings.HasSuffix(p.URL.Path, "/login") {
		p = b.Login(p, "alice", "correct horse battery")
	}
	if p.URL.Path != "/consent" || !strings.Contains(p.Body, `name="decision"`) {
		r.Iss.T.Fatalf("expected the consent page, got %d %s: %.300s", p.Status, p.URL, p.Body)
	}
	return p, ap
}

func scopeSet(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func TestConsentScopeByScope(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "calendar-app", Name: "Calendar Helper"})
	b := signettest.NewBrowser(t)

	p, ap := toConsent(app, b)
	for _, want := range []string{"Calendar Helper", "127.0.0.1:9", `id="scope-openid"`, `name="scope" value="email"`,
		`name="decision" value="allow"`, `name="decision" value="deny"`} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if m := regexpFind(`<input[^>]*id="scope-openid"[^>]*>`, p.Body); !strings.Contains(m, "checked") || !strings.Contains(m, "disabled") {
		t.Errorf("openid is not required (checked and disabled): %s", m)
	}
	// Untick email: allow with openid, profile and offline_access only.
	done := b.Submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"profile", "offline_access"}})
	code := app.CodeFrom(done, ap)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"offline_access", "openid", "profile"}
	if got := scopeSet(tok.Extra("scope").(string)); !slices.Equal(got, want) {
		t.Errorf("token response scope = %v, want %v", got, want)
	}
	_, at := signettest.JWTParts(t, tok.AccessToken)
	if got := scopeSet(at["scope"].(string)); !slices.Equal(got, want) {
		t.Errorf("access token scope = %v, want %v", got, want)
	}
	ui, err := app.UserInfo(tok.AccessToken)
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
	_, intro := app.PostForm("/oauth/introspect", url.Values{"token": {tok.AccessToken}})
	if got := scopeSet(intro["scope"].(string)); !slices.Equal(got, want) {
		t.Errorf("introspection scope = %v, want %v", got, want)
	}

	// The same request again skips the page (email stays declined).
	u, ap2 := app.AuthURL()
	p2 := b.Get(u)
	app.CodeFrom(p2, ap2)

	// A wider request asks only for the new scope.
	p3, _ := toConsent(app, b, oauth2.SetAuthURLParam("scope", "openid profile email offline_access calendar.read"))
	if !strings.Contains(p3.Body, `value="calendar.read"`) || strings.Contains(p3.Body, `name="scope" value="profile"`) {
		t.Errorf("wider request: the page should ask only for calendar.read:\n%s", p3.Body)
	}
	// prompt=consent shows every scope again.
	p4, _ := toConsent(app, b, oauth2.SetAuthURLParam("prompt", "consent"))
	if !strings.Contains(p4.Body, `name="scope" value="profile"`) || !strings.Contains(p4.Body, `name="scope" value="email"`) {
		t.Errorf("prompt=consent does not show every scope")
	}

	// prompt=none for an app never approved: consent_required.
	other := ti.addThirdParty(admin.AddClientInput{ID: "other"})
	u, ap5 := other.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.Get(u); p.URL.Query().Get("error") != "consent_required" || p.URL.Query().Get("state") != ap5.State {
		t.Errorf("prompt=none without consent: %s", p.URL)
	}

	// Deny: access_denied at the app, no grant.
	p6, ap6 := toConsent(other, b)
	denied := b.Submit(p6, "/consent", url.Values{"decision": {"deny"}})
	if denied.URL.Query().Get("error") != "access_denied" || denied.URL.Query().Get("state") != ap6.State {
		t.Errorf("deny: %s", denied.URL)
	}
	if gs, _ := ti.srv.admin.ListGrants(ti.Ctx, "alice"); len(gs) != 1 || gs[0].ClientID != "calendar-app" {
		t.Errorf("grants after a deny: %+v", gs)
	}

	// A first-party client never sees the page.
	first := ti.addClient(admin.AddClientInput{ID: "first"})
	u, ap7 := first.AuthURL()
	first.CodeFrom(b.Get(u), ap7)
}

func regexpFind(expr, s string) string {
	return regexpMust(expr).FindString(s)
}

func TestConsentBadInput(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	p, ap := toConsent(app, b)
	noGrant := func(what string) {
		t.Helper()
		if gs, _ := ti.srv.admin.ListGrants(ti.Ctx, "alice"); len(gs) != 0 {
			t.Fatalf("%s wrote a grant: %+v", what, gs)
		}
	}
	if r := b.Submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"calendar.read"}}); r.Status != http.StatusBadRequest {
		t.Errorf("unrequested scope: %d", r.Status)
	}
	noGrant("an unrequested scope")
	if r := b.Submit(p, "/consent", url.Values{}); r.Status != http.StatusBadRequest {
		t.Errorf("missing decision: %d", r.Status)
	}
	noGrant("a missing decision")
	if r := b.Submit(p, "/consent", url.Values{"decision": {"allow"}, "auth_request_id": {"forged"}}); r.Status != http.StatusForbidden {
		t.Errorf("forged auth request id: %d", r.Status)
	}
	noGrant("a forged id")
	// Another browser (no session) cannot use the page.
	if r := signettest.NewBrowser(t).Submit(p, "/consent", url.Values{"decision": {"allow"}}); r.Status != http.StatusForbidden {
		t.Errorf("consent from another browser: %d", r.Status)
	}
	noGrant("another browser")
	// A cross-site post is refused.
	form := url.Values{"decision": {"allow"}}
	for _, m := range signettest.InputRE.FindAllStringSubmatch(p.Body, -1) {
		form.Set(m[1], m[2])
	}
	req, _ := http.NewRequest(http.MethodPost, ti.URL+"/consent", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if r := b.Do(req); r.Status != http.StatusForbidden {
		t.Errorf("cross-site consent: %d", r.Status)
	}
	noGrant("a cross-site post")

	ok := b.Submit(p, "/consent", url.Values{"decision": {"allow"}})
	app.CodeFrom(ok, ap)
	// Replaying the consent post does nothing more.
	if r := b.Submit(p, "/consent", url.Values{"decision": {"allow"}}); r.Status != http.StatusBadRequest || r.URL.Host == "127.0.0.1:9" {
		t.Errorf("replayed consent: %d %s", r.Status, r.URL)
	}
}

func TestAccountPageRevoke(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "app", Name: "Some App"})
	b := signettest.NewBrowser(t)
	p, ap := toConsent(app, b)
	tok, err := app.Exchange(app.CodeFrom(b.Submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"profile", "email", "offline_access"}}), ap), ap)
	if err != nil {
		t.Fatal(err)
	}
	acct := b.Get(ti.URL + "/account")
	for _, want := range []string{"Alice Example", "alice@example.com", "Some App", `id="revoke-app"`, `href="/account/totp"`, "This browser"} {
		if !strings.Contains(acct.Body, want) {
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

	done := b.Submit(acct, "/account/apps/revoke", url.Values{"client_id": {"app"}})
	if done.URL.Path != "/account" || strings.Contains(done.Body, `id="revoke-app"`) {
		t.Fatalf("after revoke: %s", done.URL)
	}
	if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after revoke: %v", err)
	}
	if _, err := app.UserInfo(tok.AccessToken); err == nil {
		t.Errorf("userinfo accepts an access token after revoke")
	}
	// The next sign-in asks again.
	toConsent(app, b)

	// Admin revoke-grant through the CLI.
	p2, ap2 := toConsent(app, b)
	tok2, err := app.Exchange(app.CodeFrom(b.Submit(p2, "/consent", url.Values{"decision": {"allow"}}), ap2), ap2)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli("user", "revoke-grant", "alice", "app"); code != 0 {
		t.Fatalf("revoke-grant: %s", errs)
	}
	if _, err := app.UserInfo(tok2.AccessToken); err == nil {
		t.Errorf("userinfo accepts an access token after admin revoke-grant")
	}
	if code, _, _ := cli("user", "revoke-grant", "alice", "app"); code == 0 {
		t.Errorf("revoking a missing grant succeeded")
	}
}

func TestAccountSessionsAndPassword(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	a, b := signettest.NewBrowser(t), signettest.NewBrowser(t)
	app.SignIn(a)
	app.SignIn(b)
	acct := a.Get(ti.URL + "/account")
	if strings.Count(acct.Body, `class="item"><div>`) < 2 {
		t.Fatalf("account page does not list both sessions:\n%s", acct.Body)
	}
	// Wrong current password: refused, nothing changes.
	if r := a.Submit(acct, "/account/password", url.Values{"current_password": {"wrong"}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong current password: %d", r.Status)
	}
	r := a.Submit(acct, "/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a new long password"}, "confirm_password": {"a new long password"}})
	if r.URL.Path != "/account" || !strings.Contains(r.Body, "password is changed") {
		t.Fatalf("change password: %d %s", r.Status, r.URL)
	}
	// The other browser's session ended; this one goes on.
	u, ap := app.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.Get(u); p.URL.Query().Get("error") != "login_required" {
		t.Errorf("other session survived a password change: %s", p.URL)
	}
	u, ap = app.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	app.CodeFrom(a.Get(u), ap)
	// The new password works, the old one does not.
	u, _ = app.AuthURL()
	lp := b.Get(u)
	if p := b.Login(lp, "alice", "correct horse battery"); p.Status != http.StatusUnauthorized {
		t.Errorf("old password still works: %d", p.Status)
	}
	// Sign out everywhere.
	acct = a.Get(ti.URL + "/account")
	out := a.Submit(acct, "/account/sessions", url.Values{"end": {"all"}})
	if !strings.Contains(out.Body, "signed out everywhere") {
		t.Errorf("sign out everywhere: %d %s", out.Status, out.Body)
	}
	u, _ = app.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := a.Get(u); p.URL.Query().Get("error") != "login_required" {
		t.Errorf("session survived sign out everywhere: %s", p.URL)
	}
	// Without a session the account page asks to sign in.
	if p := signettest.NewBrowser(t).Get(ti.URL + "/account"); p.URL.Path != "/account/login" {
		t.Errorf("account page without a session: %s", p.URL)
	}
}

func TestClientAllowedScopes(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", AllowedScopes: []string{"email"}})
	code, ap := app.SignIn(signettest.NewBrowser(t), oauth2.SetAuthURLParam("scope", "openid profile email calendar.read"))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if got := scopeSet(tok.Extra("scope").(string)); !slices.Equal(got, []string{"email", "openid"}) {
		t.Errorf("scopes of a limited client = %v", got)
	}
}

func regexpMust(expr string) *regexp.Regexp { return regexp.MustCompile(expr) }
