package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage"
)

// TestJWTAccessTokensLeaveNoRecord (issue 14): a code exchange and a refresh
// store no access-token record for a JWT client, yet the tokens are judged by
// what is stored anyway: active until revoked (RFC 7009, by jti), and a token
// whose refresh family is revoked (reuse of a rotated refresh token) is
// inactive; a form naming the token twice is refused, since the library and
// Signet would read different values of it.
func TestJWTAccessTokensLeaveNoRecord(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	first, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	second, err := app.Refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{first.AccessToken, second.AccessToken} {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("access token is not a JWT: %q", tok)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		var claims struct {
			JTI string `json:"jti"`
			FID string `json:"fid"`
		}
		if err != nil || json.Unmarshal(payload, &claims) != nil || claims.JTI == "" || claims.FID == "" {
			t.Fatalf("access token claims: %s (%v)", payload, err)
		}
		if _, err := ti.srv.store.GetAccessToken(ti.Ctx, claims.JTI); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("record of JWT access token %s: %v, want none", claims.JTI, err)
		}
	}
	for _, tok := range []string{first.AccessToken, second.AccessToken} {
		if !app.Introspect(tok) {
			t.Fatal("a live JWT access token is inactive")
		}
	}

	st, _ := app.PostForm("/oauth/introspect", url.Values{"token": {second.AccessToken, first.AccessToken}})
	if st != http.StatusBadRequest {
		t.Errorf("introspection naming the token twice: status %d, want 400", st)
	}

	// Revoked by jti: the other token of the grant stays active.
	if st, _ := app.PostForm("/revoke", url.Values{"token": {second.AccessToken}}); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	if app.Introspect(second.AccessToken) {
		t.Error("a revoked JWT access token is active")
	}
	if !app.Introspect(first.AccessToken) {
		t.Error("revoking one access token ended another")
	}
	// Presenting the rotated refresh token again revokes the family, and with
	// it every access token that names it.
	if _, err := app.Refresh(first.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: %v", err)
	}
	if app.Introspect(first.AccessToken) {
		t.Error("an access token of a revoked family is active")
	}
	if _, err := app.UserInfo(first.AccessToken); err == nil {
		t.Error("userinfo accepted an access token of a revoked family")
	}
}
