// Package web owns every page a person sees on Signet: the login form, the second
// step (TOTP code or recovery code, step-up), consent, the account page that
// enrols and manages the second factor, logout and device pages, and the
// cross-origin checks and brute-force throttling around them. It marks an auth
// request done in storage (subject, auth_time, amr, acr, session id) and then
// sends the browser to the provider's callback, which issues the code.
//
// Each area has a handler of its own, holding only what it uses: the sign-in
// with its second factor (signIn), an application's consent (consentPages),
// the device pages (devicePages), the account pages (accountPages) and logout
// (logoutPages). They are built on shared parts: base (the renderer, form
// tokens and form reading), the browser session, the brute-force guard, the
// consent rules (scopeRules) and an auth request's way through the pages
// (flow). New builds them and Routes registers every page in one place.
//
// It does not speak the token protocol (provider/ does) and never imports it nor
// calls into it: the two meet through storage and the packages below both. The
// browser session is web/session's, what ends access (sessions, grants) is
// web/account's, the templates and their renderer are templates/'s. Password
// hashing lives in web/credentials/password, the codes, their replay protection
// and throttling in web/credentials/totp. The management service
// (cmd/signet/internal/admin) and the demo relying party
// (cmd/signet/internal/demorp) are not pages and live with main.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/signet-idp/signet/provider/idtoken"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/templates"
	"github.com/signet-idp/signet/web/account"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/totp"
	"github.com/signet-idp/signet/web/session"
)

// Config configures the pages.
type Config struct {
	Store  storage.Store
	Hasher *password.Hasher
	// CookieKey keys the HMACs that bind each form (and the sealed sign-out
	// request) to its auth request, and the hashes of device user codes.
	CookieKey [32]byte
	// TOTPKey seals TOTP secrets at rest (AES-256-GCM). Derive it from the
	// cookie key with totp.DeriveKey (not the key-encryption key, which keys
	// rewrap replaces); it must not be all zero.
	TOTPKey [32]byte
	// MFAPolicy is MFAOptional (the default when empty: a second factor for those
	// who enrolled one, and where a client or acr_values asks for it) or
	// MFARequired (everyone, enrolling at the next sign-in if needed).
	MFAPolicy string
	// Issuer is shown on every page and decides whether cookies are Secure
	// (for the Pages and Sessions New builds when they are nil).
	Issuer string
	// Sessions is the browser session (main builds it, to share it with the
	// provider). When nil, New builds one from SessionLifetime and SessionIdle
	// (read only then).
	Sessions        *session.Manager
	SessionLifetime time.Duration
	// SessionIdle ends a session unused for this long (zero: no idle limit).
	SessionIdle time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives the security events of the pages and the errors they
	// handle (nothing is logged when nil).
	Log *slog.Logger

	// Access ends sessions, with their back-channel logout notices, and
	// revokes grants: main passes the *account.Ender the provider listens to;
	// when nil, New makes one on Store.
	Access AccessEnder
	// Hints verifies the id_token_hint of a logout (an *idtoken.Verifier on the
	// issuer's keys); without it every hint is rejected.
	Hints HintVerifier
	// Scopes describes every scope a person may be asked to approve.
	Scopes []Scope
	// Throttle sets the brute-force limits (DefaultThrottle for zero fields).
	Throttle ThrottleConfig
	// TrustedProxies are the addresses of reverse proxies whose X-Forwarded-For
	// names the client (for per-address throttling); empty trusts none.
	TrustedProxies []netip.Prefix
	// Pages renders the pages (main builds it with Templates, to share it with
	// the provider). When nil, New builds one from ThemeDir.
	Pages *templates.Renderer
	// ThemeDir, when set, holds templates (*.html) and static/ files that replace
	// the embedded ones of the same name (only read when Pages is nil).
	ThemeDir string
	// BasePath is the issuer URL's path ("" or, say, "/auth"). The pages are
	// served under it (main mounts them there, the proxy passing the full path),
	// so every link, form action, redirect and cookie path starts with it.
	BasePath string
}

// AccessEnder is what the pages need of web/account's Ender.
type AccessEnder interface {
	EndSession(ctx context.Context, s *storage.Session) error
	RevokeGrant(ctx context.Context, userID, clientID string) error
}

var _ AccessEnder = (*account.Ender)(nil)

// HintVerifier checks an id_token_hint's signature and issuer (not its expiry)
// and says whose it is.
type HintVerifier interface {
	VerifyHint(raw string) (idtoken.Hint, error)
}

var _ HintVerifier = (*idtoken.Verifier)(nil)

// Scope is a scope as the consent page shows it.
type Scope struct {
	Name        string
	Description string
	// Optional scopes may be unticked on the consent page; the others are required.
	Optional bool
}

// withDefaults returns cfg with every field left zero that has a default
// filled in, each from the one place that owns it: the clock and the log here,
// the brute-force limits from DefaultThrottle, the renderer from Templates (on
// ThemeDir), what ends access from web/account, the browser session from
// web/session (on SessionLifetime and SessionIdle). Nothing else in the
// package fills in a default.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Pages == nil {
		p, err := Templates(cfg.ThemeDir, cfg.Issuer, cfg.BasePath, cfg.Log)
		if err != nil {
			return cfg, err
		}
		cfg.Pages = p
	}
	if cfg.Access == nil {
		cfg.Access = account.New(cfg.Store, cfg.Log, cfg.Now)
	}
	switch cfg.MFAPolicy {
	case "":
		cfg.MFAPolicy = MFAOptional
	case MFAOptional, MFARequired:
	default:
		return cfg, fmt.Errorf("web: MFA policy %q is not %q or %q", cfg.MFAPolicy, MFAOptional, MFARequired)
	}
	cfg.Throttle = cfg.Throttle.withDefaults()
	if cfg.Sessions == nil {
		cfg.Sessions = session.New(session.Config{
			Store: cfg.Store, Issuer: cfg.Issuer, BasePath: cfg.BasePath,
			Lifetime: cfg.SessionLifetime, Idle: cfg.SessionIdle, End: cfg.Access, Now: cfg.Now, Log: cfg.Log,
		})
	}
	return cfg, nil
}

// Paths of the sign-in, the second step and the account pages.
const (
	// PathLogin is the sign-in page (the provider sends the browser there).
	PathLogin = "/login"
	// PathSecondFactor is the page asking for a TOTP or recovery code.
	PathSecondFactor = "/login/totp"
	// PathAccountLogin signs in to the account pages, without an application.
	PathAccountLogin = "/account/login"
	// PathAccountTOTP enrols (GET shows the QR code and secret, POST confirms with
	// a code) and manages the second factor.
	PathAccountTOTP = "/account/totp"
	// PathAccountTOTPManage re-enrols, renews the recovery codes or turns the
	// second factor off, each after the current password or a current code.
	PathAccountTOTPManage = "/account/totp/manage"
)

// Paths of the device pages.
const (
	// PathDevice is where a person enters a user code (the verification_uri).
	PathDevice = "/device"
	// PathDeviceConsent is where the signed-in person approves the device.
	PathDeviceConsent = "/device/consent"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
const (
	// PathEndSession is the end_session_endpoint. Applications send the browser
	// here with GET, or POST a form from their own origin, so it is not behind
	// CrossOriginProtection: it ends a session only for a verified id_token_hint
	// of the browser's own session (and otherwise asks), or, on a request that
	// carries no session cookie (a back end signing its user out), for a
	// verified id_token_hint whose sid names a live session of its subject.
	PathEndSession = "/end_session"
	// PathEndSessionConfirm receives the confirmation form (cross-origin posts
	// refused).
	PathEndSessionConfirm = PathEndSession + "/confirm"
	// PathEndSessionContinue continues a POST to PathEndSession that arrived
	// without the session cookie (a SameSite=Lax cookie is not sent on a
	// cross-site POST) as a top-level GET, which carries it.
	PathEndSessionContinue = PathEndSession + "/continue"
)

// Paths of the consent page and the account overview.
const (
	// PathConsent is an application's approval page.
	PathConsent = "/consent"
	// PathAccount is the account overview.
	PathAccount = "/account"
	// PathAccountRevoke takes an app's access back.
	PathAccountRevoke = "/account/apps/revoke"
	// PathAccountSessions signs out the person's other sessions, or all.
	PathAccountSessions = "/account/sessions"
	// PathAccountPassword changes the password.
	PathAccountPassword = "/account/password"
)

// Handler serves the pages: one handler per area, each holding only what it
// uses, built by New on shared parts (the renderer and form tokens, the
// browser session, the brute-force guard, the flow of an auth request), and
// every route registered in Routes.
type Handler struct {
	pages   *templates.Renderer
	signIn  *signIn
	consent *consentPages
	device  *devicePages
	account *accountPages
	logout  *logoutPages
}

// New parses the templates once; a missing or broken template fails start-up.
func New(cfg Config) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	label := "Signet"
	if u, err := url.Parse(cfg.Issuer); err == nil && u.Hostname() != "" {
		label = "Signet (" + u.Hostname() + ")"
	}
	codes, err := totp.New(cfg.TOTPKey, label, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	b := &base{pages: cfg.Pages, formKey: cfg.CookieKey, basePath: cfg.BasePath, now: cfg.Now, log: cfg.Log}
	p := proxies(cfg.TrustedProxies)
	g := newGuard(b, cfg.Store, cfg.Hasher, p, cfg.Throttle)
	rules := &scopeRules{registry: cfg.Scopes, apis: cfg.Store, log: cfg.Log}
	f := &flow{base: b, store: cfg.Store, sessions: cfg.Sessions, rules: rules, proxies: p, issuer: cfg.Issuer}
	mfaRequired := cfg.MFAPolicy == MFARequired
	return &Handler{
		pages: cfg.Pages,
		signIn: &signIn{base: b, store: cfg.Store, sessions: cfg.Sessions, flow: f, guard: g, totp: codes,
			mfaRequired: mfaRequired},
		consent: &consentPages{base: b, flow: f, rules: rules, grants: cfg.Store},
		device: &devicePages{base: b, store: cfg.Store, sessions: cfg.Sessions, flow: f, rules: rules, guard: g,
			codeKey: cfg.CookieKey},
		account: &accountPages{base: b, store: cfg.Store, sessions: cfg.Sessions, guard: g, totp: codes,
			hasher: cfg.Hasher, access: cfg.Access, rules: rules, mfaRequired: mfaRequired},
		logout: &logoutPages{base: b, store: cfg.Store, sessions: cfg.Sessions, hints: cfg.Hints, access: cfg.Access},
	}, nil
}

// Routes registers every page on mux. Form posts are refused when they come
// from another origin (Go's CrossOriginProtection, on top of SameSite cookies
// and the per-request form token).
func (h *Handler) Routes(mux *http.ServeMux) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.pages.ErrorPage(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site. Signet only accepts forms sent from its own pages.")
	}))
	page := func(f http.HandlerFunc) http.Handler { return SecurityHeaders(cop.Handler(f)) }

	in := h.signIn
	mux.Handle("GET "+PathLogin, page(in.loginPage))
	mux.Handle("POST "+PathLogin, page(in.loginSubmit))
	mux.Handle("GET "+PathSecondFactor, page(in.secondFactorPage))
	mux.Handle("POST "+PathSecondFactor, page(in.secondFactorSubmit))
	mux.Handle("GET "+PathAccountLogin, page(in.accountLoginPage))
	mux.Handle("POST "+PathAccountLogin, page(in.accountLoginSubmit))

	mux.Handle("GET "+PathConsent, page(h.consent.consentPage))
	mux.Handle("POST "+PathConsent, page(h.consent.consentSubmit))

	dev := h.device
	mux.Handle("GET "+PathDevice, page(dev.devicePage))
	mux.Handle("POST "+PathDevice, page(dev.deviceSubmit))
	mux.Handle("GET "+PathDeviceConsent, page(dev.deviceConsentPage))
	mux.Handle("POST "+PathDeviceConsent, page(dev.deviceConsentSubmit))

	acct := h.account
	mux.Handle("GET "+PathAccount, page(acct.accountHome))
	mux.Handle("POST "+PathAccountRevoke, page(acct.accountRevoke))
	mux.Handle("POST "+PathAccountSessions, page(acct.accountSessions))
	mux.Handle("POST "+PathAccountPassword, page(acct.accountPassword))
	mux.Handle("GET "+PathAccountTOTP, page(acct.accountTOTPPage))
	mux.Handle("POST "+PathAccountTOTP, page(acct.accountTOTPConfirm))
	mux.Handle("POST "+PathAccountTOTPManage, page(acct.accountTOTPManage))

	// Not page(): an application's own origin may POST to the end-session
	// endpoint. Nothing is ended on a cross-site request without a valid
	// id_token_hint for this browser's session.
	out := h.logout
	mux.Handle("GET "+PathEndSession, SecurityHeaders(http.HandlerFunc(out.logoutEndpoint)))
	mux.Handle("POST "+PathEndSession, SecurityHeaders(http.HandlerFunc(out.logoutEndpoint)))
	mux.Handle("GET "+PathEndSessionContinue, SecurityHeaders(http.HandlerFunc(out.logoutContinue)))
	mux.Handle("POST "+PathEndSessionConfirm, page(out.logoutConfirm))

	mux.Handle("GET /static/", h.pages.Static())
	mux.Handle("GET /{$}", page(h.home))
}

// SecurityHeaders sets the headers every page carries (templates.SecurityHeaders).
func SecurityHeaders(next http.Handler) http.Handler { return templates.SecurityHeaders(next) }

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	h.pages.Render(w, r, http.StatusOK, "error", "Signet", templates.Message{
		Message: "This is Signet, an OpenID Connect provider. Sign in through an application that uses it.",
	})
}
