// Package provider owns Signet's OpenID Connect and OAuth 2.0 protocol surface: it
// builds the zitadel op.Provider, adapts storage and keys to op.Storage, and serves
// the endpoints through the library's op.RegisterServer with a server that embeds
// op.LegacyServer (server.go). Signet answers what the library leaves to us or
// does in a way we cannot accept: the discovery document and JWKS (built once per
// key change, served from memory), the grants (tokens signed with signers built
// once per key, access tokens per RFC 9068), the authorization callback that
// issues codes, the exact answers of the token, userinfo, introspection and
// revocation endpoints, applying scope, claim and redirect-URI rules (which
// provider/policy holds, for config and admin too), and CORS.
//
// It delivers the back-channel logout notices that ending a session queues
// (web/account queues them and says so on a channel main hands over).
//
// The package is organised as web/ is: Provider is the composition root, and
// each area is a type of its own that New builds once, complete, holding only
// what it uses (no setters, no closures back up; the token endpoint does hold
// the library's op.Provider, for decoding requests as the library does):
//
//   - tokenEndpoint (token.go) serves the token endpoint and its grants:
//     authorization code and refresh token (token.go), client_credentials
//     (apis.go), device_code (device.go), and the audit line of each issue
//     (audit.go);
//   - clientAssertions (clientauth.go) verifies private_key_jwt assertions and
//     caches the clients' keys, for the token endpoint and Provider's other
//     endpoints;
//   - apiRules (apis.go) picks the API a token is for and its audience;
//   - claimRules (provider.go) maps scopes to the claims they release;
//   - logoutDelivery (logout.go) signs and delivers back-channel logout tokens.
//
// Provider keeps the rest: routing and the library's op.Server (server.go),
// discovery and JWKS, /authorize checks and the callback (authorize.go),
// device authorization (device.go), userinfo, introspection and revocation
// (tokenuse.go) and op.Storage (opstorage.go). Its exported methods are the
// package's API for main.
//
// It does not render the pages a person sees (web/ does, and marks auth requests
// done in storage; the error page it shows itself is templates/'s), hold keys
// (keys/ does), or persist anything itself (storage/). It never imports web/ nor
// calls into it: the browser's session at the callback comes through the
// Sessions interface, which main fills with web/session's Manager.
package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/templates"
)

// Paths of the protocol endpoints, relative to the issuer.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathAuthorize  = "/authorize"
	PathCallback   = policy.PathCallback
	PathToken      = "/oauth/token"
	PathIntrospect = "/oauth/introspect"
	PathUserinfo   = "/userinfo"
	PathRevoke     = "/revoke"
	PathJWKS       = "/keys"
	// PathLogin is where the library sends the browser to sign in (web/ serves it).
	PathLogin = "/login"
)

// Sessions finds the browser session a request carries (web/session's Manager
// is one): SID returns its sid, or "" when the request carries no live session.
type Sessions interface {
	SID(r *http.Request) string
}

// Lifetimes are the token and request lifetimes the provider enforces.
type Lifetimes struct {
	AccessToken          time.Duration
	IDToken              time.Duration
	RefreshTokenIdle     time.Duration
	RefreshTokenAbsolute time.Duration
	RefreshReuseGrace    time.Duration
	AuthRequest          time.Duration
	AuthorizationCode    time.Duration
	// Session is the browser session's lifetime: refresh tokens granted without
	// offline_access end with it.
	Session time.Duration
	// SessionIdle ends a session without activity (pages or refreshes) for this
	// long, and the refresh tokens bound to it; zero: no idle end.
	SessionIdle time.Duration
}

// Scope is an extra scope offered beside the built-in ones.
type Scope struct {
	Name string
	// Claims are the user claims the scope releases (of
	// policy.ReleasableClaims; config refuses others).
	Claims []string
}

// Config configures a Provider.
type Config struct {
	// Issuer is the exact issuer URL (no trailing slash).
	Issuer string
	// BasePath is the issuer URL's path ("" or, say, "/auth"). The endpoints
	// are served under it (main mounts them there, the proxy passing the full
	// path), so the URLs the provider sends a browser to start with it.
	BasePath  string
	Store     storage.Store
	Keys      *keys.Manager
	Lifetimes Lifetimes
	Scopes    []Scope
	// AccessTokenAlg signs JWT access tokens (RS256 by default).
	AccessTokenAlg jose.SignatureAlgorithm
	// SecretKey derives the key that encrypts opaque access tokens.
	SecretKey [32]byte
	// JWKSMaxAge is the Cache-Control max-age of the JWKS and discovery.
	JWKSMaxAge time.Duration
	// Pages shows the error page for errors that must not redirect to the
	// client (plain text when nil).
	Pages *templates.Renderer
	Now   func() time.Time
	// Sessions finds the browser session a request carries: the callback issues
	// a code only to the browser that signed in (no check when nil).
	Sessions Sessions
	// ACRValues are the acr values the login UI can satisfy (for discovery).
	ACRValues []string
	// LogoutQueued wakes back-channel logout delivery when a session ended here
	// with notices queued (web/account's Ender.Queued); without it delivery
	// polls every few seconds.
	LogoutQueued <-chan struct{}
	// HTTPClient delivers back-channel logouts (a client that follows no
	// redirects when nil).
	HTTPClient *http.Client
	// ClientKeys bounds the fetching of private_key_jwt clients' jwks_uri.
	ClientKeys ClientKeysConfig
	// Ping reports whether storage answers (nil: assume it does). Userinfo,
	// introspection and revocation ask it before a negative answer, so that a
	// database outage is a 503, not "this token is not valid".
	Ping func(context.Context) error
	// Log receives the protocol's security events and the errors it handles
	// (nothing is logged when nil).
	Log *slog.Logger
}

// Provider serves the protocol endpoints.
type Provider struct {
	cfg Config
	log *slog.Logger
	op  *op.Provider
	// legacy is the library's answers to userinfo, introspection and
	// revocation requests (tokenuse.go).
	legacy  *op.LegacyServer
	store   storage.Store
	keys    *keys.Manager
	now     func() time.Time
	handler http.Handler
	// scopes is the set of every supported scope.
	scopes map[string]bool
	// claims maps a scope to the claims it releases.
	claims claimRules
	// apis picks the API a token is for and its audience (apis.go).
	apis *apiRules
	// assertions verifies private_key_jwt client assertions (clientauth.go).
	assertions *clientAssertions
	// tokens serves the token endpoint and its grants (token.go).
	tokens *tokenEndpoint

	discovery atomic.Pointer[servedDoc]
	jwks      atomic.Pointer[servedDoc]
	origins   originCache

	// logouts delivers back-channel logout notices (logout.go).
	logouts *logoutDelivery
}

// servedDoc is a JSON document built once and served from memory.
type servedDoc struct {
	body []byte
	etag string
}

// New builds the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessTokenAlg == "" {
		cfg.AccessTokenAlg = jose.RS256
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: logoutTimeout,
			// A logout URI is registered exactly; never follow it elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg, log: cfg.Log, store: cfg.Store, keys: cfg.Keys, now: cfg.Now, scopes: map[string]bool{},
		logouts: &logoutDelivery{store: cfg.Store, keys: cfg.Keys, issuer: cfg.Issuer, log: cfg.Log, now: cfg.Now,
			client: cfg.HTTPClient, queued: cfg.LogoutQueued}}
	for _, s := range policy.BuiltinScopes {
		p.scopes[s.Name] = true
	}
	for _, s := range cfg.Scopes {
		p.scopes[s.Name] = true
	}
	p.claims = newClaimRules(cfg.Scopes)
	p.apis = &apiRules{store: cfg.Store, issuer: cfg.Issuer}
	p.assertions = &clientAssertions{store: cfg.Store, keys: &clientKeyCache{}, keysConfig: cfg.ClientKeys,
		issuer: cfg.Issuer, log: cfg.Log, now: cfg.Now}
	p.origins.store = cfg.Store
	p.origins.now = cfg.Now
	p.origins.log = p.log

	opCfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       p.scopeNames(),
		SupportedClaims:       supportedClaims,
	}
	// The library encrypts opaque access tokens ("jti:sub") with this key; derive it
	// so that it is never the same bytes as another secret.
	mac := hmac.New(sha256.New, cfg.SecretKey[:])
	mac.Write([]byte("signet/opaque-access-token"))
	copy(opCfg.CryptoKey[:], mac.Sum(nil))

	var opts []op.Option
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(opCfg, &opStorage{p: p}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p.op = o
	p.tokens = &tokenEndpoint{store: cfg.Store, op: o, keys: cfg.Keys, log: cfg.Log, now: cfg.Now,
		issuer: cfg.Issuer, lifetimes: cfg.Lifetimes, accessTokenAlg: cfg.AccessTokenAlg,
		claims: p.claims, apis: p.apis, assertions: p.assertions}
	if err := p.buildDiscovery(); err != nil {
		return nil, err
	}
	p.rebuildJWKS(cfg.Keys.Snapshot())
	cfg.Keys.OnChange(p.rebuildJWKS)

	p.handler = p.routes()
	return p, nil
}

// ServeHTTP serves the protocol endpoints (see the Path constants).
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Routes registers the provider's endpoints on mux.
func (p *Provider) Routes(mux *http.ServeMux) {
	for _, path := range []string{PathDiscovery, PathAuthorize, PathCallback, PathToken, PathIntrospect, PathUserinfo, PathRevoke, PathJWKS, PathDeviceAuthorization} {
		mux.Handle(path, p)
	}
}

// errorPage shows an error that must not redirect to the client.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	if p.cfg.Pages == nil {
		http.Error(w, title+": "+message, status)
		return
	}
	p.cfg.Pages.ErrorPage(w, r, status, title, message)
}

// loginURL is where the library sends the browser to sign in (op.Client's
// LoginURL): the login page under the issuer's path.
func (p *Provider) loginURL(authRequestID string) string {
	return p.cfg.BasePath + PathLogin + "?authRequestID=" + authRequestID
}

// Ready reports whether the provider can sign tokens.
func (p *Provider) Ready() bool {
	snap := p.keys.Snapshot()
	if snap == nil {
		return false
	}
	_, ok := snap.Signer(jose.RS256)
	return ok
}

func (p *Provider) scopeNames() []string {
	names := policy.BuiltinScopeNames()
	for _, s := range p.cfg.Scopes {
		names = append(names, s.Name)
	}
	return names
}

// Claims a scope may release.
const (
	claimName = 1 << iota
	claimPreferredUsername
	claimUpdatedAt
	claimEmail
	claimEmailVerified
	claimGroups
)

// claimBits holds a bit for each of policy.ReleasableClaims (TestClaimBits
// keeps them the same).
var claimBits = map[string]int{
	policy.ClaimName: claimName, policy.ClaimPreferredUsername: claimPreferredUsername, policy.ClaimUpdatedAt: claimUpdatedAt,
	policy.ClaimEmail: claimEmail, policy.ClaimEmailVerified: claimEmailVerified, policy.ClaimGroups: claimGroups,
}

// claimRules maps each scope to the claims it releases (claim* bits); built
// once in New and only read after.
type claimRules map[string]int

func newClaimRules(scopes []Scope) claimRules {
	rules := claimRules{}
	for _, s := range policy.BuiltinScopes {
		for _, c := range s.Claims {
			rules[s.Name] |= claimBits[c]
		}
	}
	for _, s := range scopes {
		for _, c := range s.Claims {
			rules[s.Name] |= claimBits[c]
		}
	}
	return rules
}

// groups is the groups claim of u for a token with scopes: the person's
// groups as they are now (never null: an empty list says "no groups"), or nil
// when no scope releases it.
func (rules claimRules) groups(u *storage.User, scopes []string) []string {
	if rules.of(scopes)&claimGroups == 0 {
		return nil
	}
	if u.Groups == nil {
		return []string{}
	}
	return u.Groups
}

// of returns the claims the scopes release.
func (rules claimRules) of(scopes []string) int {
	bits := 0
	for _, s := range scopes {
		bits |= rules[s]
	}
	return bits
}

var supportedClaims = policy.SupportedClaims()

func (p *Provider) buildDiscovery() error {
	ctx := op.ContextWithIssuer(context.Background(), p.cfg.Issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, &opStorage{p: p})
	d.EndSessionEndpoint = p.cfg.Issuer + PathEndSession
	d.DeviceAuthorizationEndpoint = p.cfg.Issuer + PathDeviceAuthorization
	d.CheckSessionIframe = ""
	d.ScopesSupported = p.scopeNames()
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}
	d.SubjectTypesSupported = []string{"public"}
	d.IDTokenSigningAlgValuesSupported = []string{string(jose.RS256), string(jose.ES256)}
	// private_key_jwt is verified by Signet at all three endpoints (clientauth.go).
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.TokenEndpointAuthSigningAlgValuesSupported = assertionAlgNames()
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = assertionAlgNames()
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPrivateKeyJWT}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = assertionAlgNames()
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.ClaimsSupported = supportedClaims
	d.ClaimsParameterSupported = false
	d.RequestParameterSupported = false
	d.RequestURIParameterSupported = false
	d.RequestObjectSigningAlgValuesSupported = nil
	d.ACRValuesSupported = p.cfg.ACRValues
	d.UILocalesSupported = nil
	d.ClaimsLocalesSupported = nil
	d.BackChannelLogoutSupported = true
	d.BackChannelLogoutSessionSupported = true

	// Extras the library's struct does not carry.
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("provider: discovery: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("provider: discovery: %w", err)
	}
	m["authorization_response_iss_parameter_supported"] = true
	b, err = json.Marshal(m)
	if err != nil {
		return fmt.Errorf("provider: discovery: %w", err)
	}
	p.discovery.Store(newDoc(b))
	return nil
}

func newDoc(b []byte) *servedDoc {
	sum := sha256.Sum256(b)
	return &servedDoc{body: b, etag: fmt.Sprintf(`"%x"`, sum[:12])}
}

func (p *Provider) rebuildJWKS(snap *keys.Snapshot) {
	if snap == nil {
		return
	}
	p.jwks.Store(&servedDoc{body: snap.JWKS, etag: snap.ETag})
}

func etagMatches(header, etag string) bool {
	// If-None-Match compares weakly (RFC 9110, section 13.1.2): W/"x" matches "x".
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if part == etag || part == "*" {
			return true
		}
	}
	return false
}

// originCache answers CORS checks from the origins of registered redirect URIs,
// reloaded at most every few seconds so a new client is picked up quickly without
// a storage read per request.
type originCache struct {
	store  storage.Clients
	log    *slog.Logger
	now    func() time.Time
	mu     sync.Mutex
	loaded time.Time
	set    map[string]bool
}

func (c *originCache) allowed(origin string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.set == nil || now.Sub(c.loaded) > 5*time.Second {
		clients, err := c.store.ListClients(context.Background())
		if err != nil {
			c.log.Error("cors: list clients", "error", err)
			return false
		}
		set := map[string]bool{}
		for _, cl := range clients {
			for _, ru := range cl.RedirectURIs {
				if u, err := url.Parse(ru); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
					set[u.Scheme+"://"+u.Host] = true
				}
			}
		}
		c.set, c.loaded = set, now
	}
	return c.set[origin]
}
