// Package session owns the browser session: the server-side record behind a
// random value in an HttpOnly, SameSite=Lax cookie (Secure when the issuer is
// https), and the second cookie that binds a half-done sign-in to the browser
// that started it. It creates a session (with a fresh value, never a fixated
// one), looks one up by its cookie, records its use, and ends one that went
// idle. The pages (web/) sign people in and out with it, and the provider asks
// it whose browser is at its callback, so neither calls the other.
//
// It does not decide who may sign in (web/ does), and ending a session, with
// its back-channel logout notices and tokens, is web/account's: a Manager is
// given the account.SessionEnder to call.
package session

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/account"
)

// PendingCookieLifetime bounds the pending-sign-in cookie; the auth request it
// binds expires sooner.
const PendingCookieLifetime = time.Hour

// Config configures a Manager.
type Config struct {
	Store storage.Store
	// Issuer decides whether cookies are Secure (an https issuer).
	Issuer string
	// BasePath is the issuer URL's path ("" or, say, "/auth"): the cookies'
	// path, so that they stay Signet's on a shared host.
	BasePath string
	// Lifetime is a new session's lifetime.
	Lifetime time.Duration
	// Idle ends a session unused for this long (zero: no idle limit).
	Idle time.Duration
	// End ends a session found idle, or replaced by another person's sign-in
	// (an *account.Ender; nil: one on Store).
	End account.SessionEnder
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives the errors it gets past (nothing is logged when nil).
	Log *slog.Logger
}

// Manager creates, finds and ends browser sessions.
type Manager struct {
	store  storage.Store
	end    account.SessionEnder
	now    func() time.Time
	log    *slog.Logger
	life   time.Duration
	idle   time.Duration
	secure bool
	// cookie names the session cookie and pending the cookie that binds a
	// half-done sign-in (password passed, second factor not yet) to the
	// browser that passed the password; path scopes both to the issuer's path.
	cookie, pending, path string
}

// New returns the Manager of cfg.
func New(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.End == nil {
		cfg.End = account.New(cfg.Store, cfg.Log, cfg.Now)
	}
	m := &Manager{store: cfg.Store, end: cfg.End, now: cfg.Now, log: cfg.Log, life: cfg.Lifetime, idle: cfg.Idle}
	m.secure = strings.HasPrefix(cfg.Issuer, "https://")
	m.cookie, m.pending = "signet_session", "signet_pending"
	m.path = cmp.Or(cfg.BasePath, "/")
	switch {
	case m.secure && cfg.BasePath == "":
		// __Host- pins the cookie to this host, path / and Secure.
		m.cookie, m.pending = "__Host-signet_session", "__Host-signet_pending"
	case m.secure:
		// __Host- demands path /, which would hand the session to every other
		// application on this host; under a path, __Secure- keeps it Secure
		// and the path keeps it Signet's.
		m.cookie, m.pending = "__Secure-signet_session", "__Secure-signet_pending"
	}
	return m
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.cookie }

// PendingCookieName is the name of the cookie that binds a half-done sign-in to
// its browser.
func (m *Manager) PendingCookieName() string { return m.pending }

// Key is the storage id of the session whose cookie value is cookieValue (its
// SHA-256, hex): the value itself is never stored.
func Key(cookieValue string) string {
	sum := sha256.Sum256([]byte(cookieValue))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns a 256-bit random value, base64url.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Current returns the browser's live session and its person, or nil. A session
// found idle is ended; a live one records its use.
func (m *Manager) Current(ctx context.Context, r *http.Request) (*storage.Session, *storage.User) {
	c, err := r.Cookie(m.cookie)
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	s, err := m.store.GetSession(ctx, Key(c.Value))
	now := m.now()
	if err != nil || s.Expired(now) {
		return nil, nil
	}
	if s.Idle(now, m.idle) {
		m.end.EndSession(ctx, s)
		return nil, nil
	}
	u, err := m.store.GetUser(ctx, s.UserID)
	if err != nil || u.Disabled {
		return nil, nil
	}
	// Record use, at most once a minute (a write per page would be waste), and
	// often enough that a short idle limit sees the activity.
	if s.TouchDue(now, m.idle) {
		if ns, err := m.store.UpdateSession(ctx, s.ID, func(x *storage.Session) error {
			x.LastSeen = now.UTC()
			return nil
		}); err == nil {
			s = ns
		}
	}
	return s, u
}

// SID returns the sid of the browser's live session, or "".
func (m *Manager) SID(r *http.Request) string {
	if s, _ := m.Current(r.Context(), r); s != nil {
		return s.SID
	}
	return ""
}

// HasCookie reports whether the request carries a session cookie (live or not).
func (m *Manager) HasCookie(r *http.Request) bool {
	c, err := r.Cookie(m.cookie)
	return err == nil && c.Value != ""
}

// ClearCookie removes the session cookie from the browser.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: m.cookie, Value: "", Path: m.path, MaxAge: -1,
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode})
}

// Start starts a browser session for userID with a fresh id (no fixation),
// ending the one the browser had. With keepSID, a session of the same person that
// is replaced (a step-up) keeps its public sid, which applications already hold.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, amr []string, acr string, keepSID bool) (*storage.Session, error) {
	now := m.now().UTC()
	sid := NewSecret()[:22]
	created := now
	replaced := ""
	if c, err := r.Cookie(m.cookie); err == nil && c.Value != "" && len(c.Value) <= 128 {
		key := Key(c.Value)
		if old, err := m.store.GetSession(ctx, key); err == nil {
			if keepSID && old.UserID == userID && !old.Expired(now) {
				// A step-up: the same session goes on under a new cookie. The
				// old record goes once the new one exists, so that the sid is
				// never without a live session (token requests check for one).
				sid, created, replaced = old.SID, old.CreatedAt, key
			} else {
				// Another sign-in replaces the session: end it properly, so its
				// apps are told and its session-bound tokens die.
				m.end.EndSession(ctx, old)
			}
		}
	}
	value := NewSecret()
	sess := &storage.Session{
		ID: Key(value), SID: sid, UserID: userID,
		AuthTime: now, AMR: amr, ACR: acr,
		CreatedAt: created, LastSeen: now, ExpiresAt: now.Add(m.life),
	}
	if err := m.store.CreateSession(ctx, sess); err != nil {
		return nil, err
	}
	if replaced != "" {
		if err := m.store.DeleteSession(ctx, replaced); err != nil && !errors.Is(err, storage.ErrNotFound) {
			m.log.ErrorContext(ctx, "delete the session replaced by a step-up", "error", err)
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: m.cookie, Value: value, Path: m.path, Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode,
	})
	return sess, nil
}

// PendingBinding returns the SHA-256 (hex) of the browser's pending-sign-in
// cookie, setting a new random one when the browser has none. The value is reused
// while it lives, so that sign-ins in two tabs do not undo each other.
func (m *Manager) PendingBinding(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(m.pending); err == nil && len(c.Value) >= 32 && len(c.Value) <= 128 {
		return Key(c.Value)
	}
	value := NewSecret()
	http.SetCookie(w, &http.Cookie{
		Name: m.pending, Value: value, Path: m.path, MaxAge: int(PendingCookieLifetime / time.Second),
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode,
	})
	return Key(value)
}

// BrowserBinding is the hash of the browser's binding cookie, or "none" without
// one.
func (m *Manager) BrowserBinding(r *http.Request) string {
	if c, err := r.Cookie(m.pending); err == nil && len(c.Value) >= 32 && len(c.Value) <= 128 {
		return Key(c.Value)
	}
	return "none"
}

// BoundToBrowser reports whether the request comes from the browser that passed
// the first factor of ar.
func (m *Manager) BoundToBrowser(r *http.Request, ar *storage.AuthRequest) bool {
	c, err := r.Cookie(m.pending)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 || ar.FirstFactorBinding == "" {
		return false
	}
	return hmac.Equal([]byte(Key(c.Value)), []byte(ar.FirstFactorBinding))
}

// Idle reports whether s has gone unused for longer than the idle limit at now.
func (m *Manager) Idle(s *storage.Session, now time.Time) bool { return s.Idle(now, m.idle) }
