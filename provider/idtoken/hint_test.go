package idtoken

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage/boltstore"
)

const issuer = "https://signet.test"

func newVerifier(t *testing.T) (*Verifier, *keys.Manager) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	km, err := keys.NewManager(st, [32]byte{7}, keys.Policy{RotationPeriod: 720 * time.Hour, PrepublishLead: 2 * time.Hour, Retention: 2 * time.Hour}, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return NewVerifier(issuer, km), km
}

func sign(t *testing.T, km *keys.Manager, alg jose.SignatureAlgorithm, claims map[string]any, access bool) string {
	t.Helper()
	s, ok := km.Snapshot().Signer(alg)
	if !ok {
		t.Fatalf("no %s signer", alg)
	}
	b, _ := json.Marshal(claims)
	sign := s.SignJWT
	if access {
		sign = s.SignAccessToken
	}
	tok, err := sign(b)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVerifyHint: an ID token of this issuer, signed with a published key, is a
// hint even when expired, and says whose it is (azp, else a single aud); a
// foreign issuer, an access token, a tampered or garbled token is not.
func TestVerifyHint(t *testing.T) {
	t.Parallel()
	v, km := newVerifier(t)
	expired := time.Now().Add(-time.Hour).Unix()
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		tok := sign(t, km, alg, map[string]any{"iss": issuer, "sub": "u1", "sid": "s1", "aud": "app", "exp": expired}, false)
		h, err := v.VerifyHint(tok)
		if err != nil || h != (Hint{Subject: "u1", SID: "s1", ClientID: "app"}) {
			t.Errorf("%s: VerifyHint = %+v, %v", alg, h, err)
		}
	}
	tok := sign(t, km, jose.RS256, map[string]any{"iss": issuer, "sub": "u1", "aud": []string{"app", "api"}, "azp": "app"}, false)
	if h, err := v.VerifyHint(tok); err != nil || h.ClientID != "app" {
		t.Errorf("azp: %+v, %v", h, err)
	}
	for name, raw := range map[string]string{
		"empty":           "",
		"too long":        strings.Repeat("a", maxHint+1),
		"garbled":         "not.a.jwt",
		"foreign issuer":  sign(t, km, jose.RS256, map[string]any{"iss": "https://other.test", "sub": "u1", "aud": "app"}, false),
		"no subject":      sign(t, km, jose.RS256, map[string]any{"iss": issuer, "aud": "app"}, false),
		"access token":    sign(t, km, jose.RS256, map[string]any{"iss": issuer, "sub": "u1", "aud": "app"}, true),
		"tampered":        tok[:len(tok)-4] + "AAAA",
		"JSON serialized": jsonSerialized(t, tok),
	} {
		if h, err := v.VerifyHint(raw); err == nil {
			t.Errorf("%s: accepted as %+v", name, h)
		}
	}
}

// jsonSerialized is tok, a valid compact JWS, in the JSON serialization: the
// same signature, a form no ID token takes.
func jsonSerialized(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.FullSerialize()
}
