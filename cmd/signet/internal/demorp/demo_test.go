package demorp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	testClientID = "demo-app"
	testSecret   = "s3cret-value-never-logged"
)

// misbehaviour makes the fake issuer break one rule, so that the test can see
// the relying party notice.
type misbehaviour struct {
	discoveryDown  bool   // discovery answers 503
	tokenError     string // the token endpoint answers this OAuth error
	idNonce        string // ID token nonce instead of the requested one
	idAudience     string // ID token aud instead of the client id
	idExpired      bool   // ID token exp in the past
	idTyp          string // ID token header typ (default "JWT")
	idOtherKey     bool   // ID token signed with a key not in the JWKS
	idAtHashWrong  bool   // ID token at_hash of another token
	noIDToken      bool   // token response without id_token
	opaqueAT       bool   // access token is not a JWT
	atTyp          string // access token header typ (default "at+jwt")
	atClientID     string // access token client_id instead of ours
	atOtherKey     bool   // access token signed with a key not in the JWKS
	userinfoDown   bool   // userinfo answers 500
	userinfoSub    string // userinfo sub instead of the user's
	refreshIDNonce string // nonce in ID tokens from refresh (default none)
	noEndSession   bool   // discovery advertises no end_session_endpoint
}

type authRequest struct {
	challenge   string
	nonce       string
	redirectURI string
}

// fakeIssuer is a minimal OpenID provider: discovery, JWKS, /authorize that
// approves at once, a token endpoint that checks client_secret_basic and the
// PKCE verifier, refresh token rotation, and userinfo.
type fakeIssuer struct {
	t     *testing.T
	srv   *httptest.Server
	key   *ecdsa.PrivateKey
	other *ecdsa.PrivateKey

	mu             sync.Mutex
	bad            misbehaviour
	codes          map[string]authRequest
	refreshTokens  map[string]bool
	accessTokens   map[string]bool
	secrets        []string // every code and token issued, to look for in logs
	discoveryHits  int
	tokenRequests  int
	refreshGrants  int
	issuedAccess   int
	lastAuthorize  url.Values
	lastTokenQuery url.Values
	idTokens       []string   // every ID token issued, oldest first
	lastEndSession url.Values // the query of the last end_session request
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{
		t:             t,
		key:           mustKey(t),
		other:         mustKey(t),
		codes:         map[string]authRequest{},
		refreshTokens: map[string]bool{},
		accessTokens:  map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("GET /keys", f.jwks)
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET /userinfo", f.userinfo)
	mux.HandleFunc("GET /end_session", f.endSession)
	f.srv = httptest.NewUnstartedServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// url is the issuer URL, known before the server starts.
func (f *fakeIssuer) url() string { return "http://" + f.srv.Listener.Addr().String() }

func (f *fakeIssuer) misbehave(m misbehaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bad = m
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fakeIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.discoveryHits++
	down := f.bad.discoveryDown
	noEndSession := f.bad.noEndSession
	f.mu.Unlock()
	if down {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	iss := f.url()
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/keys",
		"userinfo_endpoint":                     iss + "/userinfo",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"backchannel_logout_supported":          true,
		"backchannel_logout_session_supported":  true,
	}
	if !noEndSession {
		doc["end_session_endpoint"] = iss + "/end_session"
	}
	writeJSON(w, http.StatusOK, doc)
}

// endSession is RP-initiated logout, simplified: it requires an ID token it
// issued as id_token_hint, our client id and the demo's home page as
// post_logout_redirect_uri, and redirects there with the state.
func (f *fakeIssuer) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.lastEndSession = q
	known := slices.Contains(f.idTokens, q.Get("id_token_hint"))
	f.mu.Unlock()
	back := q.Get("post_logout_redirect_uri")
	if !known || q.Get("client_id") != testClientID || !strings.HasSuffix(back, "/") {
		http.Error(w, "bad logout request", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, back+"?"+url.Values{"state": {q.Get("state")}}.Encode(), http.StatusFound)
}

// logoutToken signs a back-channel logout token like Signet's: header typ
// logout+jwt, claims iss, aud, iat, exp, jti, sid, sub, events. edit may change
// the header typ, the key and the claims first.
func (f *fakeIssuer) logoutToken(sid, sub string, edit func(typ *string, key **ecdsa.PrivateKey, claims map[string]any)) string {
	f.t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": f.url(), "aud": []string{testClientID}, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": rand.Text(), "sid": sid, "sub": sub,
		"events": map[string]any{backchannelEvent: map[string]any{}},
	}
	typ, key := "logout+jwt", f.key
	if edit != nil {
		edit(&typ, &key, claims)
	}
	tok := f.sign(key, typ, claims)
	f.mu.Lock()
	f.secrets = append(f.secrets, tok)
	f.mu.Unlock()
	return tok
}

func (f *fakeIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"},
	}})
}

func (f *fakeIssuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.lastAuthorize = q
	f.mu.Unlock()
	if q.Get("client_id") != testClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	f.mu.Lock()
	f.codes[code] = authRequest{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri")}
	f.secrets = append(f.secrets, code)
	f.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {f.url()}}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func (f *fakeIssuer) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenRequests++
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	f.lastTokenQuery = r.PostForm
	if f.bad.tokenError != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": f.bad.tokenError, "error_description": "the fake issuer says no"})
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		req, ok := f.codes[code]
		delete(f.codes, code)
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown code"})
		case base64.RawURLEncoding.EncodeToString(sum[:]) != req.challenge:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		case r.PostForm.Get("redirect_uri") != req.redirectURI:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
		default:
			nonce := req.nonce
			if f.bad.idNonce != "" {
				nonce = f.bad.idNonce
			}
			writeJSON(w, http.StatusOK, f.issueLocked(nonce))
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !f.refreshTokens[rt] {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown refresh token"})
			return
		}
		delete(f.refreshTokens, rt) // rotation: a refresh token is good once
		f.refreshGrants++
		writeJSON(w, http.StatusOK, f.issueLocked(f.bad.refreshIDNonce))
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	}
}

// issueLocked builds a token response.
func (f *fakeIssuer) issueLocked(nonce string) map[string]any {
	now := time.Now()
	f.issuedAccess++
	iss := f.url()

	var at string
	if f.bad.opaqueAT {
		at = "opaque-" + rand.Text()
	} else {
		clientID := testClientID
		if f.bad.atClientID != "" {
			clientID = f.bad.atClientID
		}
		typ := "at+jwt"
		if f.bad.atTyp != "" {
			typ = f.bad.atTyp
		}
		key := f.key
		if f.bad.atOtherKey {
			key = f.other
		}
		at = f.sign(key, typ, map[string]any{
			"iss": iss, "sub": "user-1", "aud": iss + "/userinfo", "client_id": clientID,
			"scope": "openid profile email offline_access", "jti": fmt.Sprintf("at-%d", f.issuedAccess),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
	}
	f.accessTokens[at] = true
	rt := rand.Text()
	f.refreshTokens[rt] = true
	f.secrets = append(f.secrets, at, rt)

	resp := map[string]any{
		"access_token":  at,
		"token_type":    "Bearer",
		"expires_in":    3600,
		"refresh_token": rt,
		"scope":         "openid profile email offline_access",
	}
	if f.bad.noIDToken {
		return resp
	}
	aud := testClientID
	if f.bad.idAudience != "" {
		aud = f.bad.idAudience
	}
	exp := now.Add(time.Hour)
	if f.bad.idExpired {
		exp = now.Add(-time.Hour)
	}
	hashed := at
	if f.bad.idAtHashWrong {
		hashed = "some other token"
	}
	sum := sha256.Sum256([]byte(hashed))
	claims := map[string]any{
		"iss": iss, "sub": "user-1", "aud": aud, "iat": now.Unix(), "exp": exp.Unix(),
		"auth_time": now.Unix(), "name": "Ada Lovelace", "email": "ada@example.com",
		"at_hash": base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]),
		"sid":     fmt.Sprintf("id-%d", f.issuedAccess),
		"amr":     []string{"pwd", "otp"},
		"address": nil,
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	key := f.key
	if f.bad.idOtherKey {
		key = f.other
	}
	typ := "JWT"
	if f.bad.idTyp != "" {
		typ = f.bad.idTyp
	}
	resp["id_token"] = f.sign(key, typ, claims)
	f.secrets = append(f.secrets, resp["id_token"].(string))
	f.idTokens = append(f.idTokens, resp["id_token"].(string))
	return resp
}

func (f *fakeIssuer) sign(key *ecdsa.PrivateKey, typ string, claims map[string]any) string {
	f.t.Helper()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fakeIssuer) userinfo(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !ok || !f.accessTokens[at] {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	if f.bad.userinfoDown {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	sub := "user-1"
	if f.bad.userinfoSub != "" {
		sub = f.bad.userinfoSub
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": sub, "name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
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

// setup is the fake issuer and the demo relying party, each on its own
// loopback server, like `signet serve --demo`.
type setup struct {
	iss *fakeIssuer
	rp  *RP
	srv *httptest.Server // the relying party
	log *syncBuffer
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	iss := newFakeIssuer(t)
	rpSrv := httptest.NewUnstartedServer(nil)
	t.Cleanup(rpSrv.Close)
	logs := &syncBuffer{}
	rp, err := New(Config{
		Issuer:       iss.url(),
		ClientID:     testClientID,
		ClientSecret: testSecret,
		RedirectURL:  "http://" + rpSrv.Listener.Addr().String() + "/callback",
		HTTPClient:   &http.Client{Timeout: 5 * time.Second},
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rpSrv.Config.Handler = rp
	rpSrv.Start()
	// The issuer starts after New: discovery must be lazy.
	iss.srv.Start()
	s := &setup{iss: iss, rp: rp, srv: rpSrv, log: logs}
	t.Cleanup(func() { s.checkLogs(t) })
	return s
}

// checkLogs fails the test if any code, token or the client secret was logged.
func (s *setup) checkLogs(t *testing.T) {
	logs := s.log.String()
	s.iss.mu.Lock()
	defer s.iss.mu.Unlock()
	for _, secret := range append(s.iss.secrets, testSecret) {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a code, token or secret:\n%s", logs)
			return
		}
	}
}

// browser is a cookie-keeping client that does not follow redirects by itself.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(rawURL string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form, with the headers a browser would add.
func (b *browser) post(rawURL string, form url.Values, header map[string]string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// follow GETs rawURL and follows redirects, resolving relative locations.
func (b *browser) follow(rawURL string) page {
	b.t.Helper()
	for range 10 {
		p := b.get(rawURL)
		if p.status < 300 || p.status > 399 {
			return p
		}
		base, err := url.Parse(rawURL)
		if err != nil {
			b.t.Fatal(err)
		}
		next, err := base.Parse(p.location)
		if err != nil {
			b.t.Fatal(err)
		}
		rawURL = next.String()
	}
	b.t.Fatal("too many redirects")
	return page{}
}

// login starts a sign-in and returns the authorization request URL.
func (s *setup) login(t *testing.T, b *browser) *url.URL {
	t.Helper()
	p := b.get(s.srv.URL + "/login")
	if p.status != http.StatusFound {
		t.Fatalf("GET /login: status %d, want 302; body:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signIn runs the whole flow and returns the page the browser lands on.
func (s *setup) signIn(t *testing.T, b *browser) page {
	t.Helper()
	authz := s.login(t, b)
	return b.follow(authz.String())
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfToken(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", p.body)
	}
	return m[1]
}

func mustContain(t *testing.T, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Errorf("page does not contain %q; page:\n%s", s, p.body)
		}
	}
}

func mustNotContain(t *testing.T, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(p.body, s) {
			t.Errorf("page contains %q; page:\n%s", s, p.body)
		}
	}
}

func TestSignInFlow(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)

	home := b.get(s.srv.URL + "/")
	if home.status != http.StatusOK {
		t.Fatalf("GET /: status %d", home.status)
	}
	mustContain(t, home, `id="signin"`, `href="/login"`)
	mustNotContain(t, home, `id="id-token-claims"`, "<script", " style=")
	if csp := home.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	authz := s.login(t, b)
	if got, want := authz.Scheme+"://"+authz.Host+authz.Path, s.iss.url()+"/authorize"; got != want {
		t.Errorf("authorization endpoint = %s, want %s", got, want)
	}
	q := authz.Query()
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(name) == "" {
			t.Errorf("authorization request has no %s: %s", name, authz)
		}
	}
	for name, want := range map[string]string{
		"code_challenge_method": "S256",
		"response_type":         "code",
		"client_id":             testClientID,
		"redirect_uri":          s.srv.URL + "/callback",
		"scope":                 "openid profile email offline_access",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("authorization request %s = %q, want %q", name, got, want)
		}
	}
	if q.Get("code_verifier") != "" {
		t.Error("the authorization request carries the PKCE verifier")
	}

	// The issuer approves and redirects to the callback.
	toCallback := b.get(authz.String())
	if toCallback.status != http.StatusFound || !strings.HasPrefix(toCallback.location, s.srv.URL+"/callback?") {
		t.Fatalf("issuer /authorize: status %d, location %q", toCallback.status, toCallback.location)
	}
	cb := b.get(toCallback.location)
	if cb.status != http.StatusSeeOther || cb.location != "/" {
		t.Fatalf("GET /callback: status %d, location %q; body:\n%s", cb.status, cb.location, cb.body)
	}
	if cb.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("callback Referrer-Policy = %q", cb.header.Get("Referrer-Policy"))
	}
	s.iss.mu.Lock()
	tq := s.iss.lastTokenQuery
	s.iss.mu.Unlock()
	if tq.Get("client_secret") != "" || tq.Get("code_verifier") == "" {
		t.Errorf("token request form = %v, want a code_verifier and no client_secret (basic auth)", tq)
	}

	got := b.get(s.srv.URL + "/")
	if got.status != http.StatusOK {
		t.Fatalf("GET / after sign-in: status %d", got.status)
	}
	mustContain(t, got,
		`id="id-token-claims"`, `id="access-token-claims"`, `id="userinfo"`, `id="refresh"`,
		"Signed in.", "user-1", "Ada Lovelace", "ada@example.com", q.Get("nonce"),
		"at-1", "client_id", "Verified as an RFC 9068 JWT", "<pre>",
		"[&#34;pwd&#34;,&#34;otp&#34;]", "<td>null</td>",
	)
	mustNotContain(t, got, `id="error"`, `id="access-token-problem"`, "<script", " style=")
	// The notice is shown once.
	mustNotContain(t, b.get(s.srv.URL+"/"), "Signed in. Everything")

	// The page never shows the tokens themselves.
	s.iss.mu.Lock()
	secrets := append([]string(nil), s.iss.secrets...)
	s.iss.mu.Unlock()
	for _, secret := range secrets {
		if strings.Contains(got.body, secret) {
			t.Errorf("the page shows a code or token")
		}
	}

	// The callback cannot be replayed: its state was used up.
	replay := b.get(toCallback.location)
	if replay.status != http.StatusBadRequest {
		t.Errorf("replayed callback: status %d, want 400", replay.status)
	}
	mustContain(t, replay, `id="error"`)
}

func TestDiscoveryIsLazyAndCached(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.iss.misbehave(misbehaviour{discoveryDown: true})
	b := newBrowser(t)

	p := b.get(s.srv.URL + "/login")
	if p.status != http.StatusBadGateway {
		t.Fatalf("GET /login with discovery down: status %d, want 502", p.status)
	}
	mustContain(t, p, `id="error"`, "issuer is unreachable", s.iss.url())

	// A failure is not cached.
	s.iss.misbehave(misbehaviour{})
	s.signIn(t, b)
	s.signIn(t, newBrowser(t))
	s.login(t, b)
	s.iss.mu.Lock()
	hits := s.iss.discoveryHits
	s.iss.mu.Unlock()
	if hits != 2 {
		t.Errorf("discovery fetched %d times, want 2 (one failure, then cached)", hits)
	}
}

func TestIssuerUnreachable(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	issuerURL := closed.URL
	closed.Close()
	rp, err := New(Config{
		Issuer:       issuerURL,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		RedirectURL:  "http://127.0.0.1:1/callback",
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("New must not contact the issuer: %v", err)
	}
	srv := httptest.NewServer(rp)
	defer srv.Close()
	p := newBrowser(t).get(srv.URL + "/login")
	if p.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", p.status)
	}
	mustContain(t, p, `id="error"`, "The issuer is unreachable")
}

func TestCallbackRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// callback builds the callback query from the authorization request.
		callback func(authz url.Values) url.Values
		status   int
		want     []string
	}{
		{
			name: "wrong state",
			callback: func(authz url.Values) url.Values {
				return url.Values{"code": {"some-code"}, "state": {"not-" + authz.Get("state")}}
			},
			status: http.StatusBadRequest,
			want:   []string{"This sign-in does not match"},
		},
		{
			name:     "no state",
			callback: func(url.Values) url.Values { return url.Values{"code": {"some-code"}} },
			status:   http.StatusBadRequest,
			want:     []string{"This sign-in does not match"},
		},
		{
			name: "access denied",
			callback: func(authz url.Values) url.Values {
				return url.Values{"error": {"access_denied"}, "error_description": {"The user <b>declined</b>."}, "state": {authz.Get("state")}}
			},
			status: http.StatusBadRequest,
			want:   []string{"The issuer returned an error", "access_denied", "The user &lt;b&gt;declined&lt;/b&gt;."},
		},
		{
			name: "error without state",
			callback: func(url.Values) url.Values {
				return url.Values{"error": {"server_error"}}
			},
			status: http.StatusBadRequest,
			want:   []string{"server_error"},
		},
		{
			name: "another issuer",
			callback: func(authz url.Values) url.Values {
				return url.Values{"code": {"some-code"}, "state": {authz.Get("state")}, "iss": {"https://evil.example"}}
			},
			status: http.StatusBadRequest,
			want:   []string{"The response came from another issuer"},
		},
		{
			name: "no code",
			callback: func(authz url.Values) url.Values {
				return url.Values{"state": {authz.Get("state")}}
			},
			status: http.StatusBadRequest,
			want:   []string{"no authorization code"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			b := newBrowser(t)
			authz := s.login(t, b)
			p := b.get(s.srv.URL + "/callback?" + tt.callback(authz.Query()).Encode())
			if p.status != tt.status {
				t.Errorf("status %d, want %d", p.status, tt.status)
			}
			mustContain(t, p, append([]string{`id="error"`}, tt.want...)...)
			s.iss.mu.Lock()
			n := s.iss.tokenRequests
			s.iss.mu.Unlock()
			if n != 0 {
				t.Errorf("%d token requests, want none", n)
			}
			home := b.get(s.srv.URL + "/")
			mustContain(t, home, `id="signin"`)
			mustNotContain(t, home, `id="id-token-claims"`)
		})
	}
}

func TestTokensRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		bad    misbehaviour
		status int
		want   []string
	}{
		{"token endpoint error", misbehaviour{tokenError: "invalid_grant"}, http.StatusBadGateway, []string{"invalid_grant", "the fake issuer says no"}},
		{"wrong nonce", misbehaviour{idNonce: "replayed"}, http.StatusBadGateway, []string{"The ID token failed verification", "nonce"}},
		{"wrong audience", misbehaviour{idAudience: "another-app"}, http.StatusBadGateway, []string{"The ID token failed verification"}},
		{"expired", misbehaviour{idExpired: true}, http.StatusBadGateway, []string{"The ID token failed verification", "It expired at"}},
		{"unknown key", misbehaviour{idOtherKey: true}, http.StatusBadGateway, []string{"The ID token failed verification", "signature"}},
		{"access token as ID token", misbehaviour{idTyp: "at+jwt"}, http.StatusBadGateway, []string{"it is an access token"}},
		{"wrong at_hash", misbehaviour{idAtHashWrong: true}, http.StatusBadGateway, []string{"at_hash"}},
		{"no ID token", misbehaviour{noIDToken: true}, http.StatusBadGateway, []string{"no ID token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			s.iss.misbehave(tt.bad)
			b := newBrowser(t)
			p := s.signIn(t, b)
			if p.status != tt.status {
				t.Errorf("status %d, want %d", p.status, tt.status)
			}
			mustContain(t, p, append([]string{`id="error"`}, tt.want...)...)
			home := b.get(s.srv.URL + "/")
			mustContain(t, home, `id="signin"`)
			mustNotContain(t, home, `id="id-token-claims"`)
		})
	}
}

func TestAccessTokenAndUserinfoProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bad  misbehaviour
		want []string
		not  []string
	}{
		{
			name: "opaque access token",
			bad:  misbehaviour{opaqueAT: true},
			want: []string{"The access token is opaque (not a JWT)", `id="userinfo"`, "ada@example.com"},
			not:  []string{`id="access-token-problem"`},
		},
		{
			name: "another client's access token",
			bad:  misbehaviour{atClientID: "another-app"},
			want: []string{`id="access-token-problem"`, "client_id claim is &#34;another-app&#34;"},
		},
		{
			name: "not an at+jwt",
			bad:  misbehaviour{atTyp: "JWT"},
			want: []string{`id="access-token-problem"`, "not &#34;at&#43;jwt&#34;"},
		},
		{
			name: "access token signed with an unknown key",
			bad:  misbehaviour{atOtherKey: true},
			want: []string{`id="access-token-problem"`, "signature"},
			not:  []string{"at-1"},
		},
		{
			name: "userinfo fails",
			bad:  misbehaviour{userinfoDown: true},
			want: []string{"The userinfo request failed"},
			not:  []string{"email_verified"},
		},
		{
			name: "userinfo for someone else",
			bad:  misbehaviour{userinfoSub: "user-2"},
			want: []string{"is not the ID token", "user-2"},
			not:  []string{"email_verified"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			s.iss.misbehave(tt.bad)
			b := newBrowser(t)
			p := s.signIn(t, b)
			if p.status != http.StatusOK {
				t.Fatalf("status %d, want 200; body:\n%s", p.status, p.body)
			}
			mustContain(t, p, append([]string{`id="id-token-claims"`, `id="access-token-claims"`}, tt.want...)...)
			mustNotContain(t, p, append([]string{`id="error"`}, tt.not...)...)
		})
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	signedIn := s.signIn(t, b)
	mustContain(t, signedIn, "at-1", "id-1")
	csrf := csrfToken(t, signedIn)

	for i, want := range []string{"at-2", "at-3"} { // the second uses the rotated refresh token
		p := b.post(s.srv.URL+"/refresh", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
		if p.status != http.StatusSeeOther {
			t.Fatalf("refresh %d: status %d, want 303; body:\n%s", i, p.status, p.body)
		}
		got := b.get(s.srv.URL + p.location)
		mustContain(t, got, "Tokens refreshed", want, `id="id-token-claims"`, `id="access-token-claims"`, `id="userinfo"`)
		mustNotContain(t, got, "at-1", "id-1", `id="error"`)
	}
	s.iss.mu.Lock()
	grants := s.iss.refreshGrants
	s.iss.mu.Unlock()
	if grants != 2 {
		t.Errorf("%d refresh grants, want 2", grants)
	}
}

func TestRefreshWithoutNewIDToken(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	csrf := csrfToken(t, s.signIn(t, b))
	s.iss.misbehave(misbehaviour{noIDToken: true})
	p := b.follow(postThenLocation(t, b, s.srv.URL+"/refresh", csrf))
	mustContain(t, p, "Tokens refreshed", "at-2", "no new ID token", "id-1")
}

func TestRefreshRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		bad    misbehaviour
		status int
		want   []string
	}{
		{"revoked", misbehaviour{tokenError: "invalid_grant"}, http.StatusBadGateway, []string{"refused the refresh", "invalid_grant"}},
		{"foreign nonce", misbehaviour{refreshIDNonce: "other"}, http.StatusBadGateway, []string{"nonce", "previous ones"}},
		{"expired ID token", misbehaviour{idExpired: true}, http.StatusBadGateway, []string{"It expired at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			b := newBrowser(t)
			csrf := csrfToken(t, s.signIn(t, b))
			s.iss.misbehave(tt.bad)
			p := b.post(s.srv.URL+"/refresh", url.Values{"csrf": {csrf}}, nil)
			if p.status != tt.status {
				t.Errorf("status %d, want %d", p.status, tt.status)
			}
			mustContain(t, p, append([]string{`id="error"`}, tt.want...)...)
			// Still signed in with the old tokens.
			mustContain(t, b.get(s.srv.URL+"/"), "at-1")
		})
	}
}

func postThenLocation(t *testing.T, b *browser, rawURL, csrf string) string {
	t.Helper()
	p := b.post(rawURL, url.Values{"csrf": {csrf}}, nil)
	if p.status != http.StatusSeeOther {
		t.Fatalf("POST %s: status %d, want 303; body:\n%s", rawURL, p.status, p.body)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	next, err := u.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	return next.String()
}

func TestPostsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string
		csrf   func(good string) string
		header map[string]string
	}{
		{"cross-site refresh", "/refresh", func(good string) string { return good }, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site refresh (the issuer's origin)", "/refresh", func(good string) string { return good }, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"cross-origin refresh by Origin", "/refresh", func(good string) string { return good }, map[string]string{"Origin": "http://evil.example"}},
		{"refresh without token", "/refresh", func(string) string { return "" }, nil},
		{"refresh with wrong token", "/refresh", func(string) string { return "forged" }, nil},
		{"cross-site logout", "/logout", func(good string) string { return good }, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"logout without token", "/logout", func(string) string { return "" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			b := newBrowser(t)
			csrf := csrfToken(t, s.signIn(t, b))
			p := b.post(s.srv.URL+tt.path, url.Values{"csrf": {tt.csrf(csrf)}}, tt.header)
			if p.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", p.status)
			}
			mustContain(t, p, `id="error"`)
			s.iss.mu.Lock()
			grants := s.iss.refreshGrants
			s.iss.mu.Unlock()
			if grants != 0 {
				t.Errorf("%d refresh grants, want none", grants)
			}
			mustContain(t, b.get(s.srv.URL+"/"), `id="id-token-claims"`, "at-1")
		})
	}
}

func TestLocalLogoutWithoutEndSessionEndpoint(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.iss.misbehave(misbehaviour{noEndSession: true})
	b := newBrowser(t)
	csrf := csrfToken(t, s.signIn(t, b))
	home := b.follow(postThenLocation(t, b, s.srv.URL+"/logout", csrf))
	mustContain(t, home, `id="signin"`)
	mustNotContain(t, home, `id="id-token-claims"`)
	if n := s.rp.sessions.len(); n != 0 {
		t.Errorf("%d sessions after sign-out, want 0", n)
	}
	p := b.post(s.srv.URL+"/refresh", url.Values{"csrf": {csrf}}, nil)
	if p.status != http.StatusBadRequest {
		t.Errorf("refresh after sign-out: status %d, want 400", p.status)
	}
	mustContain(t, p, `id="error"`, "not signed in")
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	b := newBrowser(t)
	p := b.get(s.srv.URL + "/login")
	var c *http.Cookie
	for _, raw := range p.header.Values("Set-Cookie") {
		parsed, err := http.ParseSetCookie(raw)
		if err == nil && parsed.Name == cookieName {
			c = parsed
		}
	}
	if c == nil {
		t.Fatalf("no %s cookie set by /login", cookieName)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", c)
	}
	before := c.Value

	// The id is rotated at sign-in.
	u, _ := url.Parse(p.location)
	cb := b.get(b.get(u.String()).location)
	var after string
	for _, raw := range cb.header.Values("Set-Cookie") {
		if parsed, err := http.ParseSetCookie(raw); err == nil && parsed.Name == cookieName {
			after = parsed.Value
		}
	}
	if after == "" || after == before {
		t.Errorf("session id not rotated at sign-in (before %q, after %q)", before, after)
	}
	if s.rp.sessions.get(before, time.Now()) != nil {
		t.Error("the pre-sign-in session id still works")
	}
}

func TestStylesheet(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	p := newBrowser(t).get(s.srv.URL + "/static/demo.css")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") || p.body == "" {
		t.Errorf("GET /static/demo.css: status %d, type %q, %d bytes", p.status, p.header.Get("Content-Type"), len(p.body))
	}
}

func TestTemplateErrorIsClean500(t *testing.T) {
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
	rp.page = template.Must(template.New("x").Parse(`{{define "demo/page"}}half a page{{.NoSuchField}}{{end}}`))
	w := httptest.NewRecorder()
	rp.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", w.Code)
	}
	if strings.Contains(w.Body.String(), "half a page") {
		t.Errorf("half a page was written: %q", w.Body.String())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	err := Config{RedirectURL: "http://127.0.0.1:1/elsewhere", Scopes: []string{"profile"}}.Validate()
	if err == nil {
		t.Fatal("Validate accepted an empty config")
	}
	for _, want := range []string{"issuer", "client id", "client secret", "path must be /callback", `"openid"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error does not mention %q:\n%v", want, err)
		}
	}
	good := Config{Issuer: "http://127.0.0.1:5556", ClientID: "a", ClientSecret: "b", RedirectURL: "http://127.0.0.1:5557/callback"}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", good, err)
	}
}

func TestSessionStore(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := newSessionStore(3, time.Hour)
	var ids []string
	for i := range 4 {
		_, id := st.create(now.Add(time.Duration(i) * time.Second))
		ids = append(ids, id)
	}
	if st.len() != 3 {
		t.Fatalf("len = %d, want 3", st.len())
	}
	if st.get(ids[0], now) != nil {
		t.Error("the oldest session was not evicted")
	}

	// Using a session makes it the most recent: ids[2] is evicted next, not ids[1].
	if st.get(ids[1], now.Add(time.Minute)) == nil {
		t.Fatal("session 1 missing")
	}
	st.create(now.Add(time.Minute))
	if st.get(ids[2], now.Add(time.Minute)) != nil {
		t.Error("the least recently used session was not evicted")
	}
	if st.get(ids[1], now.Add(time.Minute)) == nil {
		t.Error("a recently used session was evicted")
	}

	// Idle sessions expire.
	if st.get(ids[1], now.Add(2*time.Hour)) != nil {
		t.Error("an idle session did not expire")
	}

	// Rotation moves the session to a new id.
	s, id := st.create(now)
	newID := st.rotate(s)
	if newID == id || st.get(id, now) != nil || st.get(newID, now) != s {
		t.Error("rotate did not move the session to a fresh id")
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"abcd", "abc…"},
		{"ééé", "ééé"},
		{"éééé", "ééé…"},
	} {
		if got := clip(tt.in, 3); got != tt.want {
			t.Errorf("clip(%q, 3) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPending(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var s session
	for i := range maxPending + 1 {
		s.addPending(pendingAuth{state: fmt.Sprint(i), started: now}, now)
	}
	if _, ok := s.takePending("0", now); ok {
		t.Error("the oldest pending sign-in was kept past maxPending")
	}
	if _, ok := s.takePending("1", now); !ok {
		t.Error("pending sign-in 1 missing")
	}
	if _, ok := s.takePending("1", now); ok {
		t.Error("a state was accepted twice")
	}
	if _, ok := s.takePending("2", now.Add(pendingTTL)); ok {
		t.Error("an expired pending sign-in was accepted")
	}
	if _, ok := s.takePending("", now); ok {
		t.Error("an empty state was accepted")
	}
}
