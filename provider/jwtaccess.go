package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

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
// same presented string, which the routes below put in the request context:
// each reads the token exactly where the library does and refuses a request
// that names it twice, so the string read is the string verified; the jti and
// sub the library passes must also match it.

type presentedTokenKey struct{}

// withPresentedToken records the raw token of a userinfo, introspection or
// revocation request.
func withPresentedToken(r *http.Request, token string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), presentedTokenKey{}, token))
}

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
	if _, err := p.familyStands(ctx, c, fam, now); err != nil {
		return nil, errInactive
	}
	return at, nil
}

// presentedBearer records the token of a userinfo request where the library
// reads it: the Authorization header, or else the form's access_token.
func presentedBearer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if len(auth) >= len(oidc.PrefixBearer) && strings.EqualFold(auth[:len(oidc.PrefixBearer)], oidc.PrefixBearer) {
			h.ServeHTTP(w, withPresentedToken(r, auth[len(oidc.PrefixBearer):]))
			return
		}
		token, ok := singleFormValue(w, r, "access_token")
		if !ok {
			return
		}
		h.ServeHTTP(w, withPresentedToken(r, token))
	})
}

// presentedFormToken records the token of an introspection or revocation
// request: the form's token.
func presentedFormToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := singleFormValue(w, r, "token")
		if !ok {
			return
		}
		h.ServeHTTP(w, withPresentedToken(r, token))
	})
}

// singleFormValue returns the form value name, answering invalid_request when
// the form cannot be read or names it more than once (RFC 6749, section 3.1):
// the library's decoder takes the last value, net/http the first.
func singleFormValue(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	if err := r.ParseForm(); err != nil {
		writeInvalidRequest(w, "malformed or oversized request body")
		return "", false
	}
	if len(r.Form[name]) > 1 {
		writeInvalidRequest(w, name+" must be sent once")
		return "", false
	}
	return r.Form.Get(name), true
}

func writeInvalidRequest(w http.ResponseWriter, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": description})
}
