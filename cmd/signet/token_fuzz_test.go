package main

// Fuzz tests of the token endpoint (the request form and client authentication),
// on the real wiring (newServer) driven in-process through its handler, so that an
// input costs only what the handler costs. The harness (fuzzIssuer) is shared with
// login_fuzz_test.go.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"html"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// The fuzz issuer's registrations. The issuer URL is never listened on: requests
// go straight to the handler.
const (
	fuzzIssuerURL      = "http://127.0.0.1:5556"
	fuzzAppRedirect    = "https://app.example/cb"
	fuzzOtherRedirect  = "https://other.example/cb"
	fuzzNativeRedirect = "http://127.0.0.1/cb"
	fuzzUser           = "alice"
	fuzzPassword       = "correct horse battery"
	// fuzzVerifier is the PKCE verifier of every code the harness obtains.
	fuzzVerifier = "fuzz-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
)

// fuzzIssuer is the real wiring with one person (alice, signed in once: her
// session cookie gives codes without a password), a confidential client "app", a
// second confidential client "other" and a public client "native".
type fuzzIssuer struct {
	srv         *server
	appSecret   string
	otherSecret string
	// cookies are alice's browser's cookies after her sign-in; session is the
	// value of her session cookie among them.
	cookies    map[string]string
	session    string
	cookieName string
}

// fuzzing reports whether this process runs with -fuzz (as the coordinator or a
// worker), where the handler's per-request logs would only slow the fuzzer down.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

func newFuzzIssuer(tb testing.TB) *fuzzIssuer {
	tb.Helper()
	// The issuer logs to a logger of its own, shown if the test fails; under
	// -fuzz, nowhere.
	log := signettest.Logger(tb)
	if fuzzing() {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(tb.TempDir(), "data")
	cfg.Issuer = fuzzIssuerURL
	cfg.Listen = "127.0.0.1:5556"
	cfg.Passwords.Argon2MemoryKiB = 8192
	cfg.Passwords.Argon2Iterations = 1
	cfg.Passwords.Argon2Parallelism = 1
	cfg.Scopes = []ScopeConfig{{Name: "calendar.read", Description: "See your calendar availability"}}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	s, err := newServer(ctx, cfg, time.Now, withLogger(log))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.store.Close() })
	fi := &fuzzIssuer{srv: s, cookieName: "signet_session"}
	if _, err := s.admin.AddUser(ctx, admin.AddUserInput{Username: fuzzUser, Email: "alice@example.com", Name: "Alice", Password: fuzzPassword}); err != nil {
		tb.Fatal(err)
	}
	add := func(in admin.AddClientInput) string {
		in.Name = "App " + in.ID
		// First-party: no consent page between the login and the code.
		in.FirstParty = true
		created, err := s.admin.AddClient(ctx, in)
		if err != nil {
			tb.Fatal(err)
		}
		return created.ClientSecret
	}
	fi.appSecret = add(admin.AddClientInput{ID: "app", RedirectURIs: []string{fuzzAppRedirect}})
	fi.otherSecret = add(admin.AddClientInput{ID: "other", RedirectURIs: []string{fuzzOtherRedirect}})
	add(admin.AddClientInput{ID: "native", Public: true, RedirectURIs: []string{fuzzNativeRedirect}})
	fi.cookies = fi.signIn(tb)
	fi.session = fi.cookies[fi.cookieName]
	return fi
}

// request builds a request for the handler. rawQuery is used as it is, unparsed.
func fuzzRequest(method, path, rawQuery, body string) *http.Request {
	r := httptest.NewRequest(method, fuzzIssuerURL+path, strings.NewReader(body))
	r.URL.RawQuery = rawQuery
	r.RequestURI = r.URL.RequestURI()
	return r
}

func (fi *fuzzIssuer) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	fi.srv.handler.ServeHTTP(rec, r)
	return rec
}

// serveWith serves r with the cookies of jar and records the cookies the answer
// sets, like a browser.
func (fi *fuzzIssuer) serveWith(r *http.Request, jar map[string]string) *httptest.ResponseRecorder {
	for name, value := range jar {
		r.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	rec := fi.serve(r)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(jar, c.Name)
		} else {
			jar[c.Name] = c.Value
		}
	}
	return rec
}

// follow follows a relative Location of the issuer with the cookies of jar.
func (fi *fuzzIssuer) follow(tb testing.TB, loc string, jar map[string]string) *httptest.ResponseRecorder {
	tb.Helper()
	u, err := url.Parse(loc)
	if err != nil || u.Host != "" {
		tb.Fatalf("expected a redirect within the issuer, got %q", loc)
	}
	return fi.serveWith(fuzzRequest(http.MethodGet, u.Path, u.RawQuery, ""), jar)
}

// authorizeQuery is a valid authorization request for client.
func authorizeQuery(clientID, redirect, scope string) url.Values {
	return url.Values{
		"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"fuzz-state"}, "nonce": {"fuzz-nonce"},
		"code_challenge": {s256(fuzzVerifier)}, "code_challenge_method": {"S256"},
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// startAuth sends an authorization request and returns the login page's location.
func (fi *fuzzIssuer) startAuth(tb testing.TB, q url.Values) string {
	tb.Helper()
	rec := fi.serve(fuzzRequest(http.MethodGet, "/authorize", q.Encode(), ""))
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusFound || !strings.HasPrefix(loc, "/login?") {
		tb.Fatalf("authorize: %d %q %s", rec.Code, loc, rec.Body)
	}
	return loc
}

// signIn signs alice in once, through the login form, and returns her browser's
// cookies.
func (fi *fuzzIssuer) signIn(tb testing.TB) map[string]string {
	tb.Helper()
	jar := map[string]string{}
	loc := fi.startAuth(tb, authorizeQuery("app", fuzzAppRedirect, "openid"))
	page := fi.follow(tb, loc, jar)
	if page.Code != http.StatusOK {
		tb.Fatalf("login page: %d %s", page.Code, page.Body)
	}
	form := url.Values{}
	for _, m := range signettest.InputRE.FindAllStringSubmatch(page.Body.String(), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("username", fuzzUser)
	form.Set("password", fuzzPassword)
	r := fuzzRequest(http.MethodPost, "/login", "", form.Encode())
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", fuzzIssuerURL)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := fi.serveWith(r, jar)
	if jar[fi.cookieName] == "" {
		tb.Fatalf("login: no session cookie: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	return jar
}

// code runs the browser part of the flow with alice's session and returns a fresh
// code for client, bound to fuzzVerifier.
func (fi *fuzzIssuer) code(tb testing.TB, clientID, redirect, scope string) string {
	tb.Helper()
	jar := maps.Clone(fi.cookies)
	rec := fi.follow(tb, fi.startAuth(tb, authorizeQuery(clientID, redirect, scope)), jar)
	for range 4 {
		loc := rec.Header().Get("Location")
		if strings.HasPrefix(loc, redirect+"?") {
			u, _ := url.Parse(loc)
			if c := u.Query().Get("code"); c != "" {
				return c
			}
			break
		}
		if rec.Code/100 != 3 || loc == "" {
			break
		}
		rec = fi.follow(tb, loc, jar)
	}
	tb.Fatalf("no code for %s: %d %v %s", clientID, rec.Code, rec.Header(), rec.Body)
	return ""
}

// tokenResponse is what the token endpoint answers.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postToken posts form to the token endpoint with an Authorization header.
func (fi *fuzzIssuer) postToken(path, body, authorization, contentType string) *httptest.ResponseRecorder {
	r := fuzzRequest(http.MethodPost, path, "", body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return fi.serve(r)
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// tokens exchanges a fresh code of app (with offline_access) for tokens.
func (fi *fuzzIssuer) tokens(tb testing.TB) tokenResponse {
	tb.Helper()
	code := fi.code(tb, "app", fuzzAppRedirect, "openid offline_access")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {fuzzAppRedirect}, "code_verifier": {fuzzVerifier}}
	rec := fi.postToken("/oauth/token", form.Encode(), basic("app", fi.appSecret), "application/x-www-form-urlencoded")
	var tr tokenResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.RefreshToken == "" {
		tb.Fatalf("code exchange: %d %s", rec.Code, rec.Body)
	}
	return tr
}

// oauthErrors are the error codes RFC 6749, section 5.2 allows at the token endpoint.
var oauthErrors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope"}

// checkTokenError checks that rec is a well-formed OAuth error response.
func checkTokenError(t *testing.T, rec *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatalf("status %d: body is not JSON: %q", rec.Code, rec.Body)
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("status %d: Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("status %d: Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if !slices.Contains(oauthErrors, tr.Error) {
		t.Fatalf("status %d: error %q is not an RFC 6749 token error (%s)", rec.Code, tr.Error, rec.Body)
	}
	if tr.AccessToken != "" || tr.IDToken != "" || tr.RefreshToken != "" {
		t.Fatalf("status %d: an error response carries tokens: %s", rec.Code, rec.Body)
	}
	switch rec.Code {
	case http.StatusUnauthorized:
		if tr.Error != "invalid_client" {
			t.Errorf("401 with error %q, want invalid_client", tr.Error)
		}
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	case http.StatusBadRequest:
	default:
		t.Fatalf("token endpoint answered %d (want 400 or 401): %s", rec.Code, rec.Body)
	}
	return tr
}

// FuzzTokenRequest posts arbitrary forms and Authorization headers to the token
// endpoint. Placeholders in the inputs are replaced by live values, so the fuzzer
// also explores requests around a valid code or refresh token:
//
//	{code} a fresh code of app; {ncode} a fresh code of native; {refresh} a fresh
//	refresh token of app; {verifier} their PKCE verifier; {secret} app's secret;
//	{redirect}/{nredirect} app's/native's redirect URI; in the header {basic} and
//	{obasic}, the Basic credentials of app and other.
//
// Whatever the input: no panic, no 5xx, only RFC 6749 error JSON with 400 or 401
// and no-store, and a 200 only when the body carries a code or refresh token issued
// for this very input; the same request sent again then fails.
func FuzzTokenRequest(f *testing.F) {
	fi := newFuzzIssuer(f)
	const form = "application/x-www-form-urlencoded"
	seeds := []struct{ body, auth, ct string }{
		{"grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}", "{basic}", form},
		{"grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}&client_id=app&client_secret={secret}", "", form},
		{"grant_type=authorization_code&code={code}&redirect_uri={redirect}", "{basic}", form},
		{"grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}", "{obasic}", form},
		{"grant_type=authorization_code&code={code}&redirect_uri={nredirect}&code_verifier={verifier}", "{basic}", form},
		{"grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}&client_id=native", "", form},
		{"grant_type=authorization_code&code={ncode}&redirect_uri={nredirect}&code_verifier={verifier}&client_id=native", "", form},
		{"grant_type=authorization_code&code={ncode}&redirect_uri={nredirect}&client_id=native", "", form},
		{"grant_type=authorization_code&code={code}&code={code}&redirect_uri={redirect}&code_verifier={verifier}", "{basic}", form},
		{"grant_type=refresh_token&refresh_token={refresh}", "{basic}", form},
		{"grant_type=refresh_token&refresh_token={refresh}&scope=openid", "{basic}", form},
		{"grant_type=refresh_token&refresh_token={refresh}", "{obasic}", form},
		{"grant_type=refresh_token&refresh_token={refresh}&client_id=native", "", form},
		{"grant_type=refresh_token&refresh_token={refresh}", "Basic YXBwOndyb25n", form},
		{"grant_type=refresh_token&refresh_token=x", "{basic}", form},
		{"grant_type=refresh_token&refresh_token={refresh}", "{basic}", "text/plain"},
		{"grant_type=password&username=alice&password=x", "{basic}", form},
		{"grant_type=client_credentials", "{basic}", form},
		{"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=e30.e30.", "", form},
		{"grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x&client_id=native", "", form},
		{"grant_type=authorization_code&code=x&redirect_uri=y&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=e30.e30.", "", form},
		{"grant_type=authorization_code&code=%zz", "{basic}", form},
		{"grant_type=authorization_code;code=x", "{basic}", form},
		{"", "", ""},
		{"grant_type=", "Basic", form},
		{"grant_type=authorization_code&code=" + strings.Repeat("A", 300), "{basic}", form},
		{"grant_type=authorization_code&code=x", "Basic " + strings.Repeat("=", 10), form},
		{"grant_type=authorization_code&code=x", "Bearer abc", form},
		{"grant_type=authorization_code&code=x&pad=" + strings.Repeat("a", 70<<10), "{basic}", form},
		{`{"grant_type":"authorization_code","code":"{code}"}`, "{basic}", "application/json"},
		{"grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}", "{basic}", "multipart/form-data; boundary=x"},
	}
	for _, s := range seeds {
		f.Add(s.body, s.auth, s.ct)
	}
	// Requests that must succeed: the fuzzer's checks would pass vacuously if
	// the harness never obtained a token.
	mustSucceed := map[[3]string]bool{}
	for _, i := range []int{0, 1, 6, 9, 10} {
		mustSucceed[[3]string{seeds[i].body, seeds[i].auth, seeds[i].ct}] = true
	}
	f.Fuzz(func(t *testing.T, body, auth, contentType string) {
		if len(body) > 256<<10 || len(auth) > 8<<10 || len(contentType) > 1<<10 {
			return
		}
		wantOK := mustSucceed[[3]string{body, auth, contentType}]
		var fresh []string // codes and refresh tokens issued for this input
		subst := func(s, placeholder string, value func() string) string {
			if !strings.Contains(s, placeholder) {
				return s
			}
			v := value()
			return strings.ReplaceAll(s, placeholder, v)
		}
		body = subst(body, "{code}", func() string {
			c := fi.code(t, "app", fuzzAppRedirect, "openid offline_access")
			fresh = append(fresh, c)
			return c
		})
		body = subst(body, "{ncode}", func() string {
			c := fi.code(t, "native", fuzzNativeRedirect, "openid offline_access")
			fresh = append(fresh, c)
			return c
		})
		body = subst(body, "{refresh}", func() string {
			rt := fi.tokens(t).RefreshToken
			fresh = append(fresh, rt)
			return rt
		})
		body = strings.NewReplacer("{verifier}", fuzzVerifier, "{secret}", fi.appSecret,
			"{redirect}", url.QueryEscape(fuzzAppRedirect), "{nredirect}", url.QueryEscape(fuzzNativeRedirect)).Replace(body)
		auth = strings.NewReplacer("{basic}", basic("app", fi.appSecret), "{obasic}", basic("other", fi.otherSecret)).Replace(auth)

		rec := fi.postToken("/oauth/token", body, auth, contentType)
		if wantOK && rec.Code != http.StatusOK {
			t.Fatalf("a valid request failed: %d %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			var tr tokenResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.TokenType != "Bearer" {
				t.Fatalf("200 without a bearer token: %s", rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("token response Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if !slices.ContainsFunc(fresh, func(v string) bool { return strings.Contains(body, v) }) {
				t.Fatalf("tokens issued without a live code or refresh token: body %q auth %q", body, auth)
			}
			// The grant was single use.
			again := fi.postToken("/oauth/token", body, auth, contentType)
			if again.Code == http.StatusOK {
				t.Fatalf("the same grant was exchanged twice: body %q auth %q", body, auth)
			}
			checkTokenError(t, again)
			return
		}
		checkTokenError(t, rec)
	})
}

// FuzzClientAuthentication attacks client authentication at the token and
// introspection endpoints with arbitrary Authorization headers (Basic parsing:
// base64, the colon, form-encoding of id and secret) and client_id/client_secret
// form fields, around a live refresh token and access token of app. Tokens are
// issued (200) only for app's exact credentials, and introspection answers only
// a confidential client that proved its secret.
func FuzzClientAuthentication(f *testing.F) {
	fi := newFuzzIssuer(f)
	live := fi.tokens(f)
	appBasic := basic("app", fi.appSecret)
	for _, s := range []struct {
		auth, id, secret string
		endpoint         uint8
	}{
		{appBasic, "", "", 0},
		{"", "app", "{secret}", 0},
		{appBasic, "app", "{secret}", 0},
		{basic("app", "wrong"), "", "", 0},
		{basic("other", "{osecret}"), "", "", 0},
		{"", "native", "", 0},
		{"", "app", "", 0},
		{"", "", "", 0},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("%61pp:{secret}")), "", "", 0},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("app:{secret}%")), "", "", 0},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("app")), "", "", 0},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte(":")), "", "", 0},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("app:{secret}:x")), "", "", 0},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("app:{secret}")), "", "", 0},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("app:{secret}")), "", "", 0},
		{"Basic  " + base64.StdEncoding.EncodeToString([]byte("app:{secret}")), "", "", 0},
		{"Basic !!!", "", "", 0},
		{"Basic", "", "", 0},
		{"Bearer {secret}", "app", "", 0},
		{appBasic, "", "", 1},
		{basic("other", "{osecret}"), "", "", 1},
		{basic("native", ""), "", "", 1},
		{"", "app", "{secret}", 1},
		{basic("app", "wrong"), "", "", 1},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("app:{secret}\x00")), "", "", 1},
	} {
		f.Add(s.auth, s.id, s.secret, s.endpoint)
	}
	f.Fuzz(func(t *testing.T, auth, formID, formSecret string, endpoint uint8) {
		if len(auth)+len(formID)+len(formSecret) > 16<<10 {
			return
		}
		// The placeholders stand for the real secrets, inside base64 too.
		r := strings.NewReplacer("{secret}", fi.appSecret, "{osecret}", fi.otherSecret)
		if rest, ok := strings.CutPrefix(auth, "Basic "); ok {
			if raw, err := base64.StdEncoding.DecodeString(rest); err == nil && strings.Contains(string(raw), "{") {
				auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(r.Replace(string(raw))))
			}
		}
		auth, formID, formSecret = r.Replace(auth), r.Replace(formID), r.Replace(formSecret)

		// What the credentials prove, by RFC 6749, section 2.3.1.
		probe, _ := http.NewRequest(http.MethodPost, "/", nil)
		probe.Header.Set("Authorization", auth)
		bid, bsecret, hasBasic := probe.BasicAuth()
		uid, err1 := url.QueryUnescape(bid)
		usecret, err2 := url.QueryUnescape(bsecret)
		basicIs := func(id, secret string) bool {
			return hasBasic && err1 == nil && err2 == nil && uid == id && usecret == secret
		}
		formIs := func(id, secret string) bool { return formID == id && formSecret == secret }

		form := url.Values{}
		if formID != "" {
			form.Set("client_id", formID)
		}
		if formSecret != "" {
			form.Set("client_secret", formSecret)
		}
		if endpoint%2 == 0 {
			form.Set("grant_type", "refresh_token")
			form.Set("refresh_token", live.RefreshToken)
			rec := fi.postToken("/oauth/token", form.Encode(), auth, "application/x-www-form-urlencoded")
			if rec.Code == http.StatusOK {
				if !basicIs("app", fi.appSecret) && !formIs("app", fi.appSecret) {
					t.Fatalf("app's refresh token exchanged without app's credentials: auth %q form %v", auth, form)
				}
				var tr tokenResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.RefreshToken == "" {
					t.Fatalf("200 without a refresh token: %s", rec.Body)
				}
				live = tr
				return
			}
			tr := checkTokenError(t, rec)
			if auth == appBasic && formID == "" && formSecret == "" {
				t.Fatalf("app's own clean credentials refused: %d %s", rec.Code, rec.Body)
			}
			if tr.Error == "invalid_grant" && !basicIs("app", fi.appSecret) && !formIs("app", fi.appSecret) &&
				!basicIs("other", fi.otherSecret) && !formIs("other", fi.otherSecret) &&
				!(formID == "native" && !hasBasic) && !basicIs("native", "") && !(hasBasic && uid == "native") {
				// invalid_grant means the client authenticated and only the grant
				// failed: unauthenticated callers must not get that far.
				t.Fatalf("invalid_grant (client authenticated) for auth %q form %v", auth, form)
			}
			return
		}
		form.Set("token", live.AccessToken)
		rec := fi.postToken("/oauth/introspect", form.Encode(), auth, "application/x-www-form-urlencoded")
		if rec.Code >= 500 {
			t.Fatalf("introspection answered %d: %s", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && !basicIs("app", fi.appSecret) && !basicIs("other", fi.otherSecret) {
			t.Fatalf("introspection answered without a confidential client's credentials: auth %q form %v: %s", auth, form, rec.Body)
		}
		if auth == appBasic && formID == "" && formSecret == "" {
			var m map[string]any
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m["active"] != true {
				t.Fatalf("introspection with app's clean credentials: %d %s", rec.Code, rec.Body)
			}
		}
	})
}
