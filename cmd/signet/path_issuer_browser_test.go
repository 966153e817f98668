package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/web"
)

// TestBrowserPathIssuer: Chromium signs in to the demo app through an issuer
// with a path (http://127.0.0.1:PORT/auth): the account pages and two-step
// enrolment, the login, two-step and consent pages with their stylesheet, the
// demo's refresh and its sign-out. Every page of Signet the browser loads is
// under the path, none is a 404, and Signet's cookies are scoped to the path.
func TestBrowserPathIssuer(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	c := signettest.NewChrome(t)
	ln := signettest.ListenLoopback(t, 0)
	cfg := testConfig(t)
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "http://" + ln.Addr().String() + "/auth"
	ti := serveIssuerOn(t, ln, cfg)
	base, origin := "/auth", "http://"+ln.Addr().String()
	rp := startDemoRP(t, ti)

	// styled fails unless the page's stylesheet (under the path) was applied.
	styled := func() {
		t.Helper()
		n, err := chromedp.Run(c.Ctx, chromedp.Evaluate[int](`[...document.styleSheets].reduce((n, s) => n + s.cssRules.length, 0)`))
		if err != nil || n == 0 {
			t.Errorf("%s: no stylesheet rules applied (%v)", c.Location(), err)
		}
	}

	// Two-step enrolment on the account pages, as enrolInBrowser does.
	ti.Clock.Advance(-step)
	c.Open(ti.URL+web.PathAccountTOTP, "login-form")
	c.WantAt(origin, base+web.PathAccountLogin)
	styled()
	c.CheckPage()
	c.Fill("username", demoUsername, "password", demoPassword)
	c.Click("submit", "totp-enrol-form")
	c.WantAt(origin, base+web.PathAccountTOTP)
	secret := c.Text("totp-secret")
	code, err := pqtotp.GenerateCode(secret, ti.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.Fill("code", code)
	c.Click("submit", "recovery-codes")
	c.Click("continue", "totp-manage-form")
	c.WantAt(origin, base+web.PathAccountTOTP)
	ti.Clock.Advance(step)
	c.ClearCookies()

	// The demo app's sign-in: login, code, consent, verified claims.
	c.Documents()
	c.Open(rp.URL+"/", "signin")
	c.Click("signin", "login-form")
	c.WantAt(origin, base+web.PathLogin)
	styled()
	c.CheckPage()
	c.Fill("username", demoUsername, "password", demoPassword)
	c.Click("submit", "totp-form")
	c.WantAt(origin, base+web.PathSecondFactor)
	styled()
	code, err = pqtotp.GenerateCode(secret, ti.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.Fill("code", code)
	c.Click("submit", "consent-form")
	c.WantAt(origin, base+web.PathConsent)
	styled()
	c.CheckPage()
	c.Click("allow", "id-token-claims")
	c.WantAt(rp.URL, "/")
	if claims := c.Text("id-token-claims"); !strings.Contains(claims, ti.URL) || !strings.Contains(claims, web.ACRMFA) {
		t.Errorf("the demo app's ID token claims lack the issuer %s or %s:\n%s", ti.URL, web.ACRMFA, claims)
	}
	c.Click("refresh", "id-token-claims")
	if body := c.BodyText(); strings.Contains(body, "Not accepted") {
		t.Errorf("after refresh the demo app says:\n%s", body)
	}

	// Signet's cookies live under the path only.
	cookies, err := chromedp.Call(c.Ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ti.URL + "/login"}})
	if err != nil {
		t.Fatal(err)
	}
	// (The demo app's cookies are here too: cookies do not tell ports apart.)
	signets := map[string]bool{"signet_session": true, "signet_pending": true}
	found := 0
	for _, ck := range cookies.Cookies {
		if signets[ck.Name] {
			found++
			if ck.Path != base {
				t.Errorf("cookie %s has path %q, want %q", ck.Name, ck.Path, base)
			}
		}
	}
	if found != len(signets) {
		t.Errorf("%d of Signet's cookies for %s, want %d: %v", found, ti.URL, len(signets), cookies.Cookies)
	}
	outside, err := chromedp.Call(c.Ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin + "/login"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range outside.Cookies {
		if signets[ck.Name] {
			t.Errorf("cookie %s is sent outside %s (path %q)", ck.Name, base, ck.Path)
		}
	}

	// The demo's sign-out goes through Signet's end_session and back.
	c.Click("logout", "logout-notice")
	c.WantAt(rp.URL, "/")
	c.Open(ti.URL+web.PathAccount, "login-form")
	c.WantAt(origin, base+web.PathAccountLogin)

	for _, d := range c.Documents() {
		if d.URL.Scheme+"://"+d.URL.Host != origin {
			continue
		}
		if !strings.HasPrefix(d.URL.Path, base+"/") {
			t.Errorf("the browser loaded %s, outside %s", d.URL, base)
		}
		if d.Status == http.StatusNotFound {
			t.Errorf("the browser loaded %s: 404", d.URL)
		}
	}
}
