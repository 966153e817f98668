package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/web"
)

// heldTokens is everything an app holds after a sign-in: an offline refresh
// token (offline_access), a session-bound one, and their access tokens.
type heldTokens struct {
	offline, bound *oauth2.Token
	sid            string
}

// signInTwice signs alice in with b to app twice: once with offline_access (an
// offline family) and once without (a family bound to the session).
func signInTwice(t *testing.T, app *signettest.RP, b *signettest.Browser) heldTokens {
	t.Helper()
	code, ap := app.SignIn(b)
	offline, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	bound := *app
	bound.OAuth.Scopes = []string{oidc.ScopeOpenID, "profile"}
	code, ap = bound.SignIn(b)
	tok, err := bound.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	idt := app.VerifyID(tok, ap.Nonce)
	var c struct {
		SID string `json:"sid"`
	}
	idt.Claims(&c)
	return heldTokens{offline: offline, bound: tok, sid: c.SID}
}

// wantAllDead asserts that no token of h works any more: both refresh tokens
// get invalid_grant, userinfo refuses both access tokens and introspection
// calls them inactive.
func wantAllDead(t *testing.T, app *signettest.RP, h heldTokens, when string) {
	t.Helper()
	for name, tok := range map[string]*oauth2.Token{"offline": h.offline, "session-bound": h.bound} {
		if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("%s: %s refresh token: %v, want invalid_grant", when, name, err)
		}
		if _, err := app.UserInfo(tok.AccessToken); err == nil {
			t.Errorf("%s: userinfo accepts the %s access token", when, name)
		}
		if app.Introspect(tok.AccessToken) {
			t.Errorf("%s: introspection calls the %s access token active", when, name)
		}
		if app.Introspect(tok.RefreshToken) {
			t.Errorf("%s: introspection calls the %s refresh token active", when, name)
		}
	}
}

// signedIn reports whether b still has a session: a prompt=none request
// completes instead of answering login_required.
func signedIn(t *testing.T, app *signettest.RP, b *signettest.Browser) bool {
	t.Helper()
	u, _ := app.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	p := b.Get(u)
	q := p.URL.Query()
	if p.URL.Host != "127.0.0.1:9" {
		t.Fatalf("prompt=none did not return to the app: %d %s", p.Status, p.URL)
	}
	return q.Get("code") != "" && q.Get("error") == ""
}

// TestSetPasswordEndsEveryAccess: `user set-password` ends every session (with
// back-channel notices), refresh token (offline ones included) and access token.
func TestSetPasswordEndsEveryAccess(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", BackchannelLogoutURI: rcv.srv.URL + "/bcl"})
	b := signettest.NewBrowser(t)
	held := signInTwice(t, app, b)
	other := signettest.NewBrowser(t)
	if code, ap := app.SignIn(other); code != "" {
		if _, err := app.Exchange(code, ap); err != nil {
			t.Fatal(err)
		}
	}

	ended, err := ti.srv.admin.SetPassword(ti.Ctx, admin.SetPasswordInput{Username: "alice", Password: "a brand new password"})
	if err != nil {
		t.Fatal(err)
	}
	// Ending a session revokes its session-bound families; the offline ones
	// are revoked one by one.
	if ended.Sessions != 2 || ended.RefreshFamilies != 2 {
		t.Errorf("set-password ended %+v, want 2 sessions and 2 offline refresh families", ended)
	}
	wantAllDead(t, app, held, "after set-password")
	if signedIn(t, app, b) || signedIn(t, app, other) {
		t.Error("a browser is still signed in after set-password")
	}
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcv.received(); len(got) != 2 {
		t.Errorf("%d back-channel logout notices, want 2 (one per session)", len(got))
	}
	// The new password signs in; the old one does not.
	fresh := signettest.NewBrowser(t)
	u, _ := app.AuthURL()
	if p := fresh.Login(fresh.Get(u), "alice", alicePassword); p.URL.Host == "127.0.0.1:9" {
		t.Error("the old password still signs in")
	}
	if p := fresh.Login(fresh.Get(u), "alice", "a brand new password"); p.URL.Host != "127.0.0.1:9" || p.URL.Query().Get("code") == "" {
		t.Errorf("the new password does not sign in: %d %s", p.Status, p.URL)
	}
}

// TestSelfServicePasswordChangeEndsAccess: the change on /account keeps the
// browser that made it and ends everything else, offline refresh tokens and
// access tokens included, and says so on the page.
func TestSelfServicePasswordChangeEndsAccess(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", BackchannelLogoutURI: rcv.srv.URL + "/bcl"})
	b := signettest.NewBrowser(t)
	held := signInTwice(t, app, b)
	other := signettest.NewBrowser(t)
	if code, ap := app.SignIn(other); code != "" {
		if _, err := app.Exchange(code, ap); err != nil {
			t.Fatal(err)
		}
	}

	home := b.Get(ti.URL + web.PathAccount)
	if home.Status != http.StatusOK {
		t.Fatalf("account page: %d %s", home.Status, home.URL)
	}
	done := b.Submit(home, web.PathAccountPassword, url.Values{
		"current_password": {alicePassword}, "new_password": {"a brand new password"}, "confirm_password": {"a brand new password"},
	})
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "apps lose the access they had") {
		t.Fatalf("after the change: %d %s\n%s", done.Status, done.URL, done.Body)
	}
	wantAllDead(t, app, held, "after the self-service change")
	if !signedIn(t, app, b) {
		t.Error("the browser that changed the password was signed out")
	}
	if signedIn(t, app, other) {
		t.Error("the other browser is still signed in")
	}
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcv.received(); len(got) != 1 {
		t.Errorf("%d back-channel logout notices, want 1 (the other browser's session)", len(got))
	}
}

// TestPlantedTOTPSecretIsRefused: someone who briefly held the password opens
// the enrolment page (a secret is shown to them); the person's own session
// never sees or confirms that secret, and a password change forgets it.
func TestPlantedTOTPSecretIsRefused(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	attacker := signettest.NewBrowser(t)
	ap := accountSignIn(attacker, ti, "alice", alicePassword)
	planted := secretRE.FindStringSubmatch(ap.Body)
	if planted == nil {
		t.Fatalf("no enrolment page for the attacker: %d %s", ap.Status, ap.URL)
	}

	victim := signettest.NewBrowser(t)
	vp := accountSignIn(victim, ti, "alice", alicePassword)
	own := secretRE.FindStringSubmatch(vp.Body)
	if own == nil {
		t.Fatalf("no enrolment page for the victim: %d %s", vp.Status, vp.URL)
	}
	if own[1] == planted[1] {
		t.Fatal("the victim's session is shown the secret the attacker saw")
	}
	// The victim confirms with a code of the planted secret (as if the attacker
	// had talked them into it): refused, nothing enrolled.
	p := victim.Submit(vp, web.PathAccountTOTP, url.Values{"code": {ti.totpCode(planted[1])}})
	if p.Status == http.StatusOK && recoveryRE.MatchString(p.Body) {
		t.Fatal("the planted secret was confirmed in the victim's session")
	}
	if ti.user("alice").TOTP.Enrolled() {
		t.Fatal("a second factor is enrolled")
	}

	// A password change (here by the admin) forgets any pending secret, so the
	// attacker's page can no longer be confirmed.
	ti.nextStep()
	ap = attacker.Get(ti.URL + web.PathAccountTOTP)
	if _, err := ti.srv.admin.SetPassword(ti.Ctx, admin.SetPasswordInput{Username: "alice", Password: "a brand new password"}); err != nil {
		t.Fatal(err)
	}
	if u := ti.user("alice"); len(u.TOTP.PendingSecret) != 0 || u.TOTP.PendingSID != "" {
		t.Fatalf("set-password left a pending secret: %+v", u.TOTP)
	}
	attacker.Submit(ap, web.PathAccountTOTP, url.Values{"code": {ti.totpCode(planted[1])}})
	if ti.user("alice").TOTP.Enrolled() {
		t.Fatal("the attacker confirmed a secret after the password change")
	}
}

// TestLogoutUserClearsPendingSecret: `user logout` and `user mfa reset` forget
// a secret waiting for confirmation.
func TestLogoutUserClearsPendingSecret(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	for _, end := range []func() error{
		func() error { _, err := ti.srv.admin.LogoutUser(ti.Ctx, "alice"); return err },
		func() error { return ti.srv.admin.ResetMFA(ti.Ctx, "alice") },
	} {
		b := signettest.NewBrowser(t)
		if p := accountSignIn(b, ti, "alice", alicePassword); !secretRE.MatchString(p.Body) {
			t.Fatalf("no enrolment page: %d %s", p.Status, p.URL)
		}
		if len(ti.user("alice").TOTP.PendingSecret) == 0 {
			t.Fatal("no pending secret stored")
		}
		if err := end(); err != nil {
			t.Fatal(err)
		}
		if u := ti.user("alice"); len(u.TOTP.PendingSecret) != 0 || u.TOTP.PendingSID != "" {
			t.Fatalf("pending secret left: %+v", u.TOTP)
		}
	}
}

// TestSessionIdleHoldsForRefreshTokens: a refresh counts as activity of its
// session; a session with neither pages nor refreshes for session_idle is over:
// its refresh tokens get invalid_grant, the janitor ends it with its
// back-channel notice, and /account no longer lists it. Offline grants outlive
// it.
func TestSessionIdleHoldsForRefreshTokens(t *testing.T) {
	t.Parallel()
	const idle = 30 * time.Minute
	ti := startIssuer(t, func(c *Config) { c.Lifetimes.SessionIdle = Duration(idle) })
	rcv := newLogoutReceiver(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", BackchannelLogoutURI: rcv.srv.URL + "/bcl"})
	b := signettest.NewBrowser(t)
	held := signInTwice(t, app, b)
	other := signettest.NewBrowser(t)
	if code, ap := app.SignIn(other); code != "" {
		if _, err := app.Exchange(code, ap); err != nil {
			t.Fatal(err)
		}
	}

	if n := strings.Count(b.Get(ti.URL+web.PathAccount).Body, "Another browser"); n != 1 {
		t.Fatalf("account page lists %d other sessions, want 1", n)
	}
	// Refreshes keep the session alive past session_idle since the sign-in.
	bound := held.bound
	for range 3 {
		ti.Clock.Advance(idle * 2 / 3)
		next, err := app.Refresh(bound.RefreshToken)
		if err != nil {
			t.Fatalf("refresh within session_idle of the last activity: %v", err)
		}
		bound = next
	}
	// The other browser's session saw nothing for longer than session_idle:
	// it is over, listed nowhere, even before the janitor ends it.
	if n := strings.Count(b.Get(ti.URL+web.PathAccount).Body, "Another browser"); n != 0 {
		t.Errorf("account page lists %d other sessions, want none: the other one is idle", n)
	}
	ti.srv.endIdleSessions(ti.Ctx, ti.Clock.Now())
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcv.received(); len(got) != 1 {
		t.Fatalf("%d back-channel notices after the janitor, want 1 (the idle browser)", len(got))
	}
	if signedIn(t, app, other) {
		t.Error("the idle browser is still signed in")
	}

	// Now nothing happens for longer than session_idle: the refresh fails.
	ti.Clock.Advance(idle + time.Minute)
	if _, err := app.Refresh(bound.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after session_idle: %v, want invalid_grant", err)
	}
	// The offline grant outlives the session.
	if _, err := app.Refresh(held.offline.RefreshToken); err != nil {
		t.Errorf("offline refresh after session_idle: %v", err)
	}
	sessions, _ := ti.srv.store.ListUserSessions(ti.Ctx, ti.user("alice").ID)
	if len(sessions) != 1 {
		t.Fatalf("%d sessions stored before the janitor", len(sessions))
	}
	ti.srv.endIdleSessions(ti.Ctx, ti.Clock.Now())
	if sessions, _ := ti.srv.store.ListUserSessions(ti.Ctx, ti.user("alice").ID); len(sessions) != 0 {
		t.Fatalf("%d sessions left after the janitor", len(sessions))
	}
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if got := rcv.received(); len(got) != 2 {
		t.Fatalf("%d back-channel notices, want 2", len(got))
	}
}
