// Package idtoken checks ID tokens that come back to the issuer that signed
// them: the id_token_hint of RP-initiated logout. Verification needs only the
// published keys and the issuer, so the logout pages (web/) verify a hint
// themselves, with a Verifier main gives them, rather than asking the provider.
//
// It does not sign tokens (provider/ does, with keys/) nor decide what a hint
// may end (web/ does).
package idtoken

import (
	"encoding/json"
	"errors"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/keys"
)

// maxHint bounds an id_token_hint (an ID token is about 1 KiB).
const maxHint = 16 << 10

// Hint is what an id_token_hint says, once its signature is verified.
type Hint struct {
	Subject  string
	SID      string
	ClientID string
}

// Verifier checks id_token_hints against the issuer and its published keys.
type Verifier struct {
	issuer string
	keys   *keys.Manager
}

// NewVerifier returns a Verifier of ID tokens that issuer signed with a key km
// publishes.
func NewVerifier(issuer string, km *keys.Manager) *Verifier {
	return &Verifier{issuer: issuer, keys: km}
}

// VerifyHint checks that hint is an ID token this issuer signed with a
// published key. Expiry is not checked: an expired ID token is a valid hint for
// logout (OpenID Connect RP-Initiated Logout 1.0, section 2).
func (v *Verifier) VerifyHint(hint string) (Hint, error) {
	if hint == "" || len(hint) > maxHint {
		return Hint{}, errors.New("id_token_hint is empty or too long")
	}
	jws, err := jose.ParseSignedCompact(hint, []jose.SignatureAlgorithm{jose.RS256, jose.ES256}) // an ID token is compact; JSON serialization is refused
	if err != nil || len(jws.Signatures) != 1 {
		return Hint{}, errors.New("id_token_hint is not a signed JWT")
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != nil && h.ExtraHeaders["typ"] != "JWT" {
		return Hint{}, errors.New("id_token_hint is not an ID token")
	}
	key, ok := v.keys.Snapshot().Lookup(h.KeyID)
	if !ok || key.JWK.Algorithm != h.Algorithm {
		return Hint{}, errors.New("id_token_hint is not signed by a published key")
	}
	payload, err := jws.Verify(key.JWK.Key)
	if err != nil {
		return Hint{}, errors.New("id_token_hint signature does not verify")
	}
	var c struct {
		Issuer   string          `json:"iss"`
		Subject  string          `json:"sub"`
		SID      string          `json:"sid"`
		AZP      string          `json:"azp"`
		Audience json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != v.issuer || c.Subject == "" {
		return Hint{}, errors.New("id_token_hint is not an ID token of this issuer")
	}
	client := c.AZP
	if client == "" {
		var one string
		var many []string
		if json.Unmarshal(c.Audience, &one) == nil {
			client = one
		} else if json.Unmarshal(c.Audience, &many) == nil && len(many) == 1 {
			client = many[0]
		}
	}
	return Hint{Subject: c.Subject, SID: c.SID, ClientID: client}, nil
}
