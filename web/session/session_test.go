package session

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
)

// recordEnd ends sessions by deleting them and records their sids.
type recordEnd struct {
	store storage.Store
	sids  []string
}

func (e *recordEnd) EndSession(ctx context.Context, s *storage.Session) error {
	e.sids = append(e.sids, s.SID)
	return e.store.DeleteSession(ctx, s.ID)
}

func newManager(t *testing.T, issuer, basePath string) (*Manager, *recordEnd, *clocktest.Clock, storage.Store) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, id := range []string{"u1", "u2"} {
		if err := st.CreateUser(context.Background(), &storage.User{ID: id, Username: id, PasswordHash: "x", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	end, clk := &recordEnd{store: st}, clocktest.New(now)
	m := New(Config{Store: st, Issuer: issuer, BasePath: basePath, Lifetime: 12 * time.Hour, Idle: time.Hour, End: end, Now: clk.Now})
	return m, end, clk, st
}

// TestCookieNames: the cookies are __Host- at the root of an https issuer,
// __Secure- under a path, plain over http, and scoped to the issuer's path.
func TestCookieNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ issuer, base, session, pending, path string }{
		{"https://id.test", "", "__Host-signet_session", "__Host-signet_pending", "/"},
		{"https://id.test/auth", "/auth", "__Secure-signet_session", "__Secure-signet_pending", "/auth"},
		{"http://127.0.0.1:8080", "", "signet_session", "signet_pending", "/"},
	} {
		m, _, _, _ := newManager(t, tc.issuer, tc.base)
		if m.CookieName() != tc.session || m.PendingCookieName() != tc.pending {
			t.Errorf("%s: cookies %q, %q", tc.issuer, m.CookieName(), m.PendingCookieName())
		}
		w := httptest.NewRecorder()
		if _, err := m.Start(context.Background(), w, httptest.NewRequest(http.MethodGet, "/", nil), "u1", nil, "", false); err != nil {
			t.Fatal(err)
		}
		c := w.Result().Cookies()[0]
		if c.Name != tc.session || c.Path != tc.path || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != (tc.issuer[:5] == "https") {
			t.Errorf("%s: session cookie %+v", tc.issuer, c)
		}
	}
}

// TestStartCurrentIdle: a started session is the browser's until it goes idle,
// when looking it up ends it (through End); a step-up keeps the sid, another
// person's sign-in ends the session it replaces.
func TestStartCurrentIdle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, end, clk, st := newManager(t, "http://signet.test", "")
	start := func(from *http.Cookie, user string, keep bool) (*storage.Session, *http.Cookie) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if from != nil {
			r.AddCookie(from)
		}
		w := httptest.NewRecorder()
		s, err := m.Start(ctx, w, r, user, []string{"pwd"}, "1", keep)
		if err != nil {
			t.Fatal(err)
		}
		return s, w.Result().Cookies()[0]
	}
	with := func(c *http.Cookie) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(c)
		return r
	}
	s1, c1 := start(nil, "u1", false)
	if got := m.SID(with(c1)); got != s1.SID || !m.HasCookie(with(c1)) {
		t.Fatalf("SID = %q, want %q", got, s1.SID)
	}
	// A step-up: a new cookie, the same sid, the old record gone.
	s2, c2 := start(c1, "u1", true)
	if s2.SID != s1.SID || c2.Value == c1.Value || m.SID(with(c1)) != "" || len(end.sids) != 0 {
		t.Fatalf("step-up: sid %q (was %q), old cookie still live: %v, ended %v", s2.SID, s1.SID, m.SID(with(c1)) != "", end.sids)
	}
	// Another person signs in in this browser: the session is ended properly.
	s3, c3 := start(c2, "u2", true)
	if s3.SID == s2.SID || len(end.sids) != 1 || end.sids[0] != s2.SID {
		t.Fatalf("another person: sid %q, ended %v", s3.SID, end.sids)
	}
	// Idle past the limit: the lookup finds nothing and ends it.
	clk.Advance(time.Hour + time.Minute)
	if s, u := m.Current(ctx, with(c3)); s != nil || u != nil {
		t.Fatalf("idle session still current: %+v", s)
	}
	if len(end.sids) != 2 || end.sids[1] != s3.SID {
		t.Fatalf("idle session not ended: %v", end.sids)
	}
	if _, err := st.GetSession(ctx, s3.ID); err == nil {
		t.Fatal("idle session still stored")
	}
}

// TestBrowserBinding: the pending cookie is set once and reused, and binds an
// auth request to the browser that holds it.
func TestBrowserBinding(t *testing.T) {
	t.Parallel()
	m, _, _, _ := newManager(t, "http://signet.test", "")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if m.BrowserBinding(r) != "none" {
		t.Fatal("a binding without a cookie")
	}
	w := httptest.NewRecorder()
	b := m.PendingBinding(w, r)
	c := w.Result().Cookies()[0]
	r.AddCookie(c)
	if m.BrowserBinding(r) != b || m.PendingBinding(httptest.NewRecorder(), r) != b {
		t.Fatal("the binding changed while the cookie lives")
	}
	if !m.BoundToBrowser(r, &storage.AuthRequest{FirstFactorBinding: b}) {
		t.Fatal("not bound to the browser that holds the cookie")
	}
	if m.BoundToBrowser(httptest.NewRequest(http.MethodGet, "/", nil), &storage.AuthRequest{FirstFactorBinding: b}) {
		t.Fatal("bound to a browser without the cookie")
	}
}
