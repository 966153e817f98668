package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// Client authentication with a key: private_key_jwt (RFC 7523 section 2.2,
// OpenID Connect Core section 9). The client signs a short-lived JWT with its
// own private key; Signet verifies it with the public keys the client
// registered (a JWK Set given at registration, or fetched from its jwks_uri)
// and accepts each assertion once.
//
// The library has a verifier of its own (op.VerifyJWTAssertion), but it keeps
// no record of used assertions, accepts any algorithm its key set allows and
// only the issuer as audience: Signet verifies every assertion here instead,
// at the token endpoint for every grant, at introspection and at revocation,
// and its GetKeyByIDAndClientID gives the library no key, so that the
// library's own path never accepts one.

// ClientAssertionType is the client_assertion_type of a JWT client assertion.
const ClientAssertionType = oidc.ClientAssertionTypeJWTAssertion

const (
	// maxAssertionLen bounds a client assertion before it is parsed.
	maxAssertionLen = 8 << 10
	// maxAssertionLifetime is how far ahead of now an assertion's exp may be:
	// an assertion is made for one request, and its jti must be remembered
	// until its exp.
	maxAssertionLifetime = 5 * time.Minute
	// assertionSkew tolerates clocks that differ a little.
	assertionSkew = 30 * time.Second
	// maxJTILen bounds the jti Signet stores.
	maxJTILen = 256
)

// ClientKeysConfig bounds how Signet fetches the jwks_uri of private_key_jwt
// clients. Zero fields take the defaults; larger ones are capped at them, so
// that a slow or huge answer can tie up a request for so long, and no longer.
type ClientKeysConfig struct {
	// FetchTimeout bounds one fetch, body included (at most 10 s, the default).
	FetchTimeout time.Duration
	// MaxBytes bounds the answer (at most 1 MiB, the default).
	MaxBytes int64
	// CacheFor is how long fetched keys are used (at most a minute, the default).
	CacheFor time.Duration
	// RefetchAfter is the least time between two fetches of one jwks_uri (30 s
	// by default): an assertion with an unknown kid refetches at most this
	// often, so that a client sending made-up kids cannot make Signet fetch
	// on every request.
	RefetchAfter time.Duration
	// Transport makes the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

const (
	defaultKeysFetchTimeout = 10 * time.Second
	defaultKeysMaxBytes     = 1 << 20
	defaultKeysCacheFor     = time.Minute
	defaultKeysRefetchAfter = 30 * time.Second
)

func capDuration(d, limit time.Duration) time.Duration {
	if d <= 0 || d > limit {
		return limit
	}
	return d
}

// errClientAuth is the answer to every failed client assertion: an unknown
// client, a bad signature, a wrong audience, a replayed jti and an unreachable
// jwks_uri look the same to the caller (the log says which).
func errClientAuth(reason error) error {
	return oidc.ErrInvalidClient().WithDescription("client authentication failed").WithParent(reason)
}

var (
	errAssertionMalformed = errors.New("client assertion: malformed, or signed with an algorithm other than RS256, ES256, PS256")
	errAssertionClient    = errors.New("client assertion: unknown client, or one not registered for private_key_jwt")
	errAssertionSignature = errors.New("client assertion: no registered key verifies the signature")
	errAssertionClaims    = errors.New("client assertion: iss, sub, aud, exp, nbf, iat or jti is not acceptable")
	errAssertionReplayed  = errors.New("client assertion: jti already used")
)

// hasClientAssertion reports whether the request tries private_key_jwt.
func hasClientAssertion(r *http.Request) bool {
	return r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type")
}

// assertedClientKey marks a request whose client authenticated with an
// assertion; its value is the client id.
type assertedClientKey struct{}

// assertedClient returns the id of the client that authenticated the request
// with an assertion, if one did.
func assertedClient(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(assertedClientKey{}).(string)
	return id, ok
}

// assertedBy reports whether the client id authenticated the request with an
// assertion.
func assertedBy(ctx context.Context, id string) bool {
	got, ok := assertedClient(ctx)
	return ok && got == id
}

// withAssertedClient marks r as authenticated by the client id, and names it
// as client_id in the form (the library's parsers read it there; an assertion
// makes client_id optional, RFC 7521 section 4.2).
func withAssertedClient(r *http.Request, id string) *http.Request {
	r.PostForm.Set("client_id", id)
	r.Form.Set("client_id", id)
	return r.WithContext(context.WithValue(r.Context(), assertedClientKey{}, id))
}

// assertionClaims are the claims of a client assertion.
type assertionClaims struct {
	jwt.Claims
}

// clientAssertions verifies private_key_jwt client assertions at the token,
// introspection, revocation and device authorization endpoints. New builds it
// once; keys caches the clients' jwks_uri keys.
type clientAssertions struct {
	store      storage.Store
	keys       *clientKeyCache
	keysConfig ClientKeysConfig
	issuer     string
	log        *slog.Logger
	now        func() time.Time
}

// authenticate verifies the request's client assertion and returns
// its client. endpoint is the URL the request was sent to; the assertion's aud
// must name it, the token endpoint or the issuer. Every failure after the
// request's form is invalid_client with the same words; the jti is recorded
// only once everything else has passed.
func (ca *clientAssertions) authenticate(r *http.Request, endpoint string) (*storage.Client, error) {
	ctx := r.Context()
	if v := r.PostForm["client_assertion_type"]; len(v) != 1 || v[0] != ClientAssertionType {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_assertion_type must be sent once, as %s", ClientAssertionType)
	}
	v := r.PostForm["client_assertion"]
	if len(v) != 1 || v[0] == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("client_assertion must be sent once")
	}
	if _, _, ok := r.BasicAuth(); ok || r.PostForm.Has("client_secret") {
		return nil, oidc.ErrInvalidRequest().WithDescription("use one client authentication method: a client assertion, or a secret, not both")
	}
	assertion := v[0]
	if len(assertion) > maxAssertionLen {
		return nil, errClientAuth(errAssertionMalformed)
	}
	// The algorithm list refuses HS256, none and anything else before any key
	// is looked at.
	tok, err := jwt.ParseSigned(assertion, policy.AssertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, errClientAuth(errAssertionMalformed)
	}
	hdr := tok.Headers[0]
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errClientAuth(errAssertionMalformed)
	}
	id := unverified.Issuer
	if body := r.PostForm["client_id"]; len(body) > 1 || len(body) == 1 && body[0] != id {
		ca.dummyVerify(tok, hdr)
		return nil, errClientAuth(errAssertionClaims)
	}
	var c *storage.Client
	if id != "" && len(id) <= 128 && unverified.Subject == id {
		c, err = ca.store.GetClient(ctx, id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			c = nil
		case err != nil:
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	if c == nil || c.TokenAuthMethod != storage.TokenAuthPrivateKeyJWT {
		// As costly as checking a registered client's signature, so that the
		// time of the answer does not tell which ids are registered.
		ca.dummyVerify(tok, hdr)
		return nil, errClientAuth(errAssertionClient)
	}
	keys, err := ca.keys.keysOf(ctx, ca.keysConfig, ca.now, c, hdr.KeyID)
	if err != nil {
		ca.log.WarnContext(ctx, "client keys unavailable", "event", "client_keys_unavailable", "client", c.ID, "jwks_uri", c.JWKSURI, "error", err)
		return nil, errClientAuth(err)
	}
	var claims assertionClaims
	verified := false
	for _, k := range candidateKeys(keys, hdr) {
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errClientAuth(errAssertionSignature)
	}
	now := ca.now()
	exp := claims.Expiry.Time()
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID,
		!slices.ContainsFunc(claims.Audience, func(a string) bool {
			return a == ca.issuer || a == ca.issuer+PathToken || a == endpoint
		}),
		claims.Expiry == nil || !now.Before(exp.Add(assertionSkew)) || exp.After(now.Add(maxAssertionLifetime+assertionSkew)),
		claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionSkew)),
		claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionSkew)),
		claims.ID == "" || len(claims.ID) > maxJTILen:
		return nil, errClientAuth(errAssertionClaims)
	}
	// Remembered until it expires, with the skew it was accepted with.
	switch err := ca.store.UseAssertionJTI(ctx, c.ID, claims.ID, exp.Add(assertionSkew)); {
	case errors.Is(err, storage.ErrReused):
		ca.log.WarnContext(ctx, "client assertion replayed", "event", "assertion_replay", "client", c.ID, "address", r.RemoteAddr)
		return nil, errClientAuth(errAssertionReplayed)
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return c, nil
}

// candidateKeys are the keys that may have signed an assertion with header
// hdr: the one its kid names (every key when it names none), of the type its
// algorithm needs, not marked for encryption or for another algorithm.
func candidateKeys(keys []jose.JSONWebKey, hdr jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if hdr.KeyID != "" && k.KeyID != hdr.KeyID || k.Use == "enc" || k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey:
			if hdr.Algorithm == string(jose.RS256) || hdr.Algorithm == string(jose.PS256) {
				out = append(out, k)
			}
		case *ecdsa.PublicKey:
			if hdr.Algorithm == string(jose.ES256) {
				out = append(out, k)
			}
		}
	}
	return out
}

// dummyKeys are verification keys no client has, one per algorithm family.
var dummyKeys = sync.OnceValue(func() map[string]any {
	rk, err := rsa.GenerateKey(rand.Reader, policy.MinRSABits)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]any{
		string(jose.RS256): &rk.PublicKey, string(jose.PS256): &rk.PublicKey, string(jose.ES256): &ek.PublicKey,
	}
})

// dummyVerify spends on tok what verifying it with a registered key costs.
func (ca *clientAssertions) dummyVerify(tok *jwt.JSONWebToken, hdr jose.Header) {
	if k, ok := dummyKeys()[hdr.Algorithm]; ok {
		var discard assertionClaims
		_ = tok.Claims(k, &discard)
	}
}

// clientKeyCache holds the keys fetched from clients' jwks_uri, per URI.
type clientKeyCache struct {
	once sync.Once
	cfg  ClientKeysConfig
	http *http.Client

	mu   sync.Mutex
	sets map[string]*fetchedKeys
}

// fetchedKeys is one jwks_uri's keys. Its mutex is held while the URI is
// fetched: concurrent requests of the same client wait for that one fetch
// (bounded by the timeout) instead of each fetching.
type fetchedKeys struct {
	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // when keys were fetched; zero: none usable
	triedAt   time.Time // when the last fetch started
}

func (c *clientKeyCache) init(cfg ClientKeysConfig) {
	c.once.Do(func() {
		c.cfg = cfg
		c.cfg.FetchTimeout = capDuration(cfg.FetchTimeout, defaultKeysFetchTimeout)
		c.cfg.CacheFor = capDuration(cfg.CacheFor, defaultKeysCacheFor)
		if c.cfg.RefetchAfter <= 0 {
			c.cfg.RefetchAfter = defaultKeysRefetchAfter
		}
		if c.cfg.MaxBytes <= 0 || c.cfg.MaxBytes > defaultKeysMaxBytes {
			c.cfg.MaxBytes = defaultKeysMaxBytes
		}
		c.http = &http.Client{
			Transport: cfg.Transport,
			Timeout:   c.cfg.FetchTimeout,
			// The URI was checked at registration; a redirect could lead
			// anywhere (an internal address), so none is followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		c.sets = map[string]*fetchedKeys{}
	})
}

// keysOf returns the keys of client cl: its registered set, or those of its
// jwks_uri, fetched when none are cached, when they are older than CacheFor,
// or when kid names none of them (at most once per RefetchAfter).
func (c *clientKeyCache) keysOf(ctx context.Context, cfg ClientKeysConfig, clock func() time.Time, cl *storage.Client, kid string) ([]jose.JSONWebKey, error) {
	if cl.JWKSURI == "" {
		keys, _, err := policy.ClientSigningKeys(cl.JWKS)
		return keys, err
	}
	c.init(cfg)
	c.mu.Lock()
	f := c.sets[cl.JWKSURI]
	if f == nil {
		f = &fetchedKeys{}
		c.sets[cl.JWKSURI] = f
	}
	c.mu.Unlock()

	f.mu.Lock()
	defer f.mu.Unlock()
	now := clock()
	fresh := !f.fetchedAt.IsZero() && now.Sub(f.fetchedAt) < c.cfg.CacheFor
	known := kid == "" || slices.ContainsFunc(f.keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	if fresh && known {
		return f.keys, nil
	}
	if !f.triedAt.IsZero() && now.Sub(f.triedAt) < c.cfg.RefetchAfter {
		if fresh {
			return f.keys, nil // the kid stays unknown until the next fetch
		}
		return nil, errors.New("jwks_uri: the last fetch failed, and it is not fetched again so soon")
	}
	f.triedAt = now
	keys, err := c.fetch(ctx, cl.JWKSURI)
	if err != nil {
		if fresh {
			return f.keys, nil
		}
		f.keys, f.fetchedAt = nil, time.Time{}
		return nil, err
	}
	f.keys, f.fetchedAt = keys, now
	return keys, nil
}

// fetch GETs a JWK Set, within the timeout and the size bound.
func (c *clientKeyCache) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri: answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: read: %w", err)
	}
	if int64(len(body)) > c.cfg.MaxBytes {
		return nil, fmt.Errorf("jwks_uri: the answer is larger than %d bytes", c.cfg.MaxBytes)
	}
	keys, _, err := policy.ClientSigningKeys(body)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return keys, nil
}

// introspectAsserted answers introspection (RFC 7662) for a client that
// authenticates with an assertion: the library would verify the assertion
// itself, without remembering its jti.
func (p *Provider) introspectAsserted(r *http.Request) (*oidc.IntrospectionResponse, error) {
	c, err := p.assertions.authenticate(r, p.cfg.Issuer+PathIntrospect)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	token := r.PostForm.Get("token")
	if resp, ok := p.tokens.introspectRefresh(ctx, c.ID, token); ok {
		return resp, nil
	}
	at := p.liveToken(ctx, token)
	if at == nil {
		return &oidc.IntrospectionResponse{}, nil
	}
	// SetIntrospectionFromToken reads a JWT's claims from the token.
	resp := &oidc.IntrospectionResponse{}
	if (&opStorage{p: p}).SetIntrospectionFromToken(withPresentedTokenCtx(ctx, token), resp, at.ID, at.UserID, c.ID) != nil {
		return &oidc.IntrospectionResponse{}, nil
	}
	resp.Active = true
	return resp, nil
}

// revokeAsserted serves revocation (RFC 7009) for a client that authenticates
// with an assertion. It returns storage's error as it is when storage could not
// say whether a refresh token is the client's.
func (p *Provider) revokeAsserted(r *http.Request) error {
	c, err := p.assertions.authenticate(r, p.cfg.Issuer+PathRevoke)
	if err != nil {
		return err
	}
	ctx, token := r.Context(), r.PostForm.Get("token")
	st := &opStorage{p: p}
	if r.PostForm.Get("token_type_hint") != "access_token" {
		userID, tokenID, err := st.GetRefreshTokenInfo(ctx, c.ID, token)
		if errors.Is(err, storage.ErrUnavailable) {
			return err
		}
		if err == nil {
			if oerr := st.RevokeToken(ctx, tokenID, userID, c.ID); oerr != nil {
				return oerr
			}
			return nil
		}
	}
	// An access token (RevokeToken revokes only the client's own); an
	// unknown or dead one is no error (RFC 7009, section 2.2).
	if at := p.liveToken(ctx, token); at != nil {
		if oerr := st.RevokeToken(ctx, at.ID, at.UserID, c.ID); oerr != nil {
			return oerr
		}
	}
	return nil
}

// assertionAlgNames lists policy.AssertionAlgs for discovery.
func assertionAlgNames() []string {
	out := make([]string, len(policy.AssertionAlgs))
	for i, a := range policy.AssertionAlgs {
		out[i] = string(a)
	}
	return out
}

// validateAssertedRefresh is op.ValidateRefreshTokenRequest for a client the
// assertion authenticated: the library would authenticate it again through
// its own assertion path (off). The same checks: the client may use the grant,
// the token exists and is the client's.
func (t *tokenEndpoint) validateAssertedRefresh(ctx context.Context, req *oidc.RefreshTokenRequest, _ op.Exchanger) (op.RefreshTokenRequest, op.Client, error) {
	if req.RefreshToken == "" {
		return nil, nil, oidc.ErrInvalidRequest().WithDescription("refresh_token missing")
	}
	id, _ := assertedClient(ctx)
	cl, err := t.op.Storage().GetClientByClientID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !op.ValidateGrantType(cl, oidc.GrantTypeRefreshToken) {
		return nil, nil, oidc.ErrUnauthorizedClient()
	}
	rr, err := op.RefreshTokenRequestByRefreshToken(ctx, t.op.Storage(), req.RefreshToken)
	if err != nil {
		return nil, nil, err
	}
	if rr.GetClientID() != cl.GetID() {
		return nil, nil, oidc.ErrInvalidGrant()
	}
	return rr, cl, nil
}
