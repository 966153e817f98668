package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/provider/idtoken"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/session"
)

// Server-to-server logout (issue 12, item 6): GET or POST /end_session with an
// id_token_hint and no session cookie ends the live session the hint's sid
// names, of the hint's subject, and the answer says what was ended.

// syncBuffer is a log sink safe for the handlers' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hintEnv is a Handler whose id_token_hint verifier reads "sub|sid|client" (the
// signature is the provider's business and tested there and end to end), with
// alice's and bob's live sessions and an EndSession that records what it ends.
type hintEnv struct {
	*testEnv
	logs    *syncBuffer
	mu      sync.Mutex
	ended   []string // SIDs
	failEnd error
}

const hintCookieValue = "cccccccccccccccccccccccccccccccccccccccccc1"

func newHintEnv(t *testing.T) *hintEnv {
	t.Helper()
	he := &hintEnv{logs: &syncBuffer{}}
	he.testEnv = newTestEnv(t, func(c *Config) {
		c.Log = slog.New(slog.NewTextHandler(he.logs, nil))
		c.Hints = pipeHints{}
		c.Access = hintEnder{he}
	})
	ctx := context.Background()
	now := he.clock.Now()
	if _, err := he.store.UpdateClient(ctx, "app", func(c *storage.Client) error {
		c.PostLogoutRedirectURIs = []string{"https://rp.test/out"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := he.store.CreateUser(ctx, &storage.User{ID: "u-bob", Username: "bob", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*storage.Session{
		{ID: "sess-alice", SID: "sid-alice", UserID: "u-alice"},
		{ID: "sess-alice-2", SID: "sid-alice-2", UserID: "u-alice"},
		{ID: "sess-bob", SID: "sid-bob", UserID: "u-bob"},
		{ID: session.Key(hintCookieValue), SID: "sid-cookie", UserID: "u-alice"},
	} {
		s.AuthTime, s.CreatedAt, s.LastSeen, s.ExpiresAt = now, now, now, now.Add(time.Hour)
		s.AMR, s.ACR = []string{AMRPassword}, ACRPassword
		if err := he.store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return he
}

// pipeHints reads an id_token_hint as "sub|sid|client".
type pipeHints struct{}

func (pipeHints) VerifyHint(raw string) (idtoken.Hint, error) {
	parts := strings.Split(raw, "|")
	if len(parts) != 3 {
		return idtoken.Hint{}, errors.New("not a hint")
	}
	return idtoken.Hint{Subject: parts[0], SID: parts[1], ClientID: parts[2]}, nil
}

// hintEnder records the sessions it ends, or fails with failEnd.
type hintEnder struct{ he *hintEnv }

func (e hintEnder) EndSession(ctx context.Context, s *storage.Session) error {
	e.he.mu.Lock()
	defer e.he.mu.Unlock()
	if e.he.failEnd != nil {
		return e.he.failEnd
	}
	e.he.ended = append(e.he.ended, s.SID)
	return e.he.store.DeleteSession(ctx, s.ID)
}

func (e hintEnder) RevokeGrant(context.Context, string, string) error { return storage.ErrNotFound }

// endSession sends a logout; a POST is a back end's unless headers say otherwise.
func (he *hintEnv) endSession(method string, params url.Values, header ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if method == http.MethodPost {
		r = httptest.NewRequest(method, PathEndSession, strings.NewReader(params.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, PathEndSession+"?"+params.Encode(), nil)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Cookie" {
			r.AddCookie(&http.Cookie{Name: he.h.logout.sessions.CookieName(), Value: header[i+1]})
			continue
		}
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	he.mux.ServeHTTP(w, r)
	return w
}

func (he *hintEnv) endedSIDs() []string {
	he.mu.Lock()
	defer he.mu.Unlock()
	return slices.Clone(he.ended)
}

func (he *hintEnv) live(t *testing.T, id string) bool {
	t.Helper()
	_, err := he.store.GetSession(context.Background(), id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func wantNothingEnded(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `id="nothing-ended"`) || !strings.Contains(body, "<title>No session to end") {
		t.Fatalf("want 200 \"No session to end\", got %d: %s", w.Code, body)
	}
	if strings.Contains(body, "You are signed out") || strings.Contains(body, `id="signed-out"`) {
		t.Errorf("a request that ended nothing says it signed out: %s", body)
	}
}

func TestLogoutHintWithoutCookieEndsNamedSession(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			he := newHintEnv(t)
			hint := "u-alice|sid-alice|app"
			w := he.endSession(method, url.Values{"id_token_hint": {hint}})
			body := w.Body.String()
			if w.Code != http.StatusOK || !strings.Contains(body, `id="signed-out"`) || !strings.Contains(body, "has ended") {
				t.Fatalf("want 200 and the named sign-in ended, got %d: %s", w.Code, body)
			}
			if strings.Contains(body, `id="nothing-ended"`) {
				t.Errorf("page says nothing ended after ending a session")
			}
			if w.Header().Get("Cache-Control") != "no-store" || len(w.Header().Values("Set-Cookie")) != 0 {
				t.Errorf("headers: Cache-Control %q, Set-Cookie %v", w.Header().Get("Cache-Control"), w.Header().Values("Set-Cookie"))
			}
			if got := he.endedSIDs(); !slices.Equal(got, []string{"sid-alice"}) {
				t.Fatalf("ended %v, want [sid-alice] through EndSession (back-channel notices)", got)
			}
			for _, id := range []string{"sess-alice-2", "sess-bob", session.Key(hintCookieValue)} {
				if !he.live(t, id) {
					t.Errorf("session %s ended too", id)
				}
			}
			logs := he.logs.String()
			for _, want := range []string{"event=logout_rp", "subject=u-alice", "client=app", "sid=sid-alice", `by="id_token_hint without cookie"`} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %s: %s", want, logs)
				}
			}
			if strings.Contains(logs, hint) {
				t.Errorf("the token was logged: %s", logs)
			}

			// The same hint again: nothing left to end, and the page says so.
			wantNothingEnded(t, he.endSession(method, url.Values{"id_token_hint": {hint}}))
			if got := he.endedSIDs(); len(got) != 1 {
				t.Errorf("a second call ended %v", got)
			}
			if !strings.Contains(he.logs.String(), "event=logout_nothing") {
				t.Errorf("nothing-ended not logged: %s", he.logs.String())
			}
		})
	}
}

func TestLogoutHintWithoutCookieEndsNothingElse(t *testing.T) {
	t.Parallel()
	he := newHintEnv(t)
	for name, params := range map[string]url.Values{
		"sid of another person's session": {"id_token_hint": {"u-alice|sid-bob|app"}},
		"sid of nobody's session":         {"id_token_hint": {"u-alice|sid-none|app"}},
		"unknown subject":                 {"id_token_hint": {"u-carol|sid-alice|app"}},
		"no sid":                          {"id_token_hint": {"u-alice||app"}},
		"unregistered client":             {"id_token_hint": {"u-alice|sid-alice|gone"}},
		"hint that does not verify":       {"id_token_hint": {"forged"}},
	} {
		t.Run(name, func(t *testing.T) {
			wantNothingEnded(t, he.endSession(http.MethodGet, params))
		})
	}
	// Wrong in part: refused, nothing ended, no redirect.
	for name, params := range map[string]url.Values{
		"unregistered return address": {"id_token_hint": {"u-alice|sid-alice|app"}, "post_logout_redirect_uri": {"https://evil.test/"}},
		"client_id disagrees":         {"id_token_hint": {"u-alice|sid-alice|app"}, "client_id": {"other"}},
	} {
		t.Run(name, func(t *testing.T) {
			w := he.endSession(http.MethodGet, params)
			if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" || strings.Contains(w.Body.String(), "You are signed out") {
				t.Errorf("want 400 without redirect, got %d %q: %s", w.Code, w.Header().Get("Location"), w.Body.String())
			}
		})
	}
	// An expired session is not live.
	t.Run("expired session", func(t *testing.T) {
		he := newHintEnv(t)
		he.clock.Advance(2 * time.Hour)
		wantNothingEnded(t, he.endSession(http.MethodGet, url.Values{"id_token_hint": {"u-alice|sid-alice|app"}}))
	})
	if got := he.endedSIDs(); len(got) != 0 {
		t.Fatalf("ended %v", got)
	}
	for _, id := range []string{"sess-alice", "sess-alice-2", "sess-bob"} {
		if !he.live(t, id) {
			t.Errorf("session %s ended", id)
		}
	}
}

func TestLogoutHintWithoutCookieOtherAnswers(t *testing.T) {
	t.Parallel()
	he := newHintEnv(t)

	// No cookie, no hint: there is no session in this browser, and the page
	// may say so (as before).
	w := he.endSession(http.MethodGet, url.Values{})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "You are signed out of Signet in this browser.") {
		t.Errorf("no cookie, no hint: %d %s", w.Code, w.Body.String())
	}

	// The browser's cookie names another live session: the existing rules
	// hold; the hint's session is not ended without asking, nor the cookie's.
	w = he.endSession(http.MethodGet, url.Values{"id_token_hint": {"u-alice|sid-alice|app"}}, "Cookie", hintCookieValue)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="logout-other"`) {
		t.Errorf("a hint of another session with a cookie: %d %s", w.Code, w.Body.String())
	}
	if len(he.endedSIDs()) != 0 {
		t.Fatalf("ended %v with a cookie of another session", he.endedSIDs())
	}

	// A browser's cross-site POST without the cookie still continues as a GET.
	w = he.endSession(http.MethodPost, url.Values{"id_token_hint": {"u-alice|sid-alice|app"}},
		"Origin", "https://rp.test", "Sec-Fetch-Site", "cross-site")
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, PathEndSessionContinue+"?") {
		t.Fatalf("browser POST without cookie: %d %q", w.Code, loc)
	}
	if len(he.endedSIDs()) != 0 {
		t.Fatalf("the POST itself ended %v", he.endedSIDs())
	}
	// Followed without a cookie (a back end whose client follows redirects):
	// the sealed hint ends the named session.
	r := httptest.NewRequest(http.MethodGet, loc, nil)
	cw := httptest.NewRecorder()
	he.mux.ServeHTTP(cw, r)
	if cw.Code != http.StatusOK || !strings.Contains(cw.Body.String(), `id="signed-out"`) || !slices.Equal(he.endedSIDs(), []string{"sid-alice"}) {
		t.Fatalf("continuation without cookie: %d, ended %v: %s", cw.Code, he.endedSIDs(), cw.Body.String())
	}
	// A rejected hint sealed across the continuation still ends nothing and says so.
	w = he.endSession(http.MethodPost, url.Values{"id_token_hint": {"forged"}}, "Sec-Fetch-Site", "cross-site")
	cw = httptest.NewRecorder()
	he.mux.ServeHTTP(cw, httptest.NewRequest(http.MethodGet, w.Header().Get("Location"), nil))
	wantNothingEnded(t, cw)

	// A registered return address: back to the application, with state.
	w = he.endSession(http.MethodGet, url.Values{"id_token_hint": {"u-alice|sid-alice-2|app"},
		"post_logout_redirect_uri": {"https://rp.test/out"}, "state": {"s1"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://rp.test/out?state=s1" {
		t.Errorf("registered return: %d %q", w.Code, w.Header().Get("Location"))
	}
	if !slices.Equal(he.endedSIDs(), []string{"sid-alice", "sid-alice-2"}) {
		t.Errorf("ended %v", he.endedSIDs())
	}

	// Ending fails: 500, so that the caller tries again; nothing claimed.
	he.failEnd = errors.New("disk full")
	w = he.endSession(http.MethodGet, url.Values{"id_token_hint": {"u-bob|sid-bob|app"}})
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "signed out") {
		t.Errorf("failed end: %d %s", w.Code, w.Body.String())
	}
}
