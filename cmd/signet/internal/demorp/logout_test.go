package demorp

import (
	"crypto/ecdsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// issuerClient is how the issuer calls the back-channel endpoint: no cookies,
// no browser headers unless a test adds them.
func issuerClient(t *testing.T) *browser {
	return &browser{t: t, client: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// deliver POSTs a logout token to the back-channel endpoint as Signet does.
func (s *setup) deliver(t *testing.T, token string, header map[string]string) page {
	t.Helper()
	return issuerClient(t).post(s.srv.URL+"/backchannel-logout", url.Values{"logout_token": {token}}, header)
}

// mustBeSignedIn checks that b's home page shows a signed-in session.
func (s *setup) mustBeSignedIn(t *testing.T, b *browser) {
	t.Helper()
	home := b.get(s.srv.URL + "/")
	mustContain(t, home, `id="id-token-claims"`, `id="logout"`)
	mustNotContain(t, home, `id="backchannel-notice"`, `id="signin"`)
}

// mustRefuse checks a 400 answer with a JSON error whose description contains
// want (if not empty), and returns the description.
func mustRefuse(t *testing.T, p page, want ...string) {
	t.Helper()
	if p.status != http.StatusBadRequest {
		t.Errorf("status %d, want 400; body: %s", p.status, p.body)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if ct := p.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(p.body), &e); err != nil || e.Error != "invalid_request" || e.Description == "" {
		t.Errorf("body = %s, want {\"error\":\"invalid_request\",\"error_description\":...}", p.body)
	}
	for _, w := range want {
		if !strings.Contains(e.Description, w) {
			t.Errorf("error_description %q does not contain %q", e.Description, w)
		}
	}
}

func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ada, other := newBrowser(t), newBrowser(t)
	csrf := csrfToken(t, s.signIn(t, ada)) // ID token sid "id-1"
	s.signIn(t, other)                     // sid "id-2"

	// Signet posts without cookies; an Origin or Sec-Fetch-Site header must not
	// trip the cross-origin protection of the browser routes either.
	before := time.Now().UTC().Truncate(time.Second)
	p := s.deliver(t, s.iss.logoutToken("id-1", "user-1", nil), map[string]string{
		"Origin": s.iss.url(), "Sec-Fetch-Site": "cross-site",
	})
	if p.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", p.status, p.body)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}

	home := ada.get(s.srv.URL + "/")
	mustContain(t, home, `id="backchannel-notice"`, "Signet signed you out (back-channel logout)", "<time datetime=", `id="signin"`)
	mustNotContain(t, home, `id="id-token-claims"`, `id="logout"`, `id="logout-notice"`)
	m := regexpTime.FindStringSubmatch(home.body)
	if m == nil {
		t.Fatalf("no time in the notice:\n%s", home.body)
	}
	if at, err := time.Parse(time.RFC3339, m[1]); err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("notice time %q (%v), want about now", m[1], err)
	}
	// The notice stays until the next sign-in.
	mustContain(t, ada.get(s.srv.URL+"/"), `id="backchannel-notice"`)

	// The tokens are gone: nothing left to refresh.
	r := ada.post(s.srv.URL+"/refresh", url.Values{"csrf": {csrf}}, nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("refresh after back-channel logout: status %d, want 400", r.status)
	}
	mustContain(t, r, "not signed in")

	// Another session (another sid) is untouched.
	s.mustBeSignedIn(t, other)

	// Signing in again clears the notice.
	again := s.signIn(t, ada)
	mustContain(t, again, `id="id-token-claims"`)
	mustNotContain(t, again, `id="backchannel-notice"`)
}

var regexpTime = regexp.MustCompile(`<time datetime="([^"]+)">`)

func TestBackchannelLogoutBySubject(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	a, b := newBrowser(t), newBrowser(t)
	s.signIn(t, a)
	s.signIn(t, b)
	// Without sid, every session of the subject ends.
	p := s.deliver(t, s.iss.logoutToken("", "user-1", nil), nil)
	if p.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", p.status, p.body)
	}
	for _, br := range []*browser{a, b} {
		home := br.get(s.srv.URL + "/")
		mustContain(t, home, `id="backchannel-notice"`)
		mustNotContain(t, home, `id="id-token-claims"`)
	}
}

func TestBackchannelLogoutSIDAndOtherSubject(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	s.signIn(t, b)
	// The sid matches but names someone else: not this session.
	p := s.deliver(t, s.iss.logoutToken("id-1", "user-2", nil), nil)
	if p.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", p.status, p.body)
	}
	s.mustBeSignedIn(t, b)
}

func TestBackchannelLogoutAfterRefresh(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	csrf := csrfToken(t, s.signIn(t, b))                         // sid "id-1"
	b.follow(postThenLocation(t, b, s.srv.URL+"/refresh", csrf)) // new ID token, sid "id-2"
	if p := s.deliver(t, s.iss.logoutToken("id-1", "", nil), nil); p.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", p.status, p.body)
	}
	mustContain(t, b.get(s.srv.URL+"/"), `id="backchannel-notice"`)
}

func TestBackchannelLogoutRefused(t *testing.T) {
	t.Parallel()
	type edit = func(typ *string, key **ecdsa.PrivateKey, c map[string]any)
	tests := []struct {
		name string
		want string // in the error_description, or in the log for go-oidc's checks
		edit edit
	}{
		{"wrong typ", "typ", func(typ *string, _ **ecdsa.PrivateKey, _ map[string]any) { *typ = "JWT" }},
		{"access token typ", "typ", func(typ *string, _ **ecdsa.PrivateKey, _ map[string]any) { *typ = "at+jwt" }},
		{"wrong audience", "expected logout token audience", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["aud"] = []string{"another-app"} }},
		{"wrong issuer", "issued by a different provider", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["iss"] = "https://evil.example" }},
		{"bad signature", "failed to verify signature", func(_ *string, key **ecdsa.PrivateKey, _ map[string]any) { *key = nil }},
		{"missing events", "events claim", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { delete(c, "events") }},
		{"other event", "lacks", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}},
		{"event not an object", "must be a JSON object", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) {
			c["events"] = map[string]any{backchannelEvent: "yes"}
		}},
		{"events not an object", "events claim", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["events"] = []string{backchannelEvent} }},
		{"nonce present", "nonce", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["nonce"] = "n-1" }},
		{"null nonce", "nonce", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["nonce"] = nil }},
		{"missing sid and sub", "sid claim, a sub claim", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { delete(c, "sid"); delete(c, "sub") }},
		{"sid not a string", "sid claim must be a string", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["sid"] = 1 }},
		{"missing jti", "jti", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { delete(c, "jti") }},
		{"missing iat", "iat", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { delete(c, "iat") }},
		{"iat in the future", "future", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) {
			c["iat"] = time.Now().Add(time.Hour).Unix()
			c["exp"] = time.Now().Add(2 * time.Hour).Unix()
		}},
		{"issued long ago", "more than", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) {
			c["iat"] = time.Now().Add(-time.Hour).Unix()
		}},
		{"expired", "expired at", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) {
			c["iat"] = time.Now().Add(-3 * time.Minute).Unix()
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		}},
		{"missing exp", "must contain an 'exp' claim", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { delete(c, "exp") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			b := newBrowser(t)
			s.signIn(t, b)
			tok := s.iss.logoutToken("id-1", "user-1", func(typ *string, key **ecdsa.PrivateKey, c map[string]any) {
				tt.edit(typ, key, c)
				if *key == nil {
					*key = s.iss.other // a key not in the JWKS
				}
			})
			p := s.deliver(t, tok, nil)
			if strings.Contains(p.body, "failed verification") {
				// go-oidc's checks share a description; the log says which failed.
				mustRefuse(t, p)
				if !strings.Contains(s.log.String(), tt.want) {
					t.Errorf("the log does not say %q:\n%s", tt.want, s.log.String())
				}
			} else {
				mustRefuse(t, p, tt.want)
			}
			s.mustBeSignedIn(t, b)
		})
	}
}

func TestBackchannelLogoutBadRequests(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	s.signIn(t, b)
	valid := s.iss.logoutToken("id-1", "user-1", nil)
	c := issuerClient(t)
	endpoint := s.srv.URL + "/backchannel-logout"

	mustRefuse(t, c.post(endpoint, url.Values{}, nil), "exactly one logout_token")
	mustRefuse(t, c.post(endpoint, url.Values{"logout_token": {"not-a-jwt"}}, nil), "not a signed JWT")
	mustRefuse(t, c.post(endpoint, url.Values{"logout_token": {"a.b.c"}}, nil), "not a signed JWT")
	mustRefuse(t, c.post(endpoint, url.Values{"logout_token": {valid, valid}}, nil), "exactly one logout_token")
	mustRefuse(t, c.post(endpoint, url.Values{"logout_token": {valid}, "padding": {strings.Repeat("x", maxBackchannelBytes)}}, nil), "64 KiB")
	// The token in the query string, not the body, does not count.
	mustRefuse(t, c.post(endpoint+"?"+url.Values{"logout_token": {valid}}.Encode(), url.Values{}, nil), "exactly one logout_token")
	// A JSON body is not a form.
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"logout_token":"`+valid+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	mustRefuse(t, c.do(req), "exactly one logout_token")

	if p := c.get(endpoint); p.status != http.StatusMethodNotAllowed || p.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q; want 405, POST", p.status, p.header.Get("Allow"))
	}
	s.mustBeSignedIn(t, b)

	// The same token still works: none of the refusals used it up.
	if p := s.deliver(t, valid, nil); p.status != http.StatusOK {
		t.Errorf("status %d, want 200; body: %s", p.status, p.body)
	}
}

func TestBackchannelLogoutReplay(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	s.signIn(t, b)
	// A logout for a session this app does not have is accepted (200) ...
	first := s.iss.logoutToken("some-other-sid", "user-9", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["jti"] = "jti-1" })
	if p := s.deliver(t, first, nil); p.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body: %s", p.status, p.body)
	}
	s.mustBeSignedIn(t, b)
	// ... and its jti cannot be used again, neither by the same token nor by another.
	mustRefuse(t, s.deliver(t, first, nil), "replay")
	second := s.iss.logoutToken("id-1", "user-1", func(_ *string, _ **ecdsa.PrivateKey, c map[string]any) { c["jti"] = "jti-1" })
	mustRefuse(t, s.deliver(t, second, nil), "replay")
	s.mustBeSignedIn(t, b)
}

func TestRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	signedIn := s.signIn(t, b)
	csrf := csrfToken(t, signedIn)
	// The sign-out form may be redirected to the issuer.
	if csp := signedIn.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+s.iss.url()+";") {
		t.Errorf("Content-Security-Policy = %q, want form-action to allow the issuer", csp)
	}
	s.iss.mu.Lock()
	idToken := s.iss.idTokens[len(s.iss.idTokens)-1]
	s.iss.mu.Unlock()

	p := b.post(s.srv.URL+"/logout", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if p.status != http.StatusSeeOther {
		t.Fatalf("POST /logout: status %d, want 303; body:\n%s", p.status, p.body)
	}
	to, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := to.Scheme+"://"+to.Host+to.Path, s.iss.url()+"/end_session"; got != want {
		t.Errorf("redirected to %s, want the end_session_endpoint %s", got, want)
	}
	q := to.Query()
	for name, want := range map[string]string{
		"id_token_hint":            idToken,
		"client_id":                testClientID,
		"post_logout_redirect_uri": s.srv.URL + "/",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	state := q.Get("state")
	if state == "" {
		t.Fatal("no state")
	}

	// The tokens are gone before the browser comes back.
	home := b.get(s.srv.URL + "/")
	mustContain(t, home, `id="signin"`)
	mustNotContain(t, home, `id="id-token-claims"`, `id="logout-notice"`)
	if r := b.post(s.srv.URL+"/refresh", url.Values{"csrf": {csrf}}, nil); r.status != http.StatusBadRequest {
		t.Errorf("refresh after sign-out: status %d, want 400", r.status)
	}
	// A wrong state is just the home page, and does not use up the right one.
	wrong := b.get(s.srv.URL + "/?state=not-" + url.QueryEscape(state))
	mustContain(t, wrong, `id="signin"`)
	mustNotContain(t, wrong, `id="logout-notice"`)

	// The issuer sends the browser back with the state.
	back := b.follow(p.location)
	if back.status != http.StatusOK {
		t.Fatalf("back from the issuer: status %d; body:\n%s", back.status, back.body)
	}
	mustContain(t, back, `id="logout-notice"`, "Signed out at Signet", `id="signin"`)
	mustNotContain(t, back, `id="id-token-claims"`, `id="backchannel-notice"`)
	s.iss.mu.Lock()
	seen := s.iss.lastEndSession
	s.iss.mu.Unlock()
	if seen.Get("state") != state {
		t.Errorf("the issuer saw state %q, want %q", seen.Get("state"), state)
	}
	// The state is good once.
	mustNotContain(t, b.get(s.srv.URL+"/?state="+url.QueryEscape(state)), `id="logout-notice"`)
}

func TestRPInitiatedLogoutStateIsPerBrowser(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	p := postThenLocation(t, b, s.srv.URL+"/logout", csrfToken(t, s.signIn(t, b)))
	to, err := url.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	// Another browser coming back with this browser's state sees only the home page.
	stranger := newBrowser(t).get(s.srv.URL + "/?state=" + url.QueryEscape(to.Query().Get("state")))
	mustNotContain(t, stranger, `id="logout-notice"`)
	mustContain(t, b.get(s.srv.URL+"/?state="+url.QueryEscape(to.Query().Get("state"))), `id="logout-notice"`)
}

func TestConfigLogoutURLs(t *testing.T) {
	t.Parallel()
	c := Config{Issuer: "http://127.0.0.1:5556", ClientID: "a", ClientSecret: "b", RedirectURL: "http://127.0.0.1:5557/callback"}
	if got, want := c.PostLogoutRedirect(), "http://127.0.0.1:5557/"; got != want {
		t.Errorf("PostLogoutRedirect() = %q, want %q", got, want)
	}
	if got, want := c.BackchannelLogoutURL(), "http://127.0.0.1:5557/backchannel-logout"; got != want {
		t.Errorf("BackchannelLogoutURL() = %q, want %q", got, want)
	}
	c.PostLogoutRedirectURL = "http://127.0.0.1:5557/"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with the default post-logout URL spelled out: %v", err)
	}
	for _, bad := range []string{"http://127.0.0.1:5557/elsewhere", "http://localhost:5557/", "http://127.0.0.1:5557/?x=1", "/"} {
		c.PostLogoutRedirectURL = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "post-logout redirect url") {
			t.Errorf("Validate accepted PostLogoutRedirectURL %q: %v", bad, err)
		}
	}
	if (Config{RedirectURL: "not a url"}).BackchannelLogoutURL() != "" {
		t.Error("BackchannelLogoutURL of an invalid RedirectURL is not empty")
	}
}

func TestEndSessionURLKeepsItsQuery(t *testing.T) {
	t.Parallel()
	got := withQuery("https://idp.example/logout?tenant=a", url.Values{"state": {"s&1"}, "client_id": {"c"}})
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/logout" || q.Get("tenant") != "a" || q.Get("state") != "s&1" || q.Get("client_id") != "c" {
		t.Errorf("withQuery = %s", got)
	}
}

func TestJTICache(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newJTICache(3)
	for _, id := range []string{"a", "b", "c"} {
		if !c.add(id, now.Add(time.Hour), now) {
			t.Fatalf("%s refused", id)
		}
	}
	if c.add("b", now.Add(time.Hour), now) {
		t.Error("a replayed jti was accepted")
	}
	// Full: the oldest is forgotten first.
	c.add("d", now.Add(time.Hour), now)
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
	if !c.add("a", now.Add(time.Hour), now) {
		t.Error("the oldest jti was not evicted")
	}
	if c.add("d", now.Add(time.Hour), now) {
		t.Error("a recent jti was evicted")
	}
	// Expired ids are dropped as new ones come.
	later := now.Add(2 * time.Hour)
	c.add("e", later.Add(time.Hour), later)
	if c.len() != 1 {
		t.Errorf("len = %d after expiry, want 1", c.len())
	}
}

func TestBackchannelIssuerUnreachable(t *testing.T) {
	t.Parallel()
	rp, err := New(Config{
		Issuer:       "http://127.0.0.1:1",
		ClientID:     testClientID,
		ClientSecret: testSecret,
		RedirectURL:  "http://127.0.0.1:2/callback",
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	iss := newFakeIssuer(t) // only to sign a well-formed token
	tok := iss.logoutToken("sid", "sub", nil)
	req := httptest.NewRequest(http.MethodPost, "/backchannel-logout", strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	rp.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "discovery") {
		t.Errorf("status %d, body %s; want 400 about discovery", w.Code, w.Body.String())
	}
}
