package keys_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage/boltstore"
)

// Claims of the size and shape the provider signs (provider/token.go): an RFC
// 9068 access token and an ID token with profile and email claims.
var (
	benchAccessClaims = mustJSON(map[string]any{
		"iss": "http://127.0.0.1:5556", "sub": "q0mD7hC1nJ8b2cT4vX6zWg", "aud": []string{"http://127.0.0.1:5556"},
		"exp": 1767225600, "iat": 1767225000, "jti": "c2lnbmV0LWJlbmNoLWp0aS0x", "client_id": "signet-demo",
		"scope": "openid profile email offline_access", "auth_time": 1767224000, "amr": []string{"pwd"},
		"sid": "Zx3w9Kq2mT7bN1vC5yR8aQ",
	})
	benchIDClaims = mustJSON(map[string]any{
		"iss": "http://127.0.0.1:5556", "sub": "q0mD7hC1nJ8b2cT4vX6zWg", "aud": []string{"signet-demo"},
		"exp": 1767228600, "iat": 1767225000, "auth_time": 1767224000, "nonce": "n-0S6_WzA2Mj",
		"acr": "urn:signet:acr:pwd", "amr": []string{"pwd"}, "azp": "signet-demo",
		"at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "sid": "Zx3w9Kq2mT7bN1vC5yR8aQ", "name": "Demo Person",
		"preferred_username": "demo", "email": "demo@example.com", "email_verified": true,
	})
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// benchManager is a Manager with generated keys on a bbolt file.
func benchManager(b *testing.B) *keys.Manager {
	b.Helper()
	store, err := boltstore.Open(filepath.Join(b.TempDir(), "signet.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	m, err := keys.NewManager(store, [32]byte{7}, keys.Policy{
		RotationPeriod: 30 * 24 * time.Hour, PrepublishLead: 2 * time.Hour, Retention: 3 * time.Hour,
	}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		b.Fatal(err)
	}
	return m
}

// rawSigner is go-jose used directly, built once, with a key of the same
// algorithm and size (RSA-2048, P-256), the kid and the typ of the keys.Signer:
// the reference the signing path is measured against. (The Signer's own
// private key never leaves keys.)
func rawSigner(b *testing.B, s *keys.Signer, typ string) jose.Signer {
	b.Helper()
	var priv crypto.Signer
	var err error
	switch s.Alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		b.Fatalf("no reference key for %s", s.Alg)
	}
	if err != nil {
		b.Fatal(err)
	}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: s.Alg, Key: jose.JSONWebKey{Key: priv, KeyID: s.KID, Algorithm: string(s.Alg), Use: "sig"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		b.Fatal(err)
	}
	return js
}

func rawSign(js jose.Signer, payload []byte) (string, error) {
	obj, err := js.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// BenchmarkSign compares the keys package's signing path (Signer.SignJWT for ID
// tokens, Signer.SignAccessToken for RFC 9068 access tokens) with raw go-jose
// signing of the same claims with the same key. serial is one goroutine;
// parallel is 4 goroutines per CPU (b.RunParallel), the rate the machine can
// sign at.
func BenchmarkSign(b *testing.B) {
	m := benchManager(b)
	snap := m.Snapshot()
	for _, alg := range keys.Algorithms {
		s, ok := snap.Signer(alg)
		if !ok {
			b.Fatalf("no active %s signer", alg)
		}
		rawJWT, rawAT := rawSigner(b, s, "JWT"), rawSigner(b, s, "at+jwt")
		cases := []struct {
			name string
			sign func() (string, error)
		}{
			{"raw-id", func() (string, error) { return rawSign(rawJWT, benchIDClaims) }},
			{"SignJWT", func() (string, error) { return s.SignJWT(benchIDClaims) }},
			{"raw-at", func() (string, error) { return rawSign(rawAT, benchAccessClaims) }},
			{"SignAccessToken", func() (string, error) { return s.SignAccessToken(benchAccessClaims) }},
		}
		for _, c := range cases {
			b.Run(string(alg)+"/"+c.name+"/serial", func(b *testing.B) {
				for b.Loop() {
					if _, err := c.sign(); err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b)
			})
			b.Run(string(alg)+"/"+c.name+"/parallel", func(b *testing.B) {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := c.sign(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				reportRate(b)
			})
		}
	}
}

func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}
