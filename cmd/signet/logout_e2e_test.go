package main

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// logoutReceiver is a relying party's back-channel logout endpoint.
type logoutReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	down   atomic.Bool
	mu     sync.Mutex
	tokens []string
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	lr := &logoutReceiver{t: t}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lr.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		lr.mu.Lock()
		lr.tokens = append(lr.tokens, r.PostFormValue("logout_token"))
		lr.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(lr.srv.Close)
	return lr
}

func (lr *logoutReceiver) received() []string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return append([]string(nil), lr.tokens...)
}

// checkLogoutToken verifies a logout token as an RP must (OpenID Connect
// Back-Channel Logout 1.0, section 2.6).
func checkLogoutToken(t *testing.T, app *signettest.RP, tok, wantSID, wantSub string) {
	t.Helper()
	h, claims := signettest.JWTParts(t, tok)
	if h["typ"] != "logout+jwt" {
		t.Errorf("logout token typ = %v", h["typ"])
	}
	v := app.Provider.VerifierContext(app.Iss.Ctx, &oidc.Config{ClientID: app.OAuth.ClientID, Now: app.Iss.Clock.Now, SkipExpiryCheck: false})
	if _, err := v.Verify(app.Iss.Ctx, tok); err != nil {
		t.Errorf("logout token does not verify: %v", err)
	}
	events, _ := claims["events"].(map[string]any)
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
		t.Errorf("logout token events = %v", claims["events"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Errorf("logout token carries a nonce")
	}
	for _, k := range []string{"iss", "aud", "iat", "exp", "jti"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("logout token lacks %s", k)
		}
	}
	if claims["sid"] != wantSID || claims["sub"] != wantSub {
		t.Errorf("logout token sid/sub = %v/%v, want %s/%s", claims["sid"], claims["sub"], wantSID, wantSub)
	}
}

func TestBackchannelLogoutByAdmin(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcvA, rcvB := newLogoutReceiver(t), newLogoutReceiver(t)
	appA := ti.addClient(admin.AddClientInput{ID: "a", BackchannelLogoutURI: rcvA.srv.URL + "/bcl"})
	appB := ti.addClient(admin.AddClientInput{ID: "b", BackchannelLogoutURI: rcvB.srv.URL + "/bcl", IDTokenAlg: "ES256"})
	appB.OAuth.Scopes = []string{"openid", "profile"} // no offline_access: a session-bound refresh token
	other := ti.addClient(admin.AddClientInput{ID: "c", BackchannelLogoutURI: newLogoutReceiver(t).srv.URL})
	_ = other

	b := signettest.NewBrowser(t)
	code, ap := appA.SignIn(b)
	tokA, err := appA.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	idA := appA.VerifyID(tokA, ap.Nonce)
	var ca struct {
		SID string `json:"sid"`
	}
	idA.Claims(&ca)
	code, ap = appB.SignIn(b) // SSO: same session
	tokB, err := appB.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var cb struct {
		SID string `json:"sid"`
	}
	appB.VerifyID(tokB, ap.Nonce).Claims(&cb)
	if ca.SID == "" || ca.SID != cb.SID {
		t.Fatalf("sid differs across one session: %q %q", ca.SID, cb.SID)
	}
	if tokB.RefreshToken == "" {
		t.Fatalf("no session-bound refresh token without offline_access")
	}

	rcvB.down.Store(true)
	n, err := ti.srv.admin.LogoutUser(ti.Ctx, "alice")
	if err != nil || n != 1 {
		t.Fatalf("LogoutUser = %d, %v", n, err)
	}
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcvA.received(); len(got) != 1 {
		t.Fatalf("client a received %d logout tokens, want 1", len(got))
	} else {
		checkLogoutToken(t, appA, got[0], ca.SID, idA.Subject)
	}
	if len(rcvB.received()) != 0 {
		t.Fatalf("a down RP received a token")
	}

	// prompt=none now fails: the session is gone.
	u, ap4 := appA.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.Get(u); p.URL.Query().Get("error") != "login_required" || p.URL.Query().Get("state") != ap4.State {
		t.Errorf("prompt=none after logout: %s", p.URL)
	}
	// The offline_access refresh token survives; the session-bound one dies.
	if _, err := appA.Refresh(tokA.RefreshToken); err != nil {
		t.Errorf("offline_access refresh token died with the session: %v", err)
	}
	if _, err := appB.Refresh(tokB.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("session-bound refresh token survived logout: %v", err)
	}

	// The down RP gets its token once it is back, on a retry (time injected).
	rcvB.down.Store(false)
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if len(rcvB.received()) != 0 {
		t.Fatalf("retried before the backoff")
	}
	ti.Clock.Advance(10 * time.Second)
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcvB.received(); len(got) != 1 {
		t.Fatalf("client b received %d logout tokens after coming back, want 1", len(got))
	} else {
		checkLogoutToken(t, appB, got[0], cb.SID, idA.Subject)
		if h, _ := signettest.JWTParts(t, got[0]); h["alg"] != "ES256" {
			t.Errorf("logout token for an ES256 client signed with %v", h["alg"])
		}
	}
	// Nothing is delivered twice; client c, which had no tokens in the session, got nothing.
	ti.Clock.Advance(time.Hour)
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if len(rcvA.received()) != 1 || len(rcvB.received()) != 1 {
		t.Fatalf("duplicate deliveries")
	}
}
