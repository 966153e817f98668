// Package web owns every page a person sees on Signet: the login form, the second
// step (TOTP code or recovery code, step-up), consent, the account page that
// enrols and manages the second factor, logout and device pages, and the
// cross-origin checks and brute-force throttling around them. It marks an auth
// request done in storage (subject, auth_time, amr, acr, session id) and then
// sends the browser to the provider's callback, which issues the code.
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
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
	"github.com/signet-idp/signet/web/credentials/throttle"
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
	// provider). When nil, New builds one from SessionLifetime and SessionIdle.
	Sessions        *session.Manager
	SessionLifetime time.Duration
	// SessionIdle ends a session unused for this long (zero: no idle limit).
	SessionIdle time.Duration
	Now         func() time.Time
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

// Handler serves the pages.
type Handler struct {
	cfg         Config
	store       storage.Store
	pages       *templates.Renderer
	access      AccessEnder
	now         func() time.Time
	log         *slog.Logger
	sessions    *session.Manager
	totp        *totp.Authenticator
	mfaRequired bool
	// accounts and addresses count failed sign-ins per username and per client
	// address.
	accounts  throttle.Limits  // the counts are in the store (throttle.Reserve)
	addresses *throttle.Memory // and in the store (throttle.Fail)
	// gate bounds the checks of one account running, and waiting, at once.
	gate *gate
}

// New parses the templates once; a missing or broken template fails start-up.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Pages == nil {
		p, err := Templates(cfg.ThemeDir, cfg.Issuer, cfg.BasePath, cfg.Log)
		if err != nil {
			return nil, err
		}
		cfg.Pages = p
	}
	if cfg.Access == nil {
		cfg.Access = account.New(cfg.Store, cfg.Log, cfg.Now)
	}
	h := &Handler{cfg: cfg, store: cfg.Store, pages: cfg.Pages, access: cfg.Access, now: cfg.Now, log: cfg.Log}
	switch cfg.MFAPolicy {
	case "", MFAOptional:
	case MFARequired:
		h.mfaRequired = true
	default:
		return nil, fmt.Errorf("web: MFA policy %q is not %q or %q", cfg.MFAPolicy, MFAOptional, MFARequired)
	}
	tc, d := cfg.Throttle, DefaultThrottle
	tc.AccountFree, tc.AddressFree = cmp.Or(tc.AccountFree, d.AccountFree), cmp.Or(tc.AddressFree, d.AddressFree)
	tc.Base, tc.Max, tc.MaxEntries = cmp.Or(tc.Base, d.Base), cmp.Or(tc.Max, d.Max), cmp.Or(tc.MaxEntries, d.MaxEntries)
	h.accounts = throttle.Limits{Free: tc.AccountFree, Base: tc.Base, Max: tc.Max}
	h.addresses = throttle.NewMemory(throttle.Limits{Free: tc.AddressFree, Base: tc.Base, Max: tc.Max}, tc.MaxEntries)
	// No more checks of one account run at once than it has tries: the others
	// wait for the outcome instead of being turned away.
	h.gate = newGate(max(1, min(gateWidth, tc.AccountFree)))
	if h.sessions = cfg.Sessions; h.sessions == nil {
		h.sessions = session.New(session.Config{
			Store: cfg.Store, Issuer: cfg.Issuer, BasePath: cfg.BasePath,
			Lifetime: cfg.SessionLifetime, Idle: cfg.SessionIdle, End: cfg.Access, Now: cfg.Now, Log: cfg.Log,
		})
	}
	label := "Signet"
	if u, err := url.Parse(cfg.Issuer); err == nil && u.Hostname() != "" {
		label = "Signet (" + u.Hostname() + ")"
	}
	var err error
	if h.totp, err = totp.New(cfg.TOTPKey, label, cfg.Now); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return h, nil
}

// Routes registers the pages on mux. Form posts are refused when they come from
// another origin (Go's CrossOriginProtection, on top of SameSite cookies and the
// per-request form token).
func (h *Handler) Routes(mux *http.ServeMux) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ErrorPage(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site. Signet only accepts forms sent from its own pages.")
	}))
	page := func(f http.HandlerFunc) http.Handler { return SecurityHeaders(cop.Handler(f)) }
	mux.Handle("GET "+PathLogin, page(h.loginPage))
	mux.Handle("POST "+PathLogin, page(h.loginSubmit))
	mux.Handle("GET "+PathSecondFactor, page(h.secondFactorPage))
	mux.Handle("POST "+PathSecondFactor, page(h.secondFactorSubmit))
	mux.Handle("GET "+PathAccountLogin, page(h.accountLoginPage))
	mux.Handle("POST "+PathAccountLogin, page(h.accountLoginSubmit))
	mux.Handle("GET "+PathAccountTOTP, page(h.accountTOTPPage))
	mux.Handle("POST "+PathAccountTOTP, page(h.accountTOTPConfirm))
	mux.Handle("POST "+PathAccountTOTPManage, page(h.accountTOTPManage))
	h.logoutRoutes(mux, page)
	h.consentRoutes(mux, page)
	h.deviceRoutes(mux, page)
	mux.Handle("GET /static/", h.pages.Static())
	mux.Handle("GET /{$}", page(h.home))
}

// route returns the URL path of a page or endpoint of this server (p is a Path
// constant, with or without a query): p under the issuer's path.
func (h *Handler) route(p string) string { return h.cfg.BasePath + p }

// SecurityHeaders sets the headers every page carries (templates.SecurityHeaders).
func SecurityHeaders(next http.Handler) http.Handler { return templates.SecurityHeaders(next) }

// render renders a page (templates.Renderer.Render).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	h.pages.Render(w, r, status, name, title, data)
}

// ErrorPage shows an error that must not be redirected anywhere.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	h.pages.ErrorPage(w, r, status, title, message)
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "error", "Signet", templates.Message{
		Message: "This is Signet, an OpenID Connect provider. Sign in through an application that uses it.",
	})
}

// formToken binds a form to one auth request and one step, so a post for another
// request or step fails.
func (h *Handler) formToken(step, authRequestID string) string {
	m := hmac.New(sha256.New, h.cfg.CookieKey[:])
	m.Write([]byte("signet/form\x00" + step + "\x00" + authRequestID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// readForm bounds and parses a POSTed form, answering one that cannot be read
// itself; it reports whether the handler goes on.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Malformed form", "The form could not be read.")
		return false
	}
	return true
}

// formValid checks the form's csrf_token for step and binding, answering a
// refusal (403, saying why) itself; it reports whether the handler goes on.
func (h *Handler) formValid(w http.ResponseWriter, r *http.Request, step, binding, why string) bool {
	if h.checkFormToken(step, binding, r.PostForm.Get("csrf_token")) {
		return true
	}
	h.ErrorPage(w, r, http.StatusForbidden, "Request refused", why)
	return false
}

func (h *Handler) checkFormToken(step, authRequestID, token string) bool {
	return hmac.Equal([]byte(h.formToken(step, authRequestID)), []byte(token))
}
