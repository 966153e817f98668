package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// TestUserinfoRefusedTokenIs401: a revoked token gets RFC 6750's answer.
func TestUserinfoRefusedTokenIs401(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	app.PostForm("/revoke", url.Values{"token": {tok.AccessToken}})
	for _, bearer := range []string{tok.AccessToken, "not-a-token"} {
		req, _ := http.NewRequest(http.MethodGet, ti.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || body["error"] != "invalid_token" {
			t.Errorf("userinfo with a refused token: %d %q %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
}

// TestUnsupportedScopesDropped: scopes Signet does not offer never reach tokens.
func TestUnsupportedScopesDropped(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.SignIn(signettest.NewBrowser(t), oauth2.SetAuthURLParam("scope", "openid phone address bogus email"))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if got := scopeSet(tok.Extra("scope").(string)); !slices.Equal(got, []string{"email", "openid"}) {
		t.Errorf("scopes = %v, want [email openid]", got)
	}
}

// TestClientAssertionRefused: private_key_jwt is not enabled; an assertion is an
// invalid_client error, not a server error.
func TestClientAssertionRefused(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	ti.addClient(admin.AddClientInput{ID: "app"})
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"app"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"a.b.c"}}
	resp, err := http.PostForm(ti.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("client assertion: %d %v", resp.StatusCode, body)
	}
}

// TestReplacedSessionEnds: signing in again in the same browser (prompt=login)
// ends the old session properly: its apps are told and its session-bound
// refresh tokens die.
func TestReplacedSessionEnds(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.addClient(admin.AddClientInput{ID: "app", BackchannelLogoutURI: rcv.srv.URL})
	app.OAuth.Scopes = []string{"openid"} // session-bound refresh token
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	code2, ap2 := app.SignIn(b, oauth2.SetAuthURLParam("prompt", "login"))
	if _, err := app.Exchange(code2, ap2); err != nil {
		t.Fatal(err)
	}
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if len(rcv.received()) != 1 {
		t.Errorf("the replaced session's app got %d logout notices, want 1", len(rcv.received()))
	}
	if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("the replaced session's refresh token still works: %v", err)
	}
}

// TestRemovedClientLeavesNothing: a client registered again under a removed id
// inherits neither consent nor tokens.
func TestRemovedClientLeavesNothing(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "cal"})
	b := signettest.NewBrowser(t)
	p, ap := toConsent(app, b)
	tok, err := app.Exchange(app.CodeFrom(b.Submit(p, "/consent", url.Values{"decision": {"allow"}}), ap), ap)
	if err != nil {
		t.Fatal(err)
	}
	if err := ti.srv.admin.RemoveClient(ti.Ctx, "cal"); err != nil {
		t.Fatal(err)
	}
	again := ti.addThirdParty(admin.AddClientInput{ID: "cal"})
	if _, err := again.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("an old refresh token works for the new client: %v", err)
	}
	toConsent(again, b) // asks again
}
