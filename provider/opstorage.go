package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// opStorage adapts our storage and keys to the library's op.Storage. The library
// calls it for authorize, userinfo, introspection, revocation and client
// authentication; the grants that issue tokens are ours (token.go).
type opStorage struct{ p *Provider }

var (
	_ op.Storage                        = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*opStorage)(nil)
	_ op.AuthRequest                    = (*authRequest)(nil)
	_ op.Client                         = (*client)(nil)
	_ op.RefreshTokenRequest            = (*refreshRequest)(nil)
	_ op.CanTerminateSessionFromRequest = (*opStorage)(nil)
)

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is how codes and refresh tokens are stored: SHA-256, since they are
// 256-bit random values (a slow hash adds nothing).
func hashSecret(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func hashHex(s string) string { return hex.EncodeToString(hashSecret(s)) }

// CreateAuthRequest stores a validated authorization request.
func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	// Only supported scopes survive: the library itself keeps phone and address,
	// which Signet does not offer.
	// A scope named twice counts once.
	seen := make(map[string]bool, len(req.Scopes))
	scopes := slices.DeleteFunc(slices.Clone(req.Scopes), func(sc string) bool {
		dup := seen[sc]
		seen[sc] = true
		return dup || !s.p.scopes[sc]
	})
	if c, err := s.p.store.GetClient(ctx, req.ClientID); err == nil && len(c.AllowedScopes) > 0 {
		// A client limited to some scopes gets only those (and openid).
		scopes = slices.DeleteFunc(scopes, func(sc string) bool {
			return !policy.ClientMayAsk(c.AllowedScopes, sc)
		})
	}
	now := s.p.now().UTC()
	ar := &storage.AuthRequest{
		ID:                  randomID(24),
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		Scopes:              scopes,
		ResponseType:        string(req.ResponseType),
		ResponseMode:        string(req.ResponseMode),
		State:               req.State,
		Nonce:               req.Nonce,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt:              slices.Clone([]string(req.Prompt)),
		MaxAge:              -1,
		IDTokenHintSubject:  hintSubject,
		Resource:            resourceOf(ctx),
		LoginHint:           req.LoginHint,
		ACRValues:           slices.Clone([]string(req.ACRValues)),
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.p.cfg.Lifetimes.AuthRequest),
	}
	if req.MaxAge != nil {
		ar.MaxAge = int64(*req.MaxAge)
	}
	for _, t := range req.UILocales {
		ar.UILocales = append(ar.UILocales, t.String())
	}
	if err := s.p.store.CreateAuthRequest(ctx, ar); err != nil {
		return nil, err
	}
	return &authRequest{ar}, nil
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.p.store.GetAuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if ar.Expired(s.p.now()) {
		return nil, fmt.Errorf("auth request expired: %w", storage.ErrNotFound)
	}
	return &authRequest{ar}, nil
}

// AuthRequestByCode finds the request of a code, used or not: a used code is
// detected (and what it issued revoked) atomically when it is redeemed.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	if len(code) > 256 {
		return nil, storage.ErrNotFound
	}
	ar, err := s.p.store.GetAuthRequestByCode(ctx, hashSecret(code))
	if err != nil {
		return nil, err
	}
	if ar.Expired(s.p.now()) {
		return nil, errors.New("code expired")
	}
	return &authRequest{ar}, nil
}

func (s *opStorage) SaveAuthCode(context.Context, string, string) error {
	return errors.New("codes are issued by the provider's callback")
}

func (s *opStorage) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.p.store.DeleteAuthRequest(ctx, id)
}

var errGrantNotSupported = oidc.ErrUnsupportedGrantType()

func (s *opStorage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, errGrantNotSupported
}

func (s *opStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errGrantNotSupported
}

// TokenRequestByRefreshToken returns the grant behind a refresh token. A rotated
// token is returned too: reuse is detected inside the rotation transaction.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, fam, err := s.p.tokens.lookupRefresh(ctx, token)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{rt: rt, fam: fam, scopes: rt.Scopes}, nil
}

func (t *tokenEndpoint) lookupRefresh(ctx context.Context, token string) (*storage.RefreshToken, *storage.RefreshFamily, error) {
	if len(token) > 256 {
		return nil, nil, op.ErrInvalidRefreshToken
	}
	rt, err := t.store.GetRefreshToken(ctx, refreshKey(token))
	if errors.Is(err, storage.ErrUnavailable) {
		return nil, nil, err // try again later: the token may well be good
	}
	if err != nil {
		return nil, nil, op.ErrInvalidRefreshToken
	}
	fam, err := t.store.GetRefreshFamily(ctx, rt.FamilyID)
	if errors.Is(err, storage.ErrUnavailable) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, op.ErrInvalidRefreshToken
	}
	now := t.now()
	if fam.Revoked || fam.Expired(now) || rt.Expired(now) {
		return nil, nil, op.ErrInvalidRefreshToken
	}
	return rt, fam, nil
}

func (s *opStorage) TerminateSession(context.Context, string, string) error { return nil }

func (s *opStorage) TerminateSessionFromRequest(context.Context, *op.EndSessionRequest) (string, error) {
	return "", oidc.ErrRequestNotSupported()
}

// refreshTokenIDPrefix marks the token ids GetRefreshTokenInfo hands to RevokeToken.
const refreshTokenIDPrefix = "rt:"

// GetRefreshTokenInfo identifies a refresh token presented for revocation.
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, _, err := s.p.tokens.lookupRefresh(ctx, token)
	if errors.Is(err, storage.ErrUnavailable) {
		return "", "", err // the library answers server_error: nothing was revoked
	}
	if err != nil || rt.ClientID != clientID {
		// Not ours to revoke: the library then tries it as an access token and
		// otherwise answers 200, as RFC 7009 requires.
		return "", "", op.ErrInvalidRefreshToken
	}
	return rt.UserID, refreshTokenIDPrefix + rt.FamilyID, nil
}

// RevokeToken revokes a refresh family or an access token issued to clientID.
// Unknown tokens are not an error (RFC 7009, section 2.2).
func (s *opStorage) RevokeToken(ctx context.Context, tokenID, userID, clientID string) *oidc.Error {
	if fam, ok := strings.CutPrefix(tokenID, refreshTokenIDPrefix); ok {
		if err := s.p.store.RevokeRefreshFamily(ctx, fam); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return oidc.ErrServerError().WithParent(err)
		}
		s.p.log.InfoContext(ctx, "refresh token revoked", "event", "revoke", "kind", "refresh_token", "subject", userID, "client", clientID)
		return nil
	}
	if len(tokenID) > 128 {
		return nil
	}
	if cl, ok := presentedClaims(ctx, tokenID, userID); ok {
		// A JWT has no record: its jti goes on the revoked list until its exp.
		if cl.ClientID != clientID {
			return nil
		}
		if err := s.p.store.RevokeJWT(ctx, tokenID, time.Unix(cl.Expiry, 0)); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		s.p.log.InfoContext(ctx, "access token revoked", "event", "revoke", "kind", "access_token", "subject", userID, "client", clientID)
		return nil
	}
	at, err := s.p.store.GetAccessToken(ctx, tokenID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return oidc.ErrServerError().WithParent(err)
	}
	if at.ClientID != clientID || at.UserID != userID {
		return nil
	}
	if err := s.p.store.RevokeAccessToken(ctx, tokenID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	s.p.log.InfoContext(ctx, "access token revoked", "event", "revoke", "kind", "access_token", "subject", userID, "client", clientID)
	return nil
}

// SigningKey is never what signs: Signet serves the token endpoint itself and
// signs every token with the signers keys built once (token.go), so the
// private keys never leave keys. The library would ask for it only to create
// tokens itself (its token exchange, JWT profile and device grants), which
// Signet does not route to it.
func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return nil, errors.New("provider: tokens are signed by Signet's own signers, not the library's")
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256}, nil
}

// KeySet returns the published public keys from the in-memory snapshot.
func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	pub := s.p.keys.Snapshot().Published()
	out := make([]op.Key, len(pub))
	for i := range pub {
		out[i] = pub[i]
	}
	return out, nil
}

// GetClientByClientID returns the client, or invalid_client: the library passes
// this error on as it is at the token endpoint, so it must be an OAuth error (a
// bare storage error would answer 500 and name the storage).
func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	// An unknown client gets the words of a wrong secret, so that client ids
	// cannot be listed by asking.
	if id == "" || len(id) > 128 {
		return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
	}
	c, err := s.p.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed).WithParent(err)
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &client{c: c, p: s.p}, nil
}

// clientAuthFailed is the description of every failed client authentication:
// the library's own, for a wrong secret.
const clientAuthFailed = "invalid client_id / client_secret"

// dummySecretHash keeps an unknown client's secret check as costly as a known one's.
var dummySecretHash = hashSecret("signet-dummy-client-secret")

// AuthorizeClientIDSecret checks a confidential client's secret in constant time.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	got := hashSecret(secret)
	c, err := s.p.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrUnavailable) {
		// Not a wrong secret: storage cannot tell just now (a 503).
		return oidc.ErrServerError().WithParent(err)
	}
	if err != nil || c.Public || len(c.SecretHash) == 0 {
		subtle.ConstantTimeCompare(got, dummySecretHash)
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	current := subtle.ConstantTimeCompare(got, c.SecretHash) == 1
	// A rotated secret works until its grace ends (client rotate-secret --keep-old).
	previous := len(c.PreviousSecretHash) > 0 && s.p.now().Before(c.PreviousSecretExpiresAt) &&
		subtle.ConstantTimeCompare(got, c.PreviousSecretHash) == 1
	if !current && !previous {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

func (s *opStorage) SetUserinfoFromScopes(ctx context.Context, ui *oidc.UserInfo, userID, _ string, scopes []string) error {
	return s.p.setUserinfo(ctx, ui, userID, scopes)
}

func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.p.setUserinfo(ctx, ui, req.GetSubject(), scopes)
}

func (p *Provider) setUserinfo(ctx context.Context, ui *oidc.UserInfo, userID string, scopes []string) error {
	u, err := p.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	ui.Subject = u.ID
	c := p.claims.of(scopes)
	if c&claimName != 0 {
		ui.Name = u.Name
	}
	if c&claimPreferredUsername != 0 {
		ui.PreferredUsername = u.Username
	}
	if c&claimUpdatedAt != 0 {
		ui.UpdatedAt = oidc.FromTime(u.UpdatedAt)
	}
	if c&claimEmail != 0 {
		ui.Email = u.Email
	}
	if c&claimEmailVerified != 0 {
		ui.EmailVerified = oidc.Bool(u.EmailVerified)
		// The library omits a false email_verified; the ID token says false, and
		// userinfo must agree with it.
		ui.AppendClaims(policy.ClaimEmailVerified, u.EmailVerified)
	}
	if g := p.claims.groups(u, scopes); g != nil {
		ui.AppendClaims(policy.ClaimGroups, g)
	}
	return nil
}

// activeAccessToken describes a live, unrevoked access token: a JWT from its
// claims (activeJWT), an opaque one from its record.
func (p *Provider) activeAccessToken(ctx context.Context, tokenID, subject string) (*storage.AccessToken, error) {
	if len(tokenID) > 128 {
		return nil, storage.ErrNotFound
	}
	if cl, ok := presentedClaims(ctx, tokenID, subject); ok {
		return p.activeJWT(ctx, cl)
	}
	at, err := p.store.GetAccessToken(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	if at.Revoked || at.Expired(p.now()) || at.UserID != subject {
		return nil, errors.New("access token is not active")
	}
	if p.isClientToken(ctx, at.ClientID, at.UserID) {
		return at, nil // a service account's: no person behind it
	}
	u, err := p.store.GetUser(ctx, at.UserID)
	// A password change refuses every token issued before it.
	if err != nil || u.Disabled || !at.IssuedAt.After(u.TokensValidAfter) {
		return nil, errors.New("access token is not active")
	}
	// A removed client's tokens die with it, and so do those of a person
	// taken out of the client's allowed groups.
	if c, err := p.store.GetClient(ctx, at.ClientID); err != nil || !policy.MayUse(u.Groups, c.AllowedGroups) {
		return nil, errors.New("access token is not active")
	}
	return at, nil
}

// SetUserinfoFromToken answers userinfo only for live tokens, with the claims of
// the scopes the token carries.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	at, err := s.p.activeAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	return s.p.setUserinfo(ctx, ui, at.UserID, at.Scopes)
}

// SetIntrospectionFromToken reports a live token (RFC 7662); an error makes the
// library answer {"active": false}.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	at, err := s.p.activeAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	// A client learns about its own tokens only; an API asks with its own
	// credentials (introspectAsAPI) about the tokens meant for it.
	if at.ClientID != clientID {
		return errors.New("access token of another client")
	}
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.IssuedAt)
	resp.NotBefore = oidc.FromTime(at.IssuedAt)
	resp.Subject = at.UserID
	resp.Audience = at.Audience
	resp.Issuer = s.p.cfg.Issuer
	resp.JWTID = at.ID
	if u, err := s.p.store.GetUser(ctx, at.UserID); err == nil {
		resp.Username = u.Username
	}
	return nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID gives the library no client key: Signet verifies
// client assertions itself (clientauth.go), remembering each jti, and the
// library's own verifier must never accept one.
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("client assertions are verified by Signet, not the library")
}

// ValidateJWTProfileScopes refuses the JWT-bearer grant: no client is configured for it.
func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("the JWT bearer grant is not enabled")
}

func (s *opStorage) Health(context.Context) error { return nil }

// authRequest adapts storage.AuthRequest to op.AuthRequest.
type authRequest struct{ *storage.AuthRequest }

func (a *authRequest) GetID() string                      { return a.ID }
func (a *authRequest) GetACR() string                     { return a.ACR }
func (a *authRequest) GetAMR() []string                   { return a.AMR }
func (a *authRequest) GetAudience() []string              { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.AuthTime }
func (a *authRequest) GetClientID() string                { return a.ClientID }
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.UserID }
func (a *authRequest) Done() bool                         { return a.AuthRequest.Done }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.ResponseType) }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.ResponseMode) }

// GetScopes returns the granted scopes once the person consented.
func (a *authRequest) GetScopes() []string {
	if a.AuthRequest.Done && a.GrantedScopes != nil {
		return a.GrantedScopes
	}
	return a.Scopes
}

func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}

// refreshRequest adapts a refresh token to op.RefreshTokenRequest.
type refreshRequest struct {
	rt     *storage.RefreshToken
	fam    *storage.RefreshFamily
	scopes []string
}

func (r *refreshRequest) GetAMR() []string             { return r.fam.AMR }
func (r *refreshRequest) GetAudience() []string        { return []string{r.fam.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time       { return r.fam.AuthTime }
func (r *refreshRequest) GetClientID() string          { return r.rt.ClientID }
func (r *refreshRequest) GetScopes() []string          { return r.rt.Scopes }
func (r *refreshRequest) GetSubject() string           { return r.rt.UserID }
func (r *refreshRequest) SetCurrentScopes(sc []string) { r.scopes = sc }

// client adapts storage.Client to op.Client.
type client struct {
	c *storage.Client
	p *Provider
}

func (c *client) GetID() string                        { return c.c.ID }
func (c *client) RedirectURIs() []string               { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string     { return c.c.PostLogoutRedirectURIs }
func (c *client) LoginURL(id string) string            { return c.p.loginURL(id) }
func (c *client) IDTokenLifetime() time.Duration       { return c.p.cfg.Lifetimes.IDToken }
func (c *client) DevMode() bool                        { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

// ApplicationType: public clients are native apps (RFC 8252 loopback rules).
func (c *client) ApplicationType() op.ApplicationType {
	if c.c.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	if c.c.TokenAuthMethod == storage.TokenAuthPrivateKeyJWT {
		return oidc.AuthMethodPrivateKeyJWT
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

func (c *client) AccessTokenType() op.AccessTokenType {
	if c.c.AccessTokenFormat == "opaque" {
		return op.AccessTokenTypeBearer
	}
	return op.AccessTokenTypeJWT
}

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the configured extra scopes; unknown scopes are dropped
// from the request (OpenID Connect Core, section 3.1.2.1 lets the OP ignore them).
func (c *client) IsScopeAllowed(scope string) bool { return c.p.scopes[scope] }

// resourceOf is the resource parameter authorize put in the context.
func resourceOf(ctx context.Context) string {
	r, _ := ctx.Value(resourceKey{}).(string)
	return r
}
