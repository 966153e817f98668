package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// rawRequest sends req without following redirects and returns the response
// with its body read into the returned string.
func rawRequest(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

// TestProtocolEdges: the edges a careful attacker or a sloppy client probes,
// each answered by the spec.
func TestProtocolEdges(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	t.Run("state that is not UTF-8 comes back as sent with invalid_request", func(t *testing.T) {
		u, _ := app.AuthURL()
		u = strings.Replace(u, "state=", "state=%ff%fe", 1)
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		resp, _ := rawRequest(t, req)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if q := loc.Query(); q.Get("error") != "invalid_request" || !strings.HasPrefix(q.Get("state"), "\xff\xfe") || q.Get("iss") != ti.URL {
			t.Fatalf("redirect %s: want error=invalid_request, the raw state, iss", loc)
		}
	})

	t.Run("a scope named twice counts once", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		code, ap := app.SignIn(b, oauth2.SetAuthURLParam("scope", "openid openid email email"))
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		_, claims := signettest.JWTParts(t, tok.AccessToken)
		if claims["scope"] != "openid email" {
			t.Fatalf("access token scope %q, want %q", claims["scope"], "openid email")
		}
	})

	t.Run("the ID token and userinfo release the same profile claims", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		code, ap := app.SignIn(b, oauth2.SetAuthURLParam("scope", "openid profile"))
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		_, id := signettest.JWTParts(t, tok.Extra("id_token").(string))
		status, ui := regressUserinfo(t, ti, tok.AccessToken)
		if status != http.StatusOK {
			t.Fatalf("userinfo: %d", status)
		}
		for _, claim := range []string{"name", "preferred_username", "updated_at"} {
			if id[claim] == nil || id[claim] != ui[claim] {
				t.Errorf("%s: ID token %v, userinfo %v", claim, id[claim], ui[claim])
			}
		}
	})

	t.Run("HEAD does not complete a sign-in", func(t *testing.T) {
		for _, path := range []string{"/authorize", "/authorize/callback?id=x"} {
			req, _ := http.NewRequest(http.MethodHead, ti.URL+path, nil)
			if resp, _ := rawRequest(t, req); resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("HEAD %s: %d, want 405", path, resp.StatusCode)
			}
		}
	})

	t.Run("userinfo refuses a token in the query and odd methods", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		code, ap := app.SignIn(b)
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, ti.URL+"/userinfo?access_token="+url.QueryEscape(tok.AccessToken), nil)
		if resp, body := rawRequest(t, req); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
			t.Errorf("token in the query: %d %s", resp.StatusCode, body)
		}
		for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(m, ti.URL+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			if resp, body := rawRequest(t, req); resp.StatusCode != http.StatusMethodNotAllowed || strings.Contains(body, "alice") {
				t.Errorf("%s /userinfo: %d %s", m, resp.StatusCode, body)
			}
		}
		if _, err := app.UserInfo(tok.AccessToken); err != nil {
			t.Errorf("a GET with the header still works: %v", err)
		}
	})

	t.Run("bodies are bounded on the library's endpoints", func(t *testing.T) {
		big := "token=" + strings.Repeat("A", 1<<20)
		for _, path := range []string{"/revoke", "/oauth/introspect"} {
			req, _ := http.NewRequest(http.MethodPost, ti.URL+path, strings.NewReader(big))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("app", app.OAuth.ClientSecret)
			resp, body := rawRequest(t, req)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 || strings.Contains(body, `"active":true`) {
				t.Errorf("1 MiB body to %s: %d %.200s", path, resp.StatusCode, body)
			}
		}
	})

	t.Run("one client authentication method per request", func(t *testing.T) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {app.OAuth.RedirectURL}, "client_secret": {app.OAuth.ClientSecret}}
		status, m := app.PostForm("/oauth/token", form)
		if status != http.StatusBadRequest || m["error"] != "invalid_request" {
			t.Errorf("Basic and client_secret together: %d %v", status, m)
		}
		other := ti.addClient(admin.AddClientInput{ID: "other"})
		form = url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {app.OAuth.RedirectURL}, "client_id": {other.OAuth.ClientID}}
		status, m = app.PostForm("/oauth/token", form)
		if status != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Errorf("Basic for app with client_id=other: %d %v", status, m)
		}
	})

	t.Run("an unknown client and a wrong secret get the same answer", func(t *testing.T) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
		answer := func(id, secret string) (int, map[string]any) {
			return tokenPost(t, ti.URL, id, secret, form)
		}
		s1, wrong := answer("app", "not the secret")
		s2, unknown := answer("no-such-client", "not the secret")
		if s1 != http.StatusUnauthorized || s1 != s2 || wrong["error"] != "invalid_client" || wrong["error_description"] != unknown["error_description"] {
			t.Errorf("wrong secret %d %v; unknown client %d %v", s1, wrong, s2, unknown)
		}
	})

	t.Run("refresh tokens are introspected for the client that holds them", func(t *testing.T) {
		saved := app.OAuth.Scopes
		app.OAuth.Scopes = []string{"openid", "offline_access"}
		defer func() { app.OAuth.Scopes = saved }()
		b := signettest.NewBrowser(t)
		code, ap := app.SignIn(b)
		tok, err := app.Exchange(code, ap)
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("exchange: %v", err)
		}
		active := func(r *signettest.RP, token string) (bool, map[string]any) {
			status, m := r.PostForm("/oauth/introspect", url.Values{"token": {token}})
			a, ok := m["active"].(bool)
			if status != http.StatusOK || !ok {
				t.Fatalf("introspection: %d %v, want 200 with active", status, m)
			}
			return a, m
		}
		// A hint that it is an access token does not hide it (RFC 7662, 2.1).
		if status, m := app.PostForm("/oauth/introspect", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"access_token"}}); status != http.StatusOK || m["active"] != true {
			t.Errorf("refresh token introspected with token_type_hint=access_token: %d %v", status, m)
		}
		if a, m := active(app, tok.RefreshToken); !a || m["token_type"] != "refresh_token" || m["client_id"] != "app" || m["sub"] == nil {
			t.Errorf("live refresh token: %v", m)
		}
		other := ti.addClient(admin.AddClientInput{ID: "other-introspector"})
		if a, _ := active(other, tok.RefreshToken); a {
			t.Errorf("another client learned that app's refresh token is active")
		}
		next, err := app.Refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := active(app, tok.RefreshToken); a {
			t.Errorf("a rotated refresh token is reported active")
		}
		if a, _ := active(app, next.RefreshToken); !a {
			t.Errorf("its successor is reported inactive")
		}
		if status, _ := app.PostForm("/revoke", url.Values{"token": {next.RefreshToken}}); status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		if a, _ := active(app, next.RefreshToken); a {
			t.Errorf("a revoked refresh token is reported active")
		}
	})

	t.Run("every response carries the baseline headers", func(t *testing.T) {
		for _, path := range []string{"/.well-known/openid-configuration", "/keys", "/no-such-page", "/authorize?client_id=app"} {
			req, _ := http.NewRequest(http.MethodGet, ti.URL+path, nil)
			resp, _ := rawRequest(t, req)
			h := resp.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("GET %s: headers %v", path, h)
			}
		}
	})

	t.Run("an unknown page is Signet's own 404 page; a known one asked wrongly is 405", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(m, ti.URL+"/no-such-page", nil)
			resp, body := rawRequest(t, req)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Page not found") {
				t.Errorf("%s /no-such-page: %d %s %.200s", m, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodPut, "/login", "GET, POST, HEAD"},
			{http.MethodDelete, "/account", "GET, HEAD"},
			{http.MethodPost, "/healthz", "GET, HEAD"},
		} {
			req, _ := http.NewRequest(tc.method, ti.URL+tc.path, nil)
			resp, _ := rawRequest(t, req)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
				t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
			}
		}
	})

	t.Run("a weak If-None-Match matches", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, ti.URL+"/keys", nil)
		resp, _ := rawRequest(t, req)
		etag := resp.Header.Get("ETag")
		req, _ = http.NewRequest(http.MethodGet, ti.URL+"/keys", nil)
		req.Header.Set("If-None-Match", "W/"+etag)
		if resp, _ := rawRequest(t, req); etag == "" || resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match W/%s: %d, want 304", etag, resp.StatusCode)
		}
	})
}
