package provider

import (
	"context"
	"slices"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/signet-idp/signet/storage"
)

// issued waits for a token response being signed and, when it is ready,
// writes the audit line of the issue: grant type, client, subject, the access
// token's jti and the signing algorithm, never a token. The metrics count
// these lines (signet_tokens_issued_total).
func (t *tokenEndpoint) issued(ctx context.Context, grant string, c *storage.Client, u *storage.User, at *storage.AccessToken, signed *pendingResponse) (*oidc.AccessTokenResponse, error) {
	resp, err := signed.wait()
	if err != nil {
		return resp, err
	}
	// The algorithm of the ID token when there is one (its client chose it),
	// else of the JWT access token; "none" for an opaque token alone.
	alg := string(t.accessTokenAlg)
	switch {
	case slices.Contains(at.Scopes, oidc.ScopeOpenID) && c.IDTokenAlg == string(jose.ES256):
		alg = string(jose.ES256)
	case slices.Contains(at.Scopes, oidc.ScopeOpenID):
		alg = string(jose.RS256)
	case c.AccessTokenFormat == "opaque":
		alg = "none"
	}
	t.log.InfoContext(ctx, "token issued", "event", "token_issued", "grant_type", grant, "client", c.ID,
		"subject", u.ID, "jti", at.ID, "alg", alg, "scope", at.Scopes, "refresh", resp.RefreshToken != "")
	return resp, nil
}
