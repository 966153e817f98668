package main

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// TestRefreshRepeatingFirstScope is issue 19: a relying party that repeats its
// configured scope on every refresh (Apache mod_auth_openidc's OIDCScope) after
// the person unticked an optional scope, and with a scope Signet does not offer,
// gets the granted scope only, never more; a refresh naming only scopes outside
// the grant gains nothing.
func TestRefreshRepeatingFirstScope(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addThirdParty(admin.AddClientInput{ID: "calendar-app", Name: "Calendar Helper"})
	// The first request also names a scope Signet does not offer: /authorize
	// drops it, and so will the refresh.
	app.OAuth.Scopes = append(app.OAuth.Scopes, "phone")
	b := signettest.NewBrowser(t)
	p, ap := toConsent(app, b)
	// Untick email.
	done := b.Submit(p, "/consent", url.Values{"decision": {"allow"}, "scope": {"profile", "offline_access"}})
	tok, err := app.Exchange(app.CodeFrom(done, ap), ap)
	if err != nil {
		t.Fatal(err)
	}
	granted := []string{"offline_access", "openid", "profile"}
	if got := scopeSet(tok.Extra("scope").(string)); !slices.Equal(got, granted) {
		t.Fatalf("first scope = %v, want %v", got, granted)
	}
	tokenPath := mustParseURL(t, app.OAuth.Endpoint.TokenURL).Path
	refresh := func(rt, scope string) (int, map[string]any) {
		return app.PostForm(tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}})
	}

	// The full first scope, as mod_auth_openidc sends it.
	status, m := refresh(tok.RefreshToken, "openid profile email offline_access phone")
	if status != http.StatusOK {
		t.Fatalf("refresh with the first scope: %d %v", status, m)
	}
	if got := scopeSet(m["scope"].(string)); !slices.Equal(got, granted) {
		t.Errorf("refreshed scope = %v, want the granted %v", got, granted)
	}
	_, at := signettest.JWTParts(t, m["access_token"].(string))
	if got := scopeSet(at["scope"].(string)); !slices.Equal(got, granted) {
		t.Errorf("refreshed access token scope = %v, want %v", got, granted)
	}
	idt, err := app.Verifier.Verify(ti.Ctx, m["id_token"].(string))
	if err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}
	var claims map[string]any
	idt.Claims(&claims)
	if _, ok := claims["email"]; ok {
		t.Errorf("the refreshed ID token releases the unticked email: %v", claims)
	}
	if claims["name"] != "Alice Example" {
		t.Errorf("the refreshed ID token lacks the granted profile: %v", claims)
	}
	if ui, err := app.UserInfo(m["access_token"].(string)); err != nil || ui.Email != "" {
		t.Errorf("userinfo with the refreshed token: %v, email %q", err, ui.Email)
	}

	// A narrower scope is honoured: no ID token without openid.
	status, m = refresh(m["refresh_token"].(string), "profile email")
	if status != http.StatusOK || m["scope"] != "profile" {
		t.Fatalf("refresh narrowed to profile: %d %v", status, m)
	}
	if _, ok := m["id_token"]; ok {
		t.Errorf("an ID token without openid: %v", m)
	}

	// Only scopes outside the grant: invalid_scope, and the token still works.
	status, m2 := refresh(m["refresh_token"].(string), "email phone")
	if status != http.StatusBadRequest || m2["error"] != "invalid_scope" {
		t.Fatalf("refresh naming only ungranted scopes: %d %v", status, m2)
	}
	status, m = refresh(m["refresh_token"].(string), "")
	if status != http.StatusOK {
		t.Fatalf("refresh after the refused one: %d %v", status, m)
	}
	if got := scopeSet(m["scope"].(string)); !slices.Equal(got, granted) {
		t.Errorf("refresh without scope = %v, want the whole grant %v", got, granted)
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
