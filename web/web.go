// Package web owns every page a person sees on Signet: the browser session cookie,
// the login form, the second step (TOTP code or recovery code, step-up), the
// account page that enrols and manages the second factor, error pages, and the
// security headers and cross-origin checks around them. It marks an auth request
// done in storage (subject, auth_time, amr, acr, session id) and then sends the
// browser to the provider's callback, which issues the code.
//
// It does not speak the token protocol (provider/ does) and never imports it: main
// hands it the callback URL function. Password hashing lives in
// web/credentials/password, the codes, their replay protection and throttling in
// web/credentials/totp. The management service (cmd/signet/internal/admin) and the
// demo relying party (cmd/signet/internal/demorp) are not pages and live with main.
package web

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/templates"
	"github.com/signet-idp/signet/web/account"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/totp"
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
	// Issuer is shown on every page and decides whether cookies are Secure.
	Issuer          string
	SessionLifetime time.Duration
	// SessionIdle ends a session unused for this long (zero: no idle limit).
	SessionIdle time.Duration
	// CallbackURL returns where the browser goes once an auth request is done.
	CallbackURL func(authRequestID string) string
	// ErrorRedirectURL builds the redirect that returns an OAuth error to a
	// registered redirect URI (with iss).
	ErrorRedirectURL func(redirectURI, state, errCode, description string) string
	Now              func() time.Time
	// Log receives the security events of the pages and the errors they
	// handle (nothing is logged when nil).
	Log *slog.Logger

	// Access ends sessions, with their back-channel logout notices, and
	// revokes grants: main passes the *account.Ender the provider listens to;
	// when nil, New makes one on Store.
	Access AccessEnder
	// VerifyIDTokenHint checks an id_token_hint's signature and issuer (not its
	// expiry) and says whose it is.
	VerifyIDTokenHint func(hint string) (IDTokenHint, error)
	// PostLogoutRedirect returns uri with state when uri is registered for
	// clientID as a post-logout redirect URI, or "".
	PostLogoutRedirect func(ctx context.Context, clientID, uri, state string) string
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

// IDTokenHint is what a verified id_token_hint says.
type IDTokenHint struct {
	Subject  string
	SID      string
	ClientID string
}

// Scope is a scope as the consent page shows it.
type Scope struct {
	Name        string
	Description string
	// Optional scopes may be unticked on the consent page; the others are required.
	Optional bool
}

// Handler serves the pages.
type Handler struct {
	cfg        Config
	store      storage.Store
	pages      *templates.Renderer
	access     AccessEnder
	now        func() time.Time
	log        *slog.Logger
	secure     bool
	cookieName string
	// cookiePath scopes the cookies to the issuer's path ("/" without one).
	cookiePath string
	// pendingCookie names the cookie that binds a half-done sign-in (password
	// passed, second factor not yet) to the browser that passed the password.
	pendingCookie string
	totp          *totp.Authenticator
	mfaRequired   bool
	// accounts and addresses count failed sign-ins per username and per client
	// address.
	accounts  *throttle
	addresses *throttle
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
	h.accounts = newThrottle(tc.AccountFree, tc.Base, tc.Max, tc.MaxEntries)
	h.addresses = newThrottle(tc.AddressFree, tc.Base, tc.Max, tc.MaxEntries)
	// No more checks of one account run at once than it has tries: the others
	// wait for the outcome instead of being turned away.
	h.gate = newGate(max(1, min(gateWidth, tc.AccountFree)))
	h.secure = strings.HasPrefix(cfg.Issuer, "https://")
	h.cookieName, h.pendingCookie = "signet_session", "signet_pending"
	h.cookiePath = cmp.Or(cfg.BasePath, "/")
	switch {
	case h.secure && cfg.BasePath == "":
		// __Host- pins the cookie to this host, path / and Secure.
		h.cookieName, h.pendingCookie = "__Host-signet_session", "__Host-signet_pending"
	case h.secure:
		// __Host- demands path /, which would hand the session to every other
		// application on this host; under a path, __Secure- keeps it Secure
		// and the path keeps it Signet's.
		h.cookieName, h.pendingCookie = "__Secure-signet_session", "__Secure-signet_pending"
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

func (h *Handler) checkFormToken(step, authRequestID, token string) bool {
	return hmac.Equal([]byte(h.formToken(step, authRequestID)), []byte(token))
}

// newSecret returns a 256-bit random value, base64url.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(cookieValue string) string {
	sum := sha256.Sum256([]byte(cookieValue))
	return hex.EncodeToString(sum[:])
}

// currentSession returns the browser's live session, or nil.
func (h *Handler) currentSession(ctx context.Context, r *http.Request) (*storage.Session, *storage.User) {
	c, err := r.Cookie(h.cookieName)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	s, err := h.store.GetSession(ctx, sessionKey(c.Value))
	now := h.now()
	if err != nil || s.Expired(now) {
		return nil, nil
	}
	if s.Idle(now, h.cfg.SessionIdle) {
		h.endSession(ctx, s)
		return nil, nil
	}
	u, err := h.store.GetUser(ctx, s.UserID)
	if err != nil || u.Disabled {
		return nil, nil
	}
	// Record use, at most once a minute (a write per page would be waste), and
	// often enough that a short idle limit sees the activity.
	if s.TouchDue(now, h.cfg.SessionIdle) {
		if ns, err := h.store.UpdateSession(ctx, s.ID, func(x *storage.Session) error {
			x.LastSeen = now.UTC()
			return nil
		}); err == nil {
			s = ns
		}
	}
	return s, u
}

// BrowserSID returns the sid of the browser's live session, or "".
func (h *Handler) BrowserSID(r *http.Request) string {
	if s, _ := h.currentSession(r.Context(), r); s != nil {
		return s.SID
	}
	return ""
}

// pendingBinding returns the SHA-256 (hex) of the browser's pending-sign-in
// cookie, setting a new random one when the browser has none. The value is reused
// while it lives, so that sign-ins in two tabs do not undo each other.
func (h *Handler) pendingBinding(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(h.pendingCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 128 {
		return sessionKey(c.Value)
	}
	value := newSecret()
	http.SetCookie(w, &http.Cookie{
		Name: h.pendingCookie, Value: value, Path: h.cookiePath, MaxAge: int(pendingCookieLifetime / time.Second),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	return sessionKey(value)
}

// browserBinding is the hash of the browser's binding cookie, or "" without one.
func (h *Handler) browserBinding(r *http.Request) string {
	if c, err := r.Cookie(h.pendingCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 128 {
		return sessionKey(c.Value)
	}
	return "none"
}

// pendingCookieLifetime bounds the pending-sign-in cookie; the auth request it
// binds expires sooner.
const pendingCookieLifetime = time.Hour

// boundToBrowser reports whether the request comes from the browser that passed
// the first factor of ar.
func (h *Handler) boundToBrowser(r *http.Request, ar *storage.AuthRequest) bool {
	c, err := r.Cookie(h.pendingCookie)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 || ar.FirstFactorBinding == "" {
		return false
	}
	return hmac.Equal([]byte(sessionKey(c.Value)), []byte(ar.FirstFactorBinding))
}

// newSession starts a browser session for userID with a fresh id (no fixation),
// ending the one the browser had. With keepSID, a session of the same person that
// is replaced (a step-up) keeps its public sid, which applications already hold.
func (h *Handler) newSession(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, amr []string, acr string, keepSID bool) (*storage.Session, error) {
	now := h.now().UTC()
	sid := newSecret()[:22]
	created := now
	replaced := ""
	if c, err := r.Cookie(h.cookieName); err == nil && c.Value != "" && len(c.Value) <= 128 {
		key := sessionKey(c.Value)
		if old, err := h.store.GetSession(ctx, key); err == nil {
			if keepSID && old.UserID == userID && !old.Expired(now) {
				// A step-up: the same session goes on under a new cookie. The
				// old record goes once the new one exists, so that the sid is
				// never without a live session (token requests check for one).
				sid, created, replaced = old.SID, old.CreatedAt, key
			} else {
				// Another sign-in replaces the session: end it properly, so its
				// apps are told and its session-bound tokens die.
				h.endSession(ctx, old)
			}
		}
	}
	value := newSecret()
	sess := &storage.Session{
		ID: sessionKey(value), SID: sid, UserID: userID,
		AuthTime: now, AMR: amr, ACR: acr,
		CreatedAt: created, LastSeen: now, ExpiresAt: now.Add(h.cfg.SessionLifetime),
	}
	if err := h.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	if replaced != "" {
		if err := h.store.DeleteSession(ctx, replaced); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.log.ErrorContext(ctx, "delete the session replaced by a step-up", "error", err)
		}
	}
	h.setSessionCookie(w, value, sess.ExpiresAt)
	return sess, nil
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName, Value: value, Path: h.cookiePath, Expires: expires,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}
