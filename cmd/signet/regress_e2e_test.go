package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// Regression tests for commit 36a7eff: the token endpoint authenticates the
// client before it looks at the code, a replayed code revokes what its first use
// issued whatever verifier it carries, a code or session-bound refresh token
// whose session ended or whose grant was revoked is refused, introspection
// answers OAuth JSON errors, /authorize turns undecodable parameters into
// invalid_request redirects, and userinfo says email_verified false.

// regressCodeForm is the token request form redeeming code at r's redirect URI.
func regressCodeForm(r *signettest.RP, code string, extra ...string) url.Values {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.OAuth.RedirectURL}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return form
}

// regressUserinfo calls userinfo with a bearer token and returns the status and
// the decoded body.
func regressUserinfo(t *testing.T, ti *testIssuer, access string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ti.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// wantTokenError checks a token endpoint answer's status and OAuth error code.
func wantTokenError(t *testing.T, what string, status int, m map[string]any, wantStatus int, wantErr string) {
	t.Helper()
	if m["access_token"] != nil {
		t.Errorf("%s: got %d with tokens, want %d %s", what, status, wantStatus, wantErr)
		return
	}
	if status != wantStatus || m["error"] != wantErr {
		t.Errorf("%s: got %d %v, want %d %s", what, status, m, wantStatus, wantErr)
	}
}

// TestRegressCodeReplayWithoutVerifierRevokes proves that a code presented a
// second time after a successful exchange, with no code_verifier or with a wrong
// one, is answered 400 invalid_grant and revokes what the first exchange issued:
// its access token is refused by userinfo (401) and its refresh token fails.
func TestRegressCodeReplayWithoutVerifierRevokes(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	for name, extra := range map[string][]string{
		"no verifier":    nil,
		"wrong verifier": {"code_verifier", oauth2.GenerateVerifier()},
	} {
		t.Run(name, func(t *testing.T) {
			code, ap := app.SignIn(b)
			tok, err := app.Exchange(code, ap)
			if err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			if st, _ := regressUserinfo(t, ti, tok.AccessToken); st != http.StatusOK {
				t.Fatalf("userinfo with the fresh access token: %d", st)
			}
			st, m := tokenPost(t, ti.URL, app.OAuth.ClientID, app.OAuth.ClientSecret, regressCodeForm(app, code, extra...))
			wantTokenError(t, "replay", st, m, http.StatusBadRequest, "invalid_grant")
			if st, _ := regressUserinfo(t, ti, tok.AccessToken); st != http.StatusUnauthorized {
				t.Errorf("userinfo with the first use's access token after the replay: %d, want 401", st)
			}
			if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
				t.Errorf("the first use's refresh token after the replay: %v, want invalid_grant", err)
			}
		})
	}
}

// TestRegressTokenClientAuthBeforeCode proves that the token endpoint
// authenticates the client before it looks at the code: a bogus code with a
// wrong secret, no credentials or an unknown client is answered 401
// invalid_client (not invalid_grant), and a valid code presented with a wrong
// secret is answered 401 invalid_client and is not consumed.
func TestRegressTokenClientAuthBeforeCode(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	bogus := regressCodeForm(app, "bogus-code-"+signettest.RandHex(), "code_verifier", oauth2.GenerateVerifier())
	withID := regressCodeForm(app, "bogus-code-"+signettest.RandHex(), "code_verifier", oauth2.GenerateVerifier(), "client_id", "app")
	for _, tc := range []struct {
		name, id, secret string
		form             url.Values
	}{
		{"wrong secret", "app", "wrong-secret", bogus},
		{"no credentials", "", "", bogus},
		{"client_id without a secret", "", "", withID},
		{"unknown client", "no-such-client", "whatever", bogus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, m := tokenPost(t, ti.URL, tc.id, tc.secret, tc.form)
			wantTokenError(t, tc.name, st, m, http.StatusUnauthorized, "invalid_client")
		})
	}
	t.Run("valid code, wrong secret", func(t *testing.T) {
		code, ap := app.SignIn(signettest.NewBrowser(t))
		st, m := tokenPost(t, ti.URL, "app", "wrong-secret", regressCodeForm(app, code, "code_verifier", ap.Verifier))
		wantTokenError(t, "wrong secret", st, m, http.StatusUnauthorized, "invalid_client")
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatalf("the code after a wrong-secret attempt: %v", err)
		}
		app.VerifyID(tok, ap.Nonce)
	})
}

// TestRegressIntrospectionBadClient proves that introspection with bad client
// credentials or none is answered as RFC 7662 section 2.3 says: 401, a JSON body
// with error invalid_client, and a Basic WWW-Authenticate challenge.
func TestRegressIntrospectionBadClient(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, id, secret string }{
		{"wrong secret", "app", "wrong-secret"},
		{"no credentials", "", ""},
		{"unknown client", "no-such-client", "whatever"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, ti.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.id != "" {
				req.SetBasicAuth(tc.id, tc.secret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			decErr := json.NewDecoder(resp.Body).Decode(&m)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if decErr != nil || m["error"] != "invalid_client" {
				t.Errorf("body %v (%v), want JSON with error invalid_client", m, decErr)
			}
			if _, ok := m["active"]; ok {
				t.Errorf("introspection answered an unauthenticated caller: %v", m)
			}
			if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Basic") {
				t.Errorf("WWW-Authenticate %q, want a Basic challenge", wa)
			}
		})
	}
}

// TestRegressAuthorizeUndecodableMaxAge proves that an authorization request
// from a registered client and redirect URI with an undecodable max_age is sent
// back to the client as error=invalid_request with its state and iss, not
// answered with the library's bare-text error.
func TestRegressAuthorizeUndecodableMaxAge(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	u := app.OAuth.AuthCodeURL("xyz", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("max_age", "abc"))
	p := signettest.NewBrowser(t).Get(u)
	if p.Status != http.StatusFound {
		t.Fatalf("status %d at %s (Content-Type %q): %.200s, want 302 to the client", p.Status, p.URL, p.Header.Get("Content-Type"), p.Body)
	}
	if got := p.URL.Scheme + "://" + p.URL.Host + p.URL.Path; got != app.OAuth.RedirectURL {
		t.Fatalf("redirected to %s, want %s", p.URL, app.OAuth.RedirectURL)
	}
	q := p.URL.Query()
	if q.Get("error") != "invalid_request" || q.Get("state") != "xyz" || q.Get("iss") != ti.URL || q.Get("code") != "" {
		t.Errorf("redirect query = %v, want error=invalid_request state=xyz iss=%s", q, ti.URL)
	}
	if ct := p.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q: a bare-text error", ct)
	}
}

// TestRegressUserinfoEmailVerifiedFalse proves that for a person whose email is
// not verified, scope "openid email" gets "email_verified": false from userinfo,
// as the ID token says, rather than no email_verified at all.
func TestRegressUserinfoEmailVerifiedFalse(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	if u, err := ti.srv.store.GetUserByUsername(ti.Ctx, "alice"); err != nil || u.EmailVerified {
		t.Fatalf("precondition: alice's email must be unverified: %v %v", u, err)
	}
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	app.OAuth.Scopes = []string{"openid", "email"}
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var idc map[string]any
	if err := app.VerifyID(tok, ap.Nonce).Claims(&idc); err != nil {
		t.Fatal(err)
	}
	if v, ok := idc["email_verified"]; !ok || v != false {
		t.Errorf("ID token email_verified = %v (present %v), want false", v, ok)
	}
	st, ui := regressUserinfo(t, ti, tok.AccessToken)
	if st != http.StatusOK {
		t.Fatalf("userinfo: %d %v", st, ui)
	}
	if v, ok := ui["email_verified"]; !ok || v != false {
		t.Errorf("userinfo email_verified = %v (present %v), want false: %v", v, ok, ui)
	}
	if ui["email"] != "alice@example.com" {
		t.Errorf("userinfo email = %v", ui["email"])
	}
}

// TestRegressEndedSessionRefusesHeldCode proves that a code obtained by SSO for
// a second client and held unexchanged while the session ends (admin logout or
// RP-initiated logout) is refused with 400 invalid_grant, and that a
// session-bound refresh token (no offline_access) of an ended session is
// refused, even when the logout was interrupted after the session was deleted
// and before its refresh families were revoked.
func TestRegressEndedSessionRefusesHeldCode(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	one := ti.logoutClient("one", nil)
	two := ti.logoutClient("two", nil)
	one.OAuth.Scopes = []string{"openid", "profile"} // session-bound refresh tokens
	two.OAuth.Scopes = []string{"openid", "profile"}

	// signInHoldCode signs in with one (exchanging) and, by SSO, with two
	// (holding the code).
	signInHoldCode := func(t *testing.T) (b *signettest.Browser, first loSignIn, code string, ap signettest.AuthParams) {
		t.Helper()
		b = signettest.NewBrowser(t)
		first = logoutSignIn(one, b)
		if first.tok.RefreshToken == "" {
			t.Fatal("no session-bound refresh token")
		}
		u, ap := two.AuthURL()
		return b, first, two.CodeFrom(b.Get(u), ap), ap
	}
	redeemHeld := func(t *testing.T, code string, ap signettest.AuthParams) {
		t.Helper()
		st, m := tokenPost(t, ti.URL, two.OAuth.ClientID, two.OAuth.ClientSecret, regressCodeForm(two, code, "code_verifier", ap.Verifier))
		wantTokenError(t, "held code after the session ended", st, m, http.StatusBadRequest, "invalid_grant")
	}

	t.Run("admin logout", func(t *testing.T) {
		_, first, code, ap := signInHoldCode(t)
		if n, err := ti.srv.admin.LogoutUser(ti.Ctx, "alice"); err != nil || n != 1 {
			t.Fatalf("LogoutUser = %d, %v", n, err)
		}
		redeemHeld(t, code, ap)
		if _, err := one.Refresh(first.tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("session-bound refresh token after logout: %v, want invalid_grant", err)
		}
	})
	t.Run("RP-initiated logout", func(t *testing.T) {
		b, first, code, ap := signInHoldCode(t)
		p := ti.endSession(b, url.Values{"id_token_hint": {first.idToken}, "post_logout_redirect_uri": {outURI("one")}, "state": {"bye"}})
		wantRedirectOut(t, p, "one", "bye")
		if got := promptNone(one, b); got != "login_required" {
			t.Fatalf("prompt=none after logout: %s", got)
		}
		redeemHeld(t, code, ap)
		if _, err := one.Refresh(first.tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("session-bound refresh token after logout: %v, want invalid_grant", err)
		}
	})
	t.Run("interrupted logout", func(t *testing.T) {
		// The session is deleted (a logout's first step) and the process stops
		// before the session's refresh families are revoked.
		_, first, code, ap := signInHoldCode(t)
		user, err := ti.srv.store.GetUserByUsername(ti.Ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := ti.srv.store.ListUserSessions(ti.Ctx, user.ID)
		if err != nil {
			t.Fatal(err)
		}
		deleted := 0
		for _, s := range sessions {
			if s.SID == first.sid {
				if err := ti.srv.store.DeleteSession(ti.Ctx, s.ID); err != nil {
					t.Fatal(err)
				}
				deleted++
			}
		}
		if deleted != 1 {
			t.Fatalf("found %d sessions with sid %s", deleted, first.sid)
		}
		redeemHeld(t, code, ap)
		if _, err := one.Refresh(first.tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
			t.Errorf("session-bound refresh token of a deleted session: %v, want invalid_grant", err)
		}
	})
}

// TestRegressRevokedGrantRefusesHeldCode proves that a third-party client's code
// held while the person's grant for that client is revoked is refused with 400
// invalid_grant when it is finally exchanged.
func TestRegressRevokedGrantRefusesHeldCode(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	p, ap := toConsent(app, b)
	code := app.CodeFrom(b.Submit(p, "/consent", url.Values{"decision": {"allow"}}), ap)
	if err := ti.srv.admin.RevokeGrant(ti.Ctx, admin.GrantRef{Username: "alice", ClientID: "app"}); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	st, m := tokenPost(t, ti.URL, app.OAuth.ClientID, app.OAuth.ClientSecret, regressCodeForm(app, code, "code_verifier", ap.Verifier))
	wantTokenError(t, "held code after the grant was revoked", st, m, http.StatusBadRequest, "invalid_grant")
}

// TestRegressInterruptedGrantRevocationStopsOfflineRefresh: a revocation that
// deleted the grant and stopped before revoking the app's families still ends
// the app's access: its offline_access refresh token (which outlives sessions,
// not grants) is refused.
func TestRegressInterruptedGrantRevocationStopsOfflineRefresh(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "app"})
	app.OAuth.Scopes = []string{"openid", "offline_access"}
	b := signettest.NewBrowser(t)
	p, ap := toConsent(app, b)
	code := app.CodeFrom(b.Submit(p, "/consent", url.Values{"decision": {"allow"}}), ap)
	tok, err := app.Exchange(code, ap)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v (refresh token %q)", err, tok.RefreshToken)
	}
	if sc, _ := tok.Extra("scope").(string); !strings.Contains(sc, "offline_access") {
		t.Fatalf("granted scope %q, want offline_access", sc)
	}
	if tok, err = app.Refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh while the grant stands: %v", err)
	}
	user, err := ti.srv.store.GetUserByUsername(ti.Ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := ti.srv.store.DeleteGrant(ti.Ctx, user.ID, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("offline refresh after the grant was deleted: %v, want invalid_grant", err)
	}
}
