package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/templates"
)

// DefaultScopes are the scopes requested when Config.Scopes is empty.
var DefaultScopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}

const (
	pageTemplate   = "demo/page"
	stylesheetPath = "static/demo.css"
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
	// Scopes are the scopes requested; they must include "openid". Empty means
	// DefaultScopes.
	Scopes []string
	// HTTPClient makes every request to the issuer. Nil means a client with a
	// timeout.
	HTTPClient *http.Client
	// Logger receives the demo's log records. Nil means slog.Default().
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
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		errs = append(errs, errors.New(`demo: scopes: must include "openid"`))
	}
	return errors.Join(errs...)
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
//	POST /logout          forgets this browser's session (local sign-out only)
//	GET  /static/demo.css the stylesheet
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
}

var _ http.Handler = (*RP)(nil)

// New returns the demo relying party for cfg. It parses its page template and
// reads its stylesheet, but does not contact the issuer: discovery happens on
// first use, because the issuer may not be listening yet.
func New(cfg Config) (*RP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	page, err := template.ParseFS(templates.FS, "demo.html")
	if err != nil {
		return nil, fmt.Errorf("demo: parse template: %w", err)
	}
	if page.Lookup(pageTemplate) == nil {
		return nil, fmt.Errorf("demo: template %q is not defined in demo.html", pageTemplate)
	}
	css, err := fs.ReadFile(templates.FS, stylesheetPath)
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
	}
	if len(rp.scopes) == 0 {
		rp.scopes = slices.Clone(DefaultScopes)
	}
	if rp.log == nil {
		rp.log = slog.Default()
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
	rp.handler = cop.Handler(mux)
	return rp, nil
}

// ServeHTTP implements http.Handler.
func (rp *RP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// The callback URL carries the authorization code: never send it onwards.
	h.Set("Referrer-Policy", "no-referrer")
	rp.handler.ServeHTTP(w, r)
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
	}
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
		attrs = append(attrs, "err", e.cause)
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
	Error    *errorView
	Session  *sessionView
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
		rp.log.ErrorContext(r.Context(), "demo: render page", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if _, err := buf.WriteTo(w); err != nil {
		rp.log.DebugContext(r.Context(), "demo: write page", "err", err)
	}
}

func (rp *RP) stylesheet(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "demo.css", time.Time{}, bytes.NewReader(rp.css))
}
