package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// groupsOf reads the groups claim of a verified ID token, userinfo or a JWT.
func groupsOf(t *testing.T, claims map[string]any) []string {
	t.Helper()
	raw, ok := claims["groups"].([]any)
	if !ok {
		t.Fatalf("no groups claim in %v", claims)
	}
	var out []string
	for _, g := range raw {
		out = append(out, g.(string))
	}
	return out
}

// TestGroupsClaimAndEmailVerified: with the groups scope, the ID token, userinfo
// and the JWT access token carry the person's groups, and a refresh carries them
// as they are then; email_verified follows `user add --email-verified`.
func TestGroupsClaimAndEmailVerified(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	ctx := ti.Ctx
	if _, err := ti.srv.admin.AddUser(ctx, admin.AddUserInput{Username: "kim", Email: "kim@example.com", EmailVerified: true, Password: "kim's long password"}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"admins", "staff"} {
		if _, err := ti.srv.admin.AddGroup(ctx, admin.AddGroupInput{Name: g}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ti.srv.admin.AddUserGroups(ctx, admin.UserGroupsInput{Username: "kim", Groups: []string{"staff"}}); err != nil {
		t.Fatal(err)
	}
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	app.OAuth.Scopes = []string{oidc.ScopeOpenID, "email", "groups", oidc.ScopeOfflineAccess}

	// Kim signs in with her email address in the username field.
	b := signettest.NewBrowser(t)
	u, ap := app.AuthURL()
	code := app.CodeFrom(b.Login(b.Get(u), "KIM@example.com", "kim's long password"), ap)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var idc map[string]any
	app.VerifyID(tok, ap.Nonce).Claims(&idc)
	if idc["email_verified"] != true {
		t.Errorf("email_verified = %v, want true", idc["email_verified"])
	}
	if got := groupsOf(t, idc); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("ID token groups = %v", got)
	}
	_, at := signettest.JWTParts(t, tok.AccessToken)
	if got := groupsOf(t, at); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("access token groups = %v", got)
	}
	ui, err := app.UserInfo(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var uic map[string]any
	ui.Claims(&uic)
	if got := groupsOf(t, uic); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("userinfo groups = %v", got)
	}

	// A change of groups shows in the next refresh.
	if _, err := ti.srv.admin.AddUserGroups(ctx, admin.UserGroupsInput{Username: "kim", Groups: []string{"admins"}}); err != nil {
		t.Fatal(err)
	}
	next, err := app.Refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	app.VerifyID(next, "").Claims(&idc)
	if got := groupsOf(t, idc); !slices.Equal(got, []string{"admins", "staff"}) {
		t.Errorf("refreshed ID token groups = %v", got)
	}
	_, at = signettest.JWTParts(t, next.AccessToken)
	if got := groupsOf(t, at); !slices.Equal(got, []string{"admins", "staff"}) {
		t.Errorf("refreshed access token groups = %v", got)
	}

	// Without the groups scope there is no groups claim; a changed email is
	// unverified.
	if _, err := ti.srv.admin.UpdateUser(ctx, admin.UpdateUserInput{Username: "kim", Email: ptr("kim@new.example.com")}); err != nil {
		t.Fatal(err)
	}
	plain := *app
	plain.OAuth.Scopes = []string{oidc.ScopeOpenID, "email"}
	u, ap = plain.AuthURL()
	tok, err = plain.Exchange(plain.CodeFrom(b.Get(u), ap), ap)
	if err != nil {
		t.Fatal(err)
	}
	idc = nil
	plain.VerifyID(tok, ap.Nonce).Claims(&idc)
	if _, ok := idc["groups"]; ok {
		t.Errorf("groups released without the groups scope: %v", idc)
	}
	if idc["email"] != "kim@new.example.com" || idc["email_verified"] != false {
		t.Errorf("after an email change: %v", idc)
	}

	// Discovery lists the scope and the claim.
	resp, err := http.Get(ti.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var disc struct {
		Scopes []string `json:"scopes_supported"`
		Claims []string `json:"claims_supported"`
	}
	decodeBody(t, resp, &disc)
	if !slices.Contains(disc.Scopes, "groups") || !slices.Contains(disc.Claims, "groups") {
		t.Errorf("discovery: scopes %v, claims %v", disc.Scopes, disc.Claims)
	}
}

// TestAllowedGroupRefusesOthers: a client limited to a group sends everyone else
// back with access_denied, and stops refreshing for a person taken out of it.
func TestAllowedGroupRefusesOthers(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	ctx := ti.Ctx
	if _, err := ti.srv.admin.AddGroup(ctx, admin.AddGroupInput{Name: "admins"}); err != nil {
		t.Fatal(err)
	}
	app := ti.addClient(admin.AddClientInput{ID: "admin-app", AllowedGroups: []string{"admins"}})

	b := signettest.NewBrowser(t)
	u, ap := app.AuthURL()
	p := b.Login(b.Get(u), "alice", alicePassword)
	q := p.URL.Query()
	if p.URL.Host != "127.0.0.1:9" || q.Get("error") != "access_denied" || q.Get("state") != ap.State || q.Get("code") != "" {
		t.Fatalf("a non-member: %d %s", p.Status, p.URL)
	}
	if strings.Contains(q.Get("error_description"), "admins") {
		t.Errorf("the refusal names the group: %q", q.Get("error_description"))
	}

	if _, err := ti.srv.admin.AddUserGroups(ctx, admin.UserGroupsInput{Username: "alice", Groups: []string{"admins"}}); err != nil {
		t.Fatal(err)
	}
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatalf("a member: %v", err)
	}
	if _, err := ti.srv.admin.RemoveUserGroups(ctx, admin.UserGroupsInput{Username: "alice", Groups: []string{"admins"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Refresh(tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after leaving the group: %v, want invalid_grant", err)
	}
	if app.Introspect(tok.AccessToken) {
		t.Error("the access token is still active after leaving the group")
	}
	// SSO does not get around it either.
	u, ap = app.AuthURL()
	p = b.Get(u)
	if p.URL.Query().Get("error") != "access_denied" {
		t.Errorf("SSO after leaving the group: %d %s", p.Status, p.URL)
	}
}

// TestRotateSecretKeepOld: with --keep-old both secrets work until the end of
// the period, then only the new one; without it the old one stops at once.
func TestRotateSecretKeepOld(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	oldSecret := app.OAuth.ClientSecret
	rot, err := ti.srv.admin.RotateClientSecret(ti.Ctx, admin.RotateSecretInput{ID: "app", KeepOldSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	works := func(secret string) bool {
		t.Helper()
		c := *app
		c.OAuth.ClientSecret = secret
		status, _ := c.PostForm("/oauth/introspect", url.Values{"token": {"x"}})
		return status == http.StatusOK
	}
	if !works(oldSecret) || !works(rot.ClientSecret) {
		t.Fatalf("during the overlap: old %v, new %v", works(oldSecret), works(rot.ClientSecret))
	}
	// A whole sign-in with the new secret.
	withNew := *app
	withNew.OAuth.ClientSecret = rot.ClientSecret
	code, ap := withNew.SignIn(signettest.NewBrowser(t))
	if _, err := withNew.Exchange(code, ap); err != nil {
		t.Fatalf("code exchange with the new secret: %v", err)
	}
	ti.Clock.Advance(time.Hour + time.Second)
	if works(oldSecret) || !works(rot.ClientSecret) {
		t.Fatalf("after the overlap: old %v, new %v", works(oldSecret), works(rot.ClientSecret))
	}
	again, err := ti.srv.admin.RotateClientSecret(ti.Ctx, admin.RotateSecretInput{ID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if works(rot.ClientSecret) || !works(again.ClientSecret) {
		t.Fatal("without --keep-old the old secret still works")
	}
}

// TestRemoveUserEndsEverything: `user remove` ends sessions and tokens and
// deletes the person.
func TestRemoveUserEndsEverything(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	held := signInTwice(t, app, b)
	ended, err := ti.srv.admin.RemoveUser(ti.Ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ended.Sessions != 1 {
		t.Errorf("ended %+v", ended)
	}
	wantAllDead(t, app, held, "after user remove")
	if _, err := ti.srv.admin.ShowUser(ti.Ctx, "alice"); err == nil {
		t.Error("the person is still there")
	}
	u, _ := app.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.Get(u); p.URL.Query().Get("error") != "login_required" {
		t.Errorf("the browser is still signed in: %s", p.URL)
	}
}

func ptr[T any](v T) *T { return &v }

func decodeBody(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
