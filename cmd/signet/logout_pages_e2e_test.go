package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// RP-initiated logout (issue 9, item 3) end to end: the end-session endpoint,
// its confirmation page and the signed-out page, driven by a cookie-jar browser
// and go-oidc relying parties.

// outURI is a registered post-logout redirect URI of client id; the test browser
// stops at the RP host (127.0.0.1:9).
func outURI(id string) string { return "http://127.0.0.1:9/out/" + id }

// loSignIn is one client's sign-in: its tokens, raw ID token, sid and subject.
type loSignIn struct {
	tok      *oauth2.Token
	idToken  string
	sid, sub string
}

// logoutClient registers a first-party client (no consent page) with a
// post-logout redirect URI and, when rcv is not nil, a back-channel receiver.
func (ti *testIssuer) logoutClient(id string, rcv *logoutReceiver, mutate ...func(*admin.AddClientInput)) *signettest.RP {
	in := admin.AddClientInput{ID: id, FirstParty: true, PostLogoutRedirectURIs: []string{outURI(id)}}
	if rcv != nil {
		in.BackchannelLogoutURI = rcv.srv.URL + "/bcl"
	}
	for _, m := range mutate {
		m(&in)
	}
	return ti.addClient(in)
}

func logoutSignIn(r *signettest.RP, b *signettest.Browser) loSignIn {
	r.Iss.T.Helper()
	code, ap := r.SignIn(b)
	tok, err := r.Exchange(code, ap)
	if err != nil {
		r.Iss.T.Fatalf("exchange: %v", err)
	}
	idt := r.VerifyID(tok, ap.Nonce)
	var c struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil || c.SID == "" {
		r.Iss.T.Fatalf("ID token without sid: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	return loSignIn{tok: tok, idToken: raw, sid: c.SID, sub: idt.Subject}
}

// promptNone reports what prompt=none answers for the browser: "signed-in" (a
// code) or the OAuth error code.
func promptNone(r *signettest.RP, b *signettest.Browser) string {
	r.Iss.T.Helper()
	u, ap := r.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	p := b.Get(u)
	q := p.URL.Query()
	if p.URL.Host != "127.0.0.1:9" || q.Get("state") != ap.State {
		r.Iss.T.Fatalf("prompt=none did not return to the RP: %d %s", p.Status, p.URL)
	}
	if q.Get("code") != "" {
		return "signed-in"
	}
	return q.Get("error")
}

// endSession drives GET /end_session.
func (ti *testIssuer) endSession(b *signettest.Browser, params url.Values) signettest.Page {
	return b.Get(ti.URL + "/end_session?" + params.Encode())
}

// postEndSession posts the end-session form from the RP's origin, as a
// cross-site form post. With a nil browser the post carries no cookie (a
// SameSite=Lax cookie on a real browser's cross-site POST) and stops at the
// first response.
func (ti *testIssuer) postEndSession(b *signettest.Browser, params url.Values) signettest.Page {
	ti.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, ti.URL+"/end_session", strings.NewReader(params.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://127.0.0.1:9")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if b == nil {
		b = &signettest.Browser{T: ti.T, Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	}
	return b.Do(req)
}

func wantRedirectOut(t *testing.T, p signettest.Page, id, state string) {
	t.Helper()
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("expected a redirect to %s, got %d %s: %s", outURI(id), p.Status, p.URL, p.Body)
	}
	if got := p.URL.Scheme + "://" + p.URL.Host + p.URL.Path; got != outURI(id) || p.URL.Fragment != "" {
		t.Fatalf("redirected to %s, want %s", p.URL, outURI(id))
	}
	if p.URL.Query().Get("state") != state {
		t.Fatalf("state = %q, want %q", p.URL.Query().Get("state"), state)
	}
}

func wantSignedOutPage(t *testing.T, p signettest.Page) {
	t.Helper()
	if p.Status != http.StatusOK || p.URL.Host == "127.0.0.1:9" || !strings.Contains(p.Body, `id="signed-out"`) ||
		!strings.Contains(p.Body, "<title>Signed out · Signet</title>") {
		t.Fatalf("expected the signed-out page, got %d %s: %s", p.Status, p.URL, p.Body)
	}
	checkPageHeaders(t, p)
}

func wantConfirmPage(t *testing.T, p signettest.Page) {
	t.Helper()
	if p.Status != http.StatusOK || p.URL.Host == "127.0.0.1:9" ||
		!strings.Contains(p.Body, `name="decision" value="logout"`) || !strings.Contains(p.Body, `action="/end_session/confirm"`) {
		t.Fatalf("expected the confirmation page, got %d %s: %s", p.Status, p.URL, p.Body)
	}
	checkPageHeaders(t, p)
}

// checkPageHeaders checks a logout page's security headers and markup.
func checkPageHeaders(t *testing.T, p signettest.Page) {
	t.Helper()
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q", csp)
	}
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", p.Header.Get("Cache-Control"))
	}
	for _, bad := range []string{"<script", "<style", " style=", " onclick=", " onload=", "javascript:"} {
		if strings.Contains(strings.ToLower(p.Body), bad) {
			t.Errorf("page has inline %q", bad)
		}
	}
}

// wantCookieCleared checks that the response deletes the session cookie.
func wantCookieCleared(t *testing.T, p signettest.Page) {
	t.Helper()
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "signet_session=;") && strings.Contains(c, "Max-Age=0") {
			return
		}
	}
	t.Errorf("session cookie not cleared: %v", p.Header.Values("Set-Cookie"))
}

// hiddenForm returns a page's hidden inputs.
func hiddenForm(p signettest.Page) url.Values {
	form := url.Values{}
	for _, m := range signettest.InputRE.FindAllStringSubmatch(p.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	return form
}

func TestRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcvA, rcvB := newLogoutReceiver(t), newLogoutReceiver(t)
	appA := ti.logoutClient("a", rcvA)
	appB := ti.logoutClient("b", rcvB, func(in *admin.AddClientInput) { in.IDTokenAlg = "ES256" })
	appB.OAuth.Scopes = []string{"openid", "profile"} // no offline_access: a session-bound refresh token

	b := signettest.NewBrowser(t)
	a := logoutSignIn(appA, b)
	bb := logoutSignIn(appB, b) // SSO: the same session
	if a.sid != bb.sid {
		t.Fatalf("sid differs across one session: %q %q", a.sid, bb.sid)
	}
	if bb.tok.RefreshToken == "" {
		t.Fatal("no session-bound refresh token")
	}

	// Log out from b with its ID token: no question asked, back to b with state.
	p := ti.endSession(b, url.Values{
		"id_token_hint": {bb.idToken}, "post_logout_redirect_uri": {outURI("b")},
		"state": {"st-123"}, "ui_locales": {"en"},
	})
	wantRedirectOut(t, p, "b", "st-123")
	wantCookieCleared(t, p)

	// Both applications of the session are told.
	if _, err := ti.srv.provider.DeliverDueLogouts(ti.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := rcvA.received(); len(got) != 1 {
		t.Fatalf("client a received %d logout tokens, want 1", len(got))
	} else {
		checkLogoutToken(t, appA, got[0], a.sid, a.sub)
	}
	if got := rcvB.received(); len(got) != 1 {
		t.Fatalf("client b received %d logout tokens, want 1", len(got))
	} else {
		checkLogoutToken(t, appB, got[0], bb.sid, bb.sub)
	}

	// The session is gone.
	if got := promptNone(appA, b); got != "login_required" {
		t.Errorf("prompt=none after logout = %s, want login_required", got)
	}
	// offline_access survives; the session-bound refresh token dies.
	if _, err := appA.Refresh(a.tok.RefreshToken); err != nil {
		t.Errorf("offline_access refresh token died with the session: %v", err)
	}
	if _, err := appB.Refresh(bb.tok.RefreshToken); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Errorf("session-bound refresh token survived logout: %v", err)
	}

	// The same hint again, with no session left: nothing to end, back to b.
	wantRedirectOut(t, ti.endSession(b, url.Values{
		"id_token_hint": {bb.idToken}, "post_logout_redirect_uri": {outURI("b")}, "state": {"again"},
	}), "b", "again")
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if len(rcvA.received()) != 1 || len(rcvB.received()) != 1 {
		t.Errorf("a second logout notified again")
	}
}

func TestRPInitiatedLogoutExpiredHint(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.logoutClient("a", nil)
	b := signettest.NewBrowser(t)
	s := logoutSignIn(app, b)
	ti.Clock.Advance(2 * time.Hour) // past the ID token lifetime, within the session's
	if _, err := app.Verifier.Verify(ti.Ctx, s.idToken); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("the hint should have expired: %v", err)
	}
	if got := promptNone(app, b); got != "signed-in" {
		t.Fatalf("session ended early: %s", got)
	}
	p := ti.endSession(b, url.Values{"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {outURI("a")}, "state": {"x"}})
	wantRedirectOut(t, p, "a", "x")
	if got := promptNone(app, b); got != "login_required" {
		t.Errorf("prompt=none after logout with an expired hint = %s", got)
	}
}

// forgeHint re-signs the claims of a real ID token with a key Signet never
// published, under the real key id.
func forgeHint(t *testing.T, real string) string {
	t.Helper()
	h, _ := signettest.JWTParts(t, real)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := h["kid"].(string)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(real, ".")[1])
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tamperHint changes a claim of a real ID token and keeps its signature.
func tamperHint(t *testing.T, real, claim, value string) string {
	t.Helper()
	parts := strings.Split(real, ".")
	_, claims := signettest.JWTParts(t, real)
	claims[claim] = value
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func TestRPInitiatedLogoutBadInput(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	appA := ti.logoutClient("a", rcv)
	appB := ti.logoutClient("b", nil)
	b := signettest.NewBrowser(t)
	s := logoutSignIn(appA, b)
	logoutSignIn(appB, b)
	other := logoutSignIn(appA, signettest.NewBrowser(t)) // the same person, another browser

	unsignedHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	noneHint := unsignedHeader + "." + strings.Split(s.idToken, ".")[1] + "."

	intact := func(t *testing.T) {
		t.Helper()
		if got := promptNone(appA, b); got != "signed-in" {
			t.Fatalf("session ended by a bad request: prompt=none = %s", got)
		}
	}
	withHint := func(hint string, extra ...string) url.Values {
		v := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {outURI("a")}, "state": {"s"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}

	// A hint Signet did not sign (or that was changed, or is unsigned, or of
	// another session) is not a reason to end anything: the person is asked.
	for name, params := range map[string]url.Values{
		"forged":                 withHint(forgeHint(t, s.idToken)),
		"tampered sid":           withHint(tamperHint(t, s.idToken, "sid", "forged-sid")),
		"tampered sub":           withHint(tamperHint(t, s.idToken, "sub", "someone-else")),
		"alg none":               withHint(noneHint),
		"garbage":                withHint("not.a.jwt"),
		"another session's hint": withHint(other.idToken),
		"no hint, client_id":     {"client_id": {"a"}, "post_logout_redirect_uri": {outURI("a")}, "state": {"s"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := ti.endSession(b, params)
			wantConfirmPage(t, p)
			intact(t)
		})
	}
	t.Run("another session's hint says so", func(t *testing.T) {
		if p := ti.endSession(b, withHint(other.idToken)); !strings.Contains(p.Body, `id="logout-other"`) {
			t.Errorf("confirmation for another session's hint lacks the note")
		}
	})
	t.Run("forged hint posted from the RP", func(t *testing.T) {
		wantConfirmPage(t, ti.postEndSession(b, withHint(forgeHint(t, s.idToken))))
		intact(t)
	})

	// A client_id that disagrees with the hint: a clear page, nothing ended, no redirect.
	t.Run("client_id disagrees", func(t *testing.T) {
		for _, p := range []signettest.Page{
			ti.endSession(b, withHint(s.idToken, "client_id", "b")),
			ti.endSession(b, withHint(s.idToken, "client_id", "b", "post_logout_redirect_uri", outURI("b"))),
			ti.postEndSession(b, withHint(s.idToken, "client_id", "nope")),
		} {
			if p.Status != http.StatusBadRequest || p.URL.Host == "127.0.0.1:9" || !strings.Contains(p.Body, "Sign-out refused") {
				t.Errorf("client_id mismatch: %d %s: %s", p.Status, p.URL, p.Body)
			}
			if len(p.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("client_id mismatch touched cookies: %v", p.Header.Values("Set-Cookie"))
			}
		}
		intact(t)
	})

	// Oversized or repeated parameters: refused before anything is looked at.
	t.Run("bounds", func(t *testing.T) {
		for name, raw := range map[string]string{
			"long hint":      "id_token_hint=" + strings.Repeat("a", 9<<10),
			"long state":     "id_token_hint=" + s.idToken + "&state=" + strings.Repeat("s", 3000),
			"long uri":       "id_token_hint=" + s.idToken + "&post_logout_redirect_uri=" + strings.Repeat("u", 3000),
			"long client_id": "client_id=" + strings.Repeat("c", 300),
			"long locales":   "id_token_hint=" + s.idToken + "&ui_locales=" + strings.Repeat("en+", 200),
			"repeated hint":  "id_token_hint=" + s.idToken + "&id_token_hint=" + s.idToken,
			"huge query":     "x=" + strings.Repeat("a", 20<<10) + "&id_token_hint=" + s.idToken,
		} {
			p := b.Get(ti.URL + "/end_session?" + raw)
			if p.Status != http.StatusBadRequest || p.URL.Host == "127.0.0.1:9" {
				t.Errorf("%s: %d %s", name, p.Status, p.URL)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, ti.URL+"/end_session",
			strings.NewReader("id_token_hint="+url.QueryEscape(s.idToken)+"&pad="+strings.Repeat("a", 17<<10)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p := b.Do(req); p.Status != http.StatusBadRequest {
			t.Errorf("oversized form body: %d", p.Status)
		}
		intact(t)
	})

	// A HEAD, as a link checker sends, never signs out.
	t.Run("head", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodHead, ti.URL+"/end_session?"+withHint(s.idToken).Encode(), nil)
		b.Do(req)
		intact(t)
	})

	// A forged continuation of a cookieless POST.
	t.Run("forged continuation", func(t *testing.T) {
		p := ti.postEndSession(nil, withHint(s.idToken))
		loc := p.URL
		if p.Status != http.StatusSeeOther || loc.Path != "/end_session/continue" {
			t.Fatalf("cookieless POST: %d %s", p.Status, loc)
		}
		sealed := loc.Query().Get("r")
		payload, mac, _ := strings.Cut(sealed, ".")
		for name, r := range map[string]string{
			"bad mac":      payload + "." + strings.Repeat("A", len(mac)),
			"other client": base64.RawURLEncoding.EncodeToString([]byte(`{"h":true,"sub":"`+s.sub+`","sid":"`+s.sid+`","cid":"b","exp":9999999999}`)) + "." + mac,
			"empty":        "",
		} {
			if p := b.Get(ti.URL + "/end_session/continue?r=" + url.QueryEscape(r)); p.Status != http.StatusBadRequest {
				t.Errorf("%s: %d %s", name, p.Status, p.URL)
			}
		}
		ti.Clock.Advance(5 * time.Minute) // the continuation expires
		if p := b.Get(loc.String()); p.Status != http.StatusBadRequest {
			t.Errorf("expired continuation: %d %s", p.Status, p.URL)
		}
		intact(t)
	})

	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if n := len(rcv.received()); n != 0 {
		t.Errorf("bad requests sent %d back-channel logouts", n)
	}
}

func TestRPInitiatedLogoutRedirectRules(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	appA := ti.logoutClient("a", nil)
	ti.logoutClient("b", nil)
	for name, params := range map[string]url.Values{
		"unregistered":           {"post_logout_redirect_uri": {"https://evil.example/out"}},
		"fragment":               {"post_logout_redirect_uri": {outURI("a") + "#frag"}},
		"empty fragment":         {"post_logout_redirect_uri": {outURI("a") + "#"}},
		"prefix of registered":   {"post_logout_redirect_uri": {outURI("a") + "/more"}},
		"query added":            {"post_logout_redirect_uri": {outURI("a") + "?x=1"}},
		"another client's":       {"post_logout_redirect_uri": {outURI("b")}},
		"another client's by id": {"post_logout_redirect_uri": {outURI("b")}, "client_id": {"a"}},
		"none given":             {},
	} {
		t.Run(name, func(t *testing.T) {
			b := signettest.NewBrowser(t)
			s := logoutSignIn(appA, b)
			params.Set("id_token_hint", s.idToken)
			params.Set("state", "st")
			p := ti.endSession(b, params)
			if len(params) > 2 {
				// A bad return address with a valid hint: no redirect, and no
				// session ended until the person says so.
				wantConfirmPage(t, p)
				if !strings.Contains(p.Body, `id="logout-bad-return"`) {
					t.Errorf("the confirmation does not say why it asks")
				}
				if strings.Contains(p.Body, "evil.example") || strings.Contains(p.Body, "/out/") {
					t.Errorf("the confirmation carries the unverified URI")
				}
				if got := promptNone(appA, b); got != "signed-in" {
					t.Fatalf("a request with a bad return address ended the session: prompt=none = %s", got)
				}
				p = b.Submit(p, "/end_session/confirm", url.Values{"decision": {"logout"}})
			}
			wantSignedOutPage(t, p)
			wantCookieCleared(t, p)
			if strings.Contains(p.Body, "evil.example") || strings.Contains(p.Body, "/out/") {
				t.Errorf("signed-out page links to the unverified URI")
			}
			if got := promptNone(appA, b); got != "login_required" {
				t.Errorf("not signed out: prompt=none = %s", got)
			}
		})
	}

	t.Run("no session at all", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		wantSignedOutPage(t, ti.endSession(b, url.Values{}))
		// A URI without a client to check it against never redirects.
		wantSignedOutPage(t, ti.endSession(b, url.Values{"post_logout_redirect_uri": {outURI("a")}, "state": {"s"}}))
		wantSignedOutPage(t, ti.endSession(b, url.Values{"client_id": {"nope"}, "post_logout_redirect_uri": {outURI("a")}}))
		// With the client named, its registered URI is fine.
		wantRedirectOut(t, ti.endSession(b, url.Values{"client_id": {"a"}, "post_logout_redirect_uri": {outURI("a")}, "state": {"s"}}), "a", "s")
		// The confirmation form posted without a session: nothing to end.
		wantSignedOutPage(t, b.Submit(signettest.Page{URL: mustURL(t, ti.URL+"/end_session")}, "/end_session/confirm", url.Values{"decision": {"logout"}}))
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRPInitiatedLogoutConfirmation(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.logoutClient("a", rcv, func(in *admin.AddClientInput) { in.Name = "Team Calendar" })
	b := signettest.NewBrowser(t)
	s := logoutSignIn(app, b)

	ask := func() signettest.Page {
		p := ti.endSession(b, url.Values{"client_id": {"a"}, "post_logout_redirect_uri": {outURI("a")}, "state": {"st<&>"}})
		wantConfirmPage(t, p)
		return p
	}
	p := ask()
	for _, want := range []string{
		"<title>Sign out of Signet? · Signet</title>", "Team Calendar", `id="logout-form"`,
		`name="decision" value="stay"`, `<input type="hidden" name="csrf_token"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("confirmation page lacks %q", want)
		}
	}
	form := hiddenForm(p)
	if form.Get("client_id") != "a" || form.Get("post_logout_redirect_uri") != outURI("a") || form.Get("state") != "st<&>" || form.Get("csrf_token") == "" {
		t.Errorf("confirmation form carries %v", form)
	}

	// An unregistered URI is not carried into the form.
	p2 := ti.endSession(b, url.Values{"client_id": {"a"}, "post_logout_redirect_uri": {"https://evil.example/"}})
	wantConfirmPage(t, p2)
	if strings.Contains(p2.Body, "evil.example") {
		t.Errorf("unregistered URI carried into the confirmation form")
	}

	// Stay signed in: nothing ends.
	if p := b.Submit(p, "/end_session/confirm", url.Values{"decision": {"stay"}}); p.Status != http.StatusOK || !strings.Contains(p.Body, `id="still-signed-in"`) {
		t.Errorf("stay: %d %s", p.Status, p.Body)
	}
	if got := promptNone(app, b); got != "signed-in" {
		t.Fatalf("stay signed in ended the session: %s", got)
	}

	// A cross-site post of the confirmation is refused.
	cross := func(fields url.Values) signettest.Page {
		f := hiddenForm(p)
		for k, v := range fields {
			f[k] = v
		}
		req, _ := http.NewRequest(http.MethodPost, ti.URL+"/end_session/confirm", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		return b.Do(req)
	}
	if p := cross(url.Values{"decision": {"logout"}}); p.Status != http.StatusForbidden || p.URL.Host == "127.0.0.1:9" {
		t.Errorf("cross-site confirmation: %d %s", p.Status, p.URL)
	}
	// A token of another session, or none, is refused.
	otherBrowser := signettest.NewBrowser(t)
	logoutSignIn(app, otherBrowser)
	otherForm := hiddenForm(ti.endSession(otherBrowser, url.Values{}))
	for name, tok := range map[string]string{"other session's token": otherForm.Get("csrf_token"), "no token": ""} {
		if p := b.Submit(p, "/end_session/confirm", url.Values{"decision": {"logout"}, "csrf_token": {tok}}); p.Status != http.StatusForbidden {
			t.Errorf("%s: %d", name, p.Status)
		}
	}
	// Missing decision: nothing ends.
	b.Submit(p, "/end_session/confirm", url.Values{})
	if got := promptNone(app, b); got != "signed-in" {
		t.Fatalf("a refused confirmation ended the session: %s", got)
	}
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if len(rcv.received()) != 0 {
		t.Fatalf("logout notice without a logout")
	}

	// The person confirms: signed out, back to the app with its state, app told.
	p = ask()
	out := b.Submit(p, "/end_session/confirm", url.Values{"decision": {"logout"}})
	wantRedirectOut(t, out, "a", "st<&>")
	wantCookieCleared(t, out)
	if got := promptNone(app, b); got != "login_required" {
		t.Errorf("prompt=none after confirmed logout = %s", got)
	}
	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if got := rcv.received(); len(got) != 1 {
		t.Fatalf("received %d logout tokens, want 1", len(got))
	} else {
		checkLogoutToken(t, app, got[0], s.sid, s.sub)
	}
	// The other browser's session is untouched.
	if got := promptNone(app, otherBrowser); got != "signed-in" {
		t.Errorf("logout in one browser ended another: %s", got)
	}

	// Without any client: the signed-out page.
	b2 := signettest.NewBrowser(t)
	logoutSignIn(app, b2)
	p = ti.endSession(b2, url.Values{})
	wantConfirmPage(t, p)
	if strings.Contains(p.Body, `id="client-name"`) {
		t.Errorf("confirmation names an app that did not ask")
	}
	wantSignedOutPage(t, b2.Submit(p, "/end_session/confirm", url.Values{"decision": {"logout"}}))
	if got := promptNone(app, b2); got != "login_required" {
		t.Errorf("prompt=none after confirmed logout = %s", got)
	}
}

func TestRPInitiatedLogoutPost(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	rcv := newLogoutReceiver(t)
	app := ti.logoutClient("a", rcv)

	t.Run("form post with the cookie", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		// Without a hint the post only asks.
		wantConfirmPage(t, ti.postEndSession(b, url.Values{"client_id": {"a"}}))
		if got := promptNone(app, b); got != "signed-in" {
			t.Fatalf("a post without hint ended the session: %s", got)
		}
		p := ti.postEndSession(b, url.Values{"id_token_hint": {s.idToken}, "client_id": {"a"},
			"post_logout_redirect_uri": {outURI("a")}, "state": {"p1"}})
		wantRedirectOut(t, p, "a", "p1")
		wantCookieCleared(t, p)
		if got := promptNone(app, b); got != "login_required" {
			t.Errorf("prompt=none after POST logout = %s", got)
		}
	})

	// A real browser does not send a SameSite=Lax cookie on a cross-site POST:
	// the endpoint continues as a top-level GET, which carries it.
	t.Run("form post without the cookie", func(t *testing.T) {
		b := signettest.NewBrowser(t)
		s := logoutSignIn(app, b)
		p := ti.postEndSession(nil, url.Values{"id_token_hint": {s.idToken},
			"post_logout_redirect_uri": {outURI("a")}, "state": {"p2"}})
		if p.Status != http.StatusSeeOther || p.URL.Path != "/end_session/continue" {
			t.Fatalf("cookieless POST: %d %s", p.Status, p.URL)
		}
		if strings.Contains(p.URL.RawQuery, strings.Split(s.idToken, ".")[2]) {
			t.Errorf("the ID token was put in the URL")
		}
		wantRedirectOut(t, b.Get(p.URL.String()), "a", "p2")
		if got := promptNone(app, b); got != "login_required" {
			t.Errorf("prompt=none after cookieless POST logout = %s", got)
		}
	})

	ti.srv.provider.DeliverDueLogouts(ti.Ctx)
	if n := len(rcv.received()); n != 2 {
		t.Errorf("received %d logout tokens, want 2", n)
	}
}
