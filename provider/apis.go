package provider

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// APIs (resource servers, RFC 8707 and RFC 9068). An access token is for at most
// one API: the one whose scopes it carries, or the one a resource parameter
// names. Its "aud" is that API's audience, plus the issuer when OpenID scopes
// were asked (so that userinfo takes it); a token for no API is the issuer's
// alone. Scopes of other APIs never ride along.

// errInvalidTarget is RFC 8707's error for a resource Signet does not know or a
// request that spans two APIs.
func errInvalidTarget(desc string) *oidc.Error {
	return &oidc.Error{ErrorType: "invalid_target", Description: desc}
}

// apiRules picks the API an access token is for and its audience; it holds
// the store (the APIs are read per request) and the issuer.
type apiRules struct {
	store  storage.Store
	issuer string
}

// apiFor returns the API a token with scopes is for, given the resource the
// request names ("" for none), and the scopes the token may then carry: the
// built-in ones and that API's. With no API, it returns nil and scopes
// unchanged.
func (a *apiRules) apiFor(ctx context.Context, scopes []string, resource string) (*storage.API, []string, error) {
	// Built-in scopes belong to no API: the common OpenID request needs no
	// read on the token path.
	if resource == "" && !slices.ContainsFunc(scopes, func(sc string) bool { return !policy.IsBuiltinScope(sc) }) {
		return nil, scopes, nil
	}
	apis, err := a.store.ListAPIs(ctx)
	if err != nil {
		return nil, nil, oidc.ErrServerError().WithParent(err)
	}
	var api *storage.API
	if resource != "" {
		for _, a := range apis {
			if a.Audience == resource {
				api = a
			}
		}
		if api == nil {
			return nil, nil, errInvalidTarget("the resource is not an API of this Signet")
		}
	} else {
		for _, a := range apis {
			for _, sc := range scopes {
				if !slices.Contains(a.Scopes, sc) || api == a {
					continue
				}
				if api != nil {
					return nil, nil, errInvalidTarget("the scopes belong to more than one API: name one with the resource parameter")
				}
				api = a
			}
		}
		if api == nil {
			return nil, scopes, nil
		}
	}
	// Every other configured scope that belongs to another API stays out.
	kept := slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool {
		if policy.IsBuiltinScope(sc) || slices.Contains(api.Scopes, sc) {
			return false
		}
		for _, a := range apis {
			if slices.Contains(a.Scopes, sc) {
				return true
			}
		}
		return false
	})
	if resource != "" && !slices.ContainsFunc(kept, func(sc string) bool { return slices.Contains(api.Scopes, sc) }) {
		// A resource selects among the APIs the request's scopes (the grant's,
		// on a refresh) reach; naming another would mint a token for an API
		// the person never approved.
		return nil, nil, errInvalidTarget("the request holds no scope of that API")
	}
	return api, kept, nil
}

// audienceOf is the "aud" of an access token for api (nil: none) with scopes.
func (a *apiRules) audienceOf(api *storage.API, scopes []string) []string {
	if api == nil {
		return []string{a.issuer}
	}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		return []string{api.Audience, a.issuer}
	}
	return []string{api.Audience}
}

// singleParam returns a form parameter given at most once, or an error.
func singleParam(r *http.Request, name string) (string, error) {
	if v := r.PostForm[name]; len(v) > 1 {
		return "", oidc.ErrInvalidRequest().WithDescription("%s is given more than once", name)
	} else if len(v) == 1 {
		if len(v[0]) > 2048 {
			return "", oidc.ErrInvalidRequest().WithDescription("%s is too long", name)
		}
		return v[0], nil
	}
	return "", nil
}

// clientCredentials serves the client_credentials grant (RFC 6749 section 4.4)
// for service accounts: a confidential client registered for it gets an access
// token with sub = its own id, for the API its scopes name; no refresh token and
// no ID token.
func (t *tokenEndpoint) clientCredentials(r *http.Request) (*oidc.AccessTokenResponse, error) {
	ctx := r.Context()
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if asserted, ok := assertedClient(ctx); ok {
		// Authenticated by its assertion (token); client_id names it.
		id = asserted
	} else {
		if id == "" || secret == "" || len(id) > 128 {
			return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
		}
		if err := t.op.Storage().AuthorizeClientIDSecret(ctx, id, secret); err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
		}
	}
	c, err := t.store.GetClient(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
	}
	if !policy.GrantAllowed(c.GrantTypes, policy.GrantClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the client_credentials grant")
	}
	scopeParam, err := singleParam(r, "scope")
	if err != nil {
		return nil, err
	}
	resource, err := singleParam(r, "resource")
	if err != nil {
		return nil, err
	}
	scopes := strings.Fields(scopeParam)
	if len(scopes) == 0 {
		scopes = slices.Clone(c.AllowedScopes)
	}
	var granted []string
	for _, sc := range scopes {
		// A service account acts for no person: the scopes about a person
		// (openid, profile, ...) are not for it.
		if policy.IsBuiltinScope(sc) || !slices.Contains(c.AllowedScopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", truncate(sc, 64))
		}
		if !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	if len(granted) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("the client has no allowed scope to ask for")
	}
	api, granted, err := t.apis.apiFor(ctx, granted, resource)
	if err != nil {
		return nil, err
	}
	now := t.now().UTC()
	at := t.newAccessToken(c, c.ID, granted, "", time.Time{}, nil, now)
	at.Audience = t.apis.audienceOf(api, granted)
	if !at.JWT {
		if err := t.store.CreateAccessToken(ctx, at); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	return t.respond(c, &storage.User{ID: c.ID}, at, idClaims{}, "")
}

// isClientToken reports whether a token's subject is its client: a service
// account's token from the client_credentials grant, which stands on the client
// alone.
func (p *Provider) isClientToken(ctx context.Context, clientID, subject string) bool {
	if clientID == "" || clientID != subject {
		return false
	}
	c, err := p.store.GetClient(ctx, clientID)
	if err != nil || !policy.GrantAllowed(c.GrantTypes, policy.GrantClientCredentials) {
		return false
	}
	// Should a person's id ever equal the client's, the token is judged as
	// the person's: the stricter reading.
	_, err = p.store.GetUser(ctx, subject)
	return errors.Is(err, storage.ErrNotFound)
}

// introspectAsAPI answers introspection (RFC 7662) asked by an API with HTTP
// Basic (its audience and introspection secret): active only for a live token
// whose "aud" names that API. isAPI is false when the caller is not an API, for
// the client introspection to answer.
func (p *Provider) introspectAsAPI(r *http.Request) (resp *oidc.IntrospectionResponse, isAPI bool, err error) {
	user, secret, ok := r.BasicAuth()
	if !ok {
		return nil, false, nil
	}
	audience, err := url.QueryUnescape(user)
	if err != nil || !strings.Contains(audience, ":") {
		return nil, false, nil // client ids have no colon; audiences are URIs
	}
	secret, _ = url.QueryUnescape(secret)
	ctx := r.Context()
	api, err := p.store.GetAPI(ctx, audience)
	if err != nil {
		return nil, false, nil
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], api.IntrospectionSecretHash) != 1 {
		return nil, true, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
	}
	resp = &oidc.IntrospectionResponse{}
	if at := p.liveToken(ctx, r.PostForm.Get("token")); at != nil && slices.Contains(at.Audience, api.Audience) {
		resp = &oidc.IntrospectionResponse{
			Active: true, Scope: at.Scopes, ClientID: at.ClientID, TokenType: oidc.BearerToken,
			Expiration: oidc.FromTime(at.ExpiresAt), IssuedAt: oidc.FromTime(at.IssuedAt), NotBefore: oidc.FromTime(at.IssuedAt),
			Subject: at.UserID, Audience: at.Audience, Issuer: p.cfg.Issuer, JWTID: at.ID,
		}
	}
	return resp, true, nil
}

// liveToken verifies an access token (a JWT signed by Signet, or an opaque one)
// and returns its description when it is live, or nil.
func (p *Provider) liveToken(ctx context.Context, token string) *storage.AccessToken {
	if token == "" || len(token) > 8<<10 {
		return nil
	}
	if strings.Count(token, ".") == 2 {
		ictx := op.ContextWithIssuer(ctx, p.cfg.Issuer)
		claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](ictx, token, p.op.AccessTokenVerifier(ictx))
		if err != nil {
			return nil
		}
		at, err := p.activeAccessToken(withPresentedTokenCtx(ctx, token), claims.JWTID, claims.Subject)
		if err != nil {
			return nil
		}
		return at
	}
	plain, err := p.op.Crypto().Decrypt(token)
	if err != nil {
		return nil
	}
	id, subject, ok := strings.Cut(plain, ":")
	if !ok {
		return nil
	}
	at, err := p.activeAccessToken(ctx, id, subject)
	if err != nil {
		return nil
	}
	return at
}

// withPresentedTokenCtx is withPresentedToken for a token read outside the
// library (an API's introspection), already verified by the caller.
func withPresentedTokenCtx(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, presentedTokenKey{}, token)
}
