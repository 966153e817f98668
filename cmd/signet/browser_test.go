package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage/pending"
	"github.com/signet-idp/signet/web"
)

// These tests drive a real headless Chromium through Signet's pages (see
// browser_helpers_test.go). Run them alone with: go test ./cmd/signet -run Browser
// Refresh the screenshots in docs/screenshots with SIGNET_UPDATE_SCREENSHOTS=1.

// TestBrowserDemoSignInAndSSO: the demo app's "Sign in with Signet" button, the
// login page, the two-step page, the consent page, and back at the app with
// verified claims; then a second app signs in with the same session, no password
// asked.
func TestBrowserDemoSignInAndSSO(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	c := signettest.NewChrome(t)
	ti := startBrowserIssuer(t)
	rp := startDemoRP(t, ti)
	secret := enrolInBrowser(c, ti, demoUsername, demoPassword)
	c.ClearCookies()
	sub := ti.user(demoUsername).ID
	issuerHost := strings.TrimPrefix(ti.URL, "http://")

	c.Open(rp.URL+"/", "signin")
	c.Look("demo-home", signettest.FullPage)
	c.Click("signin", "login-form")
	c.WantAt(ti.URL, "/login")
	if got := c.Text("client-name"); got != "Signet demo app" {
		t.Errorf("login page names the app %q", got)
	}
	if body := c.BodyText(); !strings.Contains(body, issuerHost) {
		t.Errorf("login page does not name the issuer %s:\n%s", issuerHost, body)
	}
	c.Look("login", signettest.FullPage)
	c.Look("login-phone", signettest.PhonePage)
	c.Fill("username", demoUsername, "password", demoPassword)
	// Keyboard users see where they are.
	if id, ring := c.TabFocus(); id != "submit" || !ring {
		t.Errorf("Tab from the password: focus on #%s, ring shown %v; want #submit with a ring", id, ring)
	}
	if status := c.Click("submit", "totp-form"); status != http.StatusOK {
		t.Errorf("two-step page: status %d", status)
	}
	c.WantAt(ti.URL, web.PathSecondFactor)
	if got := c.Text("client-name"); got != "Signet demo app" {
		t.Errorf("two-step page names the app %q", got)
	}
	c.Look("two-step", signettest.FullPage)
	code, err := pqtotp.GenerateCode(secret, ti.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.Fill("code", code)
	c.Click("submit", "consent-form")
	c.WantAt(ti.URL, web.PathConsent)
	if got := c.Text("client-name"); got != "Signet demo app" {
		t.Errorf("consent page names the app %q", got)
	}
	for _, sel := range []string{"#scope-openid[disabled]", "#scope-email[name=scope]", "#allow", "#deny"} {
		if !c.Present(sel) {
			t.Errorf("consent page lacks %s", sel)
		}
	}
	c.Look("consent", signettest.FullPage)
	c.Click("allow", "id-token-claims")
	c.WantAt(rp.URL, "/")
	claims := c.Text("id-token-claims")
	for _, want := range []string{sub, web.ACRMFA, "Demo Person", "demo@example.com"} {
		if !strings.Contains(claims, want) {
			t.Errorf("the demo app's ID token claims lack %q:\n%s", want, claims)
		}
	}
	c.Look("demo-result", signettest.FirstScreen)

	// Single sign-on: another app, same browser. No page of Signet is shown:
	// the session answers (the app is first-party, so there is no consent).
	second := startSecondRP(t, ti, "team-wiki", "Team Wiki")
	c.Documents()
	c.Open(second.URL+"/", "signin")
	c.Click("signin", "id-token-claims")
	c.WantAt(second.URL, "/")
	if claims := c.Text("id-token-claims"); !strings.Contains(claims, sub) {
		t.Errorf("the second app's ID token claims lack the subject %q:\n%s", sub, claims)
	}
	for _, d := range c.Documents() {
		if d.URL.Scheme+"://"+d.URL.Host == ti.URL && d.Status == http.StatusOK {
			t.Errorf("single sign-on showed a page of Signet: %s", d.URL)
		}
	}
}

// TestBrowserAccountRevoke: the account page lists the app; its Revoke button
// removes it, and the app's refresh token stops working. Then the error page
// and the sign-out pages.
func TestBrowserAccountRevoke(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	c := signettest.NewChrome(t)
	ti := startBrowserIssuer(t)
	rp := startDemoRP(t, ti)
	user := ti.user(demoUsername)

	c.Open(rp.URL+"/", "signin")
	c.Click("signin", "login-form")
	// A wrong password: the message is announced and tied to the fields.
	c.Fill("username", demoUsername, "password", "not the password")
	if status := c.Click("submit", "login-error"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", status)
	}
	for _, id := range []string{"username", "password"} {
		if !c.Present("#" + id + "[aria-invalid=true][aria-describedby~=login-error]") {
			t.Errorf("#%s is not tied to the error message", id)
		}
	}
	if !c.Present("#login-error[role=alert]") {
		t.Errorf("the error message is not announced")
	}
	c.Look("login-error", signettest.FullPage)
	c.Do("clear the password", chromedp.Clear(chromedp.ID("password")))
	c.Fill("password", demoPassword)
	c.Click("submit", "consent-form")
	c.Click("allow", "id-token-claims")
	// The refresh token works.
	c.Click("refresh", "id-token-claims")
	if body := c.BodyText(); !strings.Contains(body, "Tokens refreshed") {
		t.Fatalf("refresh before revoking:\n%s", body)
	}

	app := "app-" + demoClientID
	c.Open(ti.URL+web.PathAccount, app)
	if got := c.Text("account-name"); got != "Demo Person" {
		t.Errorf("account page names %q", got)
	}
	if got := c.Text(app); !strings.Contains(got, "Signet demo app") {
		t.Errorf("account page app entry: %q", got)
	}
	c.Look("account", signettest.FullPage)
	c.Look("account-phone", signettest.PhonePage)
	c.Click("revoke-"+demoClientID, "account-notice")
	c.WantAt(ti.URL, web.PathAccount)
	if c.Present("#" + app) {
		t.Errorf("the app is still listed after Revoke:\n%s", c.BodyText())
	}
	if gs, err := ti.srv.store.ListUserGrants(ti.Ctx, user.ID); err != nil || len(gs) != 0 {
		t.Errorf("grants after Revoke: %v %+v", err, gs)
	}
	// The app's refresh token is dead.
	c.Open(rp.URL+"/", "refresh")
	c.Click("refresh", "error")
	if got := c.Text("error"); !strings.Contains(got, "invalid_grant") {
		t.Errorf("refresh after Revoke: the app says\n%s", got)
	}

	// An error page: an application Signet does not know.
	c.Documents()
	c.Open(ti.URL+"/authorize?"+url.Values{
		"client_id": {"no-such-app"}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"https://app.example/cb"},
	}.Encode(), "error-message")
	if status, err := signettest.StatusOf(c.Documents(), ti.URL, "/authorize"); err != nil || status != http.StatusBadRequest {
		t.Errorf("unknown application: status %d %v", status, err)
	}
	if body := c.BodyText(); !strings.Contains(body, "Unknown application") {
		t.Errorf("unknown application page:\n%s", body)
	}
	c.Look("error", signettest.FullPage)

	// Signing out: Signet asks, then says so.
	c.Open(ti.URL+web.PathEndSession, "logout-form")
	c.Look("sign-out", signettest.FullPage)
	c.Click("logout", "signed-out")
	c.Look("signed-out", signettest.FullPage)
	if ss, err := ti.srv.store.ListUserSessions(ti.Ctx, user.ID); err != nil || len(ss) != 0 {
		t.Errorf("sessions after signing out: %v %d", err, len(ss))
	}
}

// TestBrowserCrossSiteFormPostRefused: a page on another origin submits, with
// script, the login and consent forms of a sign-in in progress in the same
// browser, with their real hidden fields (as if they had leaked). Signet answers
// 403 and signs no one in and records no approval; the same fields posted from
// Signet's own page work.
func TestBrowserCrossSiteFormPostRefused(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	c := signettest.NewChrome(t)
	ti := startBrowserIssuer(t)
	rp := startDemoRP(t, ti)
	user := ti.user(demoUsername)

	for _, host := range []string{
		"localhost", // another site: the SameSite=Lax cookies stay home
		"127.0.0.1", // the same site on another port: the cookies go along
	} {
		attacker := signettest.StartAttacker(t, host)
		refused := func(path string) {
			t.Helper()
			c.Documents()
			c.Open(attacker.URL+"/", "error-message")
			c.WantAt(ti.URL, path)
			if status, err := signettest.StatusOf(c.Documents(), ti.URL, path); err != nil || status != http.StatusForbidden {
				t.Errorf("post to %s from %s: status %d %v, want 403", path, attacker.URL, status, err)
			}
			if body := c.BodyText(); !strings.Contains(body, "Request refused") || !strings.Contains(body, "sent from another site") {
				t.Errorf("post to %s from %s: the page says\n%s", path, attacker.URL, body)
			}
		}

		c.ClearCookies()
		c.Open(rp.URL+"/", "signin")
		c.Click("signin", "login-form")
		loginURL := c.Location().String()
		fields := c.HiddenFields("login-form")
		fields.Set("username", demoUsername)
		fields.Set("password", demoPassword)
		attacker.Arm(ti.URL+"/login", fields)
		before := sessionCount(t, ti, user.ID)
		refused("/login")
		if n := sessionCount(t, ti, user.ID); n != before {
			t.Fatalf("a cross-origin login post from %s started a session: %d sessions, %d before", host, n, before)
		}

		// The same form from Signet's own page signs in.
		c.Open(loginURL, "login-form")
		c.Fill("username", demoUsername, "password", demoPassword)
		c.Click("submit", "consent-form")
		consentURL := c.Location().String()
		fields = c.HiddenFields("consent-form")
		fields.Set("decision", "allow")
		attacker.Arm(ti.URL+web.PathConsent, fields)
		refused(web.PathConsent)
		if gs, err := ti.srv.store.ListUserGrants(ti.Ctx, user.ID); err != nil || len(gs) != 0 {
			t.Fatalf("a cross-origin consent post from %s recorded a grant: %v %+v", host, err, gs)
		}
		// The form carries a sealed id (storage/pending): read the request
		// through the pending store, as the pages do.
		secrets, err := LoadSecrets(ti.srv.cfg.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		flow := pending.Wrap(ti.srv.store, pending.DeriveKey(secrets.CookieKey))
		if ar, err := flow.GetAuthRequest(ti.Ctx, fields.Get("auth_request_id")); err != nil || ar.Done {
			t.Fatalf("a cross-origin consent post from %s completed the sign-in: %v", host, err)
		}

		// Declining from Signet's own page ends the sign-in, and the next round
		// starts clean.
		c.Open(consentURL, "consent-form")
		c.Click("deny", "error")
		if got := c.Text("error"); !strings.Contains(got, "access_denied") {
			t.Errorf("deny: the app says\n%s", got)
		}
	}
}

func sessionCount(t *testing.T, ti *testIssuer, userID string) int {
	t.Helper()
	ss, err := ti.srv.store.ListUserSessions(ti.Ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}
