package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
)

const pkjIssuer = "https://id.example.com"

// jwksServer serves a client's JWK Set, which a test may replace, slow down
// or blow up, and counts the fetches.
type jwksServer struct {
	*httptest.Server
	set     atomic.Pointer[jose.JSONWebKeySet]
	delay   atomic.Int64 // nanoseconds
	huge    atomic.Bool
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	s := &jwksServer{}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if d := time.Duration(s.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if s.huge.Load() {
			// A valid set padded past the bound with a key nobody uses.
			w.Write([]byte(`{"keys":[],"pad":"`))
			w.Write([]byte(strings.Repeat("x", 2<<20)))
			w.Write([]byte(`"}`))
			return
		}
		json.NewEncoder(w).Encode(s.set.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...jose.JSONWebKey) {
	s.set.Store(&jose.JSONWebKeySet{Keys: keys})
}

// clientKey is a client's key pair.
type clientKey struct {
	priv any
	alg  jose.SignatureAlgorithm
	kid  string
}

func newRSAKey(t *testing.T, kid string, alg jose.SignatureAlgorithm) clientKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: k, alg: alg, kid: kid}
}

func newECKey(t *testing.T, kid string) clientKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{priv: k, alg: jose.ES256, kid: kid}
}

func (k clientKey) public() jose.JSONWebKey {
	var pub any
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	}
	return jose.JSONWebKey{Key: pub, KeyID: k.kid, Use: "sig"}
}

// sign makes a client assertion with claims over the defaults (iss = sub =
// client, aud = token endpoint, exp in a minute, a fresh jti).
func (k clientKey) sign(t *testing.T, now time.Time, client string, claims map[string]any) string {
	t.Helper()
	return signAssertion(t, jose.SigningKey{Algorithm: k.alg, Key: k.priv}, k.kid, now, client, claims)
}

func signAssertion(t *testing.T, key jose.SigningKey, kid string, now time.Time, client string, over map[string]any) string {
	t.Helper()
	claims := map[string]any{
		"iss": client, "sub": client, "aud": pkjIssuer + provider.PathToken,
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": rand.Text(),
	}
	for k, v := range over {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sg, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type pkjEnv struct {
	p     *provider.Provider
	st    storage.Store
	clock *clocktest.Clock
}

// newPKJProvider is a provider over a real bbolt store and real keys, with a
// short jwks_uri timeout.
func newPKJProvider(t *testing.T, ck provider.ClientKeysConfig) *pkjEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clocktest.New(time.Now())
	var kek [32]byte
	rand.Read(kek[:])
	km, err := keys.NewManager(st, kek, keys.Policy{RotationPeriod: 720 * time.Hour, PrepublishLead: 2 * time.Hour, Retention: 2 * time.Hour}, clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := provider.New(provider.Config{
		Issuer: pkjIssuer, Store: st, Keys: km, Now: clk.Now,
		Scopes: []provider.Scope{{Name: "calendar.read"}},
		Lifetimes: provider.Lifetimes{
			AccessToken: 10 * time.Minute, IDToken: time.Hour, RefreshTokenIdle: time.Hour, RefreshTokenAbsolute: 2 * time.Hour,
			AuthRequest: 10 * time.Minute, AuthorizationCode: time.Minute,
		},
		JWKSMaxAge: time.Hour,
		ClientKeys: ck,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &pkjEnv{p: p, st: st, clock: clk}
}

// addService registers a service account that authenticates with a key.
func (e *pkjEnv) addService(t *testing.T, id, jwksURI string, jwks []byte) {
	t.Helper()
	err := e.st.CreateClient(context.Background(), &storage.Client{
		ID: id, Name: id, GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{"calendar.read"},
		TokenAuthMethod: storage.TokenAuthPrivateKeyJWT, JWKSURI: jwksURI, JWKS: jwks, CreatedAt: e.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// post sends a form to path and decodes the JSON answer.
func (e *pkjEnv) post(t *testing.T, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, pkjIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.p.ServeHTTP(rec, req)
	var m map[string]any
	json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

// clientCredentials asks for a token with an assertion (x/oauth2 cannot sign
// one, so the form is built here).
func (e *pkjEnv) clientCredentials(t *testing.T, assertion string) (int, map[string]any) {
	t.Helper()
	return e.post(t, provider.PathToken, url.Values{
		"grant_type": {"client_credentials"}, "scope": {"calendar.read"},
		"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {assertion},
	})
}

func wantInvalidClient(t *testing.T, what string, status int, m map[string]any) {
	t.Helper()
	if status != http.StatusUnauthorized || m["error"] != "invalid_client" || m["error_description"] != "client authentication failed" {
		t.Errorf("%s: %d %v, want 401 invalid_client with the one description", what, status, m)
	}
}

// TestPrivateKeyJWT: service accounts authenticate with RS256, ES256 and PS256
// assertions; replays, wrong audiences, HS256, none, expired and far-future
// assertions, and unknown clients are refused alike.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey, psKey := newRSAKey(t, "rsa-1", jose.RS256), newECKey(t, "ec-1"), newRSAKey(t, "ps-1", jose.PS256)
	jwks := newJWKSServer(t, rsaKey.public(), ecKey.public())
	e := newPKJProvider(t, provider.ClientKeysConfig{FetchTimeout: time.Second})
	e.addService(t, "svc", jwks.URL, nil)
	fileSet, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{psKey.public()}})
	if err != nil {
		t.Fatal(err)
	}
	e.addService(t, "svc-file", "", fileSet)
	now := e.clock.Now()

	for _, tc := range []struct {
		name   string
		client string
		key    clientKey
	}{{"RS256", "svc", rsaKey}, {"ES256", "svc", ecKey}, {"PS256 from a registered file", "svc-file", psKey}} {
		status, m := e.clientCredentials(t, tc.key.sign(t, now, tc.client, nil))
		if status != http.StatusOK {
			t.Fatalf("%s: %d %v", tc.name, status, m)
		}
		_, claims := decodeJWT(t, m["access_token"].(string))
		if claims["sub"] != tc.client || claims["client_id"] != tc.client {
			t.Errorf("%s: access token sub %v client_id %v", tc.name, claims["sub"], claims["client_id"])
		}
	}

	// The issuer is an audience too (RFC 7523 allows either).
	if status, m := e.clientCredentials(t, rsaKey.sign(t, now, "svc", map[string]any{"aud": pkjIssuer})); status != http.StatusOK {
		t.Errorf("aud = the issuer: %d %v", status, m)
	}
	// A jti is used once.
	a := rsaKey.sign(t, now, "svc", nil)
	if status, m := e.clientCredentials(t, a); status != http.StatusOK {
		t.Fatalf("first use: %d %v", status, m)
	}
	status, replay := e.clientCredentials(t, a)
	wantInvalidClient(t, "a replayed jti", status, replay)

	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a shared secret of thirty-two bytes!")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hsAssertion, _ := jwt.Signed(hs).Claims(map[string]any{"iss": "svc", "sub": "svc", "aud": pkjIssuer + provider.PathToken,
		"exp": now.Add(time.Minute).Unix(), "jti": "hs"}).Serialize()
	// alg none: a valid assertion's claims under {"alg":"none"}, no signature.
	_, body, _ := strings.Cut(rsaKey.sign(t, now, "svc", nil), ".")
	body, _, _ = strings.Cut(body, ".")
	noneAssertion := "eyJhbGciOiJub25lIn0." + body + "."

	for _, tc := range []struct {
		name      string
		assertion string
	}{
		{"wrong aud", rsaKey.sign(t, now, "svc", map[string]any{"aud": "https://other.example.com/token"})},
		{"HS256", hsAssertion},
		{"alg none", noneAssertion},
		{"expired", rsaKey.sign(t, now, "svc", map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})},
		{"exp far ahead", rsaKey.sign(t, now, "svc", map[string]any{"exp": now.Add(time.Hour).Unix()})},
		{"no exp", rsaKey.sign(t, now, "svc", map[string]any{"exp": nil})},
		{"no jti", rsaKey.sign(t, now, "svc", map[string]any{"jti": nil})},
		{"sub differs from iss", rsaKey.sign(t, now, "svc", map[string]any{"sub": "someone"})},
		{"another client's key", ecKey.sign(t, now, "svc-file", nil)},
		{"unknown client", rsaKey.sign(t, now, "nobody", nil)},
		{"not a JWT", "not-a-jwt"},
	} {
		status, m := e.clientCredentials(t, tc.assertion)
		wantInvalidClient(t, tc.name, status, m)
	}
	// A secret beside an assertion is two methods at once.
	status, m := e.post(t, provider.PathToken, url.Values{
		"grant_type": {"client_credentials"}, "client_secret": {"x"},
		"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {rsaKey.sign(t, now, "svc", nil)},
	})
	if status != http.StatusBadRequest || m["error"] != "invalid_request" {
		t.Errorf("assertion and secret: %d %v", status, m)
	}
	// A client_id naming another client than the assertion.
	status, m = e.post(t, provider.PathToken, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"svc-file"},
		"client_assertion_type": {provider.ClientAssertionType}, "client_assertion": {rsaKey.sign(t, now, "svc", nil)},
	})
	wantInvalidClient(t, "client_id of another client", status, m)
	// The client has no secret to fall back on.
	status, m = e.post(t, provider.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {""}})
	if status != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("a private_key_jwt client without an assertion: %d %v", status, m)
	}

	// Discovery says so.
	req := httptest.NewRequest(http.MethodGet, pkjIssuer+provider.PathDiscovery, nil)
	rec := httptest.NewRecorder()
	e.p.ServeHTTP(rec, req)
	var d struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
		Algs    []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if !contains(d.Methods, "private_key_jwt") || strings.Join(d.Algs, " ") != "RS256 ES256 PS256" {
		t.Errorf("discovery: methods %v algs %v", d.Methods, d.Algs)
	}
}

// TestPrivateKeyJWTKeyRotation: a key rotated at the jwks_uri is picked up
// when an assertion names its kid, refetching at most once per 30 s; fetched
// keys are used for at most a minute.
func TestPrivateKeyJWTKeyRotation(t *testing.T) {
	t.Parallel()
	old, next := newRSAKey(t, "k1", jose.RS256), newECKey(t, "k2")
	jwks := newJWKSServer(t, old.public())
	e := newPKJProvider(t, provider.ClientKeysConfig{FetchTimeout: time.Second})
	e.addService(t, "svc", jwks.URL, nil)

	if status, m := e.clientCredentials(t, old.sign(t, e.clock.Now(), "svc", nil)); status != http.StatusOK {
		t.Fatalf("old key: %d %v", status, m)
	}
	if status, m := e.clientCredentials(t, old.sign(t, e.clock.Now(), "svc", nil)); status != http.StatusOK {
		t.Fatalf("old key again: %d %v", status, m)
	}
	if n := jwks.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for two assertions, want 1 (cached)", n)
	}
	jwks.setKeys(next.public())
	e.clock.Advance(10 * time.Second)
	// The last fetch is 10 s old: an unknown kid does not refetch yet.
	status, m := e.clientCredentials(t, next.sign(t, e.clock.Now(), "svc", nil))
	wantInvalidClient(t, "new kid within 30 s of the last fetch", status, m)
	if n := jwks.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want still 1", n)
	}
	e.clock.Advance(25 * time.Second)
	if status, m := e.clientCredentials(t, next.sign(t, e.clock.Now(), "svc", nil)); status != http.StatusOK {
		t.Fatalf("new key after 35 s: %d %v", status, m)
	}
	if n := jwks.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (the unknown kid refetched)", n)
	}
	// A flood of made-up kids refetches nothing within 30 s.
	for i := range 5 {
		_, _ = e.clientCredentials(t, clientKey{priv: next.priv, alg: next.alg, kid: "made-up-" + string(rune('a'+i))}.sign(t, e.clock.Now(), "svc", nil))
	}
	if n := jwks.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after made-up kids, want 2", n)
	}
	// After a minute the keys are fetched again: the removed key stops working.
	e.clock.Advance(61 * time.Second)
	status, m = e.clientCredentials(t, old.sign(t, e.clock.Now(), "svc", nil))
	wantInvalidClient(t, "the removed key after the cache ended", status, m)
	if n := jwks.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// TestPrivateKeyJWTSlowOrHugeJWKS: a jwks_uri that answers too slowly or too
// much gives invalid_client within the timeout, and Signet goes on serving.
func TestPrivateKeyJWTSlowOrHugeJWKS(t *testing.T) {
	t.Parallel()
	key := newRSAKey(t, "k1", jose.RS256)
	slow, huge, good := newJWKSServer(t, key.public()), newJWKSServer(t, key.public()), newJWKSServer(t, key.public())
	slow.delay.Store(int64(5 * time.Second))
	huge.huge.Store(true)
	const timeout = 300 * time.Millisecond
	e := newPKJProvider(t, provider.ClientKeysConfig{FetchTimeout: timeout})
	e.addService(t, "slow", slow.URL, nil)
	e.addService(t, "huge", huge.URL, nil)
	e.addService(t, "good", good.URL, nil)

	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		status, m := e.clientCredentials(t, key.sign(t, e.clock.Now(), "slow", nil))
		wantInvalidClient(t, "a slow jwks_uri", status, m)
	}()
	// Meanwhile another client is served.
	if status, m := e.clientCredentials(t, key.sign(t, e.clock.Now(), "good", nil)); status != http.StatusOK {
		t.Errorf("a client with a good jwks_uri while another hangs: %d %v", status, m)
	}
	<-done
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("the slow jwks_uri held the request for %s", d)
	}
	status, m := e.clientCredentials(t, key.sign(t, e.clock.Now(), "huge", nil))
	wantInvalidClient(t, "a jwks_uri answering more than 1 MiB", status, m)
}

func decodeJWT(t *testing.T, s string) (map[string]any, map[string]any) {
	t.Helper()
	tok, err := jwt.ParseSigned(s, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"alg": tok.Headers[0].Algorithm}, claims
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
