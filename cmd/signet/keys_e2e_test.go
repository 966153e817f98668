package main

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// fetchJWKS returns the JWKS as a relying party would cache it, with its ETag.
func fetchJWKS(t *testing.T, issuer string) (jose.JSONWebKeySet, string) {
	t.Helper()
	resp, err := http.Get(issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set, resp.Header.Get("ETag")
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _ := signettest.JWTParts(t, tok)
	kid, _ := h["kid"].(string)
	return kid
}

// cachedVerifier verifies ID tokens against a JWKS fetched once, never refetched.
func cachedVerifier(r *signettest.RP, set jose.JSONWebKeySet) *oidc.IDTokenVerifier {
	var pubs []crypto.PublicKey
	for _, k := range set.Keys {
		pubs = append(pubs, k.Key)
	}
	return oidc.NewVerifier(r.Iss.URL, &oidc.StaticKeySet{PublicKeys: pubs},
		&oidc.Config{ClientID: r.OAuth.ClientID, Now: r.Iss.Clock.Now, SupportedSigningAlgs: []string{"RS256", "ES256"}})
}

func TestKeyRotationEndToEnd(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	signIn := func() *oauthTokens {
		code, ap := app.SignIn(b)
		tok, err := app.Exchange(code, ap)
		if err != nil {
			t.Fatal(err)
		}
		return &oauthTokens{id: tok.Extra("id_token").(string), access: tok.AccessToken}
	}

	before := signIn()
	cached, etag := fetchJWKS(t, ti.URL)
	if _, err := cachedVerifier(app, cached).Verify(ti.Ctx, before.id); err != nil {
		t.Fatal(err)
	}

	if _, err := ti.srv.admin.RotateKeys(ti.Ctx, ""); err != nil {
		t.Fatal(err)
	}
	after := signIn()
	if kidOf(t, after.id) == kidOf(t, before.id) {
		t.Fatalf("the rotation did not change the signing key")
	}
	// The RP's JWKS, cached before the rotation, already holds the new key.
	if _, err := cachedVerifier(app, cached).Verify(ti.Ctx, after.id); err != nil {
		t.Fatalf("a token signed after the rotation does not verify with the JWKS cached before it: %v", err)
	}
	current, etag2 := fetchJWKS(t, ti.URL)
	if etag2 == etag {
		t.Errorf("the JWKS ETag did not change with the key set")
	}
	// A token signed before the rotation still verifies (its key is retired, not gone).
	if _, err := cachedVerifier(app, current).Verify(ti.Ctx, before.id); err != nil {
		t.Fatalf("a token signed before the rotation no longer verifies: %v", err)
	}
	if _, err := app.UserInfo(before.access); err != nil {
		t.Fatalf("an access token signed before the rotation is refused: %v", err)
	}

	// A compromised key is removed at once; its tokens stop verifying.
	compromised := kidOf(t, after.id)
	if _, err := ti.srv.admin.RetireKey(ti.Ctx, compromised); err != nil {
		t.Fatal(err)
	}
	fresh, _ := fetchJWKS(t, ti.URL)
	for _, k := range fresh.Keys {
		if k.KeyID == compromised {
			t.Fatalf("retired key %s still in the JWKS", compromised)
		}
	}
	if _, err := cachedVerifier(app, fresh).Verify(ti.Ctx, after.id); err == nil {
		t.Fatalf("a token of the retired key still verifies")
	}
	if _, err := app.UserInfo(after.access); err == nil {
		t.Fatalf("userinfo accepts an access token of the retired key")
	}
	// Signing goes on with the next key.
	third := signIn()
	if kid := kidOf(t, third.id); kid == compromised {
		t.Fatalf("still signing with the retired key")
	}
	if _, err := ti.srv.admin.RetireKey(ti.Ctx, "no-such-kid"); err == nil {
		t.Fatalf("retiring an unknown kid succeeded")
	}
}

type oauthTokens struct{ id, access string }

// TestKeysCLIWhileServing drives `signet keys rotate`, `retire` and `rewrap`
// through the admin socket of a running server.
func TestKeysCLIWhileServing(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	cli := serveAdminSocket(t, ti)
	list := func() []admin.KeyInfo {
		code, out, errs := cli("keys", "list", "--output", "json")
		if code != 0 {
			t.Fatalf("keys list: %s", errs)
		}
		var ks []admin.KeyInfo
		if err := json.Unmarshal([]byte(out), &ks); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	find := func(ks []admin.KeyInfo, alg, state string) string {
		for _, k := range ks {
			if k.Alg == alg && k.State == state {
				return k.ID
			}
		}
		return ""
	}
	jwks, _ := fetchJWKS(t, ti.URL)
	published := map[string]bool{}
	for _, k := range jwks.Keys {
		published[k.KeyID] = true
	}
	ks := list()
	next := find(ks, "RS256", "next")
	if next == "" || !published[next] {
		t.Fatalf("no published next RS256 key: %v", ks)
	}
	// The next key was published when the server started, moments ago: the
	// rotation goes ahead and warns that cached JWKS lack it.
	if code, _, errs := cli("keys", "rotate", "--alg", "RS256"); code != 0 {
		t.Fatalf("keys rotate: %s", errs)
	} else if !strings.Contains(errs, "warning: RS256 key "+next) || strings.Contains(errs, "ES256") {
		t.Fatalf("keys rotate of a key published moments ago: stderr %q, want one warning for RS256 key %s", errs, next)
	}
	if code, _, errs := cli("keys", "retire", ""); code == 0 || !strings.Contains(errs, "KID is empty") {
		t.Fatalf("retire of an empty kid: code %d, %q", code, errs)
	}
	if sg, _ := ti.srv.keys.Snapshot().Signer(jose.RS256); sg.KID != next {
		t.Fatalf("the running server signs with %s, want the pre-published %s", sg.KID, next)
	}
	if code, _, errs := cli("keys", "retire", "nope"); code == 0 || !strings.Contains(errs, "nope") {
		t.Fatalf("retire unknown kid: code %d, %q", code, errs)
	}
	// A kid that begins with '-' (older stores may hold one) reads as a flag:
	// the error says to put it after "--", and after "--" it is a key id.
	if code, _, errs := cli("keys", "retire", "-dashKid"); code == 0 || !strings.Contains(errs, "signet keys retire -- KID") {
		t.Fatalf("retire -dashKid: code %d, %q", code, errs)
	}
	if code, _, errs := cli("keys", "retire", "--", "-dashKid"); code == 0 || !strings.Contains(errs, "-dashKid") || strings.Contains(errs, "flag") {
		t.Fatalf("retire -- -dashKid: code %d, %q", code, errs)
	}
	for _, k := range list() {
		if strings.HasPrefix(k.ID, "-") {
			t.Fatalf("key %s has a kid that begins with '-'", k.ID)
		}
	}
	if code, _, errs := cli("keys", "rotate", "--alg", "HS256"); code == 0 || errs == "" {
		t.Fatalf("rotate with a bad alg succeeded")
	}
	if code, _, errs := cli("keys", "retire", next); code != 0 {
		t.Fatalf("keys retire: %s", errs)
	}
	if _, ok := ti.srv.keys.Snapshot().Lookup(next); ok {
		t.Fatalf("the running server still publishes the retired key")
	}
	if code, out, errs := cli("keys", "rewrap", "--yes"); code != 0 || !strings.Contains(out, "key-encryption key") {
		t.Fatalf("keys rewrap: %d %q %q", code, out, errs)
	}
	// The keys now open with the new key in data_dir and not with the old one.
	secrets, err := LoadSecrets(ti.srv.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := initKeys(context.Background(), ti.srv.cfg, ti.srv.store, secrets, time.Now, ti.srv.log); err != nil {
		t.Fatalf("keys do not open with the new key-encryption key: %v", err)
	}
	// And the running server keeps signing and sealing new keys.
	if code, _, errs := cli("keys", "rotate"); code != 0 {
		t.Fatalf("rotate after rewrap: %s", errs)
	}
	if _, err := initKeys(context.Background(), ti.srv.cfg, ti.srv.store, secrets, time.Now, ti.srv.log); err != nil {
		t.Fatalf("keys made after the rewrap do not open: %v", err)
	}
}
