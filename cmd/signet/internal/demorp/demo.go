package demorp

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultScopes are the scopes requested when Config.Scopes is empty.
var DefaultScopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}

// assets are the demo's page template and stylesheet: its own, apart from the
// issuer's templates, as any relying party's would be.
//
//go:embed demo.html demo.css
var assets embed.FS

const (
	pageTemplate   = "demo/page"
	stylesheetPath = "demo.css"
	// discoveryTimeout bounds one attempt at fetching the discovery document.
	discoveryTimeout = 10 * time.Second
	// httpTimeout is the timeout of the HTTP client used when Config.HTTPClient is nil.
	httpTimeout = 15 * time.Second
	// maxFormBytes bounds the body of the POST routes, which carry one hidden field.
	maxFormBytes = 4 << 10
)

// Config configures the demo relying party.
type Config struct {
	// Issuer is the issuer URL, exactly as it appears in the discovery document.
	Issuer string
	// ClientID and ClientSecret are the credentials of the demo client; the secret
	// is sent to the token endpoint with HTTP Basic authentication.
	ClientID     string
	ClientSecret string
	// RedirectURL is the absolute URL of this relying party's /callback route,
	// as registered for the client.
	RedirectURL string
	// PostLogoutRedirectURL is where the issuer sends the browser back after
	// RP-initiated logout: this relying party's home page, as registered for the
	// client. Empty means the default derived from RedirectURL (same scheme and
	// host, path "/"); see Config.PostLogoutRedirect. When set, it must be that
	// same URL spelled the same way, because the home page is where the logout's
	// state is checked, with the session cookie of RedirectURL's host.
	PostLogoutRedirectURL string
	// Scopes are the scopes requested; they must include "openid". Empty means
	// DefaultScopes.
	Scopes []string
	// HTTPClient makes every request to the issuer. Nil means a client with a
	// timeout.
	HTTPClient *http.Client
	// Logger receives the demo's log records (nothing is logged when nil).
	Logger *slog.Logger
}

// Validate reports every problem with c, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	if err := checkHTTPURL(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("demo: issuer: %w", err))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("demo: client id: must not be empty"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("demo: client secret: must not be empty"))
	}
	if err := checkHTTPURL(c.RedirectURL); err != nil {
		errs = append(errs, fmt.Errorf("demo: redirect url: %w", err))
	} else if u, _ := url.Parse(c.RedirectURL); u.Path != "/callback" {
		errs = append(errs, fmt.Errorf("demo: redirect url: path must be /callback, got %q", u.Path))
	}
	if c.PostLogoutRedirectURL != "" {
		if err := checkHTTPURL(c.PostLogoutRedirectURL); err != nil {
			errs = append(errs, fmt.Errorf("demo: post-logout redirect url: %w", err))
		} else if want := c.baseURL("/"); want != "" && c.PostLogoutRedirectURL != want {
			errs = append(errs, fmt.Errorf("demo: post-logout redirect url: must be %q (this app's home page, on the redirect url's origin), got %q", want, c.PostLogoutRedirectURL))
		}
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		errs = append(errs, errors.New(`demo: scopes: must include "openid"`))
	}
	return errors.Join(errs...)
}

// PostLogoutRedirect returns the post_logout_redirect_uri this relying party
// sends at RP-initiated logout, to be registered for the client:
// PostLogoutRedirectURL, or when that is empty RedirectURL's scheme and host
// with path "/". It returns "" when RedirectURL is not a valid URL.
func (c Config) PostLogoutRedirect() string {
	if c.PostLogoutRedirectURL != "" {
		return c.PostLogoutRedirectURL
	}
	return c.baseURL("/")
}

// BackchannelLogoutURL returns the URL of this relying party's back-channel
// logout route (RedirectURL's scheme and host, path "/backchannel-logout"), to
// be registered as the client's backchannel_logout_uri. It returns "" when
// RedirectURL is not a valid URL.
func (c Config) BackchannelLogoutURL() string {
	return c.baseURL(PathBackchannelLogout)
}

// baseURL returns RedirectURL's scheme and host with the given path, or "".
func (c Config) baseURL(path string) string {
	if checkHTTPURL(c.RedirectURL) != nil {
		return ""
	}
	u, _ := url.Parse(c.RedirectURL)
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: path}).String()
}

// origin returns the scheme and host of an absolute http(s) URL, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.ContainsAny(u.Host, " \t;,'\"") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func checkHTTPURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must not have a query or fragment", s)
	}
	return nil
}

// RP is the demo relying party. It is an http.Handler serving these routes:
//
//	GET  /                the home page: sign-in button, or the verified tokens
//	GET  /login           starts the authorization code flow
//	GET  /callback        the redirect URI: exchanges the code, verifies the tokens
//	POST /refresh         uses the refresh token
//	POST /logout          RP-initiated logout: forgets this browser's tokens and
//	                      sends it to the issuer's end_session_endpoint
//	POST /backchannel-logout
//	                      back-channel logout, called by the issuer (not a browser)
//	GET  /static/demo.css the stylesheet
//
// Every route but /backchannel-logout is behind cross-origin protection, and its
// POST forms carry a per-session token.
type RP struct {
	cfg          Config
	scopes       []string
	log          *slog.Logger
	client       *http.Client
	page         *template.Template
	css          []byte
	sessions     *sessionStore
	secureCookie bool
	handler      http.Handler
	now          func() time.Time
	seenJTIs     *jtiCache
	// csp is the Content-Security-Policy header. Its form-action lists the
	// origins the sign-out form may be redirected to (the issuer's, and its
	// end_session_endpoint's once discovered): browsers apply form-action to
	// the redirects that follow a form submission.
	csp atomic.Pointer[string]

	discoverMu sync.Mutex // held during discovery, so that concurrent first requests make one attempt
	discovered *issuer    // nil until discovery succeeds; then never changes
}

// issuer is what discovery yields: the endpoints and the verifiers built on the
// issuer's key set.
type issuer struct {
	provider *oidc.Provider
	oauth2   *oauth2.Config
	// idTokens checks ID tokens: signature, iss, aud == our client id, exp.
	idTokens *oidc.IDTokenVerifier
	// accessTokens checks JWT access tokens with the same key set: signature,
	// iss, exp; the audience is the resource server's business, client_id is
	// checked by the caller.
	accessTokens *oidc.IDTokenVerifier
	// logoutTokens checks back-channel logout tokens with the same key set and
	// algorithms as ID tokens: signature, iss, aud contains our client id, exp.
	logoutTokens *oidc.IDTokenVerifier
	// endSession is the end_session_endpoint, or "" when the issuer has none.
	endSession string
}

var _ http.Handler = (*RP)(nil)

// New returns the demo relying party for cfg. It parses its page template and
// reads its stylesheet, but does not contact the issuer: discovery happens on
// first use, because the issuer may not be listening yet.
func New(cfg Config) (*RP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	page, err := template.ParseFS(assets, "demo.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse template: %w", err)
	}
	if page.Lookup(pageTemplate) == nil {
		return nil, fmt.Errorf("demo: template %q is not defined in demo.html", pageTemplate)
	}
	css, err := fs.ReadFile(assets, stylesheetPath)
	if err != nil {
		return nil, fmt.Errorf("demo: read stylesheet: %w", err)
	}
	rp := &RP{
		cfg:      cfg,
		scopes:   slices.Clone(cfg.Scopes),
		log:      cfg.Logger,
		client:   cfg.HTTPClient,
		page:     page,
		css:      css,
		sessions: newSessionStore(maxSessions, sessionIdle),
		now:      time.Now,
		seenJTIs: newJTICache(maxSeenJTIs),
	}
	rp.setFormActions(origin(cfg.Issuer))
	if len(rp.scopes) == 0 {
		rp.scopes = slices.Clone(DefaultScopes)
	}
	if rp.log == nil {
		rp.log = slog.New(slog.DiscardHandler)
	}
	if rp.client == nil {
		rp.client = &http.Client{Timeout: httpTimeout}
	}
	if u, _ := url.Parse(cfg.RedirectURL); u.Scheme == "https" {
		rp.secureCookie = true
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", rp.home)
	mux.HandleFunc("GET /login", rp.login)
	mux.HandleFunc("GET /callback", rp.callback)
	mux.HandleFunc("POST /refresh", rp.refresh)
	mux.HandleFunc("POST /logout", rp.logout)
	mux.HandleFunc("GET /static/demo.css", rp.stylesheet)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp.fail(w, r, &pageError{
			status:      http.StatusForbidden,
			title:       "Cross-origin request refused",
			description: "This form was posted from another site. Use the buttons on this app's own page.",
			cause:       errors.New("cross-origin request"),
		})
	}))
	// The back-channel route is called server to server by the issuer: no
	// browser, no cookie, no form token. It is authenticated by the logout
	// token's signature, so it is not behind the cross-origin protection.
	root := http.NewServeMux()
	root.HandleFunc(PathBackchannelLogout, rp.backchannelLogout)
	root.Handle("/", cop.Handler(mux))
	rp.handler = root
	return rp, nil
}

// ServeHTTP implements http.Handler.
func (rp *RP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", *rp.csp.Load())
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The callback URL carries the authorization code: never send it onwards.
	h.Set("Referrer-Policy", "no-referrer")
	rp.handler.ServeHTTP(w, r)
}

// setFormActions sets the Content-Security-Policy header with form-action
// allowing this origin and the given ones (empty strings are skipped).
func (rp *RP) setFormActions(origins ...string) {
	sources := []string{"'self'"}
	for _, o := range origins {
		if o != "" && !slices.Contains(sources, o) {
			sources = append(sources, o)
		}
	}
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + strings.Join(sources, " ") +
		"; frame-ancestors 'none'; base-uri 'none'"
	rp.csp.Store(&csp)
}

// discover returns the issuer's configuration, fetching the discovery document
// on the first successful call. A failure is not cached: the next request tries
// again.
func (rp *RP) discover(ctx context.Context) (*issuer, error) {
	rp.discoverMu.Lock()
	defer rp.discoverMu.Unlock()
	if rp.discovered != nil {
		return rp.discovered, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, rp.client), discoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, rp.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("demo: discover %s: %w", rp.cfg.Issuer, err)
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = oauth2.AuthStyleInHeader // client_secret_basic
	now := func() time.Time { return rp.now() }
	endSession := rp.endSessionEndpoint(ctx, p)
	rp.discovered = &issuer{
		provider: p,
		oauth2: &oauth2.Config{
			ClientID:     rp.cfg.ClientID,
			ClientSecret: rp.cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  rp.cfg.RedirectURL,
			Scopes:       rp.scopes,
		},
		// Both verifiers share the provider's key set (and its cache).
		idTokens: p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: now}),
		accessTokens: p.Verifier(&oidc.Config{
			SkipClientIDCheck: true,
			// The access token's algorithm need not be one the issuer lists for
			// ID tokens; only keys from the JWKS are accepted either way.
			SupportedSigningAlgs: []string{
				oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
				oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
			},
			Now: now,
		}),
		// Logout tokens are signed like ID tokens: same algorithms (from
		// discovery), and our client id must be in aud.
		logoutTokens: p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: now}),
		endSession:   endSession,
	}
	rp.setFormActions(origin(rp.cfg.Issuer), origin(endSession))
	return rp.discovered, nil
}

// pageError is a failure shown to the user as an error page. title and
// description are written for the user; code and description may come from the
// issuer (an OAuth error); cause is for the log only. It is deliberately not an
// error: handlers return a *pageError, and nil means they have answered.
type pageError struct {
	status      int
	title       string
	code        string
	description string
	retry       bool // offer to sign in again
	cause       error
}

func issuerUnreachable(iss string, err error) *pageError {
	return &pageError{
		status:      http.StatusBadGateway,
		title:       "The issuer is unreachable",
		description: fmt.Sprintf("This app could not fetch the discovery document of %s. Is Signet running?", iss),
		retry:       true,
		cause:       err,
	}
}

// fail logs e once and renders it as an error page.
func (rp *RP) fail(w http.ResponseWriter, r *http.Request, e *pageError) {
	level := slog.LevelInfo
	if e.status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", e.status, "title", e.title}
	if e.code != "" {
		attrs = append(attrs, "oauth_error", e.code)
	}
	if e.cause != nil {
		attrs = append(attrs, "error", e.cause)
	}
	rp.log.Log(r.Context(), level, "demo: request failed", attrs...)
	rp.render(w, r, e.status, pageData{
		Title: e.title,
		Error: &errorView{
			Title:       e.title,
			Code:        e.code,
			Description: e.description,
			Retry:       e.retry,
		},
	})
}

// pageData is what demo/page renders.
type pageData struct {
	Title    string
	Issuer   string
	ClientID string
	Notice   string
	// SignedOutAtIssuer is set when the browser came back from the issuer's
	// end_session_endpoint with the state of the logout it started.
	SignedOutAtIssuer bool
	// Backchannel is set when the issuer ended this browser's session by a
	// back-channel logout.
	Backchannel *backchannelView
	Error       *errorView
	Session     *sessionView
}

// backchannelView says when the issuer signed this browser out.
type backchannelView struct {
	At       string // for people, UTC
	DateTime string // RFC 3339, for the time element
}

type errorView struct {
	Title       string
	Code        string
	Description string
	Retry       bool
}

// render executes the page into a buffer and only then writes it, so that a
// template error is a clean 500 rather than half a page.
func (rp *RP) render(w http.ResponseWriter, r *http.Request, status int, data pageData) {
	data.Issuer = rp.cfg.Issuer
	data.ClientID = rp.cfg.ClientID
	var buf bytes.Buffer
	if err := rp.page.ExecuteTemplate(&buf, pageTemplate, data); err != nil {
		rp.log.ErrorContext(r.Context(), "demo: render page", "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if _, err := buf.WriteTo(w); err != nil {
		rp.log.DebugContext(r.Context(), "demo: write page", "error", err)
	}
}

func (rp *RP) stylesheet(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "demo.css", time.Time{}, bytes.NewReader(rp.css))
}
