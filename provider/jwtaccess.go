package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// JWT access tokens have no record (storage.AccessToken says why). Userinfo,
// introspection and revocation still refuse one that was ended early, from what
// is stored anyway:
//
//   - its jti on the revoked list (RFC 7009 revocation, a replayed code);
//   - the refresh family named in its "fid" claim: every grant gets one, and
//     reuse of a rotated refresh token, a replayed code, logout, grant
//     revocation and a password change revoke it; the family's record is kept
//     until the last access token it issued has expired (KeepUntil), and a
//     missing family counts as revoked;
//   - the person (disabled, or a password change after the token's iat:
//     TokensValidAfter), the client (removed), and the session and grant the
//     family stands on, as the refresh grant checks them.
//
// The library verifies the token's signature, issuer and expiry and hands the
// storage callbacks only its jti and sub. The claims above are read from the
// same presented string, which the endpoints put in the request context
// (tokenuse.go): each reads the token exactly where the library does and
// refuses a request that names it twice, so the string read is the string
// verified; the jti and sub the library passes must also match it.

type presentedTokenKey struct{}

// presentedClaims returns the claims of the request's JWT access token when
// the library verified it and passed its jti and sub; ok is false for an
// opaque token (or one Signet issued before JWTs named their family), which is
// judged by its record.
func presentedClaims(ctx context.Context, jti, subject string) (*accessTokenClaims, bool) {
	raw, _ := ctx.Value(presentedTokenKey{}).(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var cl accessTokenClaims
	// A service account's token names no family: its subject is its client.
	if json.Unmarshal(payload, &cl) != nil || cl.JWTID == "" || cl.JWTID != jti || cl.Subject != subject ||
		(cl.FamilyID == "" && cl.Subject != cl.ClientID) {
		return nil, false
	}
	return &cl, true
}

var errInactive = errors.New("access token is not active")

// activeJWT judges a JWT access token (see above) and returns its description.
func (p *Provider) activeJWT(ctx context.Context, cl *accessTokenClaims) (*storage.AccessToken, error) {
	at := &storage.AccessToken{
		ID: cl.JWTID, JWT: true, ClientID: cl.ClientID, UserID: cl.Subject,
		Scopes: strings.Fields(cl.Scope), Audience: cl.Audience, RefreshFamilyID: cl.FamilyID,
		SessionSID: cl.SID, AMR: cl.AMR,
		IssuedAt: time.Unix(cl.IssuedAt, 0), ExpiresAt: time.Unix(cl.Expiry, 0),
	}
	if cl.AuthTime != 0 {
		at.AuthTime = time.Unix(cl.AuthTime, 0)
	}
	now := p.now()
	if at.Expired(now) || len(at.ID) > 128 {
		return nil, errInactive
	}
	if revoked, err := p.store.JWTRevoked(ctx, at.ID); err != nil || revoked {
		return nil, errInactive
	}
	if at.RefreshFamilyID == "" {
		// A service account's token (client_credentials) stands on its client.
		if !p.isClientToken(ctx, at.ClientID, at.UserID) {
			return nil, errInactive
		}
		return at, nil
	}
	fam, err := p.store.GetRefreshFamily(ctx, at.RefreshFamilyID)
	if err != nil || fam.Revoked || fam.UserID != at.UserID || fam.ClientID != at.ClientID {
		return nil, errInactive
	}
	u, err := p.store.GetUser(ctx, at.UserID)
	// iat is in whole seconds, rounded down: a token issued in the second of a
	// password change counts as before it (refused), never the other way.
	if err != nil || u.Disabled || !at.IssuedAt.After(u.TokensValidAfter) {
		return nil, errInactive
	}
	c, err := p.store.GetClient(ctx, at.ClientID)
	if err != nil || !policy.MayUse(u.Groups, c.AllowedGroups) {
		return nil, errInactive
	}
	if _, err := p.tokens.familyStands(ctx, c, fam, now); err != nil {
		return nil, errInactive
	}
	return at, nil
}
