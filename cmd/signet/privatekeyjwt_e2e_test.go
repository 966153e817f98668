package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// keyClient is a relying party that authenticates with private_key_jwt. x/oauth2
// cannot sign assertions, so its token requests are forms built here.
type keyClient struct {
	*signettest.RP
	key jose.SigningKey
	kid string
}

// assertion signs a client assertion for the token endpoint (or aud).
func (k *keyClient) assertion(t *testing.T, aud string) string {
	t.Helper()
	if aud == "" {
		aud = k.OAuth.Endpoint.TokenURL
	}
	now := k.Iss.Clock.Now()
	sg, err := jose.NewSigner(k.key, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sg).Claims(map[string]any{
		"iss": k.OAuth.ClientID, "sub": k.OAuth.ClientID, "aud": aud,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": rand.Text(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// post sends form to an endpoint with no Basic credentials.
func (k *keyClient) post(t *testing.T, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// withAssertion adds a fresh client assertion to form.
func (k *keyClient) withAssertion(t *testing.T, form url.Values, aud string) url.Values {
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", k.assertion(t, aud))
	return form
}

// TestPrivateKeyJWTCodeFlow: a client registered with a jwks_uri signs in a
// person, redeems the code, refreshes, introspects and revokes with client
// assertions; a replayed assertion and a secret-less request are refused.
func TestPrivateKeyJWTCodeFlow(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &rk.PublicKey, KeyID: "rp-1", Use: "sig", Algorithm: "RS256"}}})
	keysSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(keysSrv.Close)
	app := &keyClient{
		RP:  ti.addClient(admin.AddClientInput{ID: "keyapp", TokenAuthMethod: "private_key_jwt", JWKSURI: keysSrv.URL + "/jwks.json"}),
		key: jose.SigningKey{Algorithm: jose.RS256, Key: rk}, kid: "rp-1",
	}
	if app.OAuth.ClientSecret != "" {
		t.Fatal("a private_key_jwt client was given a secret")
	}
	tokenURL := app.OAuth.Endpoint.TokenURL
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)

	// Without an assertion the client has nothing to authenticate with.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.OAuth.RedirectURL},
		"code_verifier": {ap.Verifier}, "client_id": {"keyapp"}}
	if status, m := app.post(t, tokenURL, form); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Fatalf("code exchange without an assertion: %d %v", status, m)
	}
	status, m := app.post(t, tokenURL, app.withAssertion(t, form, ""))
	if status != http.StatusOK {
		t.Fatalf("code exchange with an assertion: %d %v", status, m)
	}
	idToken, _ := m["id_token"].(string)
	if _, err := app.Verifier.Verify(ti.Ctx, idToken); err != nil {
		t.Errorf("ID token: %v", err)
	}
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)

	// Refresh, with the issuer as audience this time.
	rform := app.withAssertion(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, ti.URL)
	status, m = app.post(t, tokenURL, rform)
	if status != http.StatusOK {
		t.Fatalf("refresh with an assertion: %d %v", status, m)
	}
	refresh = m["refresh_token"].(string)
	// The same assertion again: its jti was used.
	rform.Set("refresh_token", refresh)
	if status, m := app.post(t, tokenURL, rform); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("a replayed assertion: %d %v", status, m)
	}

	// Introspection and revocation take assertions too.
	introspect := ti.URL + "/oauth/introspect"
	status, m = app.post(t, introspect, app.withAssertion(t, url.Values{"token": {access}}, introspect))
	if status != http.StatusOK || m["active"] != true || m["client_id"] != "keyapp" {
		t.Errorf("introspection with an assertion: %d %v", status, m)
	}
	status, _ = app.post(t, ti.URL+"/revoke", app.withAssertion(t, url.Values{"token": {refresh}}, ""))
	if status != http.StatusOK {
		t.Errorf("revocation with an assertion: %d", status)
	}
	status, m = app.post(t, tokenURL, app.withAssertion(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, ""))
	if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh after revocation: %d %v", status, m)
	}

	// Discovery advertises the method and its algorithms.
	var d map[string]any
	resp, err := http.Get(ti.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if methods := toStrings(d["token_endpoint_auth_methods_supported"]); !strings.Contains(strings.Join(methods, " "), "private_key_jwt") {
		t.Errorf("token_endpoint_auth_methods_supported = %v", methods)
	}
	if algs := toStrings(d["token_endpoint_auth_signing_alg_values_supported"]); strings.Join(algs, " ") != "RS256 ES256 PS256" {
		t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v", algs)
	}
}

// TestPrivateKeyJWTCLI: client add --token-auth private_key_jwt with
// --jwks-file or --jwks-uri registers a client without a secret; bad keys and
// URIs are refused.
func TestPrivateKeyJWTCLI(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeSet := func(name string, k jose.JSONWebKey) string {
		data, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := writeSet("pub.json", jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "k1"})
	priv := writeSet("priv.json", jose.JSONWebKey{Key: ek, KeyID: "k1"})

	var created map[string]any
	out := e.ok("", "client", "add", "--id", "batch", "--name", "Batch", "--grant", "client_credentials",
		"--token-auth", "private_key_jwt", "--jwks-file", pub, "--output", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	if _, has := created["client_secret"]; has || created["client_id"] != "batch" {
		t.Errorf("client add --token-auth private_key_jwt = %s, want no secret", out)
	}
	info := decodeJSON[admin.ClientInfo](t, e.ok("", "client", "show", "batch", "--output", "json"))
	var jwks bytes.Buffer
	json.Compact(&jwks, info.JWKS)
	if info.TokenAuthMethod != "private_key_jwt" || !strings.Contains(jwks.String(), `"kid":"k1"`) || strings.Contains(jwks.String(), `"d":`) {
		t.Errorf("client show = %+v", info)
	}
	out = e.ok("", "client", "add", "--id", "web", "--name", "Web", "--redirect-uri", "https://app.example.com/cb",
		"--token-auth", "private_key_jwt", "--jwks-uri", "https://app.example.com/jwks.json")
	if strings.Contains(out, "client_secret") || !strings.Contains(out, "private_key_jwt") {
		t.Errorf("client add with --jwks-uri printed %q", out)
	}
	if out := e.ok("", "client", "show", "web"); !strings.Contains(out, "jwks_uri:") || !strings.Contains(out, "https://app.example.com/jwks.json") {
		t.Errorf("client show web: %q", out)
	}
	if info := decodeJSON[admin.ClientInfo](t, e.ok("", "client", "show", "batch", "-o", "json")); info.TokenAuthMethod != "private_key_jwt" {
		t.Errorf("token_endpoint_auth_method = %q", info.TokenAuthMethod)
	}
	e.fails("no secret", "", "client", "rotate-secret", "web")

	base := []string{"client", "add", "--name", "X", "--redirect-uri", "https://x.example.com/cb"}
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"must use https", []string{"--id", "x1", "--token-auth", "private_key_jwt", "--jwks-uri", "http://keys.example.com/jwks"}},
		{"must use https", []string{"--id", "x2", "--token-auth", "private_key_jwt", "--jwks-uri", "ftp://keys.example.com/jwks"}},
		{"not both", []string{"--id", "x3", "--token-auth", "private_key_jwt", "--jwks-uri", "https://k.example.com/", "--jwks-file", pub}},
		{"needs the client's public keys", []string{"--id", "x4", "--token-auth", "private_key_jwt"}},
		{"private keys", []string{"--id", "x5", "--token-auth", "private_key_jwt", "--jwks-file", priv}},
		{"exclude each other", []string{"--id", "x6", "--public", "--token-auth", "private_key_jwt", "--jwks-file", pub}},
		{"are for clients registered with --token-auth private_key_jwt", []string{"--id", "x7", "--jwks-uri", "https://k.example.com/"}},
		{"is not one of", []string{"--id", "x8", "--token-auth", "client_secret_jwt"}},
	} {
		e.fails(tc.want, "", append(base, tc.args...)...)
	}
}

// TestPrivateKeyJWTDeviceClient: a device client that authenticates with a key
// asks for a device code and polls with assertions (the device endpoint as the
// assertion's audience, then the token endpoint).
func TestPrivateKeyJWTDeviceClient(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ek.PublicKey, KeyID: "tv-1", Use: "sig", Algorithm: "ES256"}}})
	keysSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(keysSrv.Close)
	tv := ti.addDeviceClient("tv", false, func(in *admin.AddClientInput) {
		in.TokenAuthMethod, in.JWKSURI = "private_key_jwt", keysSrv.URL+"/jwks.json"
	})
	k := &keyClient{RP: &signettest.RP{Iss: ti.Issuer, OAuth: tv.oauth}, key: jose.SigningKey{Algorithm: jose.ES256, Key: ek}, kid: "tv-1"}
	// A routine change keeps how the client authenticates.
	if ci, err := ti.srv.admin.UpdateClient(ti.Ctx, admin.UpdateClientInput{ID: "tv", Name: ptr("Living-room TV")}); err != nil || ci.TokenAuthMethod != "private_key_jwt" {
		t.Fatalf("client update of a private_key_jwt client: %+v %v", ci, err)
	}
	deviceURL := ti.URL + "/device_authorization"
	if status, m := k.post(t, deviceURL, url.Values{"client_id": {"tv"}, "scope": {"openid"}}); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Fatalf("device authorization without an assertion: %d %v", status, m)
	}
	status, m := k.post(t, deviceURL, k.withAssertion(t, url.Values{"scope": {"openid"}}, deviceURL))
	if status != http.StatusOK || m["device_code"] == nil {
		t.Fatalf("device authorization with an assertion: %d %v", status, m)
	}
	form := k.withAssertion(t, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {m["device_code"].(string)}}, "")
	if status, m := k.post(t, tv.oauth.Endpoint.TokenURL, form); status != http.StatusBadRequest || m["error"] != "authorization_pending" {
		t.Fatalf("polling with an assertion: %d %v", status, m)
	}
}
