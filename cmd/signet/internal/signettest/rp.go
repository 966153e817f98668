package signettest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// RP is a relying party built from go-oidc and x/oauth2.
type RP struct {
	Iss      *Issuer
	OAuth    oauth2.Config
	Provider *oidc.Provider
	Verifier *oidc.IDTokenVerifier
}

// NewRP is the relying party of a registered client: it reads the issuer's
// discovery document and verifies ID tokens at the issuer's clock. It asks for
// openid, profile, email and offline_access.
func NewRP(iss *Issuer, clientID, secret, redirectURI string) *RP {
	iss.T.Helper()
	p, err := oidc.NewProvider(iss.Ctx, iss.URL)
	if err != nil {
		iss.T.Fatal(err)
	}
	return &RP{
		Iss: iss,
		OAuth: oauth2.Config{
			ClientID: clientID, ClientSecret: secret,
			Endpoint: p.Endpoint(), RedirectURL: redirectURI,
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
		},
		Provider: p,
		Verifier: p.Verifier(&oidc.Config{ClientID: clientID, Now: iss.Clock.Now}),
	}
}

type AuthParams struct {
	State, Nonce, Verifier string
	Opts                   []oauth2.AuthCodeOption
}

func (r *RP) AuthURL(extra ...oauth2.AuthCodeOption) (string, AuthParams) {
	ap := AuthParams{State: RandHex(), Nonce: RandHex(), Verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(ap.Verifier), oidc.Nonce(ap.Nonce)}, extra...)
	return r.OAuth.AuthCodeURL(ap.State, opts...), ap
}

func RandHex() string {
	v := oauth2.GenerateVerifier()
	return v[:20]
}

// SignIn runs the browser part of the flow and returns the code.
func (r *RP) SignIn(b *Browser, extra ...oauth2.AuthCodeOption) (string, AuthParams) {
	r.Iss.T.Helper()
	u, ap := r.AuthURL(extra...)
	p := b.Get(u)
	if strings.Contains(p.URL.Path, "/login") {
		if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`) {
			r.Iss.T.Fatalf("login page: %d %s", p.Status, p.Body)
		}
		p = b.Login(p, "alice", "correct horse battery")
	}
	return r.CodeFrom(p, ap), ap
}

func (r *RP) CodeFrom(p Page, ap AuthParams) string {
	r.Iss.T.Helper()
	q := p.URL.Query()
	if p.URL.Host != "127.0.0.1:9" || q.Get("code") == "" {
		r.Iss.T.Fatalf("expected a redirect to the RP with a code, got %d %s: %s", p.Status, p.URL, p.Body)
	}
	if q.Get("state") != ap.State {
		r.Iss.T.Fatalf("state = %q, want %q", q.Get("state"), ap.State)
	}
	if q.Get("iss") != r.Iss.URL {
		r.Iss.T.Fatalf("iss = %q, want %q", q.Get("iss"), r.Iss.URL)
	}
	return q.Get("code")
}

func (r *RP) Exchange(code string, ap AuthParams) (*oauth2.Token, error) {
	return r.OAuth.Exchange(r.Iss.Ctx, code, oauth2.VerifierOption(ap.Verifier))
}

func (r *RP) VerifyID(tok *oauth2.Token, nonce string) *oidc.IDToken {
	r.Iss.T.Helper()
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.Verifier.Verify(r.Iss.Ctx, raw)
	if err != nil {
		r.Iss.T.Fatalf("verify id token: %v", err)
	}
	if nonce != "" && idt.Nonce != nonce {
		r.Iss.T.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	return idt
}

func (r *RP) UserInfo(access string) (*oidc.UserInfo, error) {
	return r.Provider.UserInfo(r.Iss.Ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"}))
}

func (r *RP) Refresh(refreshToken string) (*oauth2.Token, error) {
	return r.OAuth.TokenSource(r.Iss.Ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// PostForm posts an authenticated form to an endpoint and decodes the JSON answer.
func (r *RP) PostForm(path string, form url.Values) (int, map[string]any) {
	r.Iss.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.Iss.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.OAuth.ClientID), url.QueryEscape(r.OAuth.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.Iss.T.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (r *RP) Introspect(token string) bool {
	r.Iss.T.Helper()
	_, m := r.PostForm("/oauth/introspect", url.Values{"token": {token}})
	active, _ := m["active"].(bool)
	return active
}

func OAuthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if ok := asRetrieveError(err, &re); ok {
		return re.ErrorCode
	}
	return ""
}

func asRetrieveError(err error, target **oauth2.RetrieveError) bool {
	re, ok := err.(*oauth2.RetrieveError)
	if ok {
		*target = re
	}
	return ok
}

// JWTParts decodes a compact JWS header and payload without verifying.
func JWTParts(t testing.TB, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// PKCEChallenge is S256 of a verifier, for hand-made requests.
func PKCEChallenge(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}
