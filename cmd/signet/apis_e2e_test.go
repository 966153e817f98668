package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

const (
	calendarAPI = "https://calendar.example.com"
	contactsAPI = "https://contacts.example.com"
)

// startAPIIssuer is an issuer with two APIs, each owning one configured scope.
func startAPIIssuer(t *testing.T) (*testIssuer, map[string]string) {
	t.Helper()
	ti := startIssuer(t, func(c *Config) {
		c.Scopes = []ScopeConfig{
			{Name: "calendar.read", Description: "See your calendar availability", Optional: true},
			{Name: "contacts.read", Description: "See your contacts", Optional: true},
		}
	})
	secrets := map[string]string{}
	for aud, scope := range map[string]string{calendarAPI: "calendar.read", contactsAPI: "contacts.read"} {
		res, err := ti.srv.admin.AddAPI(ti.Ctx, admin.AddAPIInput{Audience: aud, Name: "API " + scope, Scopes: []string{scope}})
		if err != nil {
			t.Fatal(err)
		}
		secrets[aud] = res.IntrospectionSecret
	}
	return ti, secrets
}

// apiIntrospect asks as the API with its introspection secret.
func apiIntrospect(t *testing.T, ti *testIssuer, audience, secret, token string) (int, map[string]any) {
	t.Helper()
	app := &signettest.RP{Iss: ti.Issuer, OAuth: oauth2.Config{ClientID: audience, ClientSecret: secret}}
	return app.PostForm("/oauth/introspect", url.Values{"token": {token}})
}

// TestAccessTokensForAPIs: an access token names the API its scopes belong to
// in aud (plus the issuer with openid), an API verifies it with go-oidc and
// introspects it as itself, and a token for one API is inactive for another.
func TestAccessTokensForAPIs(t *testing.T) {
	t.Parallel()
	ti, secrets := startAPIIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)

	app.OAuth.Scopes = []string{oidc.ScopeOpenID, "calendar.read", oidc.ScopeOfflineAccess}
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	_, at := signettest.JWTParts(t, tok.AccessToken)
	if aud := toStrings(at["aud"]); !slices.Equal(aud, []string{calendarAPI, ti.URL}) {
		t.Errorf("aud = %v, want the calendar API and the issuer", aud)
	}
	// The API verifies the token with go-oidc, its audience as the client id.
	apiVerifier := app.Provider.Verifier(&oidc.Config{ClientID: calendarAPI, Now: ti.Clock.Now})
	if _, err := apiVerifier.Verify(ti.Ctx, tok.AccessToken); err != nil {
		t.Errorf("the calendar API refuses its token: %v", err)
	}
	if _, err := app.Provider.Verifier(&oidc.Config{ClientID: contactsAPI, Now: ti.Clock.Now}).Verify(ti.Ctx, tok.AccessToken); err == nil {
		t.Error("the contacts API accepts a calendar token")
	}
	if _, err := app.UserInfo(tok.AccessToken); err != nil {
		t.Errorf("userinfo refuses a token with openid: %v", err)
	}
	// Introspection: the API it is for, active; another API, inactive; a wrong
	// secret, 401; the client that holds it, active; another client, inactive.
	if status, m := apiIntrospect(t, ti, calendarAPI, secrets[calendarAPI], tok.AccessToken); status != http.StatusOK || m["active"] != true || m["client_id"] != "app" {
		t.Errorf("the calendar API introspects its token: %d %v", status, m)
	}
	if status, m := apiIntrospect(t, ti, contactsAPI, secrets[contactsAPI], tok.AccessToken); status != http.StatusOK || m["active"] != false {
		t.Errorf("the contacts API introspects a calendar token: %d %v", status, m)
	}
	if status, _ := apiIntrospect(t, ti, calendarAPI, "wrong", tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("an API with a wrong secret: %d", status)
	}
	if !app.Introspect(tok.AccessToken) {
		t.Error("the client cannot introspect its own token")
	}
	other := ti.addClient(admin.AddClientInput{ID: "other"})
	if other.Introspect(tok.AccessToken) {
		t.Error("another client learns about the app's token")
	}

	// This grant holds no contacts scope: resource=contacts on a refresh
	// gains nothing (a token for an API the person never approved).
	tokenPath := mustParseURL(t, app.OAuth.Endpoint.TokenURL).Path
	status, m := app.PostForm(tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {contactsAPI}})
	if status != http.StatusBadRequest || m["error"] != "invalid_target" {
		t.Fatalf("refresh for an API outside the grant: %d %v", status, m)
	}
	// Neither does resource=contacts at /authorize without a contacts scope.
	u, _ := app.AuthURL(oauth2.SetAuthURLParam("resource", contactsAPI))
	if q := b.Get(u).URL.Query(); q.Get("error") != "invalid_target" {
		t.Errorf("authorize naming an API none of whose scopes it asks: %v", q)
	}

	// A grant of both APIs' scopes (resource= picks the calendar first):
	// resource= on refresh switches to the other API of the same grant, with
	// that API's scope and not the first one's.
	app.OAuth.Scopes = []string{oidc.ScopeOpenID, "calendar.read", "contacts.read", oidc.ScopeOfflineAccess}
	code, ap = app.SignIn(b, oauth2.SetAuthURLParam("resource", calendarAPI))
	tok, err = app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	status, m = app.PostForm(tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {contactsAPI}})
	if status != http.StatusOK {
		t.Fatalf("refresh for the contacts API of the same grant: %d %v", status, m)
	}
	_, at = signettest.JWTParts(t, m["access_token"].(string))
	if aud := toStrings(at["aud"]); !slices.Contains(aud, contactsAPI) || slices.Contains(aud, calendarAPI) {
		t.Errorf("aud after resource=contacts: %v", aud)
	}
	if sc := at["scope"].(string); strings.Contains(sc, "calendar.read") || !strings.Contains(sc, "contacts.read") {
		t.Errorf("scope after resource=contacts: %q", sc)
	}
	status, m = app.PostForm(tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)}, "resource": {"https://unknown.example.com"}})
	if status != http.StatusBadRequest || m["error"] != "invalid_target" {
		t.Errorf("refresh with an unknown resource: %d %v", status, m)
	}
}

// TestPlainOAuthAndInvalidTarget: an app that only wants an API (no openid) gets
// an access token for it and no ID token; scopes of two APIs need a resource.
func TestPlainOAuthAndInvalidTarget(t *testing.T) {
	t.Parallel()
	ti, _ := startAPIIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	app.OAuth.Scopes = []string{"calendar.read"}
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	if idt, _ := tok.Extra("id_token").(string); idt != "" {
		t.Error("an ID token without openid")
	}
	_, at := signettest.JWTParts(t, tok.AccessToken)
	if aud := toStrings(at["aud"]); !slices.Equal(aud, []string{calendarAPI}) {
		t.Errorf("aud = %v, want the calendar API alone", aud)
	}

	// Two APIs' scopes without a resource: invalid_target at the client.
	app.OAuth.Scopes = []string{oidc.ScopeOpenID, "calendar.read", "contacts.read"}
	u, ap := app.AuthURL()
	p := b.Get(u)
	if q := p.URL.Query(); p.URL.Host != "127.0.0.1:9" || q.Get("error") != "invalid_target" || q.Get("state") != ap.State {
		t.Fatalf("two APIs without a resource: %d %s", p.Status, p.URL)
	}
	u, _ = app.AuthURL(oauth2.SetAuthURLParam("resource", "https://unknown.example.com"))
	if q := b.Get(u).URL.Query(); q.Get("error") != "invalid_target" {
		t.Errorf("an unknown resource: %v", q)
	}
	// With resource= the token is for that API, with its scopes only.
	code, ap = app.SignIn(b, oauth2.SetAuthURLParam("resource", contactsAPI))
	tok, err = app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	_, at = signettest.JWTParts(t, tok.AccessToken)
	if aud := toStrings(at["aud"]); !slices.Equal(aud, []string{contactsAPI, ti.URL}) || strings.Contains(at["scope"].(string), "calendar.read") {
		t.Errorf("with resource=contacts: aud %v, scope %q", aud, at["scope"])
	}
	// Plain OAuth with neither openid nor an API scope is refused.
	app.OAuth.Scopes = []string{"profile"}
	u, _ = app.AuthURL()
	if q := b.Get(u).URL.Query(); q.Get("error") != "invalid_scope" {
		t.Errorf("no openid and no API scope: %v", q)
	}
}

// TestServiceAccount: the client_credentials grant with x/oauth2's
// clientcredentials: sub is the client, aud the API, no refresh or ID token.
func TestServiceAccount(t *testing.T) {
	t.Parallel()
	ti, secrets := startAPIIssuer(t)
	created, err := ti.srv.admin.AddClient(ti.Ctx, admin.AddClientInput{ID: "svc", Name: "Reporting job",
		GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{"calendar.read"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := oidc.NewProvider(ti.Ctx, ti.URL)
	if err != nil {
		t.Fatal(err)
	}
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: created.ClientSecret, TokenURL: p.Endpoint().TokenURL, Scopes: []string{"calendar.read"}}
	tok, err := cc.Token(ti.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Errorf("a service account got a refresh or ID token: %+v", tok)
	}
	_, at := signettest.JWTParts(t, tok.AccessToken)
	if at["sub"] != "svc" || at["client_id"] != "svc" || at["scope"] != "calendar.read" || !slices.Equal(toStrings(at["aud"]), []string{calendarAPI}) {
		t.Errorf("service account token claims: %v", at)
	}
	if status, m := apiIntrospect(t, ti, calendarAPI, secrets[calendarAPI], tok.AccessToken); m["active"] != true || m["sub"] != "svc" {
		t.Errorf("the API introspects the service account's token: %d %v", status, m)
	}
	// A scope outside the allowed ones; a person's scope.
	for _, scope := range []string{"contacts.read", "openid"} {
		bad := cc
		bad.Scopes = []string{scope}
		if _, err := bad.Token(ti.Ctx); signettest.OAuthErrorCode(err) != "invalid_scope" {
			t.Errorf("scope %s: %v, want invalid_scope", scope, err)
		}
	}
	// A client not registered for the grant; a wrong secret.
	web := ti.addClient(admin.AddClientInput{ID: "web"})
	notSvc := clientcredentials.Config{ClientID: "web", ClientSecret: web.OAuth.ClientSecret, TokenURL: cc.TokenURL, Scopes: []string{"calendar.read"}}
	if _, err := notSvc.Token(ti.Ctx); signettest.OAuthErrorCode(err) != "unauthorized_client" {
		t.Errorf("a code-flow client: %v, want unauthorized_client", err)
	}
	wrong := cc
	wrong.ClientSecret = "wrong"
	if _, err := wrong.Token(context.Background()); signettest.OAuthErrorCode(err) != "invalid_client" {
		t.Errorf("a wrong secret: %v, want invalid_client", err)
	}
	// Discovery lists the grant.
	var disc struct {
		Grants []string `json:"grant_types_supported"`
	}
	if err := p.Claims(&disc); err != nil || !slices.Contains(disc.Grants, "client_credentials") {
		t.Errorf("grant_types_supported = %v (%v)", disc.Grants, err)
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, s := range x {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}
