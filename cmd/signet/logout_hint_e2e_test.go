package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// Server-to-server logout with an id_token_hint (issue 12, item 6), end to end
// on the real wiring: a back end (oauth2-proxy's --backend-logout-url) calls
// /end_session with the ID token and no cookie of the person's browser.

// backEnd is an HTTP client without cookies or browser headers that stops at
// the first response.
func backEnd(t *testing.T) *signettest.Browser {
	return &signettest.Browser{T: t, Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func wantHintEnded(t *testing.T, p signettest.Page) {
	t.Helper()
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="signed-out"`) || strings.Contains(p.Body, `id="nothing-ended"`) {
		t.Fatalf("want 200 and the named session ended, got %d %s: %s", p.Status, p.URL, p.Body)
	}
	if len(p.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a cookieless logout set cookies: %v", p.Header.Values("Set-Cookie"))
	}
	checkPageHeaders(t, p)
}

func wantHintNothingEnded(t *testing.T, p signettest.Page) {
	t.Helper()
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="nothing-ended"`) {
		t.Fatalf("want 200 \"No session to end\", got %d %s: %s", p.Status, p.URL, p.Body)
	}
	if strings.Contains(p.Body, "You are signed out") || strings.Contains(p.Body, `id="signed-out"`) {
		t.Errorf("a logout that ended nothing says it signed out: %s", p.Body)
	}
	checkPageHeaders(t, p)
}

func TestEndSessionHintWithoutCookie(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcvA, rcvB := newLogoutReceiver(t), newLogoutReceiver(t)
	appA, appB := ti.logoutClient("a", rcvA), ti.logoutClient("b", rcvB)
	b := signettest.NewBrowser(t)
	a := logoutSignIn(appA, b)
	logoutSignIn(appB, b) // SSO: the same session
	otherBrowser := signettest.NewBrowser(t)
	logoutSignIn(appA, otherBrowser) // the same person elsewhere: must survive

	if p := b.Get(ti.URL + "/account"); strings.Contains(p.Body, `id="login-form"`) {
		t.Fatalf("account page asks a signed-in browser to sign in")
	}

	// The back end calls with the ID token and no cookie: the session ends.
	be := backEnd(t)
	wantHintEnded(t, ti.endSession(be, url.Values{"id_token_hint": {a.idToken}}))
	if got := promptNone(appA, b); got != "login_required" {
		t.Errorf("prompt=none in the browser after the back end's logout = %s, want login_required", got)
	}
	if got := promptNone(appA, otherBrowser); got != "signed-in" {
		t.Errorf("the back end's logout ended another browser's session: %s", got)
	}
	// Both applications of the session are told.
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcvA.received(); len(got) != 1 {
		t.Fatalf("client a received %d logout tokens, want 1", len(got))
	} else {
		checkLogoutToken(t, appA, got[0], a.sid, a.sub)
	}
	if got := rcvB.received(); len(got) != 1 {
		t.Fatalf("client b received %d logout tokens, want 1", len(got))
	}

	// The same hint again: nothing to end, and the page says so.
	wantHintNothingEnded(t, ti.endSession(be, url.Values{"id_token_hint": {a.idToken}}))
	// The account page asks the browser to sign in.
	if p := b.Get(ti.URL + "/account"); !strings.Contains(p.Body, `id="login-form"`) {
		t.Errorf("account page after logout does not ask to sign in: %d %s", p.Status, p.URL)
	}
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if len(rcvA.received()) != 1 || len(rcvB.received()) != 1 {
		t.Errorf("a call that ended nothing sent notices")
	}
}

func TestEndSessionHintWithoutCookieAlreadyEnded(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.logoutClient("a", rcv)
	b := signettest.NewBrowser(t)
	s := logoutSignIn(app, b)
	// The browser signs out itself first (with its cookie).
	wantRedirectOut(t, ti.endSession(b, url.Values{"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {outURI("a")}, "state": {"x"}}), "a", "x")
	// A new sign-in in the same browser is a new session.
	logoutSignIn(app, b)
	// The back end's call with the old hint names a session that has ended: it
	// ends nothing (not the browser's new session) and says so.
	wantHintNothingEnded(t, ti.endSession(backEnd(t), url.Values{"id_token_hint": {s.idToken}}))
	if got := promptNone(app, b); got != "signed-in" {
		t.Errorf("an old hint ended the browser's new session: %s", got)
	}
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if n := len(rcv.received()); n != 1 {
		t.Errorf("received %d logout tokens, want 1 (the browser's own logout)", n)
	}
}

func TestEndSessionHintWithoutCookieVariants(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.logoutClient("a", rcv)
	ti.logoutClient("b", nil)

	t.Run("expired hint of a live session", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		ti.Clock.Advance(2 * time.Hour) // past the ID token's lifetime, within the session's
		if _, err := app.Verifier.Verify(ti.Ctx, s.idToken); err == nil {
			t.Fatal("the hint should have expired")
		}
		wantHintEnded(t, ti.endSession(backEnd(t), url.Values{"id_token_hint": {s.idToken}}))
		if got := promptNone(app, b); got != "login_required" {
			t.Errorf("prompt=none = %s", got)
		}
	})

	t.Run("POST from a back end", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		req, _ := http.NewRequest(http.MethodPost, ti.URL+"/end_session", strings.NewReader(url.Values{"id_token_hint": {s.idToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantHintEnded(t, backEnd(t).Do(req))
		if got := promptNone(app, b); got != "login_required" {
			t.Errorf("prompt=none = %s", got)
		}
	})

	t.Run("browser POST without cookie, continued without cookie", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		p := ti.postEndSession(nil, url.Values{"id_token_hint": {s.idToken}})
		if p.Status != http.StatusSeeOther || p.URL.Path != "/end_session/continue" {
			t.Fatalf("cross-site POST without cookie: %d %s", p.Status, p.URL)
		}
		wantHintEnded(t, backEnd(t).Get(p.URL.String()))
		if got := promptNone(app, b); got != "login_required" {
			t.Errorf("prompt=none = %s", got)
		}
	})

	t.Run("registered return address", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		wantRedirectOut(t, ti.endSession(backEnd(t), url.Values{"id_token_hint": {s.idToken},
			"post_logout_redirect_uri": {outURI("a")}, "state": {"st"}}), "a", "st")
		if got := promptNone(app, b); got != "login_required" {
			t.Errorf("prompt=none = %s", got)
		}
	})

	t.Run("bad requests end nothing", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		for name, params := range map[string]url.Values{
			"forged":       {"id_token_hint": {forgeHint(t, s.idToken)}},
			"tampered sid": {"id_token_hint": {tamperHint(t, s.idToken, "sid", "x")}},
			"garbage":      {"id_token_hint": {"not.a.jwt"}},
		} {
			wantHintNothingEnded(t, ti.endSession(backEnd(t), params))
			if got := promptNone(app, b); got != "signed-in" {
				t.Fatalf("%s: session ended: %s", name, got)
			}
		}
		for name, params := range map[string]url.Values{
			"unregistered return":  {"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {"https://evil.example/"}},
			"another client's uri": {"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {outURI("b")}},
			"client_id disagrees":  {"id_token_hint": {s.idToken}, "client_id": {"b"}},
		} {
			p := ti.endSession(backEnd(t), params)
			if p.Status != http.StatusBadRequest || p.URL.Host == "127.0.0.1:9" || strings.Contains(p.Body, "You are signed out") {
				t.Errorf("%s: %d %s: %s", name, p.Status, p.URL, p.Body)
			}
			if got := promptNone(app, b); got != "signed-in" {
				t.Fatalf("%s: session ended: %s", name, got)
			}
		}
	})

	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if n := len(rcv.received()); n != 4 {
		t.Errorf("received %d logout tokens, want 4 (one per ended session)", n)
	}
}
