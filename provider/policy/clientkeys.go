package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
)

// Keys of clients that authenticate with private_key_jwt (RFC 7523): what
// registration stores and what the token endpoint verifies with.

// AssertionAlgs are the algorithms a client assertion may be signed with:
// asymmetric ones only, so that nothing Signet stores can forge one (HS256
// would need a shared secret; none proves nothing).
var AssertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256}

// MinRSABits is the smallest RSA key accepted for an assertion.
const MinRSABits = 2048

// MaxClientKeys bounds the keys kept of one client's set.
const MaxClientKeys = 32

// maxJWKSURILen bounds a registered jwks_uri.
const maxJWKSURILen = 2048

// ClientSigningKeys parses a JWK Set and keeps the keys an assertion can be
// verified with: RSA of at least 2048 bits and EC P-256 public keys. A key
// that does not parse, or of another kind, is skipped rather than failing the
// set (a client may publish encryption keys beside). private reports whether
// the set held private key material.
func ClientSigningKeys(data []byte) (keys []jose.JSONWebKey, private bool, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, false, fmt.Errorf("not a JWK Set: %w", err)
	}
	for _, raw := range set.Keys {
		if len(keys) == MaxClientKeys {
			break
		}
		var k jose.JSONWebKey
		if json.Unmarshal(raw, &k) != nil || !k.Valid() {
			continue
		}
		if !k.IsPublic() {
			private = true
			k = k.Public()
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < MinRSABits {
				continue
			}
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				continue
			}
		default:
			continue
		}
		if k.Use == "enc" || k.Algorithm != "" && !slices.Contains(AssertionAlgs, jose.SignatureAlgorithm(k.Algorithm)) {
			continue
		}
		keys = append(keys, k)
	}
	return keys, private, nil
}

// ParseClientJWKS checks a JWK Set registered for a private_key_jwt client and
// returns it holding only the public keys an assertion can be verified with.
// A set with private key material is refused: it must not be stored.
func ParseClientJWKS(data []byte) ([]byte, error) {
	keys, private, err := ClientSigningKeys(data)
	switch {
	case err != nil:
		return nil, err
	case private:
		return nil, errors.New("the JWK Set holds private keys: register the public keys only")
	case len(keys) == 0:
		return nil, errors.New("the JWK Set holds no RSA (2048 bits or more) or EC P-256 signing key")
	}
	return json.Marshal(jose.JSONWebKeySet{Keys: keys})
}

// ValidateJWKSURI checks a jwks_uri at registration: Signet will fetch it, so
// it must not point it at its own network's insides by accident. It must be
// absolute https with a host, or http to a loopback host (tests, a client on
// the same machine); no user info, no fragment.
func ValidateJWKSURI(raw string) error {
	if raw == "" || len(raw) > maxJWKSURILen || !utf8.ValidString(raw) ||
		strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return fmt.Errorf("jwks_uri must be 1 to %d characters without spaces or control characters", maxJWKSURILen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return fmt.Errorf("jwks_uri %q is not an absolute URL", raw)
	case u.User != nil:
		return fmt.Errorf("jwks_uri %q must not contain user info (user@)", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("jwks_uri %q must not contain a fragment (#)", raw)
	case u.Hostname() == "":
		return fmt.Errorf("jwks_uri %q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("jwks_uri %q must use https (http only to a loopback host)", raw)
}
