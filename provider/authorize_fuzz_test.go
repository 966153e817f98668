package provider_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

const fuzzIssuer = "https://id.example.com"

// fuzzClients are the registrations FuzzAuthorize checks redirects against.
var fuzzClients = []*storage.Client{
	{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb?tenant=1"}},
	{ID: "native", Name: "Native", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb", "http://[::1]:8080/native", "com.example.app:/oauth"}},
	{ID: "spa", Name: "SPA", Public: true, RedirectURIs: []string{"https://spa.example/"}},
}

// newFuzzProvider is the provider over a real bbolt store and real keys.
func newFuzzProvider(tb testing.TB) *provider.Provider {
	tb.Helper()
	p, _ := newFuzzProviderStore(tb)
	return p
}

// newFuzzProviderStore is newFuzzProvider and its store; with changes the
// provider's configuration before it is built.
func newFuzzProviderStore(tb testing.TB, with ...func(*provider.Config)) (*provider.Provider, storage.Store) {
	tb.Helper()
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, c := range fuzzClients {
		c := *c
		if !c.Public {
			sum := sha256.Sum256([]byte("app-secret"))
			c.SecretHash = sum[:]
		}
		c.CreatedAt = time.Now()
		if err := st.CreateClient(ctx, &c); err != nil {
			tb.Fatal(err)
		}
	}
	var kek [32]byte
	rand.Read(kek[:])
	km, err := keys.NewManager(st, kek, keys.Policy{RotationPeriod: 720 * time.Hour, PrepublishLead: 2 * time.Hour, Retention: 2 * time.Hour}, time.Now, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := km.Init(ctx); err != nil {
		tb.Fatal(err)
	}
	cfg := provider.Config{
		Issuer: fuzzIssuer, Store: st, Keys: km,
		Scopes: []provider.Scope{{Name: "calendar.read"}},
		Lifetimes: provider.Lifetimes{
			AccessToken: 10 * time.Minute, IDToken: time.Hour, RefreshTokenIdle: time.Hour, RefreshTokenAbsolute: 2 * time.Hour,
			AuthRequest: 10 * time.Minute, AuthorizationCode: time.Minute,
		},
		JWKSMaxAge: time.Hour,
	}
	for _, f := range with {
		f(&cfg)
	}
	p, err := provider.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return p, st
}

// registeredPlace reports whether loc (a Location header) returns to a redirect URI
// registered for client: the registered string itself followed by nothing but
// response parameters, or for a public client's loopback http URI the same
// scheme, host and path with any port (RFC 8252, section 7.3).
func registeredPlace(c *storage.Client, loc string) bool {
	for _, reg := range c.RedirectURIs {
		sep := "?"
		if strings.Contains(reg, "?") {
			sep = "&"
		}
		if rest, ok := strings.CutPrefix(loc, reg+sep); ok && onlyResponseParams(rest) {
			return true
		}
		if !c.Public {
			continue
		}
		ru, err1 := url.Parse(reg)
		u, err2 := url.Parse(loc)
		if err1 != nil || err2 != nil || ru.Scheme != "http" || u.Scheme != "http" || ru.RawQuery != "" {
			continue
		}
		if h := ru.Hostname(); (h == "127.0.0.1" || h == "::1") && u.Hostname() == h && u.Path == ru.Path &&
			u.Fragment == "" && onlyResponseParams(u.RawQuery) {
			return true
		}
	}
	return false
}

// onlyResponseParams reports whether a query holds only authorization response
// parameters: nothing an attacker appended to a redirect URI.
func onlyResponseParams(rawQuery string) bool {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return false
	}
	for k := range v {
		if !slices.Contains([]string{"code", "state", "iss", "error", "error_description", "error_uri", "session_state"}, k) {
			return false
		}
	}
	return true
}

// FuzzAuthorize sends arbitrary query strings (and, as POST, form bodies) to the
// authorization endpoint. Whatever the input: no panic, no 5xx, and a redirect
// only to the login page or to a redirect URI registered for the client the request
// names, carrying iss, the request's state unchanged, and an OAuth error code when
// it is an error.
func FuzzAuthorize(f *testing.F) {
	p := newFuzzProvider(f)
	for _, s := range authorizeSeeds() {
		f.Add(s, "")
	}
	good := authorizeSeeds()[0] // client_id=app&... as a whole
	f.Add("", good)
	f.Add("client_id=app", strings.Replace(good, "client_id=app&", "", 1))
	f.Add("redirect_uri=https%3A%2F%2Fevil.example%2Fcb", good)
	f.Add("", strings.Repeat("a=b&", 5000))

	clients := map[string]*storage.Client{}
	for _, c := range fuzzClients {
		clients[c.ID] = c
	}
	f.Fuzz(func(t *testing.T, rawQuery, postBody string) {
		if len(rawQuery) > 64<<10 || len(postBody) > 64<<10 {
			return
		}
		method := http.MethodGet
		if postBody != "" {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, fuzzIssuer+provider.PathAuthorize, strings.NewReader(postBody))
		r.URL.RawQuery = rawQuery
		r.RequestURI = r.URL.RequestURI()
		if method == http.MethodPost {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, r)
		// What the handler read: the same form parsed from a twin request (the
		// handler parses a copy of r).
		twin := httptest.NewRequest(method, fuzzIssuer+provider.PathAuthorize, strings.NewReader(postBody))
		twin.URL.RawQuery = rawQuery
		twin.Header = r.Header
		twin.ParseForm()

		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		loc := rec.Header().Get("Location")
		if rec.Code/100 == 3 && loc == "" {
			t.Fatalf("status %d without Location", rec.Code)
		}
		if loc == "" {
			return
		}
		if rec.Code != http.StatusFound && rec.Code != http.StatusSeeOther {
			t.Fatalf("Location %q with status %d", loc, rec.Code)
		}
		if strings.HasPrefix(loc, provider.PathLogin+"?") {
			return
		}
		c := clients[twin.Form.Get("client_id")]
		if c == nil {
			t.Fatalf("redirect to %q for a request naming no registered client", loc)
		}
		if !registeredPlace(c, loc) {
			t.Fatalf("redirect to %q, not a redirect URI registered for %s", loc, c.ID)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("redirect to an unparsable %q", loc)
		}
		q := u.Query()
		if q.Get("code") != "" {
			t.Fatalf("a code without a sign-in: %q", loc)
		}
		if e := q.Get("error"); !slices.Contains([]string{"invalid_request", "unauthorized_client", "access_denied",
			"unsupported_response_type", "invalid_scope", "server_error", "temporarily_unavailable", "login_required",
			"interaction_required", "consent_required", "account_selection_required", "request_not_supported",
			"request_uri_not_supported", "invalid_request_uri", "invalid_request_object"}, e) {
			t.Fatalf("redirect with error %q: %q", e, loc)
		}
		if got, want := q["state"], twin.Form["state"]; len(want) == 1 && want[0] != "" && (len(got) != 1 || got[0] != want[0]) {
			t.Fatalf("state %q came back as %q", want, got)
		}
		if q.Get("iss") != fuzzIssuer {
			t.Fatalf("authorization response without iss=%s: %q", fuzzIssuer, loc)
		}
	})
}

// authorizeSeeds are authorization requests (query strings) that reach every
// check of the authorization endpoint.
func authorizeSeeds() []string {
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	good := url.Values{"client_id": {"app"}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {"s t&a=te"}, "nonce": {"n"}}
	with := func(base url.Values, kv ...string) string {
		v := url.Values{}
		for k, vs := range base {
			v[k] = slices.Clone(vs)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "\x00delete" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v.Encode()
	}
	native := url.Values{"client_id": {"native"}, "redirect_uri": {"http://127.0.0.1:53124/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	return []string{
		good.Encode(),
		with(good, "redirect_uri", "https://app.example/cb?tenant=1"),
		with(good, "redirect_uri", "https://app.example/cb/"),
		with(good, "redirect_uri", "https://app.example/cb?tenant=2"),
		with(good, "redirect_uri", "https://app.example/cb#frag"),
		with(good, "redirect_uri", "https://APP.example/cb"),
		with(good, "redirect_uri", "https://app.example:443/cb"),
		with(good, "redirect_uri", "https://evil.example/cb"),
		with(good, "redirect_uri", "https://app.example.evil.example/cb"),
		with(good, "redirect_uri", "https://app.example@evil.example/cb"),
		with(good, "redirect_uri", "//evil.example/cb"),
		with(good, "redirect_uri", "https://app.example/cb\\@evil.example"),
		with(good, "redirect_uri", "https%3A%2F%2Fapp.example%2Fcb"),
		with(good, "redirect_uri", "\x00delete"),
		with(good, "client_id", "nope"),
		with(good, "client_id", "\x00delete"),
		with(good, "client_id", "native"),
		with(good, "response_type", "token"),
		with(good, "response_type", "code id_token"),
		with(good, "response_type", "\x00delete"),
		with(good, "response_mode", "fragment"),
		with(good, "response_mode", "form_post"),
		with(good, "request", "eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJhcHAifQ."),
		with(good, "request_uri", "https://evil.example/req"),
		with(good, "code_challenge", challenge, "code_challenge_method", "plain"),
		with(good, "code_challenge", challenge),
		with(good, "code_challenge_method", "S256"),
		with(good, "code_challenge", "short", "code_challenge_method", "S256"),
		with(good, "code_challenge", challenge, "code_challenge_method", "S256"),
		with(good, "scope", "profile"),
		with(good, "scope", "openid offline_access calendar.read unknown phone"),
		with(good, "prompt", "none"),
		with(good, "prompt", "none login"),
		with(good, "prompt", "consent select_account"),
		with(good, "max_age", "abc"),
		with(good, "max_age", "-1"),
		with(good, "max_age", "0"),
		with(good, "id_token_hint", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
		with(good, "ui_locales", "de-CH fr ??"),
		with(good, "acr_values", "urn:signet:acr:pwd"),
		with(good, "login_hint", "alice@example.com"),
		with(good, "claims", `{"id_token":{"email":null}}`),
		with(good, "state", strings.Repeat("s", 3000)),
		with(good, "state", "\x00\r\n<script>"),
		with(good, "state", "\x00delete"),
		good.Encode() + "&client_id=app",
		good.Encode() + "&state=second",
		good.Encode() + "&prompt=none&prompt=login",
		good.Encode() + ";x=1",
		good.Encode() + "&%zz",
		"client_id=app&redirect_uri=https://app.example/cb&response_type=code&scope=openid&x=" + strings.Repeat("a", 9000),
		native.Encode(),
		with(native, "redirect_uri", "http://127.0.0.1/cb"),
		with(native, "redirect_uri", "http://127.0.0.1:1/cb/../x"),
		with(native, "redirect_uri", "http://localhost:53124/cb"),
		with(native, "redirect_uri", "http://127.0.0.2:53124/cb"),
		with(native, "redirect_uri", "http://[::1]:9999/native"),
		with(native, "redirect_uri", "https://127.0.0.1:53124/cb"),
		with(native, "redirect_uri", "http://attacker@127.0.0.1:53124/cb"),
		with(native, "redirect_uri", "http://127.0.0.1:53124/cb?x=1"),
		with(native, "redirect_uri", "com.example.app:/oauth"),
		with(native, "redirect_uri", "com.example.app://oauth"),
		with(native, "code_challenge", "\x00delete", "code_challenge_method", "\x00delete"),
		"client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2F&response_type=code&scope=openid&code_challenge=" + challenge + "&code_challenge_method=S256",
		"",
		"&&&",
		"client_id=%00&redirect_uri=%00",
	}
}
