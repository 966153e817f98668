package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/session"
)

// heldStore is a real store whose user lookups (one per password check) are
// counted and may be held, to make parallel checks overlap.
type heldStore struct {
	storage.Store
	lookups atomic.Int64
	// hold, when set before the requests start, runs inside every lookup.
	hold func()
}

func (s *heldStore) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	s.lookups.Add(1)
	if s.hold != nil {
		s.hold()
	}
	return s.Store.GetUserByUsername(ctx, username)
}

const testPassword = "correct horse battery"

// testEnv is a Handler on a bbolt store with a client "app", a user "alice", and
// an auth request whose login form this test's browser may post.
type testEnv struct {
	cfg    Config
	h      *Handler
	mux    *http.ServeMux
	store  *heldStore
	clock  *clocktest.Clock
	ar     *storage.AuthRequest
	cookie *http.Cookie
	token  string
}

func newTestEnv(t *testing.T, mutate ...func(*Config)) *testEnv {
	t.Helper()
	bolt, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	st := &heldStore{Store: bolt}
	clock := clocktest.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	cfg := Config{
		Store:           st,
		Hasher:          password.New(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2),
		TOTPKey:         [32]byte{1},
		Issuer:          "http://signet.test",
		SessionLifetime: time.Hour,
		Now:             clock.Now,
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := clock.Now()
	if err := bolt.CreateClient(ctx, &storage.Client{ID: "app", Name: "App", RedirectURIs: []string{"https://rp.test/cb"}, FirstParty: true, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	hash, err := cfg.Hasher.Hash(ctx, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.CreateUser(ctx, &storage.User{ID: "u-alice", Username: "alice", Email: "alice@example.com", PasswordHash: hash, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ar := &storage.AuthRequest{
		ID: "ar-1", ClientID: "app", RedirectURI: "https://rp.test/cb", Scopes: []string{"openid"},
		ResponseType: "code", MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
	if err := bolt.CreateAuthRequest(ctx, ar); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	cookie := &http.Cookie{Name: h.signIn.sessions.PendingCookieName(), Value: strings.Repeat("b", 43)}
	return &testEnv{
		cfg: cfg, h: h, mux: mux, store: st, clock: clock, ar: ar, cookie: cookie,
		token: h.signIn.formToken("login", ar.ID+"\x00"+session.Key(cookie.Value)),
	}
}

// replica is another Handler on the same store and keys, as a second replica
// would run: it shares nothing with e.h but the store.
func (e *testEnv) replica(t *testing.T) *http.ServeMux {
	t.Helper()
	h, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	return mux
}

// login posts the login form from addr.
func (e *testEnv) login(username, pw, addr string) *httptest.ResponseRecorder {
	return e.loginVia(e.mux, username, pw, addr)
}

// loginVia posts the login form from addr to mux.
func (e *testEnv) loginVia(mux *http.ServeMux, username, pw, addr string) *httptest.ResponseRecorder {
	form := url.Values{"auth_request_id": {e.ar.ID}, "csrf_token": {e.token}, "username": {username}, "password": {pw}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = addr + ":40000"
	r.AddCookie(e.cookie)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

func testAddr(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }

// TestLoginFloodOnOneAccountIsBusy: a flood of sign-ins for one username, from
// many addresses, while its first check is still running, is answered "busy"
// (503, Retry-After) at once, except for the few the account lets wait.
func TestLoginFloodOnOneAccountIsBusy(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	release := make(chan struct{})
	var once sync.Once
	unhold := func() { once.Do(func() { close(release) }) }
	e.store.hold = func() { <-release }
	const n, mayWait = 1500, gateWidth + gateWaiters
	type answer struct {
		status int
		retry  string
	}
	answers := make(chan answer, n)
	var wg sync.WaitGroup
	t.Cleanup(func() { unhold(); wg.Wait() })
	for i := range n {
		wg.Go(func() {
			w := e.login("victim", "a wrong password", testAddr(i))
			answers <- answer{w.Code, w.Header().Get("Retry-After")}
		})
	}
	// The checks are held, so every answer that arrives did not wait for a hash.
	deadline := time.After(10 * time.Second)
	for got := 0; got < n-mayWait; got++ {
		select {
		case a := <-answers:
			if a.status != http.StatusServiceUnavailable || a.retry == "" {
				t.Fatalf("answer %d while the account's check is held: %d (Retry-After %q), want 503 with Retry-After", got+1, a.status, a.retry)
			}
		case <-deadline:
			t.Fatalf("only %d of %d sign-ins for one username were answered while its check was held; the rest queue (want all but %d answered busy at once)", got, n, mayWait)
		}
	}
	unhold()
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.status != http.StatusUnauthorized && a.status != http.StatusServiceUnavailable {
			t.Errorf("answer after the check: %d, want 401 or 503", a.status)
		}
	}
}

// TestParallelGuessesCheckedAtMostFree: wrong passwords sent all at once, from
// many addresses, get at most the free failures checked, even when nothing else
// (the account gate) holds them back; each is answered like a wrong password,
// or, while the account's remaining tries are being checked, "busy, retry"
// (which tells nothing about the password); once locked, the right password is
// answered like a wrong one.
func TestParallelGuessesCheckedAtMostFree(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Throttle.AccountFree = 5 })
	const n = 40
	e.h.signIn.guard.gate = newGate(n) // the bound must not rest on the gate
	// Hold every check until each request has either reached its check or been
	// answered: all of them overlap.
	var (
		mu      sync.Mutex
		arrived int
		release = make(chan struct{})
	)
	arrive := func() {
		mu.Lock()
		defer mu.Unlock()
		if arrived++; arrived == n {
			close(release)
		}
	}
	e.store.hold = func() { arrive(); <-release }
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := e.login("alice", "a wrong password", testAddr(i))
			arrive()
			statuses <- w.Code
		})
	}
	wg.Wait()
	close(statuses)
	wrongAnswers := 0
	for s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			wrongAnswers++
		case http.StatusServiceUnavailable:
		default:
			t.Errorf("parallel guess: %d, want 401 or 503", s)
		}
	}
	if wrongAnswers < 5 {
		t.Errorf("%d guesses answered as wrong, want at least the 5 checked", wrongAnswers)
	}
	if got := e.store.lookups.Load(); got != 5 {
		t.Errorf("%d parallel guesses made %d password checks, want 5 (account_failures)", n, got)
	}
	e.store.hold = nil
	wrong := e.login("alice", "a wrong password", testAddr(n))
	right := e.login("alice", testPassword, testAddr(n+1))
	if right.Code != wrong.Code || right.Body.String() != wrong.Body.String() {
		t.Errorf("locked account: the right password answers %d, a wrong one %d (or the pages differ)", right.Code, wrong.Code)
	}
	if got := e.store.lookups.Load(); got != 5 {
		t.Errorf("attempts on the locked account were checked: %d checks", got)
	}
}

// TestShortIdleSessionKeptAlive: with an idle limit under a minute, use is
// recorded often enough that a page every 4 s keeps a 6 s session alive; 7 s
// without one still ends it.
func TestShortIdleSessionKeptAlive(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.SessionIdle = 6 * time.Second })
	ctx := context.Background()
	value := strings.Repeat("s", 43)
	now := e.clock.Now()
	if err := e.store.CreateSession(ctx, &storage.Session{
		ID: session.Key(value), SID: "sid-1", UserID: "u-alice", AuthTime: now, AMR: []string{AMRPassword}, ACR: ACRPassword,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	fetch := func() *storage.Session {
		r := httptest.NewRequest(http.MethodGet, "/account/totp", nil)
		r.AddCookie(&http.Cookie{Name: e.h.signIn.sessions.CookieName(), Value: value})
		s, _ := e.h.signIn.sessions.Current(ctx, r)
		return s
	}
	for i := 1; i <= 10; i++ {
		e.clock.Advance(4 * time.Second)
		if fetch() == nil {
			t.Fatalf("session ended at a page after %d s, with a page every 4 s and session_idle 6s", 4*i)
		}
	}
	e.clock.Advance(7 * time.Second)
	if fetch() != nil {
		t.Fatal("session still live after 7 s idle, session_idle 6s")
	}
}

// TestStaticServesFilesNotDirectories: /static/ serves files, embedded or
// themed, and answers 404 for every directory.
func TestStaticServesFilesNotDirectories(t *testing.T) {
	t.Parallel()
	theme := t.TempDir()
	if err := os.MkdirAll(filepath.Join(theme, "static", "img"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(theme, "static", "img", "logo.svg"), []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		theme string
	}{{"embedded", ""}, {"themed", theme}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.ThemeDir = tc.theme })
			paths := map[string]int{
				"/static/":           http.StatusNotFound,
				"/static/signet.css": http.StatusOK,
				"/static/nothing":    http.StatusNotFound,
			}
			if tc.theme != "" {
				paths["/static/img/"] = http.StatusNotFound
				paths["/static/img/logo.svg"] = http.StatusOK
			}
			for path, want := range paths {
				w := httptest.NewRecorder()
				e.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				if w.Code != want {
					t.Errorf("GET %s: %d, want %d (%.60q)", path, w.Code, want, w.Body.String())
				}
			}
		})
	}
}

// TestACRValuesPreference: acr_values are a list in order of preference, so a
// password alone satisfies any list naming ACRPassword; a second factor is
// demanded by a list naming ACRMFA and not ACRPassword. Unknown values are
// ignored; the client's requirement and the policy still apply.
func TestACRValuesPreference(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.store.CreateClient(ctx, &storage.Client{ID: "strict", RedirectURIs: []string{"https://rp.test/cb"}, RequireMFA: true}); err != nil {
		t.Fatal(err)
	}
	const other = "urn:example:acr:other"
	for _, tc := range []struct {
		client string
		acr    []string
		want   bool
	}{
		{"app", nil, false},
		{"app", []string{ACRPassword}, false},
		{"app", []string{ACRMFA}, true},
		{"app", []string{ACRPassword, ACRMFA}, false},
		{"app", []string{ACRMFA, ACRPassword}, false},
		{"app", []string{other, ACRMFA}, true},
		{"app", []string{other, ACRPassword, ACRMFA}, false},
		{"app", []string{other}, false},
		{"strict", []string{ACRPassword, ACRMFA}, true},
		{"strict", nil, true},
	} {
		ar := &storage.AuthRequest{ClientID: tc.client, ACRValues: tc.acr}
		if got := e.h.signIn.needsMFA(ctx, ar); got != tc.want {
			t.Errorf("client %s, acr_values %q: needs a second factor = %v, want %v", tc.client, tc.acr, got, tc.want)
		}
	}
	required := newTestEnv(t, func(c *Config) { c.MFAPolicy = MFARequired })
	if !required.h.signIn.needsMFA(ctx, &storage.AuthRequest{ClientID: "app", ACRValues: []string{ACRPassword}}) {
		t.Error("mfa policy required: acr_values naming the password let a password alone through")
	}

	// A password alone completes a request preferring it, with no enrolment.
	if _, err := e.store.UpdateAuthRequest(ctx, e.ar.ID, func(a *storage.AuthRequest) error {
		a.ACRValues = []string{ACRPassword, ACRMFA}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w := e.login("alice", testPassword, testAddr(1))
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther && w.Code != http.StatusFound || strings.HasPrefix(loc, PathAccountTOTP) {
		t.Errorf("password sign-in with acr_values %q: %d to %q, want the sign-in completed", []string{ACRPassword, ACRMFA}, w.Code, loc)
	}
}

// TestPanickingCheckIsRefunded: a password check that panics gives its try
// back, so a bug cannot leave an account charged (and, tries exhausted, locked)
// until restart.
func TestPanickingCheckIsRefunded(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Throttle.AccountFree = 1 })
	e.store.hold = func() { panic("storage bug") }
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the check did not panic")
			}
		}()
		e.login("alice", testPassword, testAddr(1))
	}()
	e.store.hold = nil
	if w := e.login("alice", testPassword, testAddr(2)); w.Code != http.StatusSeeOther && w.Code != http.StatusFound {
		t.Fatalf("the right password after a panicking check: %d, want a redirect (signed in)", w.Code)
	}
}
