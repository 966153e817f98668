// Package web owns every page a person sees on Signet: the browser session cookie,
// the login form, error pages, and the security headers and cross-origin checks
// around them. It marks an auth request done in storage (subject, auth_time, amr,
// acr, session id) and then sends the browser to the provider's callback, which
// issues the code.
//
// It does not speak the token protocol (provider/ does) and never imports it: main
// hands it the callback URL function. Password hashing lives in web/password, the
// admin API in web/admin, the demo relying party in web/demo.
package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/templates"
	"github.com/signet-idp/signet/web/password"
)

// Config configures the pages.
type Config struct {
	Store  storage.Store
	Hasher *password.Hasher
	// CookieKey keys the HMACs that bind each form to its auth request.
	CookieKey [32]byte
	// Issuer is shown on every page and decides whether cookies are Secure.
	Issuer          string
	SessionLifetime time.Duration
	// CallbackURL returns where the browser goes once an auth request is done.
	CallbackURL func(authRequestID string) string
	// ErrorRedirectURL builds the redirect that returns an OAuth error to a
	// registered redirect URI (with iss).
	ErrorRedirectURL func(redirectURI, state, errCode, description string) string
	Now              func() time.Time
	Log              *slog.Logger
}

// Handler serves the pages.
type Handler struct {
	cfg        Config
	store      storage.Store
	tmpl       *template.Template
	now        func() time.Time
	log        *slog.Logger
	secure     bool
	cookieName string
	issuerName string
}

// pages are the templates web renders; each file defines one page and shares the
// layout.
var pages = []string{"layout.html", "login.html", "error.html"}

// New parses the templates once; a missing or broken template fails start-up.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	t, err := template.New("").ParseFS(templates.FS, pages...)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, store: cfg.Store, tmpl: t, now: cfg.Now, log: cfg.Log}
	h.secure = strings.HasPrefix(cfg.Issuer, "https://")
	h.cookieName = "signet_session"
	if h.secure {
		// __Host- pins the cookie to this host, path / and Secure.
		h.cookieName = "__Host-signet_session"
	}
	h.issuerName = strings.TrimPrefix(strings.TrimPrefix(cfg.Issuer, "https://"), "http://")
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
	mux.Handle("GET /login", page(h.loginPage))
	mux.Handle("POST /login", page(h.loginSubmit))
	mux.Handle("GET /static/", SecurityHeaders(http.FileServerFS(templates.FS)))
	mux.Handle("GET /{$}", page(h.home))
}

// SecurityHeaders sets the headers every page carries: a strict CSP with no inline
// script, no framing, no sniffing, no referrer.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// pageData is what every page template receives.
type pageData struct {
	Title  string
	Issuer string
	Data   any
}

// render executes a page into a buffer first, so a template error is a clean 500
// and never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, pageData{Title: title, Issuer: h.issuerName, Data: data}); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct{ Message string }

// ErrorPage shows an error that must not be redirected anywhere.
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, status, "error", title, errorData{Message: message})
	})).ServeHTTP(w, r)
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "error", "Signet", errorData{
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
	if err != nil || s.Expired(h.now()) {
		return nil, nil
	}
	u, err := h.store.GetUser(ctx, s.UserID)
	if err != nil || u.Disabled {
		return nil, nil
	}
	return s, u
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName, Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}
